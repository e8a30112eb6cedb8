/**
 * Argument checks shared by every op, so each message names the argument, the expected value
 * and the actual one in the same words. Ops read dtypes and shapes from their buffers: these
 * checks say which buffer disagrees, and how.
 */
import { FLOATS } from "../../kernels/catalog.ts";
import { Buffer, checkLiveBuffer } from "../buffer.ts";
import type { DType } from "../dtype.ts";
import { ArgumentError } from "../errors.ts";

/** `n` is a positive integer no larger than `max`. */
export function checkCount(name: string, n: number, max = 0xffffffff): void {
  if (!Number.isSafeInteger(n) || n <= 0 || n > max) throw new ArgumentError(name, `must be an integer in [1, ${max}] (got ${n})`);
}

/** `dtype` is one of `allowed`. */
export function checkDType(name: string, dtype: DType, allowed: readonly DType[]): void {
  if (!allowed.includes(dtype)) {
    throw new ArgumentError(name, `must be one of ${allowed.map((d) => d.name).join(", ")} (got ${dtype?.name ?? String(dtype)})`);
  }
}

/** `buf` is a live Buffer of `dtype` whose shape holds at least `elements` elements. */
export function checkBuffer(name: string, buf: Buffer, dtype: DType, elements: number): void {
  checkLiveBuffer(name, buf);
  if (buf.dtype !== dtype) throw new ArgumentError(name, `must hold ${dtype.name} (got ${buf.dtype.name})`);
  if (buf.elementCount < elements) throw new ArgumentError(name, `is too small: needs ${elements} elements, its shape [${buf.shape.join(", ")}] holds ${buf.elementCount}`);
}

/** The float types ops compute on (the catalog's list). */
export const FLOAT_DTYPES: readonly DType[] = FLOATS;

/** `buf` is a live Buffer of a float dtype; returns its dtype. */
export function checkFloat(name: string, buf: Buffer): DType {
  checkLiveBuffer(name, buf);
  checkDType(`${name}.dtype`, buf.dtype, FLOAT_DTYPES);
  return buf.dtype;
}

/** `buf` is a live Buffer of `dtype` (the type of `like`, named for the message). */
export function checkSameDType(name: string, buf: Buffer, dtype: DType, like: string): void {
  checkLiveBuffer(name, buf);
  if (buf.dtype !== dtype) throw new ArgumentError(name, `must have the dtype of ${like} (${dtype.name}; got ${buf.dtype.name})`);
}

/** `buf` has exactly `elements` elements (what `what` describes, for the message). */
export function checkElements(name: string, buf: Buffer, elements: number, what: string): void {
  if (buf.elementCount !== elements) throw new ArgumentError(name, `shape mismatch: must hold ${elements} elements (${what}; got shape [${buf.shape.join(", ")}])`);
}

/** Number of dimensions of `buf`'s shape is at least `min`. */
export function checkRank(name: string, buf: Buffer, min: number, layout: string): void {
  if (buf.shape.length < min) throw new ArgumentError(name, `must have at least ${min} dimensions, ${layout} (got shape [${buf.shape.join(", ")}])`);
}

/** The last dimension of `buf` (1 for a scalar shape). */
export function lastDim(buf: Buffer): number {
  const s = buf.shape;
  return s.length === 0 ? 1 : s[s.length - 1]!;
}

/**
 * Rows of `buf` read as [rows, cols]: its trailing dimensions must multiply to exactly `cols`
 * (so [T, heads, headDim] is [T, heads·headDim]); the leading ones multiply to the rows.
 */
export function rowsOf(name: string, buf: Buffer, cols: number, what: string): number {
  const s = buf.shape;
  let trailing = 1;
  let i = s.length;
  while (i > 0 && trailing < cols) trailing *= s[--i]!;
  if (trailing !== cols || cols === 0) throw new ArgumentError(name, `shape mismatch: its trailing dimensions must multiply to ${cols} (${what}; got shape [${s.join(", ")}])`);
  let rows = 1;
  for (let j = 0; j < i; j++) rows *= s[j]!;
  return rows;
}

/** Kernels index elements with 32-bit unsigned integers. */
export const MAX_ELEMENTS = 2 ** 32;

/** `v` is an integer in [min, max]. */
export function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new ArgumentError(name, `must be an integer in [${min}, ${max}] (got ${v})`);
}

/** `v` is a finite number, optionally strictly above `above`. */
export function checkNumber(name: string, v: number, above?: number): void {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ArgumentError(name, `must be a finite number (got ${String(v)})`);
  if (above !== undefined && !(v > above)) throw new ArgumentError(name, `must be greater than ${above} (got ${v})`);
}

/** `v` is one of `allowed`. */
export function checkOneOf<T>(name: string, v: T, allowed: readonly T[]): void {
  if (!allowed.includes(v)) throw new ArgumentError(name, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")} (got ${JSON.stringify(v)})`);
}

/** `v` is a positive multiple of `of`. */
export function checkMultiple(name: string, v: number, of: number, what = String(of)): void {
  if (v % of !== 0) throw new ArgumentError(name, `must be a multiple of ${what} (got ${v})`);
}

/**
 * `options` is an object whose keys are all in `known` and which has every key of `required`:
 * a misspelled option is an error, not a silently ignored setting.
 */
export function checkOptions(name: string, options: object, known: readonly string[], required: readonly string[] = []): void {
  if (options === null || typeof options !== "object") throw new ArgumentError(name, `must be an object (got ${options === null ? "null" : typeof options})`);
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new ArgumentError(`${name}.${k}`, `is not an option (known: ${known.join(", ")})`);
  }
  for (const k of required) {
    if ((options as Record<string, unknown>)[k] === undefined) throw new ArgumentError(`${name}.${k}`, "is required");
  }
}

/**
 * `buf` holds every element a strided walk touches: `offset + Σ (sizes[i] - 1) · strides[i]`,
 * and that index fits the kernels' 32-bit element indices.
 */
export function checkStrided(name: string, buf: Buffer, dtype: DType, offset: number, sizes: readonly number[], strides: readonly number[]): void {
  let last = offset;
  for (let i = 0; i < sizes.length; i++) last += (sizes[i]! - 1) * strides[i]!;
  if (last >= MAX_ELEMENTS) throw new ArgumentError(name, `reaches element ${last}, past the kernels' 32-bit element index`);
  checkBuffer(name, buf, dtype, last + 1);
}

/** Each of `keys` of `params` is a positive integer (see `checkCount`), named `<prefix>.<key>`. */
export function checkCounts<K extends string>(prefix: string, params: Readonly<Record<K, number>>, keys: readonly K[]): void {
  for (const k of keys) checkCount(`${prefix}.${k}`, params[k]);
}
