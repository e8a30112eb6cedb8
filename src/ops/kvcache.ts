/**
 * KV-cache writes, on the strided copy kernel (kernels/copy.h).
 *
 * A cache is head-major, [heads, capacity, headDim]: each head's rows are contiguous, which is
 * what attention reads. New keys or values come as projected, [tokens, heads, headDim]. Both
 * ops convert between float types on the way (an f32 projection into an f16 cache, say: the
 * buffers' dtypes say which), and check positions against the capacity before encoding.
 */
import type { Buffer } from "../buffer.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import { encodeCopy } from "./elementwise.ts";
import { checkCount, checkFloat, checkInt, checkOptions, MAX_ELEMENTS, rowsOf } from "./validate.ts";

export interface KvAppendParams {
  /** Row of the first new token; it plus the new tokens must not exceed the capacity. */
  position: number;
}

interface CacheShape {
  heads: number;
  capacity: number;
  headDim: number;
}

/** `cache` is a live float buffer of shape [heads, capacity, headDim]. */
function cacheShape(name: string, cache: Buffer): CacheShape {
  checkFloat(name, cache);
  if (cache.shape.length !== 3) throw new ArgumentError(name, `must be 3-D [heads, capacity, headDim] (got shape [${cache.shape.join(", ")}])`);
  const [heads, capacity, headDim] = cache.shape as [number, number, number];
  if (heads === 0 || capacity === 0 || headDim === 0) throw new ArgumentError(name, `must not be empty (got shape [${cache.shape.join(", ")}])`);
  if (heads * capacity * headDim > MAX_ELEMENTS) throw new ArgumentError(name, `heads·capacity·headDim = ${heads * capacity * headDim} exceeds the kernels' 32-bit element index`);
  return { heads, capacity, headDim };
}

function checkRows(name: string, position: number, tokens: number, capacity: number): void {
  checkInt(name, position, 0, capacity - 1);
  if (position + tokens > capacity) throw new ArgumentError(name, `rows [${position}, ${position + tokens}) do not fit a capacity of ${capacity}`);
}

/**
 * Write `src` [tokens, heads, headDim] into rows `position …` of `cache` [heads, capacity, headDim].
 *
 * @example
 * ops.kvCacheAppend(enc, k, kCache, { position: pos }); // k [T, 8, 128] f32 → kCache [8, 4096, 128] f16
 */
export function kvCacheAppend(enc: CommandEncoder, src: Buffer, cache: Buffer, params: KvAppendParams): void {
  checkOptions("params", params, ["position"], ["position"]);
  const { heads, capacity, headDim } = cacheShape("cache", cache);
  checkFloat("src", src);
  const tokens = rowsOf("src", src, heads * headDim, `[tokens, heads = ${heads}, headDim = ${headDim}] like cache`);
  checkCount("src (tokens)", tokens, MAX_ELEMENTS);
  checkRows("params.position", params.position, tokens, capacity);
  encodeCopy(enc, src, cache, [headDim, heads, tokens], 0, [1, headDim, heads * headDim], params.position * headDim, [1, capacity * headDim, headDim]);
}

export interface KvCopyParams {
  /** Rows copied per head. */
  tokens: number;
  /** First source row (default 0). */
  srcPosition?: number;
  /** First destination row (default 0). */
  dstPosition?: number;
}

/**
 * Copy rows `[srcPosition, srcPosition + tokens)` of every head of cache `src`
 * [heads, srcCapacity, headDim] to rows `dstPosition …` of `dst` [heads, dstCapacity, headDim]:
 * growing a cache into a larger one, or keeping a prefix.
 *
 * @example
 * ops.kvCacheCopy(enc, oldCache, bigger, { tokens: used });
 */
export function kvCacheCopy(enc: CommandEncoder, src: Buffer, dst: Buffer, params: KvCopyParams): void {
  checkOptions("params", params, ["tokens", "srcPosition", "dstPosition"], ["tokens"]);
  const s = cacheShape("src", src);
  const d = cacheShape("dst", dst);
  if (s.heads !== d.heads || s.headDim !== d.headDim) throw new ArgumentError("dst", `shape mismatch: must have src's heads and headDim ([${s.heads}, capacity, ${s.headDim}]; got [${dst.shape.join(", ")}])`);
  const { tokens } = params;
  const srcPosition = params.srcPosition ?? 0;
  const dstPosition = params.dstPosition ?? 0;
  checkCount("params.tokens", tokens, MAX_ELEMENTS);
  checkRows("params.srcPosition", srcPosition, tokens, s.capacity);
  checkRows("params.dstPosition", dstPosition, tokens, d.capacity);
  const { heads, headDim } = s;
  encodeCopy(enc, src, dst, [headDim, tokens, heads], srcPosition * headDim, [1, headDim, s.capacity * headDim], dstPosition * headDim, [1, headDim, d.capacity * headDim]);
}
