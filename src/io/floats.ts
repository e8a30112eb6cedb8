/**
 * Float encodings of weight files: numbers to and from the little-endian bytes of f32, f16 and
 * bf16 tensors. f16 uses the engine's Float16Array (IEEE round to nearest even); bf16 is the top
 * half of an f32, rounded to nearest even.
 *
 * @example
 * const bytes = encodeFloats([1, 0.5], DType.BF16); // 4 bytes
 * decodeFloats(bytes, DType.BF16);                  // Float64Array [1, 0.5]
 */
import { DType } from "../dtype.ts";
import { ArgumentError } from "../errors.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bits of `x` as bfloat16, rounded to nearest even (NaN stays NaN). */
export function toBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The value of bfloat16 bits. */
export function fromBf16Bits(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

const f16 = new Float16Array(1);

/** The value `x` becomes once stored as the float dtype `dtype`. */
export function roundToDType(dtype: DType, x: number): number {
  if (dtype === DType.F32) return Math.fround(x);
  if (dtype === DType.F16) return (f16[0] = x), f16[0]!;
  if (dtype === DType.BF16) return fromBf16Bits(toBf16Bits(x));
  throw new ArgumentError("dtype", `must be f32, f16 or bf16 (got ${dtype.name})`);
}

/** `values` stored as `dtype` (f32, f16 or bf16), as little-endian bytes. */
export function encodeFloats(values: ArrayLike<number>, dtype: DType): Uint8Array {
  if (dtype === DType.F32) return new Uint8Array(Float32Array.from(values).buffer);
  if (dtype === DType.F16) return new Uint8Array(Float16Array.from(values).buffer);
  if (dtype === DType.BF16) {
    const bits = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) bits[i] = toBf16Bits(values[i]!);
    return new Uint8Array(bits.buffer);
  }
  throw new ArgumentError("dtype", `must be f32, f16 or bf16 (got ${dtype.name})`);
}

/** The float values in `bytes` (f32, f16 or bf16, any alignment). */
export function decodeFloats(bytes: Uint8Array, dtype: DType): Float64Array {
  if (!dtype.isFloat) throw new ArgumentError("dtype", `must be f32, f16 or bf16 (got ${dtype.name})`);
  if (bytes.byteLength % dtype.size !== 0) {
    throw new ArgumentError("bytes", `${bytes.byteLength} bytes is not a whole number of ${dtype.name} values`);
  }
  // Copy first: tensor data in MLX files is not aligned to the element size.
  const own = bytes.slice().buffer;
  if (dtype === DType.F32) return Float64Array.from(new Float32Array(own));
  if (dtype === DType.F16) return Float64Array.from(new Float16Array(own));
  const bits = new Uint16Array(own);
  const out = new Float64Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = fromBf16Bits(bits[i]!);
  return out;
}
