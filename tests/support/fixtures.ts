/**
 * Shared test fixtures: one device and registry per process, deterministic inputs, and
 * upload/download of float buffers through the library's own float encodings (src/io/floats.ts).
 */
import { Device, DType, KernelRegistry, kernels, type Buffer, type Pipeline } from "../../src/index.ts";
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

/** The catalog's elementwise add of `dtype`, from the device's registry (a kernel for raw-dispatch tests). */
export function addPipeline(device: Device, dtype: DType = DType.F32): Pipeline {
  return device.kernels.pipeline(kernels.elementwiseBinary, { op: "add", dtype });
}

/** The kernel name of `addPipeline(device, dtype)`. */
export function addKernelName(dtype: DType = DType.F32): string {
  return kernels.elementwiseBinary.name({ op: "add", dtype });
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

/**
 * A float buffer of `dtype` with shape `shape` (a number is a 1-D shape) holding `values` (or
 * zeros). `spare` elements are allocated past the shape (guard elements the ops must not write:
 * they read sizes from the shape); `values` may fill them too.
 */
export function floatBuffer(device: Device, dtype: DType, shape: number | readonly number[], values?: ArrayLike<number>, spare = 0): Buffer {
  const dims = typeof shape === "number" ? [shape] : shape;
  const n = dims.reduce((a, b) => a * b, 1);
  const buf = device.allocBuffer(Math.max(1, n + spare) * dtype.size, dtype, dims);
  if (values) upload(buf, values);
  return buf;
}

/** Largest |a[i] - b[i]|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
