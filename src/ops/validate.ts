/**
 * Argument checks shared by every op, so each message names the argument, the expected value
 * and the actual one in the same words.
 */
import { Buffer, checkLiveBuffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
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

/** `buf` is a live Buffer of `dtype` holding at least `elements` elements. */
export function checkBuffer(name: string, buf: Buffer, dtype: DType, elements: number): void {
  checkLiveBuffer(name, buf);
  if (buf.dtype !== dtype) throw new ArgumentError(name, `must hold ${dtype.name} (got ${buf.dtype.name})`);
  const needed = elements * dtype.size;
  if (buf.byteLength < needed) throw new ArgumentError(name, `needs ${needed} bytes for ${elements} ${dtype.name} elements (has ${buf.byteLength})`);
}

/** The float types ops compute on. */
export const FLOAT_DTYPES: readonly DType[] = Object.freeze([DType.F32, DType.F16, DType.BF16]);

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
