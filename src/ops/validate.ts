/**
 * Argument checks shared by every op, so each message names the argument, the expected value
 * and the actual one in the same words.
 */
import { Buffer } from "../buffer.ts";
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

/** `buf` is a live Buffer of `dtype` holding at least `elements` elements. */
export function checkBuffer(name: string, buf: Buffer, dtype: DType, elements: number): void {
  if (!(buf instanceof Buffer)) throw new ArgumentError(name, `must be a Buffer (got ${typeof buf})`);
  if (buf.disposed) throw new ArgumentError(name, "buffer was disposed");
  if (buf.dtype !== dtype) throw new ArgumentError(name, `must hold ${dtype.name} (got ${buf.dtype.name})`);
  const needed = elements * dtype.size;
  if (buf.byteLength < needed) throw new ArgumentError(name, `needs ${needed} bytes for ${elements} ${dtype.name} elements (has ${buf.byteLength})`);
}
