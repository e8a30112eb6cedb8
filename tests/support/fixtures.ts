/**
 * Shared test fixtures: one device and registry per process, deterministic inputs, dtype
 * conversions for float64 references, and upload/download helpers.
 */
import { Device, DType, KernelRegistry, type Buffer } from "../../src/index.ts";

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

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Round to bfloat16 (round to nearest even) and return its bits. */
export function toBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40; // NaN stays NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function fromBf16Bits(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

const f16 = new Float16Array(1);
const u16 = new Uint16Array(f16.buffer);

export function toF16Bits(x: number): number {
  f16[0] = x;
  return u16[0]!;
}

export function fromF16Bits(b: number): number {
  u16[0] = b;
  return f16[0]!;
}

/** The value `x` becomes once stored as `dtype`. */
export function roundTo(dtype: DType, x: number): number {
  if (dtype === DType.F32) return Math.fround(x);
  if (dtype === DType.F16) return fromF16Bits(toF16Bits(x));
  if (dtype === DType.BF16) return fromBf16Bits(toBf16Bits(x));
  throw new Error(`roundTo: ${dtype.name} is not a float type`);
}

/** Write float values into a float buffer of any float dtype. */
export function upload(buf: Buffer, values: ArrayLike<number>): void {
  if (buf.dtype === DType.F32) return void buf.view(Float32Array).set(values);
  const bits = buf.view(Uint16Array);
  const conv = buf.dtype === DType.F16 ? toF16Bits : toBf16Bits;
  for (let i = 0; i < values.length; i++) bits[i] = conv(values[i]!);
}

/** Read `n` float values from a float buffer of any float dtype. */
export function download(buf: Buffer, n: number): Float64Array {
  const out = new Float64Array(n);
  if (buf.dtype === DType.F32) {
    const v = buf.view(Float32Array);
    for (let i = 0; i < n; i++) out[i] = v[i]!;
    return out;
  }
  const bits = buf.view(Uint16Array);
  const conv = buf.dtype === DType.F16 ? fromF16Bits : fromBf16Bits;
  for (let i = 0; i < n; i++) out[i] = conv(bits[i]!);
  return out;
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
