/**
 * Build a user's app into one executable with `bun build --compile`, the backend library and
 * `kernels/` inside, so it runs on a machine (or from a directory) without this package: the
 * loader and the kernel reader find the embedded copies (see ffi/loader.ts and kernels.ts).
 *
 * The cpu backend still compiles kernels with clang on first use unless the kernel cache already
 * holds them (see README, "Use it in your app").
 *
 * @example
 * await buildExecutable({ entry: "app.ts", outfile: "dist/app" });
 */
import { existsSync, mkdirSync } from "node:fs";
import { basename, dirname, extname, resolve } from "node:path";
import { ArgumentError, MlxnError } from "../errors.ts";
import { shimLibraryPath } from "../ffi/loader.ts";
import { kernelsDirectory } from "../kernels.ts";

export interface BuildExecutableOptions {
  /** The app's entry file. */
  entry: string;
  /** Output path (default: the entry's name without extension, beside it). */
  outfile?: string;
  /** More `bun build` arguments, e.g. ["--minify"]. */
  extraArgs?: readonly string[];
}

/** The `bun build --compile` command line for `options` (the bun running this process). */
export function buildCommand(options: BuildExecutableOptions): string[] {
  const entry = resolve(options.entry);
  const outfile = resolve(options.outfile ?? `${dirname(entry)}/${basename(entry, extname(entry))}`);
  return [process.execPath, "build", "--compile", entry, "--asset", kernelsDirectory(), "--asset", shimLibraryPath(), "--outfile", outfile, ...(options.extraArgs ?? [])];
}

/** Build the executable; returns its path. Throws `MlxnError` with bun's output when the build fails. */
export async function buildExecutable(options: BuildExecutableOptions): Promise<string> {
  if (options === null || typeof options !== "object" || typeof options.entry !== "string" || options.entry === "") throw new ArgumentError("options.entry", "must be the path of the app's entry file");
  if (!existsSync(options.entry)) throw new ArgumentError("options.entry", `${options.entry} does not exist`);
  const argv = buildCommand(options);
  const outfile = argv[argv.indexOf("--outfile") + 1]!;
  mkdirSync(dirname(outfile), { recursive: true });
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new MlxnError(`[build-exe] bun build failed (exit ${code}):\n${stderr || stdout}`);
  return outfile;
}
