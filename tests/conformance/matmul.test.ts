/**
 * Dense and MLX affine-quantized matmul (`y = x · Wᵀ`) against the float64 reference, on the
 * matrix-vector path (1–8 rows, and many rows as the cpu backend routes them) and the tiled path
 * (more rows), for every activation × weight
 * dtype and every bits × group size × scale dtype. Shapes are odd on purpose: N not a multiple of
 * the 8 rows a matrix-vector group covers nor of the 64-wide tiles, K not a multiple of a lane's
 * chunk or of the tile depth (dense), one row, 33 rows.
 *
 * Tolerance: the kernels accumulate in f32, so an output is within γ_K · Σ_k |x_k w_k|
 * (γ_K ≈ K·2^-24) of the exact sum; with inputs in [-1, 1] that sum is at most about K/3 here,
 * so atol = K²·2^-24/3 · 2. y is then rounded once to its type: rtol = 2^-p.
 */
import { DType, ops } from "../../src/index.ts";
import { FLOATS } from "../../kernels/catalog.ts";
import { MLX_BITS, MLX_GROUP_SIZES, quantize } from "../../src/quant.ts";
import { randomFloats, roundTo } from "../support/fixtures.ts";
import { uploadQuantized } from "../support/mlx_quant.ts";
import * as ref from "../support/reference/matmul.ts";
import { type Case, type CaseContext, conformance, type Outcome, type Tolerance } from "./harness.ts";

const F = FLOATS; // every float type the catalog builds
const RTOL: Record<string, number> = { f32: 2 ** -24, f16: 2 ** -11, bf16: 2 ** -8 };

function tolerance(dtype: DType, k: number): Tolerance {
  return { atol: ((k * k) / 3) * 2 ** -24 * 2, rtol: RTOL[dtype.name]! };
}

// ───────────── dense ─────────────

interface DenseParams {
  w: DType;
  path: ops.MatmulPath;
}

const dense: Case<DenseParams>[] = [];
const denseShape = (M: number, N: number, K: number) => ({ M, N, K });
for (const dtype of F) {
  for (const w of F) {
    dense.push({ op: "matmul", dtype, shape: denseShape(1, 20, 300), params: { w, path: "matvec" }, tolerance: tolerance(dtype, 300) });
    for (const path of ["tiled", "matvec"] as const) dense.push({ op: "matmul", dtype, shape: denseShape(33, 70, 100), params: { w, path }, tolerance: tolerance(dtype, 100) });
  }
}
for (const [M, N, K] of [
  [3, 20, 300],
  [8, 17, 520],
  [2, 9, 7],
  [1, 1, 1],
  [64, 64, 64],
  [9, 130, 33],
  [130, 65, 257],
] as const) {
  const path = M <= ops.MATVEC_MAX_ROWS ? "matvec" : "tiled";
  dense.push({ op: "matmul", dtype: DType.F32, shape: denseShape(M, N, K), params: { w: DType.BF16, path }, tolerance: tolerance(DType.F32, K) });
}

/** Run one product and compare against the reference; y gets one guard element. */
function runDense(c: Case<DenseParams>, ctx: CaseContext): Outcome {
  const { M, N, K } = c.shape as { M: number; N: number; K: number };
  const x = ctx.random(c.dtype, [M, K], M * 31 + K);
  const w = ctx.random(c.params.w, [N, K], N * 17 + K);
  const y = ctx.floats(c.dtype, [M, N], new Array(M * N + 1).fill(7), 1);
  ctx.encode((enc) => ops.matmul(enc, x.buffer, w.buffer, y, { path: c.params.path }));
  const got = ctx.read(y, M * N + 1);
  return { got: got.subarray(0, M * N), want: ref.matmul(x.values, w.values, M, N, K), exact: { "nothing written past y": [got[M * N], 7] } };
}

// The row kernels (a thread per weight row, up to 8 rows of x per pass): every matrix-vector
// shape, and the prefill shapes, which they take on the cpu backend.
for (const c of dense.filter((c) => c.params.path !== "rows")) dense.push({ ...c, params: { ...c.params, path: "rows" } });

conformance("matmul (matrix-vector)", dense.filter((c) => c.params.path === "matvec"), runDense, { needsFibers: true });
conformance("matmul (rows)", dense.filter((c) => c.params.path === "rows"), runDense);
conformance("matmul (tiled)", dense.filter((c) => c.params.path === "tiled"), runDense, { needsSimdgroupMatrix: true });

// ───────────── MLX affine ─────────────

interface AffineParams {
  bits: number;
  group: number;
  scales: DType;
  path: ops.MatmulPath;
}

