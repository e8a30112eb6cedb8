/**
 * Mixture-of-experts kernels against the float64 reference: routing (softmax, top-k with ties to
 * the lower index, renormalized or not), the gathered expert products (MLX affine per expert and
 * dense, x per token and per pair) and the weighted combine.
 *
 * Routing is compared exactly on indices; its logits are spaced so that no two probabilities are
 * within rounding of each other (a tie case uses exactly equal logits). Weights: f32 softmax,
 * rtol 2^-20. Products: as the matmul family (f32 accumulation: atol K²·2^-24/3·2, rtol of y's type).
 */
import { DType, ops } from "../../src/index.ts";
import { dequantize, quantize } from "../../src/quant.ts";
import { randomFloats, roundTo } from "../support/fixtures.ts";
import { route } from "../support/reference/decoder.ts";
import * as ref from "../support/reference/matmul.ts";
import { type Case, type CaseContext, conformance, type Outcome } from "./harness.ts";

const RTOL: Record<string, number> = { f32: 2 ** -24, f16: 2 ** -11, bf16: 2 ** -8 };

// ───────────── routing ─────────────

interface RouteParams {
  tokens: number;
  experts: number;
  topK: number;
  normTopK: boolean;
  ties?: boolean;
}

const routes: Case<RouteParams>[] = [];
for (const dtype of [DType.F32, DType.F16, DType.BF16]) {
  routes.push({ op: "moeRoute", dtype, shape: { tokens: 3, experts: 8 }, params: { tokens: 3, experts: 8, topK: 2, normTopK: true }, tolerance: { atol: 0, rtol: 2 ** -20 } });
}
routes.push({ op: "moeRoute", dtype: DType.F32, shape: { tokens: 2, experts: 128 }, params: { tokens: 2, experts: 128, topK: 8, normTopK: false }, tolerance: { atol: 0, rtol: 2 ** -20 } });
routes.push({ op: "moeRoute", dtype: DType.F32, shape: { tokens: 1, experts: 45 }, params: { tokens: 1, experts: 45, topK: 5, normTopK: true }, tolerance: { atol: 0, rtol: 2 ** -20 } });
routes.push({ op: "moeRoute", dtype: DType.BF16, shape: { tokens: 1, experts: 256 }, params: { tokens: 1, experts: 256, topK: 32, normTopK: true }, tolerance: { atol: 0, rtol: 2 ** -20 } });
routes.push({ op: "moeRoute", dtype: DType.F32, shape: { tokens: 1, experts: 6 }, params: { tokens: 1, experts: 6, topK: 3, normTopK: true, ties: true }, tolerance: { atol: 0, rtol: 2 ** -20 } });

function runRoute(c: Case<RouteParams>, ctx: CaseContext): Outcome {
  const { tokens, experts, topK, normTopK, ties } = c.params;
  // A shuffled ladder of distinct logits 0.25 apart (exact in every float type), per token.
  const logits: number[] = [];
  for (let t = 0; t < tokens; t++) {
    const order = randomFloats(experts, 100 + t, 0, 1);
    const rank = Array.from({ length: experts }, (_, i) => i).sort((a, b) => order[a]! - order[b]!);
    const row = new Array<number>(experts);
    rank.forEach((e, r) => (row[e] = ties ? [1, 3, 3, 2, 3, 0][e]! : roundTo(c.dtype, (r - experts / 2) * (8 / experts))));
    logits.push(...row);
  }
  const x = ctx.floats(c.dtype, [tokens, experts], logits);
  // One guard element past each output (allocated past the shape) must stay untouched.
  const indices = ctx.u32(new Array(tokens * topK + 1).fill(999), [tokens, topK]);
  const weights = ctx.floats(DType.F32, [tokens, topK], new Array(tokens * topK + 1).fill(7), 1);
  ctx.encode((enc) => ops.moeRoute(enc, x, indices, weights, { normTopK }));
  const gotIdx = [...indices.view(Uint32Array).subarray(0, tokens * topK + 1)];
  const want: number[] = [];
  const wantIdx: number[] = [];
  for (let t = 0; t < tokens; t++) {
    const r = route(logits.slice(t * experts, (t + 1) * experts), topK, normTopK);
    wantIdx.push(...r.experts);
    want.push(...r.weights);
  }
  const got = ctx.read(weights, tokens * topK + 1);
  return { got: got.subarray(0, tokens * topK), want, exact: { indices: [gotIdx, [...wantIdx, 999]], "nothing written past weights": [got[tokens * topK], 7] } };
}

