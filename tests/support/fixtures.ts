/**
 * Shared test fixtures: one device and registry per process, deterministic inputs, and
 * upload/download of float buffers through the library's own float encodings (src/io/floats.ts).
 */
import { Device, DType, KernelRegistry, type Buffer } from "../../src/index.ts";
import { decodeFloats, encodeFloats, roundToDType } from "../../src/io/floats.ts";

let shared: { device: Device; registry: KernelRegistry } | undefined;

/** The process-wide test device and registry (opened on first use). */
export function fixture(): { device: Device; registry: KernelRegistry } {
  if (!shared) {
    const device = Device.open();
    shared = { device, registry: new KernelRegistry(device) };
  }
  return shared;
}

/** Deterministic pseudo-random floats in [lo, hi) (xorshift32), for reproducible inputs. */
export function randomFloats(n: number, seed = 1, lo = -1, hi = 1): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + ((s >>> 0) / 0x100000000) * (hi - lo);
  }
  return out;
}

/** The value `x` becomes once stored as `dtype`. */
export const roundTo = roundToDType;

/** Write float values into a float buffer of any float dtype. */
export function upload(buf: Buffer, values: ArrayLike<number>): void {
  buf.view(Uint8Array).set(encodeFloats(values, buf.dtype));
}

/** Read `n` float values from a float buffer of any float dtype. */
export function download(buf: Buffer, n: number): Float64Array {
  return decodeFloats(buf.view(Uint8Array).subarray(0, n * buf.dtype.size), buf.dtype);
}

/** A float buffer of `n` elements of `dtype` holding `values` (or zeros). */
export function floatBuffer(device: Device, dtype: DType, n: number, values?: ArrayLike<number>): Buffer {
  const buf = device.allocBuffer(n * dtype.size, dtype, [n]);
  if (values) upload(buf, values);
  return buf;
}

/** Largest |a[i] - b[i]|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