const affine: Case<AffineParams>[] = [];
const K_AFFINE = 384; // a multiple of every group size, not of a simdgroup's 1024-value stride
for (const bits of MLX_BITS) {
  for (const group of MLX_GROUP_SIZES) {
    for (const scales of F) {
      affine.push({ op: "qmv", dtype: DType.F32, shape: denseShape(1, 20, K_AFFINE), params: { bits, group, scales, path: "matvec" }, tolerance: tolerance(DType.F32, K_AFFINE) });
      affine.push({ op: "qmm", dtype: DType.F32, shape: denseShape(33, 20, K_AFFINE), params: { bits, group, scales, path: "tiled" }, tolerance: tolerance(DType.F32, K_AFFINE) });
    }
  }
}
// Activation types, several rows of x, tile-aligned and multi-tile shapes.
for (const dtype of [DType.F16, DType.BF16]) {
  for (const bits of [3, 4]) {
    affine.push({ op: "qmv", dtype, shape: denseShape(1, 24, 256), params: { bits, group: 64, scales: DType.BF16, path: "matvec" }, tolerance: tolerance(dtype, 256) });
    affine.push({ op: "qmm", dtype, shape: denseShape(33, 24, 256), params: { bits, group: 64, scales: DType.F16, path: "tiled" }, tolerance: tolerance(dtype, 256) });
  }
}
for (const [M, N, K, bits, group] of [
  [3, 20, 256, 4, 64],
  [5, 33, 192, 6, 32],
  [8, 8, 1152, 5, 128],
  [64, 64, 128, 8, 32],
  [100, 130, 256, 2, 64],
  [9, 3, 64, 3, 32],
] as const) {
  const path = M <= ops.MATVEC_MAX_ROWS ? "matvec" : "tiled";
  affine.push({ op: path === "matvec" ? "qmv" : "qmm", dtype: DType.F32, shape: denseShape(M, N, K), params: { bits, group, scales: DType.BF16, path }, tolerance: tolerance(DType.F32, K) });
}
// One row of x against weight rows that do not fill the row kernels' last thread (4 rows each
// for one row of x): the byte-lane loop of 2-, 4- and 8-bit codes, groups sharing a scale across
// one chunk (32) or two (64, 128), every activation type.
for (const dtype of [DType.F32, DType.F16, DType.BF16]) {
  for (const [N, K, bits, group] of [[23, 192, 4, 64], [21, 96, 2, 32], [22, 384, 8, 128]] as const) {
    affine.push({ op: "qmv", dtype, shape: denseShape(1, N, K), params: { bits, group, scales: DType.F16, path: "matvec" }, tolerance: tolerance(dtype, K) });
  }
}
// Many rows on the matrix-vector path (the cpu backend's choice for every product).
for (const bits of MLX_BITS) affine.push({ op: "qmv", dtype: DType.F32, shape: denseShape(33, 20, 256), params: { bits, group: 64, scales: DType.BF16, path: "matvec" }, tolerance: tolerance(DType.F32, 256) });

function runAffine(c: Case<AffineParams>, ctx: CaseContext): Outcome {
  const { M, N, K } = c.shape as { M: number; N: number; K: number };
  const { bits, group, scales } = c.params;
  const x = ctx.random(c.dtype, [M, K], M * 13 + K + bits);
  const q = quantize(randomFloats(N * K, N * 7 + K + group, -1, 1).map((v) => roundTo(scales, v)), N, K, bits, group, scales);
  const w = uploadQuantized(ctx.device, q, (b) => ctx.keep(b));
  const y = ctx.floats(c.dtype, [M, N], new Array(M * N + 1).fill(7), 1);
  ctx.encode((enc) => ops.matmul(enc, x.buffer, w, y, { path: c.params.path }));
  const got = ctx.read(y, M * N + 1);
  return { got: got.subarray(0, M * N), want: ref.quantizedMatmul(x.values, q, M), exact: { "nothing written past y": [got[M * N], 7] } };
}

// The row kernels on every shape above (their x-row passes are 8 rows: 33 rows end in a partial one).
for (const c of affine.filter((c) => c.params.path !== "rows")) affine.push({ ...c, op: "qmv_rows", params: { ...c.params, path: "rows" } });

conformance("quantized matmul (qmv)", affine.filter((c) => c.op === "qmv"), runAffine, { needsFibers: true });
conformance("quantized matmul (rows)", affine.filter((c) => c.op === "qmv_rows"), runAffine);
conformance("quantized matmul (qmm)", affine.filter((c) => c.op === "qmm"), runAffine, { needsSimdgroupMatrix: true });