conformance("moe routing", routes, runRoute, { needsFibers: true });

// ───────────── gathered expert products and the combine ─────────────

interface GatherParams {
  tokens: number;
  topK: number;
  experts: number;
  n: number;
  k: number;
  /** Quantized: bits and group; undefined for dense experts of `weight` type. */
  bits?: number;
  group?: number;
  weight: DType;
  xPerPair: boolean;
}

const gathers: Case<GatherParams>[] = [];
const tol = (dtype: DType, k: number) => ({ atol: ((k * k) / 3) * 2 ** -24 * 2, rtol: RTOL[dtype.name]! });
for (const dtype of [DType.F32, DType.F16, DType.BF16]) {
  gathers.push({ op: "gather_qmv", dtype, shape: { tokens: 1, topK: 2, experts: 4, n: 20, k: 128 }, params: { tokens: 1, topK: 2, experts: 4, n: 20, k: 128, bits: 4, group: 32, weight: DType.BF16, xPerPair: false }, tolerance: tol(dtype, 128) });
}
gathers.push({ op: "gather_qmv", dtype: DType.F32, shape: { tokens: 3, topK: 2, experts: 5, n: 9, k: 192 }, params: { tokens: 3, topK: 2, experts: 5, n: 9, k: 192, bits: 8, group: 64, weight: DType.F16, xPerPair: true }, tolerance: tol(DType.F32, 192) });
gathers.push({ op: "gather_gemv", dtype: DType.F32, shape: { tokens: 2, topK: 3, experts: 4, n: 17, k: 40 }, params: { tokens: 2, topK: 3, experts: 4, n: 17, k: 40, weight: DType.F16, xPerPair: false }, tolerance: tol(DType.F32, 40) });
gathers.push({ op: "gather_gemv", dtype: DType.BF16, shape: { tokens: 1, topK: 2, experts: 3, n: 8, k: 64 }, params: { tokens: 1, topK: 2, experts: 3, n: 8, k: 64, weight: DType.BF16, xPerPair: true }, tolerance: tol(DType.BF16, 64) });

function runGather(c: Case<GatherParams>, ctx: CaseContext): Outcome {
  const { tokens, topK, experts, n, k, bits, group, weight, xPerPair } = c.params;
  const pairs = tokens * topK;
  const xRows = xPerPair ? pairs : tokens;
  const x = ctx.random(c.dtype, [xRows, k], 5 + k);
  // Each token's slots pick distinct experts, in a scrambled order.
  const idx = Array.from({ length: pairs }, (_, p) => (Math.floor(p / topK) * 3 + (p % topK) * 2 + 1) % experts);
  const indices = ctx.u32(idx, [tokens, topK]);
  const y = ctx.floats(c.dtype, [pairs, n], new Array(pairs * n + 1).fill(7), 1);
  const { w, mats } = stackedExperts(ctx, experts, n, k, weight, bits, group, 40);
  ctx.encode((enc) => ops.gatherMatmul(enc, x.buffer, w, indices, y, { xPerPair }));
  const want = new Float64Array(pairs * n);
  for (let p = 0; p < pairs; p++) {
    const row = xPerPair ? p : Math.floor(p / topK);
    want.set(ref.matmul(x.values.subarray(row * k, (row + 1) * k), mats[idx[p]!]!, 1, n, k), p * n);
  }
  const got = ctx.read(y, pairs * n + 1);
  return { got: got.subarray(0, pairs * n), want, exact: { "nothing written past y": [got[pairs * n], 7] } };
}

