/**
 * KV-cache writes, on the strided copy kernel (kernels/copy.{h,metal}).
 *
 * A cache is head-major, [heads, capacity, headDim]: each head's rows are contiguous, which is
 * what attention reads. New keys or values come as projected, [tokens, heads, headDim]. Both
 * ops convert between float types on the way (an f32 projection into an f16 cache, say), and
 * check positions against the capacity before encoding.
 */
import type { Buffer } from "../buffer.ts";
import type { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { KernelRegistry } from "../registry.ts";
import { encodeCopy } from "./elementwise.ts";
import { checkBuffer, checkCounts, checkDType, checkInt, checkOptions, FLOAT_DTYPES, MAX_ELEMENTS } from "./validate.ts";

export interface KvAppendParams {
  /** New rows per head. */
  tokens: number;
  heads: number;
  headDim: number;
  /** Rows the cache holds per head. */
  capacity: number;
  /** Row of the first new token; `position + tokens` must not exceed `capacity`. */
  position: number;
  /** Type of the cache. */
  dtype: DType;
  /** Type of `src` (default `dtype`). */
  srcDType?: DType;
}

function checkCacheSize(name: string, heads: number, capacity: number, headDim: number): void {
  if (heads * capacity * headDim > MAX_ELEMENTS) throw new ArgumentError(name, `heads·capacity·headDim = ${heads * capacity * headDim} exceeds the kernels' 32-bit element index`);
}

function checkRows(name: string, position: number, tokens: number, capacity: number): void {
  checkInt(name, position, 0, capacity - 1);
  if (position + tokens > capacity) throw new ArgumentError(name, `rows [${position}, ${position + tokens}) do not fit a capacity of ${capacity}`);
}

/**
 * Write `src` [tokens, heads, headDim] into rows `position …` of `cache` [heads, capacity, headDim].
 *
 * @example
 * ops.kvCacheAppend(enc, registry, k, kCache, { tokens: 1, heads: 8, headDim: 128, capacity: 4096, position: pos, dtype: DType.F16, srcDType: DType.F32 });
 */
export function kvCacheAppend(enc: CommandEncoder, registry: KernelRegistry, src: Buffer, cache: Buffer, params: KvAppendParams): void {
  checkOptions("params", params, ["tokens", "heads", "headDim", "capacity", "position", "dtype", "srcDType"], ["tokens", "heads", "headDim", "capacity", "position", "dtype"]);
  const { tokens, heads, headDim, capacity, position, dtype } = params;
  const srcDType = params.srcDType ?? dtype;
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkDType("params.srcDType", srcDType, FLOAT_DTYPES);
  checkCounts("params", params, ["tokens", "heads", "headDim", "capacity"]);
  checkCacheSize("params", heads, capacity, headDim);
  checkRows("params.position", position, tokens, capacity);
  checkBuffer("src", src, srcDType, tokens * heads * headDim);
  checkBuffer("cache", cache, dtype, heads * capacity * headDim);
  encodeCopy(enc, registry, src, cache, srcDType, dtype, [headDim, heads, tokens], 0, [1, headDim, heads * headDim], position * headDim, [1, capacity * headDim, headDim]);
}

export interface KvCopyParams {
  heads: number;
  headDim: number;
  /** Rows copied per head. */
  tokens: number;
  srcCapacity: number;
  dstCapacity: number;
  /** First source row (default 0). */
  srcPosition?: number;
  /** First destination row (default 0). */
  dstPosition?: number;
  /** Type of `src`. */
  dtype: DType;
  /** Type of `dst` (default `dtype`). */
  dstDType?: DType;
}

/**
 * Copy rows `[srcPosition, srcPosition + tokens)` of every head of cache `src`
 * [heads, srcCapacity, headDim] to rows `dstPosition …` of `dst` [heads, dstCapacity, headDim]:
 * growing a cache into a larger one, or keeping a prefix.
 *
 * @example
 * ops.kvCacheCopy(enc, registry, oldCache, bigger, { heads: 8, headDim: 128, tokens: used, srcCapacity: 1024, dstCapacity: 4096, dtype: DType.F16 });
 */
export function kvCacheCopy(enc: CommandEncoder, registry: KernelRegistry, src: Buffer, dst: Buffer, params: KvCopyParams): void {
  checkOptions("params", params, ["heads", "headDim", "tokens", "srcCapacity", "dstCapacity", "srcPosition", "dstPosition", "dtype", "dstDType"], ["heads", "headDim", "tokens", "srcCapacity", "dstCapacity", "dtype"]);
  const { heads, headDim, tokens, srcCapacity, dstCapacity, dtype } = params;
  const dstDType = params.dstDType ?? dtype;
  const srcPosition = params.srcPosition ?? 0;
  const dstPosition = params.dstPosition ?? 0;
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkDType("params.dstDType", dstDType, FLOAT_DTYPES);
  checkCounts("params", params, ["heads", "headDim", "tokens", "srcCapacity", "dstCapacity"]);
  checkCacheSize("params.srcCapacity", heads, srcCapacity, headDim);
  checkCacheSize("params.dstCapacity", heads, dstCapacity, headDim);
  checkRows("params.srcPosition", srcPosition, tokens, srcCapacity);
  checkRows("params.dstPosition", dstPosition, tokens, dstCapacity);
  checkBuffer("src", src, dtype, heads * srcCapacity * headDim);
  checkBuffer("dst", dst, dstDType, heads * dstCapacity * headDim);
  encodeCopy(enc, registry, src, dst, dtype, dstDType, [headDim, tokens, heads], srcPosition * headDim, [1, headDim, srcCapacity * headDim], dstPosition * headDim, [1, headDim, dstCapacity * headDim]);
}
