/**
 * Conformance of the elementwise ops and the strided copies (cast, copy, copyStrided, concat,
 * transpose) against tests/support/reference/elementwise.ts. Sizes leave partial threadgroups
 * (groups hold 256 threads).
 */
import { DType, ops } from "../../src/index.ts";
import { FLOATS } from "../../kernels/catalog.ts";
import { roundTo } from "../support/fixtures.ts";
import * as ref from "../support/reference/elementwise.ts";
import { type Case, conformance, type DTypeTolerances } from "./harness.ts";

const F = FLOATS; // every float type the catalog builds

// One IEEE operation in f32 (≤ half an f32 ulp), then one rounding to the output type (≤ half
// an ulp of it): relative 2^-24 + 2^-p for p-bit significands; f16 results can be subnormal,
// where its spacing is 2^-24 absolute.
const ROUNDED: DTypeTolerances = {
  f32: { atol: 0, rtol: 2 ** -24 },
  f16: { atol: 2 ** -25, rtol: 2 ** -11 + 2 ** -24 },
  bf16: { atol: 0, rtol: 2 ** -8 + 2 ** -24 },
};
// Copies and casts round once from an exact value: the reference rounds the same way.
const EXACT = { atol: 0, rtol: 0 };

// ───────────── binary ops, flat and row-broadcast ─────────────

interface BinaryParams {
  rowLength?: number;
}
const binaryCases: Case<BinaryParams>[] = [];
for (const op of ["add", "sub", "mul", "div"] as const) {
  for (const dtype of F) {
    binaryCases.push({ op: `elementwise_${op}`, dtype, shape: { n: 4099 }, params: {}, tolerance: ROUNDED[dtype.name as "f32"] });
    binaryCases.push({ op: `elementwise_${op}`, dtype, shape: { n: 7 * 300 }, params: { rowLength: 300 }, tolerance: ROUNDED[dtype.name as "f32"] });
  }
}
binaryCases.push({ op: "elementwise_add", dtype: DType.F32, shape: { n: 1 }, params: {}, tolerance: ROUNDED.f32 });
// Rows of 302: every other row starts off the vector alignment, so its full blocks take the
// element-by-element path of block.h's for_block_vector.
for (const dtype of F) binaryCases.push({ op: "elementwise_mul", dtype, shape: { n: 5 * 302 }, params: { rowLength: 302 }, tolerance: ROUNDED[dtype.name as "f32"] });

const binaryFns = { add: ops.elementwiseAdd, sub: ops.elementwiseSub, mul: ops.elementwiseMul, div: ops.elementwiseDiv };

conformance("elementwise binary", binaryCases, (c, ctx) => {
  const op = c.op.replace("elementwise_", "") as ref.BinaryOp;
  const n = c.shape.n!;
  const bLen = c.params.rowLength ?? n;
  const shape = c.params.rowLength === undefined ? [n] : [n / bLen, bLen];
  const a = ctx.random(c.dtype, shape, n + 1, -2, 2);
  // b away from 0 so that quotients stay inside f16's range.
  const b = ctx.random(c.dtype, bLen, bLen + 7, 0.25, 2);
  const out = ctx.floats(c.dtype, shape, new Array(n + 1).fill(123), 1);
  ctx.encode((enc) => binaryFns[op](enc, a.buffer, b.buffer, out));
  const got = ctx.read(out, n + 1);
  return { got: got.subarray(0, n), want: ref.binary(op, a.values, b.values, c.params.rowLength), exact: { "nothing written past n": [got[n], 123] } };
});

// ───────────── scalar add and multiply ─────────────

interface ScalarParams {
  value: number;
}
const scalarCases: Case<ScalarParams>[] = F.flatMap((dtype) => [
  { op: "scalarAdd", dtype, shape: { n: 1000 }, params: { value: 0.3 }, tolerance: ROUNDED[dtype.name as "f32"] },
  { op: "scalarMul", dtype, shape: { n: 1000 }, params: { value: -1.7 }, tolerance: ROUNDED[dtype.name as "f32"] },
]);

conformance("elementwise scalar", scalarCases, (c, ctx) => {
  const n = c.shape.n!;
  const a = ctx.random(c.dtype, n, 5, -3, 3);
  const out = ctx.floats(c.dtype, n);
  const isAdd = c.op === "scalarAdd";
  ctx.encode((enc) => (isAdd ? ops.scalarAdd : ops.scalarMul)(enc, a.buffer, out, c.params.value));
  return { got: ctx.read(out, n), want: isAdd ? ref.scalar(a.values, 1, c.params.value) : ref.scalar(a.values, c.params.value, 0) };
});

// ───────────── cast ─────────────

interface CastParams {
  to: DType;
}
const castCases: Case<CastParams>[] = F.flatMap((from) => F.filter((to) => to !== from).map((to) => ({ op: "cast", dtype: from, shape: { n: 1025 }, params: { to }, tolerance: EXACT })));

