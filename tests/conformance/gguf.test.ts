/**
 * GGUF block formats on the device (kernels/gguf.h, kernels/gguf_blocks.h): matrix-vector and
 * tiled products and embedding gathers read the blocks as stored, checked against a float64
 * reference over the exactly dequantized blocks (tests/support/ggml_quants.ts; the weights are
 * quantized there with ggml's reference algorithms).
 *
 * Tolerance: the blocks decode exactly (f16 scales times small integers), so only the f32
 * accumulation differs from the reference, bounded as for the other products (see matmul.test.ts):
 * atol = K²·2^-24/3 · 2 with |x|, |w| ≤ about 1, and one rounding of y to its type. Gathers are
 * exact up to that rounding (the decoder's fma is one f32 rounding).
 */
import { expect, test } from "bun:test";
import { GGUF_BLOCKS } from "../../kernels/catalog.ts";
import { DType, ops } from "../../src/index.ts";
import { GGML_TYPES, type GgmlTypeName } from "../../src/ggml_types.ts";
import { expectArgumentError } from "../support/errors.ts";
import { fixture, randomFloats } from "../support/fixtures.ts";
import { dequantizeRows, quantizeRows } from "../support/ggml_quants.ts";
import * as ref from "../support/reference/matmul.ts";
import { type Case, type CaseContext, conformance, type Outcome, type Tolerance } from "./harness.ts";

const RTOL: Record<string, number> = { f32: 2 ** -24, f16: 2 ** -11, bf16: 2 ** -8 };
const tolerance = (dtype: DType, k: number): Tolerance => ({ atol: ((k * k) / 3) * 2 ** -24 * 2 + 1e-6, rtol: RTOL[dtype.name]! * 2 });

interface Params {
  type: GgmlTypeName;
  path: ops.MatmulPath;
}

/** K: two blocks of 256, or ten of 32 (not a multiple of a simdgroup's 1024-value stride). */
const kFor = (type: GgmlTypeName) => (GGML_TYPES[type].blockElements === 256 ? 512 : 320);

// Every format's decoder on the decode path; the adaptors to the tiled body, the batched
// matrix-vector specialization and the gathers are the same code for every format, so they run on
// a few formats only (each format is a compile unit: a few seconds on msl-cpu).
const products: Case<Params>[] = [];
for (const type of GGUF_BLOCKS) {
  const K = kFor(type);
  products.push({ op: "gguf_mv", dtype: DType.F32, shape: { M: 1, N: 20, K }, params: { type, path: "matvec" }, tolerance: tolerance(DType.F32, K) });
}
for (const type of ["Q8_0", "Q3_K"] as const) {
  products.push({ op: "gguf_mv", dtype: DType.F32, shape: { M: 5, N: 9, K: kFor(type) }, params: { type, path: "matvec" }, tolerance: tolerance(DType.F32, kFor(type)) });
}
for (const type of ["Q4_1", "Q5_K"] as const) {
  products.push({ op: "gguf_mm", dtype: DType.F32, shape: { M: 33, N: 70, K: kFor(type) }, params: { type, path: "tiled" }, tolerance: tolerance(DType.F32, kFor(type)) });
}
for (const dtype of [DType.F16, DType.BF16]) {
  products.push({ op: "gguf_mv", dtype, shape: { M: 1, N: 24, K: 256 }, params: { type: "Q4_K", path: "matvec" }, tolerance: tolerance(dtype, 256) });
  products.push({ op: "gguf_mm", dtype, shape: { M: 33, N: 24, K: 256 }, params: { type: "Q5_K", path: "tiled" }, tolerance: tolerance(dtype, 256) });
}

// The row kernels (the cpu backend's path): the same adaptor for every format, so a few formats,
// one affine and one not, decode and prefill shapes.
for (const [type, M, N] of [["Q4_0", 1, 20], ["Q4_0", 33, 70], ["Q3_K", 5, 9], ["Q3_K", 9, 3]] as const) {
  products.push({ op: "gguf_mv_rows", dtype: DType.F32, shape: { M, N, K: kFor(type) }, params: { type, path: "rows" }, tolerance: tolerance(DType.F32, kFor(type)) });
}
products.push({ op: "gguf_mv_rows", dtype: DType.F16, shape: { M: 1, N: 24, K: 256 }, params: { type: "Q4_K", path: "rows" }, tolerance: tolerance(DType.F16, 256) });

