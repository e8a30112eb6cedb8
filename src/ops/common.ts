/**
 * What every op module shares: the declaration of which bindings a kernel reads and writes (the
 * encoder inserts barriers from it), and the grid shapes of the two dispatch styles the kernels
 * use. Pipelines come from the device's registry by catalog entry and variant
 * (`enc.device.kernels.pipeline(kernels.x, { … })`); no op spells a kernel name.
 */
import type { Binding, CommandEncoder, DispatchOptions, Size3 } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { Pipeline } from "../registry.ts";

/**
 * The bindings a kernel reads and writes, by index, as the encoder's automatic barriers want
 * them. A binding both read and written (in place) goes in `writes`. Built once per kernel
 * signature and shared by its calls (treat it as read-only).
 */
export function access(reads: readonly number[], writes: readonly number[]): DispatchOptions {
  // Not frozen: JSC reads frozen arrays on a slow path, and this is read on every dispatch.
  return { reads: [...reads], writes: [...writes] };
}

/** Threads per group for element-per-thread kernels. */
const GROUP = 256;

/**
 * A threadgroup shape for a `dispatchThreads` grid of `size` threads: about 256 threads, filling
 * x first, then y, then z. Edge groups are partial and every kernel guards its range.
 */
export function groupFor(pipeline: Pipeline, size: Size3): Size3 {
  const limit = Math.min(GROUP, pipeline.maxTotalThreadsPerThreadgroup);
  const x = Math.min(size[0], limit);
  const y = Math.min(size[1], Math.floor(limit / x));
  const z = Math.min(size[2], Math.floor(limit / (x * y)));
  return [x, y, z];
}

/** Consecutive elements along x each thread of an element-wise kernel handles (kernels/block.h). */
export const BLOCK = 4;

/**
 * Encode an element-wise kernel over `size` elements (x fastest): its grid has one thread per
 * block of BLOCK elements along x.
 */
export function dispatchBlocks(enc: CommandEncoder, pipeline: Pipeline, bindings: readonly Binding[], size: Size3, accesses: DispatchOptions): void {
  const grid: Size3 = [Math.ceil(size[0] / BLOCK), size[1], size[2]];
  enc.dispatchThreads(pipeline, bindings, grid, groupFor(pipeline, grid), accesses);
}

/**
 * `requested` (threads per row's threadgroup, if given) is a multiple of the device's SIMD width
 * up to 1024 and the device's limit. Checked with the other arguments, before any pipeline is
 * built.
 */
export function checkThreadsPerRow(enc: CommandEncoder, requested: number | undefined): void {
  if (requested === undefined) return;
  const width = enc.device.limits.simdWidth;
  const limit = Math.floor(Math.min(1024, enc.device.limits.maxThreadsPerThreadgroup) / width) * width;
  if (!Number.isInteger(requested) || requested < width || requested > limit || requested % width !== 0) {
    throw new ArgumentError("params.threadsPerRow", `must be a multiple of ${width} in [${width}, ${limit}] (got ${requested})`);
  }
}

/**
 * Threads per group for a one-threadgroup-per-row kernel over rows of `cols`, a multiple of the
 * SIMD width: `requested` when given (see `checkThreadsPerRow`), else the device's default. A
 * GPU gets about `perThread` elements per thread, up to 1024 threads: many threads hide memory
 * latency. The cpu backend runs a group's threads as fibers on one core, switching at every
 * barrier, so there a single SIMD group per row is fastest (measured on RMSNorm over 4096
 * columns: 32 threads 1.9 GB/s, 1024 threads 0.1 GB/s); rows spread over its worker threads.
 */
export function rowGroup(enc: CommandEncoder, pipeline: Pipeline, cols: number, requested?: number, perThread = 4): number {
  if (requested !== undefined) return requested;
  const width = pipeline.threadExecutionWidth;
  if (!enc.device.limits.lanesInHardware) return width;
  const limit = Math.floor(Math.min(1024, pipeline.maxTotalThreadsPerThreadgroup) / width) * width;
  const wanted = Math.ceil(Math.ceil(cols / perThread) / width) * width;
  return Math.max(width, Math.min(limit, wanted));
}
