/**
 * `bun run precompile --backend cuda --arch sm_90 [--recorded DIR] [--jobs N]`: fills the cuda
 * kernel cache (`$MLXN_CACHE_DIR/cuda`) with PTX for every kernel the library ships, so that a
 * machine without clang (a typical GPU host) runs from the cache. Needs clang-19 and
 * `build/mlxn_cuda_compile` (`make setup`), no GPU.
 *
 * Each compile unit of the kernel catalog (kernels/catalog.ts) is compiled exactly as the registry
 * hands it to the backend: the library without function constants and every bool specialisation of the constants
 * it declares. `--recorded DIR` adds the pipelines a run with `MLXN_RECORD_KERNELS=DIR` compiled
 * (kernels registered at run time, such as the tests' own). Metal and msl-cpu compile on the
 * machine that runs them, so only the cuda backend has anything to precompile.
 *
 * @example
 * bun run precompile --backend cuda --arch sm_90
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { config } from "../config.ts";
import { sourceUnits } from "../../kernels/catalog.ts";
import { assembleUnit } from "../kernels.ts";

export const USAGE = `usage: precompile --backend cuda --arch sm_XX [--units REGEX] [--recorded DIR] [--jobs N]

  --backend cuda   the backend whose kernel cache to fill (only cuda compiles ahead)
  --arch sm_XX     GPU architecture, e.g. sm_90 (H100), sm_89 (L4/RTX 40), sm_80 (A100)
  --units REGEX    only the catalog units whose name matches (default: every unit)
  --recorded DIR   also compile the pipelines recorded with MLXN_RECORD_KERNELS=DIR
  --jobs N         compiles at a time (default 2)
`;

interface Job {
  label: string;
  text: string;
  /** mlxn_pipeline_new triplets; undefined: the library and every bool specialisation. */
  constants?: number[];
}

const root = resolve(import.meta.dir, "..", "..");
const compiler = join(root, "build", "mlxn_cuda_compile");

function fail(message: string, code = 1): never {
  console.error(`precompile: ${message}`);
  process.exit(code);
}

async function compile(job: Job, arch: string, cacheDir: string, scratch: string, index: number): Promise<number> {
  const source = join(scratch, `${index}.metal`);
  writeFileSync(source, job.text);
  const args = [compiler, "--arch", arch, "--cache-dir", cacheDir];
  const cxx = config().cxx;
  if (cxx) args.push("--cxx", cxx);
  if (job.constants) args.push("--constants", job.constants.join(","));
  args.push(source, job.label);
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) fail(`${job.label}${job.constants ? ` (constants ${job.constants.join(",")})` : ""}:\n${err || out}`);
  return out.trim().split("\n").filter(Boolean).length;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      backend: { type: "string" },
      arch: { type: "string" },
      recorded: { type: "string" },
      units: { type: "string" },
      jobs: { type: "string", default: "2" },
      help: { type: "boolean" },
    },
  });
  if (values.help) return void console.log(USAGE);
  const target = values.backend;
  if (target !== "cuda") fail(`--backend must be cuda (got ${JSON.stringify(target)}): metal and cpu compile kernels where they run\n${USAGE}`, 2);
  if (!values.arch || !/^sm_\d{2,3}a?$/.test(values.arch)) fail(`--arch must name a GPU architecture such as sm_90 (got ${JSON.stringify(values.arch)})`, 2);
  const jobs = Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) fail(`--jobs must be a positive integer (got ${values.jobs})`, 2);
  if (!existsSync(compiler)) fail(`${compiler} is missing: run \`make setup\``);

  let only: RegExp | undefined;
  try {
    only = values.units === undefined ? undefined : new RegExp(values.units);
  } catch {
    fail(`--units must be a regular expression (got ${JSON.stringify(values.units)})`, 2);
  }
  const units = sourceUnits().filter((unit) => only === undefined || only.test(unit));
  // The label is part of the compiled text (#line), so it must be the registry's: "kernels/<unit>".
  const work: Job[] = units.map((unit) => ({ label: `kernels/${unit}`, text: assembleUnit(unit) }));
  if (values.recorded) {
    for (const name of readdirSync(values.recorded).filter((n) => n.endsWith(".json")).sort()) {
      const entry = JSON.parse(readFileSync(join(values.recorded, name), "utf8")) as Job & { constants: number[] };
      work.push({ label: entry.label, text: entry.text, constants: entry.constants });
    }
  }
  const cacheDir = join(config().cacheDir, "cuda");
  const scratch = mkdtempSync(join(tmpdir(), "mlxn-precompile-"));
  const started = performance.now();
  let next = 0;
  let ptx = 0;
  try {
    await Promise.all(
      Array.from({ length: jobs }, async () => {
        while (next < work.length) {
          const i = next++;
          const modules = await compile(work[i]!, values.arch!, cacheDir, scratch, i);
          ptx += modules;
        }
      }),
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`precompile: ${work.length} sources, ${ptx} PTX modules for ${values.arch} in ${cacheDir} (${seconds} s)`);
}

await main();