/** Stacked experts on the device (MLX affine per expert when `bits` is set, else dense) and their matrices as the reference reads them. */
function stackedExperts(ctx: CaseContext, experts: number, n: number, k: number, weight: DType, bits: number | undefined, group: number | undefined, seed: number): { w: ops.StackedExperts; mats: Float64Array[] } {
  const mats: Float64Array[] = [];
  if (bits === undefined) {
    const values = randomFloats(experts * n * k, seed, -1, 1).map((v) => roundTo(weight, v));
    for (let e = 0; e < experts; e++) mats.push(values.slice(e * n * k, (e + 1) * n * k));
    return { w: ctx.floats(weight, [experts, n, k], values), mats };
  }
  const qs = Array.from({ length: experts }, (_, e) => quantize(randomFloats(n * k, seed + e, -1, 1).map((v) => roundTo(weight, v)), n, k, bits, group!, weight));
  const packed = ctx.u32(qs.flatMap((q) => [...q.packed]), [experts, n, (k * bits) / 32]);
  const groups = [experts, n, k / group!];
  const scales = ctx.floats(weight, groups, qs.flatMap((q) => [...q.scales]));
  const biases = ctx.floats(weight, groups, qs.flatMap((q) => [...q.biases]));
  for (const q of qs) mats.push(dequantize(q));
  return { w: { weight: packed, scales, biases, bits, groupSize: group! }, mats };
}

conformance("moe gathered expert products", gathers, runGather, { needsFibers: true });

interface CombineParams {
  tokens: number;
  topK: number;
  n: number;
}

const combines: Case<CombineParams>[] = [DType.F32, DType.F16, DType.BF16].map((dtype) => ({
  op: "moeCombine",
  dtype,
  shape: { tokens: 3, topK: 2, n: 33 },
  params: { tokens: 3, topK: 2, n: 33 },
  tolerance: { atol: 2 ** -22, rtol: RTOL[dtype.name]! },
}));

function runCombine(c: Case<CombineParams>, ctx: CaseContext): Outcome {
  const { tokens, topK, n } = c.params;
  const y = ctx.random(c.dtype, [tokens * topK, n], 9);
  const w = ctx.random(DType.F32, [tokens, topK], 10, 0, 1);
  const out = ctx.floats(c.dtype, [tokens, n], new Array(tokens * n + 1).fill(7), 1);
  ctx.encode((enc) => ops.moeCombine(enc, y.buffer, w.buffer, out));
  const want = new Float64Array(tokens * n);
  for (let t = 0; t < tokens; t++) for (let s = 0; s < topK; s++) for (let d = 0; d < n; d++) want[t * n + d] = want[t * n + d]! + w.values[t * topK + s]! * y.values[(t * topK + s) * n + d]!;
  const got = ctx.read(out, tokens * n + 1);
  return { got: got.subarray(0, tokens * n), want, exact: { "nothing written past out": [got[tokens * n], 7] } };
}

conformance("moe combine", combines, runCombine);

// ───────────── grouped (prefill): sort, gather rows, grouped products, sorted combine ─────────────

interface GroupedParams extends GatherParams {
  /** Experts chosen for each pair (tokens · topK). */
  route: readonly number[];
}

const grouped: Case<GroupedParams>[] = [];
// 7 tokens, top 2 over 5 experts: expert 1 gets 6 pairs (two batches), expert 4 none.
const route7 = [1, 0, 1, 2, 3, 1, 1, 0, 2, 1, 3, 1, 0, 2];
grouped.push({ op: "grouped_qmv", dtype: DType.F32, shape: { tokens: 7, topK: 2, experts: 5, n: 20, k: 128 }, params: { tokens: 7, topK: 2, experts: 5, n: 20, k: 128, bits: 4, group: 64, weight: DType.BF16, xPerPair: false, route: route7 }, tolerance: tol(DType.F32, 128) });
grouped.push({ op: "grouped_qmv", dtype: DType.BF16, shape: { tokens: 7, topK: 2, experts: 5, n: 12, k: 64 }, params: { tokens: 7, topK: 2, experts: 5, n: 12, k: 64, bits: 8, group: 32, weight: DType.F16, xPerPair: true, route: route7 }, tolerance: tol(DType.BF16, 64) });
grouped.push({ op: "grouped_gemv", dtype: DType.F16, shape: { tokens: 3, topK: 3, experts: 3, n: 9, k: 40 }, params: { tokens: 3, topK: 3, experts: 3, n: 9, k: 40, weight: DType.F32, xPerPair: false, route: [2, 0, 1, 2, 1, 0, 0, 2, 1] }, tolerance: tol(DType.F16, 40) });

