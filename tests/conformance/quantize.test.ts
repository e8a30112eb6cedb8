/**
 * MLX affine quantize and dequantize kernels against src/quant.ts (the format's definition), for
 * every bits × group size × dtype. Weights are small ([4, 2·group]) and include the corner cases
 * of the definition: groups of mixed signs, an all-negative group (the min is the edge), an
 * all-positive group (the max is the edge, the scale negative), a constant group and an all-zero
 * group (the 1e-7 scale floor; q0 = 0 gives a zero bias), and values with exact halfway points.
 */
import { DType, ops, QuantizedTable } from "../../src/index.ts";
import { MLX_BITS, MLX_GROUP_SIZES, quantize as refQuantize } from "../../src/quant.ts";
import { randomFloats, roundTo } from "../support/fixtures.ts";
import { uploadQuantized } from "../support/mlx_quant.ts";
import { type Case, type CaseContext, conformance, type Tolerance } from "./harness.ts";

const F = [DType.F32, DType.F16, DType.BF16] as const;
const EXACT: Tolerance = { atol: 0, rtol: 0 };
/** Significand bits of each float dtype: a rounding to it is within 2^-p relative. */
const P: Record<string, number> = { f32: 24, f16: 11, bf16: 8 };
// Dequantize computes scale·q + bias in f32 (one rounding) and rounds once to the dtype; f16
// results can be subnormal, where its spacing is 2^-24 absolute.
const ROUNDED: Record<string, Tolerance> = {
  f32: { atol: 0, rtol: 2 ** -23 },
  f16: { atol: 2 ** -24, rtol: 2 ** -11 + 2 ** -23 },
  bf16: { atol: 0, rtol: 2 ** -8 + 2 ** -23 },
};

interface QuantParams {
  bits: number;
  group: number;
}

const ROWS = 4;

/**
 * Row 0 random of mixed signs; row 1 all negative; row 2 an all-positive group then a constant
 * one; row 3 an all-zero group then values on a grid (many exact halfway points).
 */
function weights(dtype: DType, group: number, seed: number): Float64Array {
  const cols = 2 * group;
  const w = new Float64Array(ROWS * cols);
  w.set(randomFloats(cols, seed, -1, 1), 0);
  w.set(randomFloats(cols, seed + 1, -2, -0.25), cols);
  w.set(randomFloats(group, seed + 2, 0.1, 3), 2 * cols);
  w.fill(0.375, 2 * cols + group, 3 * cols);
  for (let i = 0; i < group; i++) w[3 * cols + group + i] = ((i % 13) - 6) / 4;
  return w.map((v) => roundTo(dtype, v));
}

/** Codes of every element, unpacked from a packed table. */
function unpack(packed: Uint32Array, n: number, bits: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const bit = i * bits;
    const word = bit >>> 5;
    const shift = bit & 31;
    let v = packed[word]! >>> shift;
    if (shift + bits > 32) v |= packed[word + 1]! << (32 - shift);
    return v & ((1 << bits) - 1);
  });
}

/**
 * Elements whose dequantized value is further from the weight than the format allows: |scale|/2
 * for codes strictly inside [0, n], |scale| for the clipped ends. Codes are chosen with the f32
 * scale and bias, dequantization uses them rounded to the dtype, so the bound grows by
 * q·|Δscale| + |Δbias| ≤ (q·|scale| + |bias|)·2^-p (MLX behaves the same), plus f32 rounding.
 */
function boundViolations(w: ArrayLike<number>, codes: readonly number[], scales: ArrayLike<number>, biases: ArrayLike<number>, bits: number, group: number, dtype: DType): number {
  const n = 2 ** bits - 1;
  const rel = dtype === DType.F32 ? 0 : 2 ** -P[dtype.name]!;
  let bad = 0;
  for (let i = 0; i < codes.length; i++) {
    const g = Math.floor(i / group);
    const s = Math.abs(scales[g]!);
    const q = codes[i]!;
    const deq = scales[g]! * q + biases[g]!;
    const slack = (q * s + Math.abs(biases[g]!)) * rel + 2 ** -21 * (Math.abs(w[i]!) + Math.abs(biases[g]!) + n * s);
    const bound = (q > 0 && q < n ? s / 2 : s) + slack;
    if (Math.abs(w[i]! - deq) > bound) bad++;
  }
  return bad;
}

/** An empty quantized table for `rows` × `cols`, disposed with the case. */
function affineTable(ctx: CaseContext, dtype: DType, rows: number, cols: number, bits: number, group: number): QuantizedTable {
  const groups = [rows, cols / group];
  return new QuantizedTable({ weight: ctx.u32(new Uint32Array((rows * cols * bits) / 32), [rows, (cols * bits) / 32]), scales: ctx.floats(dtype, groups), biases: ctx.floats(dtype, groups), bits, groupSize: group });
}

const cases: Case<QuantParams>[] = [];
for (const dtype of F) {
  for (const bits of MLX_BITS) {
    for (const group of MLX_GROUP_SIZES) cases.push({ op: "quantize", dtype, shape: { rows: ROWS, cols: 2 * group }, params: { bits, group }, tolerance: EXACT });
  }
}

conformance("quantize", cases, (c, ctx) => {
  const { bits, group } = c.params;
  const rows = c.shape.rows!;
  const cols = c.shape.cols!;
  const values = weights(c.dtype, group, bits * 1000 + group);
  const w = ctx.floats(c.dtype, [rows, cols], values);
  const out = affineTable(ctx, c.dtype, rows, cols, bits, group);
  ctx.encode((enc) => ops.quantize(enc, w, out));
  const ref = refQuantize(values, rows, cols, bits, group, c.dtype);
  const groups = (rows * cols) / group;
  const packed = out.weight.view(Uint32Array).slice();
  const scales = ctx.read(out.scales, groups);
  const biases = ctx.read(out.biases, groups);
  const codes = unpack(packed, rows * cols, bits);
  return {
    got: [...scales, ...biases],
    want: [...ref.scales, ...ref.biases],
    exact: {
      "packed codes equal the reference's": [[...packed], [...ref.packed]],
      "elements over the error bound": [boundViolations(values, codes, scales, biases, bits, group, c.dtype), 0],
    },
  };
});

const dequantCases: Case<QuantParams>[] = [];
for (const dtype of F) {
  for (const bits of MLX_BITS) {
    for (const group of MLX_GROUP_SIZES) dequantCases.push({ op: "dequantize", dtype, shape: { rows: ROWS, cols: 2 * group }, params: { bits, group }, tolerance: ROUNDED[dtype.name]! });
  }
}

conformance("dequantize", dequantCases, (c, ctx) => {
  const { bits, group } = c.params;
  const rows = c.shape.rows!;
  const cols = c.shape.cols!;
  const q = refQuantize(weights(c.dtype, group, bits * 77 + group), rows, cols, bits, group, c.dtype);
  const table = uploadQuantized(ctx.device, q, (b) => ctx.keep(b));
  const out = ctx.floats(c.dtype, [rows, cols], new Array(rows * cols + 1).fill(5), 1);
  ctx.encode((enc) => ops.dequantize(enc, table, out));
  const got = ctx.read(out, rows * cols + 1);
  const want = new Float64Array(rows * cols);
  const codes = unpack(q.packed, rows * cols, bits);
  for (let i = 0; i < rows * cols; i++) want[i] = q.scales[Math.floor(i / group)]! * codes[i]! + q.biases[Math.floor(i / group)]!;
  return { got: got.subarray(0, rows * cols), want, exact: { "nothing written past the weight": [got[rows * cols], 5] } };
});