/** A random weight [N, K] stored as `type`, and its exact values. */
function blockWeight(ctx: CaseContext, type: GgmlTypeName, rows: number, cols: number, seed: number) {
  const bytes = quantizeRows(type, randomFloats(rows * cols, seed, -1, 1), rows, cols);
  const buffer = ctx.keep(ctx.device.allocBuffer(bytes.byteLength, DType.U8, [rows, bytes.byteLength / rows]));
  buffer.view(Uint8Array).set(bytes);
  return { table: new ops.BlockTable({ weight: buffer, type }), values: dequantizeRows(type, bytes, rows, cols) };
}

function runProduct(c: Case<Params>, ctx: CaseContext): Outcome {
  const { M, N, K } = c.shape as { M: number; N: number; K: number };
  const x = ctx.random(c.dtype, [M, K], M * 31 + K);
  const w = blockWeight(ctx, c.params.type, N, K, N * 17 + K);
  const y = ctx.floats(c.dtype, [M, N], new Array(M * N + 1).fill(7), 1);
  ctx.encode((enc) => ops.matmul(enc, x.buffer, w.table, y, { path: c.params.path }));
  const got = ctx.read(y, M * N + 1);
  return { got: got.subarray(0, M * N), want: ref.matmul(x.values, w.values, M, N, K), exact: { "nothing written past y": [got[M * N], 7] } };
}

conformance("gguf products (matrix-vector)", products.filter((c) => c.params.path === "matvec"), runProduct, { needsFibers: true });
conformance("gguf products (tiled)", products.filter((c) => c.params.path === "tiled"), runProduct, { needsSimdgroupMatrix: true });
conformance("gguf products (rows)", products.filter((c) => c.params.path === "rows"), runProduct);

const gathers: Case<{ type: GgmlTypeName }>[] = (["Q5_0", "Q2_K", "Q6_K"] as const).map((type) => ({ op: "gguf_embedding", dtype: DType.F32, shape: { tokens: 4, vocab: 7, dim: kFor(type) }, params: { type }, tolerance: { atol: 0, rtol: 2 ** -23 } }));
gathers.push({ op: "gguf_embedding", dtype: DType.BF16, shape: { tokens: 4, vocab: 7, dim: 256 }, params: { type: "Q6_K" }, tolerance: { atol: 0, rtol: 2 ** -8 } });

conformance("gguf embedding", gathers, (c, ctx) => {
  const { tokens, vocab, dim } = c.shape as { tokens: number; vocab: number; dim: number };
  const table = blockWeight(ctx, c.params.type, vocab, dim, vocab * 3 + dim);
  const idList = [6, 0, 99, 3]; // 99 is past the table: a row of zeros
  const ids = ctx.u32(idList);
  const out = ctx.floats(c.dtype, [tokens, dim]);
  ctx.encode((enc) => ops.embedding(enc, table.table, ids, out));
  const want = new Float64Array(tokens * dim);
  idList.forEach((id, t) => id < vocab && want.set(table.values.subarray(id * dim, (id + 1) * dim), t * dim));
  return { got: ctx.read(out, tokens * dim), want };
});

test("BlockTable and the ops that take it refuse bad input with ArgumentErrors naming it", () => {
  const { device } = fixture();
  const bytes = (rows: number, rowBytes: number, dtype = DType.U8) => device.allocBuffer(rows * rowBytes * dtype.size, dtype, [rows, rowBytes]);
  using good = bytes(4, 144); // 4 rows of one Q4_K block: [4, 256]
  using words = bytes(4, 36, DType.U32);
  using flat = device.allocBuffer(576, DType.U8, [576]);
  using partial = bytes(4, 100);
  expectArgumentError(() => new ops.BlockTable({ weight: good, type: "IQ2_XS" as "Q4_K" }), "table.type", "must be a GGUF block format");
  expectArgumentError(() => new ops.BlockTable({ weight: good, type: "F16" }), "table.type");
  expectArgumentError(() => new ops.BlockTable({ weight: words, type: "Q4_K" }), "table.weight");
  expectArgumentError(() => new ops.BlockTable({ weight: flat, type: "Q4_K" }), "table.weight", "must be 2-D");
  expectArgumentError(() => new ops.BlockTable({ weight: partial, type: "Q4_K" }), "table.weight", "144-byte Q4_K blocks");
  const table = new ops.BlockTable({ weight: good, type: "Q4_K" });
  expect([table.rows, table.cols]).toEqual([4, 256]);
  using x = device.allocBuffer(4 * 128, DType.F32, [1, 128]);
  using y = device.allocBuffer(16, DType.F32, [1, 4]);
  using enc = device.commandEncoder();
  expectArgumentError(() => ops.matmul(enc, x, table, y), "x");
  using ids = device.allocBuffer(4, DType.U32, [1]);
  using out = device.allocBuffer(4 * 128, DType.F32, [1, 128]);
  expectArgumentError(() => ops.embedding(enc, table, ids, out), "out");
});