function runGrouped(c: Case<GroupedParams>, ctx: CaseContext): Outcome {
  const { tokens, topK, experts, n, k, bits, group, weight, xPerPair, route: idx } = c.params;
  const pairs = tokens * topK;
  const x = ctx.random(c.dtype, [xPerPair ? pairs : tokens, k], 3 + k);
  const indices = ctx.u32(idx, [tokens, topK]);
  const { w, mats } = stackedExperts(ctx, experts, n, k, weight, bits, group, 60);
  const weights = ctx.random(DType.F32, [tokens, topK], 11, 0, 1);
  const order = ctx.u32(new Array(pairs).fill(0));
  const sortedRow = ctx.u32(new Array(pairs).fill(0));
  const batches = ctx.u32(new Array(ops.moeBatchElements(pairs, experts)).fill(0));
  const xs = ctx.floats(c.dtype, [pairs, k]);
  const ys = ctx.floats(c.dtype, [pairs, n]);
  const out = ctx.floats(c.dtype, [tokens, n], new Array(tokens * n + 1).fill(7), 1);
  ctx.encode((enc) => {
    ops.moeSort(enc, indices, order, sortedRow, batches, { experts });
    ops.moeGatherRows(enc, x.buffer, order, xs, { topK, xPerPair });
    ops.groupedMatmul(enc, xs, w, batches, ys);
    ops.moeCombine(enc, ys, weights.buffer, out, { sortedRow });
  });
  // Stable order by expert; batches of at most 4 rows of one expert.
  const wantOrder = Array.from({ length: pairs }, (_, p) => p).sort((a, b) => idx[a]! - idx[b]! || a - b);
  const wantRow = new Array<number>(pairs);
  wantOrder.forEach((p, r) => (wantRow[p] = r));
  const wantBatches: number[] = [];
  for (let e = 0; e < experts; e++) {
    const rows = wantOrder.map((p, r) => [p, r] as const).filter(([p]) => idx[p] === e);
    for (let i = 0; i < rows.length; i += 4) wantBatches.push(e, rows[i]![1], Math.min(4, rows.length - i));
  }
  while (wantBatches.length < ops.moeBatchElements(pairs, experts)) wantBatches.push(0, 0, 0);
  // The reference: each pair through its expert, weighted and summed per token. The device
  // rounds each product to the activation type before the combine: so does the reference.
  const want = new Float64Array(tokens * n);
  for (let p = 0; p < pairs; p++) {
    const row = xPerPair ? p : Math.floor(p / topK);
    const y = ref.matmul(x.values.subarray(row * k, (row + 1) * k), mats[idx[p]!]!, 1, n, k).map((v) => roundTo(c.dtype, v));
    const t = Math.floor(p / topK);
    for (let d = 0; d < n; d++) want[t * n + d] = want[t * n + d]! + weights.values[p]! * y[d]!;
  }
  const got = ctx.read(out, tokens * n + 1);
  return {
    got: got.subarray(0, tokens * n),
    want,
    exact: {
      order: [[...order.view(Uint32Array).subarray(0, pairs)], wantOrder],
      sortedRow: [[...sortedRow.view(Uint32Array).subarray(0, pairs)], wantRow],
      batches: [[...batches.view(Uint32Array).subarray(0, wantBatches.length)], wantBatches],
      "nothing written past out": [got[tokens * n], 7],
    },
  };
}

conformance("moe grouped expert products (prefill)", grouped, runGrouped, { needsFibers: true });
