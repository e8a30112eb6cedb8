/**
 * Shared by the benches: the machine's memcpy bandwidth (the yardstick for memory-bound
 * kernels) and a best-of-N timer.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { BackendError, type Buffer, type CommandEncoder, type Device, DType, ops } from "../src/index.ts";

const root = resolve(import.meta.dir, "..");
let measured: { memcpy: number; read: number } | undefined;

/** memcpy and all-core read bandwidth in GB/s (bench/memcpy.c), measured once per process. */
function bandwidth(): { memcpy: number; read: number } {
  if (measured) return measured;
  const make = spawnSync("make", ["--no-print-directory", "-C", root, "build/bench_memcpy"], { stdio: "inherit" });
  if (make.status !== 0) throw new Error("building bench/memcpy.c failed");
  const run = spawnSync(resolve(root, "build", "bench_memcpy"), [], { encoding: "utf8" });
  const m = /memcpy_gbps=([\d.]+)/.exec(run.stdout);
  const r = /read_gbps=([\d.]+)/.exec(run.stdout);
  if (!m || !r) throw new Error(`bench_memcpy printed no figure: ${run.stderr}`);
  measured = { memcpy: Number(m[1]), read: Number(r[1]) };
  return measured;
}

/** memcpy bandwidth in GB/s (bytes read + bytes written, one thread). */
export function memcpyGBps(): number {
  return bandwidth().memcpy;
}

/** Read bandwidth in GB/s with every core reading: the ceiling of a kernel that only reads. */
export function readGBps(): number {
  return bandwidth().read;
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

/**
 * Best seconds per dispatch over `rounds` command buffers of `dispatches` calls of `encode`,
 * after one warm-up command buffer (which also compiles): the command buffer's GPU time where
 * the backend reports it, else the wall clock around commitAndWait.
 */
export function secondsPerDispatch(device: Device, encode: (enc: CommandEncoder) => void, dispatches: number, rounds: number): number {
  let best = Infinity;
  for (let r = 0; r <= rounds; r++) {
    const enc = device.commandEncoder();
    for (let d = 0; d < dispatches; d++) encode(enc);
    const t0 = Bun.nanoseconds();
    enc.commitAndWait();
    const wall = Bun.nanoseconds() - t0;
    const gpu = enc.commandBuffer.gpuTimeNs;
    enc.dispose();
    if (r > 0) best = Math.min(best, (gpu > 0 ? gpu : wall) / dispatches);
  }
  return best / 1e9;
}

/**
 * Whether the backend runs kernels with barriers and SIMD-group functions (probed by `build`,
 * which makes one such pipeline): false, with the line printed, when msl-cpu still refuses them.
 */
export function runsSimdKernels(build: () => unknown): boolean {
  try {
    build();
    return true;
  } catch (e) {
    if (!(e instanceof BackendError) || !/not yet supported by msl-cpu/.test(e.message)) throw e;
    console.log(`skipped: needs msl-cpu barriers/simd (${e.message})`);
    return false;
  }
}

/** A buffer of `dtype` and `shape` (a number: 1-D) holding small varied values (arbitrary codes for U32). */
export function benchBuffer(device: Device, dtype: DType, shape: number | readonly number[]): Buffer {
  const dims = typeof shape === "number" ? [shape] : shape;
  const n = dims.reduce((a, b) => a * b, 1);
  const b = device.allocBuffer(n * dtype.size, dtype, dims);
  if (dtype === DType.F32) b.view(Float32Array).forEach((_, i, a) => (a[i] = ((i * 7919) % 17) / 64 - 0.125));
  else if (dtype === DType.U32) b.view(Uint32Array).forEach((_, i, a) => (a[i] = (i * 2654435761) >>> 0));
  else b.view(Uint16Array).forEach((_, i, a) => (a[i] = (dtype === DType.F16 ? 0x2c00 : 0x3d80) + ((i * 31) % 64))); // about 1/16
  return b;
}

/** One row of a decode/prefill table: a memory-bound call (bytes read) or a compute-bound one (flops). */
export interface FigureRow {
  name: string;
  /** decode: bytes of `read` per call, reported as GB/s and against memcpy; prefill: flops per call, as GFLOP/s. */
  kind: "decode" | "prefill";
  amount: number;
  /** What the decode bytes are ("weights", "K/V"). */
  read?: string;
  encode: (enc: CommandEncoder) => void;
  /** Buffers to dispose after the row. */
  buffers: Buffer[];
}

/** Build, time and print each row (made one at a time, so only one row's buffers are alive). */
export function printFigures(device: Device, rows: (() => FigureRow)[], o: { dispatches: number; rounds: number; filter?: string }): void {
  const memcpy = memcpyGBps();
  console.log(`${"call".padEnd(68)} ${"ms".padStart(9)}  figure`);
  for (const make of rows) {
    const r = make();
    if (!o.filter || r.name.includes(o.filter)) {
      const s = secondsPerDispatch(device, r.encode, o.dispatches, o.rounds);
      const gbps = r.amount / s / 1e9;
      const figure = r.kind === "decode" ? `${gbps.toFixed(2)} GB/s of ${r.read} (${(r.amount / 1e6).toFixed(1)} MB), ${(gbps / memcpy).toFixed(2)} x memcpy` : `${gbps.toFixed(2)} GFLOP/s`;
      console.log(`${r.name.padEnd(68)} ${(s * 1e3).toFixed(2).padStart(9)}  ${figure}`);
    }
    for (const b of r.buffers) b.dispose();
  }
}

/**
 * Launch cost: host nanoseconds to encode one tiny dispatch from TypeScript (`ops.elementwiseAdd`
 * with automatic barriers, every one dependent on the last), and GPU nanoseconds per such
 * dispatch in a chain of 2000 (the command buffer's GPU time / 2000: where launching is slower
 * than the kernels, this is the launch rate). Best of `rounds` after a warm-up.
 */
export function launchCost(device: Device, rounds: number): { hostNs: number; gpuNs: number } {
  const [a, b, out] = [benchBuffer(device, DType.F32, [256]), benchBuffer(device, DType.F32, [256]), benchBuffer(device, DType.F32, [256])];
  const n = 2000;
  let hostNs = Infinity;
  let gpuNs = Infinity;
  try {
    for (let r = 0; r <= rounds; r++) {
      const enc = device.commandEncoder();
      const t0 = Bun.nanoseconds();
      for (let i = 0; i < n; i++) ops.elementwiseAdd(enc, a, b, out);
      const host = (Bun.nanoseconds() - t0) / n;
      enc.commitAndWait();
      const gpu = enc.commandBuffer.gpuTimeNs / n;
      enc.dispose();
      if (r > 0) {
        hostNs = Math.min(hostNs, host);
        gpuNs = Math.min(gpuNs, gpu);
      }
    }
  } finally {
    for (const x of [a, b, out]) x.dispose();
  }
  return { hostNs, gpuNs };
}
