/**
 * Shared by the benches: the machine's memcpy bandwidth (the yardstick for memory-bound
 * kernels) and a best-of-N timer.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
let memcpy: number | undefined;

/** memcpy bandwidth in GB/s (bytes read + bytes written), measured once per process. */
export function memcpyGBps(): number {
  if (memcpy !== undefined) return memcpy;
  const make = spawnSync("make", ["--no-print-directory", "-C", root, "build/bench_memcpy"], { stdio: "inherit" });
  if (make.status !== 0) throw new Error("building bench/memcpy.c failed");
  const run = spawnSync(resolve(root, "build", "bench_memcpy"), [], { encoding: "utf8" });
  const m = /memcpy_gbps=([\d.]+)/.exec(run.stdout);
  if (!m) throw new Error(`bench_memcpy printed no figure: ${run.stderr}`);
  memcpy = Number(m[1]);
  return memcpy;
}

/** Best (lowest) nanoseconds of `rounds` runs of `fn`, after one warm-up run. */
export function bestNs(rounds: number, fn: () => void): number {
  fn();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = Bun.nanoseconds();
    fn();
    best = Math.min(best, Bun.nanoseconds() - t0);
  }
  return best;
}
