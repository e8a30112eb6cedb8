/**
 * `make check-metal-api`: type-checks shim/metal/*.m against Metal's and Foundation's
 * Objective-C API without Apple's SDK.
 *
 *   bun shim/metal/api/check.ts [--shim DIR] [--out DIR]
 *
 * Metal's declarations are generated from metal-cpp (generate.ts) into build/metal-api/, next
 * to nothing committed; Foundation's come from the hand-written stand-in in include/. clang's
 * Objective-C front end then compiles every .m for arm64-apple-macos14 (the shim's deployment
 * target) with ARC, -Werror and -Wunguarded-availability-new: a misspelled selector, an
 * argument of the wrong type, an enum value of another enum, or an API newer than macOS 14 used
 * outside `@available` fails. What it cannot see: Apple's own headers' nullability and generics,
 * API availability beyond availability.ts, and anything at run time (`make check-metal` on a Mac).
 *
 * Where metal-cpp is absent the check is skipped with a message (exit 0); MLXN_METAL_CPP names
 * another copy.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { generateMetalHeader, type GeneratedMetal } from "./generate.ts";

const REPO_ROOT = resolve(import.meta.dir, "../../..");

/** Flags of the check: the Metal build's (shim/metal/metal.mk), plus syntax-only and the target. */
export const CHECK_FLAGS = [
  "-x", "objective-c", "-target", "arm64-apple-macos14", "-fobjc-arc", "-fobjc-arc-exceptions",
  "-fsyntax-only", "-nostdlibinc", "-Wall", "-Wextra", "-Werror", "-Wunguarded-availability-new",
  "-fno-color-diagnostics",
];

/**
 * Where metal-cpp is: $MLXN_METAL_CPP, else ../shared/third_party/metal-cpp beside the repository
 * (where CI puts its read-only copy of shared/). Null where neither has Metal/MTLDevice.hpp.
 */
export function findMetalCpp(env: Record<string, string | undefined> = process.env): string | null {
  const dir = env.MLXN_METAL_CPP || join(REPO_ROOT, "..", "shared", "third_party", "metal-cpp");
  return existsSync(join(dir, "Metal", "MTLDevice.hpp")) ? resolve(dir) : null;
}

/** The first clang on PATH, newest first (Objective-C is in every clang; 16+ is what CI has). */
export function findClang(): string | null {
  for (const c of ["clang-19", "clang-18", "clang-17", "clang-16", "clang"]) {
    const path = Bun.which(c);
    if (path) return path;
  }
  return null;
}

export interface MetalApiCheck {
  ok: boolean;
  /** clang's diagnostics (empty when ok). */
  output: string;
  files: string[];
  counts: GeneratedMetal["counts"];
  skipped: number;
  unmatchedAvailability: string[];
}

/** Generates the stand-in headers under `outDir` and compiles every .m of `shimDir` against them. */
export function checkMetalApi(options: {
  metalCpp: string;
  shimDir: string;
  outDir: string;
  clang: string;
  /** A header generateMetalHeader already made from `metalCpp` (tests reuse one). */
  generated?: GeneratedMetal;
}): MetalApiCheck {
  const generated = options.generated ?? generateMetalHeader(options.metalCpp);
  const include = join(options.outDir, "include");
  mkdirSync(join(include, "Metal"), { recursive: true });
  writeFileSync(join(include, "Metal", "Metal.h"), generated.header);
  writeFileSync(join(options.outDir, "skipped.txt"), generated.skipped.join("\n") + "\n");
  const files = readdirSync(options.shimDir).filter((f) => f.endsWith(".m")).sort().map((f) => join(options.shimDir, f));
  const run = Bun.spawnSync([
    options.clang, ...CHECK_FLAGS,
    // System headers, as Apple's are: their own warnings are not the shim's.
    "-isystem", include, "-isystem", join(import.meta.dir, "include"), "-I", join(REPO_ROOT, "shim", "include"), "-I", options.shimDir,
    ...files,
  ], { stdout: "pipe", stderr: "pipe" });
  const output = run.stdout.toString() + run.stderr.toString();
  return {
    ok: run.exitCode === 0 && files.length > 0,
    output,
    files,
    counts: generated.counts,
    skipped: generated.skipped.length,
    unmatchedAvailability: generated.unmatchedAvailability,
  };
}

function main(argv: string[]): number {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const metalCpp = findMetalCpp();
  if (!metalCpp) {
    console.log("check-metal-api: skipped: metal-cpp not found (set MLXN_METAL_CPP, or put shared/ beside the repository: ../shared/third_party/metal-cpp)");
    return 0;
  }
  const clang = findClang();
  if (!clang) {
    console.error("check-metal-api: no clang on PATH (`make setup` installs clang-19)");
    return 1;
  }
  const started = performance.now();
  const result = checkMetalApi({
    metalCpp, clang,
    shimDir: resolve(arg("--shim") ?? join(REPO_ROOT, "shim", "metal")),
    outDir: resolve(arg("--out") ?? join(REPO_ROOT, "build", "metal-api")),
  });
  const c = result.counts;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (result.unmatchedAvailability.length)
    console.error(`check-metal-api: availability.ts names what metal-cpp lacks: ${result.unmatchedAvailability.join(", ")}`);
  if (!result.ok) {
    process.stderr.write(result.output);
    console.error(`check-metal-api: ${result.files.length} files FAIL against metal-cpp (${metalCpp})`);
    return 1;
  }
  console.log(
    `check-metal-api: ${result.files.length} files of shim/metal pass against metal-cpp ` +
      `(${c.protocols} protocols, ${c.classes} classes, ${c.methods} methods, ${c.enums} enums; ` +
      `${result.skipped} declarations without an Objective-C mapping left out) in ${seconds} s`,
  );
  return result.unmatchedAvailability.length ? 1 : 0;
}

if (import.meta.main) process.exit(main(process.argv.slice(2)));