conformance("cast", castCases, (c, ctx) => {
  const n = c.shape.n!;
  // Values spread over many binades, so every rounding path (and f16 subnormals) is exercised.
  const src = ctx.random(c.dtype, n, 11, -1, 1);
  const values = src.values.map((v, i) => roundTo(c.dtype, v * 2 ** ((i % 40) - 26)));
  const input = ctx.floats(c.dtype, n, values);
  const out = ctx.floats(c.params.to, n);
  ctx.encode((enc) => ops.cast(enc, input, out));
  return { got: ctx.read(out, n), want: values.map((v) => roundTo(c.params.to, v)) };
});

// ───────────── copies: slices, strided views, concat, transpose ─────────────

interface CopyParams {
  srcOffset: number;
  dstOffset: number;
}
const copyCases: Case<CopyParams>[] = F.map((dtype) => ({ op: "copy", dtype, shape: { n: 300 }, params: { srcOffset: 17, dstOffset: 5 }, tolerance: EXACT }));

conformance("copy", copyCases, (c, ctx) => {
  const n = c.shape.n!;
  const { srcOffset, dstOffset } = c.params;
  const src = ctx.random(c.dtype, n + srcOffset, 3);
  const before = new Array(n + dstOffset + 3).fill(9);
  const dst = ctx.floats(c.dtype, before.length, before);
  ctx.encode((enc) => ops.copy(enc, src.buffer, dst, { srcOffset, dstOffset, count: n }));
  return { got: ctx.read(dst, before.length), want: ref.stridedCopy(src.values, before, [n], srcOffset, [1], dstOffset, [1]) };
});

interface StridedParams {
  dims: readonly number[];
  srcStrides: readonly number[];
  dstStrides: readonly number[];
  srcOffset: number;
  dstOffset: number;
  to: DType;
}
const stridedCases: Case<StridedParams>[] = [
  // a [5, 70] column block at column 33 of a [5, 300] matrix, into rows of 80 at column 3
  { op: "copyStrided", dtype: DType.F32, shape: { rank: 2 }, params: { dims: [5, 70], srcStrides: [300, 1], dstStrides: [80, 1], srcOffset: 33, dstOffset: 3, to: DType.F32 }, tolerance: EXACT },
  // a 3-d permutation with conversion
  { op: "copyStrided", dtype: DType.BF16, shape: { rank: 3 }, params: { dims: [3, 9, 40], srcStrides: [360, 40, 1], dstStrides: [1, 120, 3], srcOffset: 0, dstOffset: 0, to: DType.F32 }, tolerance: EXACT },
  // a broadcast (stride 0) read
  { op: "copyStrided", dtype: DType.F16, shape: { rank: 2 }, params: { dims: [6, 33], srcStrides: [0, 1], dstStrides: [33, 1], srcOffset: 2, dstOffset: 0, to: DType.F16 }, tolerance: EXACT },
];

conformance("copyStrided", stridedCases, (c, ctx) => {
  const p = c.params;
  const srcLen = p.srcOffset + p.dims.reduce((s, d, i) => s + (d - 1) * p.srcStrides[i]!, 0) + 1;
  const dstLen = p.dstOffset + p.dims.reduce((s, d, i) => s + (d - 1) * p.dstStrides[i]!, 0) + 1;
  const src = ctx.random(c.dtype, srcLen, 21);
  const before = new Array(dstLen).fill(-5);
  const dst = ctx.floats(p.to, dstLen, before);
  ctx.encode((enc) => ops.copyStrided(enc, src.buffer, dst, { shape: p.dims, srcStrides: p.srcStrides, dstStrides: p.dstStrides, srcOffset: p.srcOffset, dstOffset: p.dstOffset }));
  const want = ref.stridedCopy(src.values, before, p.dims, p.srcOffset, p.srcStrides, p.dstOffset, p.dstStrides).map((v) => roundTo(p.to, v));
  return { got: ctx.read(dst, dstLen), want };
});

interface ConcatParams {
  widths: readonly number[];
}
const concatCases: Case<ConcatParams>[] = F.map((dtype) => ({ op: "concat", dtype, shape: { rows: 7 }, params: { widths: [5, 130, 64] }, tolerance: EXACT }));

conformance("concat", concatCases, (c, ctx) => {
  const rows = c.shape.rows!;
  const inputs = c.params.widths.map((cols, i) => ({ cols, ...ctx.random(c.dtype, [rows, cols], 40 + i) }));
  const total = c.params.widths.reduce((s, w) => s + w, 0);
  const out = ctx.floats(c.dtype, [rows, total]);
  ctx.encode((enc) => ops.concat(enc, inputs.map(({ buffer }) => buffer), out));
  return { got: ctx.read(out, rows * total), want: ref.concat(inputs, rows) };
});

const transposeCases: Case<object>[] = F.map((dtype) => ({ op: "transpose", dtype, shape: { batch: 3, rows: 37, cols: 45 }, params: {}, tolerance: EXACT }));

conformance("transpose", transposeCases, (c, ctx) => {
  const { batch, rows, cols } = c.shape as { batch: number; rows: number; cols: number };
  const src = ctx.random(c.dtype, [batch, rows, cols], 8);
  const dst = ctx.floats(c.dtype, [batch, cols, rows]);
  ctx.encode((enc) => ops.transpose(enc, src.buffer, dst));
  return { got: ctx.read(dst, batch * rows * cols), want: ref.transpose(src.values, batch, rows, cols) };
});
