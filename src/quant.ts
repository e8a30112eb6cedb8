/**
 * MLX affine quantization, written from its definition (anchors-and-formats §2.1). The synthetic
 * model builder quantizes with it; tests use it as the reference the quantized kernels and the
 * weight loader are checked against.
 *
 * A weight W[rows, cols] is cut along each row into groups of `groupSize`. Per group, in float32:
 *   n = 2^bits - 1; scale = max((max - min) / n, 1e-7)
 *   the endpoint of larger magnitude is the edge: min (scale > 0) or max (scale < 0)
 *   q0 = round(edge / scale); if q0 != 0: scale = edge / q0, bias = edge; else bias = 0
 *   q = clip(round((w - bias) / scale), 0, n)          dequantized: w' = scale * q + bias
 * round() is Metal's (halfway cases away from zero), as in MLX's quantize kernel; JavaScript's
 * Math.round rounds -2.5 to -2, which differs for the negative edge/scale of a min-edged group.
 * Scales and biases are then stored in the weight's float dtype. Codes are packed per row as a
 * little-endian bit stream, element i at bits [i*bits, (i+1)*bits), into uint32 words.
 *
 * @example
 * const q = quantize(w, rows, cols, 4, 64, DType.F16);
 * const w2 = dequantize(q); // |w - w2| <= scale / 2 per element
 */
import { AFFINE_BITS, AFFINE_GROUP_SIZES } from "../kernels/catalog.ts";
import { DType } from "./dtype.ts";
import { ArgumentError } from "./errors.ts";
import { roundToDType } from "./io/floats.ts";

/** Bit widths MLX's affine mode accepts (the kernel catalog's list). */
export const MLX_BITS = AFFINE_BITS;
/** Group sizes MLX's affine mode accepts (the kernel catalog's list). */
export const MLX_GROUP_SIZES = AFFINE_GROUP_SIZES;

export interface Quantized {
  rows: number;
  cols: number;
  bits: number;
  groupSize: number;
  /** Packed codes, rows * cols * bits / 32 words. */
  packed: Uint32Array;
  /** Per group, already rounded to `scaleDType`: rows * cols / groupSize each. */
  scales: Float64Array;
  biases: Float64Array;
  scaleDType: DType;
}

const f = Math.fround;

/** Round to the nearest integer, halfway cases away from zero (Metal's and C's round). */
function roundHalfAway(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}

/** Quantize `w` (row-major rows x cols) the way MLX does. */
export function quantize(w: ArrayLike<number>, rows: number, cols: number, bits: number, groupSize: number, scaleDType: DType = DType.F32): Quantized {
  if (cols % groupSize !== 0) throw new ArgumentError("groupSize", `cols ${cols} must be a multiple of groupSize ${groupSize}`);
  const groups = cols / groupSize;
  const nBins = 2 ** bits - 1;
  const codes = new Uint32Array(rows * cols);
  const scales = new Float64Array(rows * groups);
  const biases = new Float64Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const base = r * cols + g * groupSize;
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < groupSize; i++) {
        const v = f(w[base + i]!);
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      let scale = f(Math.max(f(f(max - min) / nBins), 1e-7));
      const minIsEdge = Math.abs(min) > Math.abs(max);
      if (!minIsEdge) scale = -scale;
      const edge = minIsEdge ? min : max;
      const q0 = roundHalfAway(f(edge / scale));
      let bias = 0;
      if (q0 !== 0) {
        scale = f(edge / q0);
        bias = edge;
      }
      for (let i = 0; i < groupSize; i++) {
        const q = roundHalfAway(f(f(f(w[base + i]!) - bias) / scale));
        codes[base + i] = Math.min(nBins, Math.max(0, q));
      }
      scales[r * groups + g] = roundToDType(scaleDType, scale);
      biases[r * groups + g] = roundToDType(scaleDType, bias);
    }
  }
  return { rows, cols, bits, groupSize, packed: pack(codes, rows, cols, bits), scales, biases, scaleDType };
}

/** Pack codes (each < 2^bits) row by row into little-endian bit streams of uint32 words. */
export function pack(codes: ArrayLike<number>, rows: number, cols: number, bits: number): Uint32Array {
  const wordsPerRow = (cols * bits) / 32;
  if (!Number.isInteger(wordsPerRow)) throw new ArgumentError("cols", `cols * bits (${cols} * ${bits}) must be a multiple of 32`);
  const out = new Uint32Array(rows * wordsPerRow);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < cols; i++) {
      const bit = i * bits;
      const word = r * wordsPerRow + (bit >>> 5);
      const shift = bit & 31;
      const code = codes[r * cols + i]! >>> 0;
      out[word] = (out[word]! | (code << shift)) >>> 0;
      if (shift + bits > 32) out[word + 1] = (out[word + 1]! | (code >>> (32 - shift))) >>> 0;
    }
  }
  return out;
}

/** Code `i` of row `r`. */
export function code(q: Quantized, r: number, i: number): number {
  const wordsPerRow = (q.cols * q.bits) / 32;
  const bit = i * q.bits;
  const word = r * wordsPerRow + (bit >>> 5);
  const shift = bit & 31;
  let v = q.packed[word]! >>> shift;
  if (shift + q.bits > 32) v |= q.packed[word + 1]! << (32 - shift);
  return v & ((1 << q.bits) - 1);
}

/** Dequantize to float64: w' = scale * q + bias. */
export function dequantize(q: Quantized): Float64Array {
  const out = new Float64Array(q.rows * q.cols);
  const groups = q.cols / q.groupSize;
  for (let r = 0; r < q.rows; r++) {
    for (let i = 0; i < q.cols; i++) {
      const g = r * groups + Math.floor(i / q.groupSize);
      out[r * q.cols + i] = q.scales[g]! * code(q, r, i) + q.biases[g]!;
    }
  }
  return out;
}
