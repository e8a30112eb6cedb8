/**
 * `make lint-kernels`: every compile unit of the kernel catalog as the registry assembles it
 * (kernels/catalog.ts, src/kernels.ts assembleUnit), written to build/lint-kernels/ and checked by build/msl_cpu_lint --assembled
 * (address spaces, kernel warnings as errors, the MSL rules: shim/cpu/msl_cpu/lint.cpp).
 *
 *   bun shim/cpu/msl_cpu/lint_kernels.ts [--lint build/msl_cpu_lint]
 *
 * Linting the registry's text rather than kernels/ directly is the point: what assembly adds or
 * keeps (a header's `#pragma once` in the main file) is what Metal compiles.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { sourceUnits } from "../../../kernels/catalog.ts";
import { assembleUnit } from "../../../src/kernels.ts";

const REPO_ROOT = resolve(import.meta.dir, "../../..");

/** Writes each catalog unit's assembled source into `outDir`; returns the paths. */
export function writeAssembledFamilies(outDir: string): string[] {
  mkdirSync(outDir, { recursive: true });
  return [...sourceUnits()].sort().map((unit) => {
    const path = join(outDir, `${unit}.metal`);
    writeFileSync(path, assembleUnit(unit));
    return path;
  });
}

/** Lints `files` with one msl_cpu_lint process per core; exit status and output of them all. */
export async function lintFiles(lint: string, files: string[]): Promise<{ exitCode: number; output: string }> {
  const jobs = Math.max(1, Math.min(navigator.hardwareConcurrency, files.length));
  const shares = Array.from({ length: jobs }, (_, j) => files.filter((_, k) => k % jobs === j));
  const runs = await Promise.all(
    shares.map(async (share) => {
      const proc = Bun.spawn([lint, "--assembled", ...share], { stdout: "pipe", stderr: "pipe" });
      const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      return { exitCode: await proc.exited, output: err + out.split("\n").filter((l) => !l.startsWith("lint-kernels:")).join("\n") };
    }),
  );
  return { exitCode: runs.some((r) => r.exitCode !== 0) ? 1 : 0, output: runs.map((r) => r.output).join("") };
}

async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf("--lint");
  const lint = resolve(i >= 0 && argv[i + 1] ? argv[i + 1]! : join(REPO_ROOT, "build", "msl_cpu_lint"));
  const started = performance.now();
  const files = writeAssembledFamilies(join(REPO_ROOT, "build", "lint-kernels"));
  const { exitCode, output } = await lintFiles(lint, files);
  process.stdout.write(output.endsWith("\n") ? output : output + "\n");
  const verdict = exitCode === 0 ? "pass" : "FAIL";
  console.log(`lint-kernels: ${files.length} families as the registry assembles them ${verdict} ` +
    `(address spaces, kernel warnings as errors, MSL rules) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return exitCode;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
