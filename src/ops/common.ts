/**
 * What every op module shares: kernel names derived from dtypes (built once, so the hot path
 * does a map lookup rather than a string build), the declaration of which bindings a kernel reads
 * and writes (the encoder inserts barriers from it), and the grid shapes of the two dispatch
 * styles the kernels use.
 */
import type { DType } from "../dtype.ts";
import type { Binding, CommandEncoder, DispatchOptions, Size3 } from "../encoder.ts";
import type { KernelRegistry, Pipeline } from "../registry.ts";
import { FLOAT_DTYPES } from "./validate.ts";

/** `prefix_<dtype>` for every float dtype. */
export function namesByDType(prefix: string): ReadonlyMap<DType, string> {
  return new Map(FLOAT_DTYPES.map((d) => [d, `${prefix}_${d.name}`]));
}

/** `prefix_<a>_<b>` for every pair of float dtypes, looked up as `get(a).get(b)`. */
export function namesByDTypePair(prefix: string): ReadonlyMap<DType, ReadonlyMap<DType, string>> {
  return new Map(FLOAT_DTYPES.map((a) => [a, namesByDType(`${prefix}_${a.name}`)]));
}

/**
 * The bindings a kernel reads and writes, by index, as the encoder's automatic barriers want
 * them. A binding both read and written (in place) goes in `writes`. Built once per kernel
 * signature and frozen.
 */
export function access(reads: readonly number[], writes: readonly number[]): DispatchOptions {
  return Object.freeze({ reads: Object.freeze([...reads]), writes: Object.freeze([...writes]) });
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

/** Encode one element-per-thread kernel over a grid of `size` threads. */
export function dispatchGrid(enc: CommandEncoder, pipeline: Pipeline, bindings: readonly Binding[], size: Size3, accesses: DispatchOptions): void {
  enc.dispatchThreads(pipeline, bindings, size, groupFor(pipeline, size), accesses);
}

/**
 * Threads per group for a one-threadgroup-per-row reduction over rows of `cols`: a multiple of
 * the SIMD width, about `perThread` elements per thread, at most 1024 (and the pipeline's limit).
 */
export function rowGroup(pipeline: Pipeline, cols: number, perThread = 4): number {
  const width = pipeline.threadExecutionWidth;
  const limit = Math.min(1024, pipeline.maxTotalThreadsPerThreadgroup);
  const wanted = Math.ceil(Math.ceil(cols / perThread) / width) * width;
  return Math.max(width, Math.min(Math.floor(limit / width) * width, wanted));
}

/** Look up a pipeline by a name table entry. */
export function pipelineFor(registry: KernelRegistry, names: ReadonlyMap<DType, string>, dtype: DType): Pipeline {
  return registry.getPipeline(names.get(dtype)!);
}
