/**
 * Mixture-of-experts ops (kernels/moe.h): the router's softmax and top-k, the selected experts'
 * products, and the weighted combine. Together they run a sparse MLP with no host round trip, so
 * a decode step stays one command buffer. Shapes and dtypes come from the buffers:
 *
 *   moeRoute(logits [T, E]) → indices [T, k] (u32), weights [T, k] (f32)
 *   gatherMatmul(x, experts, indices) → y [T·k, n]   (gate and up: x [T, K]; down: x [T·k, K])
 *   moeCombine(y [T·k, n], weights) → out [T, n]
 *
 * Experts are stacked as mlx-lm stores `switch_mlp`: a dense [E, n, K] buffer, or MLX affine per
 * expert (`QuantizedExperts`: codes [E, n, K·bits/32], scales and biases [E, n, K/groupSize]).
 * `gatherMatmul` runs one matrix-vector product per (token, slot) pair over its expert's slice
 * (decode). Prefill groups the pairs by expert instead, so an expert's weights are read once per
 * batch of up to 4 pairs:
 *
 *   moeSort(indices) → order, sortedRow, batches        (a counting sort on the device)
 *   moeGatherRows(x, order) → xs                          (x rows in sorted order)
 *   groupedMatmul(xs, experts, batches) → ys              (gate, up; then down on the sorted rows)
 *   moeCombine(ys, weights, out, { sortedRow })
 *
 * @example
 * ops.moeRoute(enc, routerLogits, idx, w, { normTopK: true });
 * ops.gatherMatmul(enc, n, gateExperts, idx, g);                 // g [T·k, moeIntermediate]
 */
import { AFFINE_BITS, AFFINE_GROUP_SIZES, kernels } from "../../kernels/catalog.ts";
import { type Buffer, checkLiveBuffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import { argStruct } from "./args.ts";
import { access, groupFor } from "./common.ts";
import { checkBuffer, checkElements, checkFloat, checkOneOf, checkOptions, checkSameDType, MAX_ELEMENTS, rowsOf } from "./validate.ts";

/** Most experts `moeRoute` and `moeSort` handle (one simdgroup holds a token's logits, 8 per lane). */
export const MOE_MAX_EXPERTS = 256;
/** Most experts per token (one lane keeps each chosen slot). */
export const MOE_MAX_TOP_K = 32;

/** The argument struct of kernels/moe.h. */
export const MoeArgs = argStruct("MoeArgs", {
  M: "u32",
  N: "u32",
  K: "u32",
  group_shift: "u32",
  top_k: "u32",
  n_experts: "u32",
  x_per_pair: "u32",
  norm_topk: "u32",
});

const MV_ROWS_PER_GROUP = 4; // = kernels/matvec.h: MV_SIMDGROUPS * MV_ROWS
const MV_THREADS = 64; // = kernels/matvec.h: MV_SIMDGROUPS * 32
/** Pairs per batch of the grouped products (the matrix-vector body's MV_MAX_X_ROWS). */
const BATCH_ROWS = 4;
/** u32 words of one batch (expert, first row, rows). */
const BATCH_WORDS = 3;

/** MLX affine experts stacked on a leading axis. */
export interface QuantizedExperts {
  /** U32 [experts, n, K · bits / 32]. */
  weight: Buffer;
  /** [experts, n, K / groupSize] of a float dtype. */
  scales: Buffer;
  biases: Buffer;
  bits: number;
  groupSize: number;
}

/** Stacked experts: dense [experts, n, K], or MLX affine per expert. */
export type StackedExperts = Buffer | QuantizedExperts;

interface ExpertShape {
  experts: number;
  n: number;
  k: number;
  quantized: QuantizedExperts | undefined;
}

/** Experts, n and K of stacked experts, checked. */
function expertShape(name: string, w: StackedExperts): ExpertShape {
  if (typeof w !== "object" || w === null) throw new ArgumentError(name, "must be a Buffer [experts, n, K] or { weight, scales, biases, bits, groupSize }");
  if (!("scales" in w)) {
    checkFloat(name, w);
    if (w.shape.length !== 3) throw new ArgumentError(name, `must be 3-D [experts, n, K] (got shape [${w.shape.join(", ")}])`);
    const [experts, n, k] = w.shape as [number, number, number];
    return { experts, n, k, quantized: undefined };
  }
  checkOptions(name, w, ["weight", "scales", "biases", "bits", "groupSize"], ["weight", "scales", "biases", "bits", "groupSize"]);
  checkOneOf(`${name}.bits`, w.bits, AFFINE_BITS);
  checkOneOf(`${name}.groupSize`, w.groupSize, AFFINE_GROUP_SIZES);
  checkSameDType(`${name}.weight`, w.weight, DType.U32, "packed codes (u32)");
  if (w.weight.shape.length !== 3) throw new ArgumentError(`${name}.weight`, `must be 3-D [experts, n, K · bits / 32] (got shape [${w.weight.shape.join(", ")}])`);
  const [experts, n, words] = w.weight.shape as [number, number, number];
  const k = (words * 32) / w.bits;
  if (!Number.isInteger(k) || k % w.groupSize !== 0) throw new ArgumentError(`${name}.weight`, `shape [${experts}, ${n}, ${words}] is not [experts, n, K · ${w.bits} / 32] for a K that is a multiple of groupSize ${w.groupSize}`);
  const scaleDType = checkFloat(`${name}.scales`, w.scales);
  checkSameDType(`${name}.biases`, w.biases, scaleDType, `${name}.scales`);
  const groups = experts * n * (k / w.groupSize);
  checkElements(`${name}.scales`, w.scales, groups, `[experts = ${experts}, n = ${n}, K / groupSize = ${k / w.groupSize}]`);
  checkElements(`${name}.biases`, w.biases, groups, `[experts = ${experts}, n = ${n}, K / groupSize = ${k / w.groupSize}]`);
  return { experts, n, k, quantized: w };
}

/** Tokens and top-k of `indices` [tokens, topK] (u32). */
function routeShape(name: string, indices: Buffer): { tokens: number; topK: number } {
  checkSameDType(name, indices, DType.U32, "expert indices (u32)");
  if (indices.shape.length !== 2) throw new ArgumentError(name, `must be 2-D [tokens, topK] (got shape [${indices.shape.join(", ")}])`);
  const [tokens, topK] = indices.shape as [number, number];
  if (tokens === 0 || topK === 0) throw new ArgumentError(name, `must not be empty (got shape [${tokens}, ${topK}])`);
  return { tokens, topK };
}

export interface MoeRouteParams {
  /** Renormalize the top-k weights to sum to 1 (Qwen3-MoE's norm_topk_prob; always for Mixtral). */
  normTopK: boolean;
}

/**
 * Per token, the `topK` experts with the largest softmax probability of `logits` [tokens, experts]
 * (ties: the lower index), into `indices` [tokens, topK] (u32, descending) and their weights
 * `weights` [tokens, topK] (f32).
 *
 * @example
 * ops.moeRoute(enc, routerLogits, indices, weights, { normTopK: true });
 */
export function moeRoute(enc: CommandEncoder, logits: Buffer, indices: Buffer, weights: Buffer, params: MoeRouteParams): void {
  checkOptions("params", params, ["normTopK"], ["normTopK"]);
  if (typeof params.normTopK !== "boolean") throw new ArgumentError("params.normTopK", `must be true or false (got ${JSON.stringify(params.normTopK)})`);
  const dtype = checkFloat("logits", logits);
  const { tokens, topK } = routeShape("indices", indices);
  if (logits.shape.length !== 2 || logits.shape[0] !== tokens || logits.shape[1] === 0) throw new ArgumentError("logits", `must be [tokens = ${tokens}, experts] like indices (got shape [${logits.shape.join(", ")}])`);
  const experts = logits.shape[1]!;
  if (experts > MOE_MAX_EXPERTS) throw new ArgumentError("logits", `${experts} experts exceed the router kernel's ${MOE_MAX_EXPERTS}`);
  if (topK > Math.min(experts, MOE_MAX_TOP_K)) throw new ArgumentError("indices", `top-k ${topK} must be at most min(experts, ${MOE_MAX_TOP_K}) = ${Math.min(experts, MOE_MAX_TOP_K)}`);
  checkSameDType("weights", weights, DType.F32, "routing weights (f32)");
  checkElements("weights", weights, tokens * topK, `[tokens = ${tokens}, topK = ${topK}] like indices`);
  const args = MoeArgs.write({ M: tokens, N: 0, K: 0, group_shift: 0, top_k: topK, n_experts: experts, x_per_pair: 0, norm_topk: params.normTopK ? 1 : 0 });
  const pipeline = enc.device.kernels.pipeline(kernels.moeRoute, { dtype });
  enc.dispatchThreadgroups(pipeline, [logits, indices, weights, args], [tokens, 1, 1], [32, 1, 1], access([0], [1, 2]));
}

export interface GatherMatmulParams {
  /** x has a row per (token, slot) pair (the down projection) instead of one per token (default false). */
  xPerPair?: boolean;
}

/**
 * `y[t·topK + s] = W[indices[t, s]] · x[t or t·topK + s]` for every token t and slot s of
 * `indices` [tokens, topK], in one dispatch: y [tokens·topK, n] of x's type.
 *
 * @example
 * ops.gatherMatmul(enc, n, gateExperts, indices, gate);
 * ops.gatherMatmul(enc, act, downExperts, indices, down, { xPerPair: true });
 */
export function gatherMatmul(enc: CommandEncoder, x: Buffer, w: StackedExperts, indices: Buffer, y: Buffer, params: GatherMatmulParams = {}): void {
  checkOptions("params", params, ["xPerPair"]);
  const xPerPair = params.xPerPair ?? false;
  const dtype = checkFloat("x", x);
  const { experts, n, k, quantized } = expertShape("w", w);
  if (experts * n * k > MAX_ELEMENTS) throw new ArgumentError("w", `experts·n·K = ${experts * n * k} exceeds the kernels' 32-bit element index`);
  const { tokens, topK } = routeShape("indices", indices);
  const pairs = tokens * topK;
  const xRows = rowsOf("x", x, k, `[rows, K = ${k}]`);
  if (xRows !== (xPerPair ? pairs : tokens)) throw new ArgumentError("x", `must have ${xPerPair ? `a row per pair (${pairs})` : `a row per token (${tokens})`} (got ${xRows})`);
  checkSameDType("y", y, dtype, "x");
  checkElements("y", y, pairs * n, `[pairs = ${pairs}, n = ${n}]`);
  const grid: [number, number, number] = [Math.ceil(n / MV_ROWS_PER_GROUP), pairs, 1];
  const args = MoeArgs.write({ M: pairs, N: n, K: k, group_shift: quantized ? Math.log2(quantized.groupSize) : 0, top_k: topK, n_experts: experts, x_per_pair: xPerPair ? 1 : 0, norm_topk: 0 });
  if (quantized) {
    const pipeline = enc.device.kernels.pipeline(kernels.moeQmv, { grouped: false, x: dtype, scales: quantized.scales.dtype, bits: quantized.bits });
    enc.dispatchThreadgroups(pipeline, [x, quantized.weight, quantized.scales, quantized.biases, indices, y, args], grid, [MV_THREADS, 1, 1], access([0, 1, 2, 3, 4], [5]));
  } else {
    const dense = w as Buffer;
    const pipeline = enc.device.kernels.pipeline(kernels.moeGemv, { grouped: false, x: dtype, w: dense.dtype });
    enc.dispatchThreadgroups(pipeline, [x, dense, indices, y, args], grid, [MV_THREADS, 1, 1], access([0, 1, 2], [3]));
  }
}

export interface MoeCombineParams {
  /** y is in sorted order (the grouped path): pair p's row is `sortedRow[p]` (from `moeSort`). */
  sortedRow?: Buffer;
}

/**
 * `out[t] = Σ_s weights[t, s] · y[t·topK + s]` (or y's row `sortedRow[t·topK + s]`), with
 * weights [tokens, topK] (f32), y [tokens·topK, n] and out [tokens, n] of one float type.
 *
 * @example
 * ops.moeCombine(enc, down, weights, y);
 */
export function moeCombine(enc: CommandEncoder, y: Buffer, weights: Buffer, out: Buffer, params: MoeCombineParams = {}): void {
  checkOptions("params", params, ["sortedRow"]);
  const dtype = checkFloat("y", y);
  checkSameDType("weights", weights, DType.F32, "routing weights (f32)");
  if (weights.shape.length !== 2) throw new ArgumentError("weights", `must be 2-D [tokens, topK] (got shape [${weights.shape.join(", ")}])`);
  const [tokens, topK] = weights.shape as [number, number];
  checkSameDType("out", out, dtype, "y");
  const n = out.elementCount / tokens;
  if (!Number.isInteger(n) || n === 0 || rowsOf("out", out, n, `[tokens = ${tokens}, n]`) !== tokens) throw new ArgumentError("out", `must be [tokens = ${tokens}, n] (got shape [${out.shape.join(", ")}])`);
  checkElements("y", y, tokens * topK * n, `[pairs = ${tokens * topK}, n = ${n}]`);
  const args = MoeArgs.write({ M: tokens, N: n, K: 0, group_shift: 0, top_k: topK, n_experts: 0, x_per_pair: 0, norm_topk: 0 });
  const sortedRow = params.sortedRow;
  const pipeline = enc.device.kernels.pipeline(kernels.moeCombine, { sorted: sortedRow !== undefined, dtype });
  if (sortedRow !== undefined) {
    checkBuffer("params.sortedRow", sortedRow, DType.U32, tokens * topK);
    enc.dispatchThreads(pipeline, [y, weights, sortedRow, out, args], [n, tokens, 1], groupFor(pipeline, [n, tokens, 1]), access([0, 1, 2], [3]));
  } else {
    enc.dispatchThreads(pipeline, [y, weights, out, args], [n, tokens, 1], groupFor(pipeline, [n, tokens, 1]), access([0, 1], [2]));
  }
}

/** Batches of the grouped products for `pairs` pairs over `experts` experts (an upper bound). */
export function moeBatchCount(pairs: number, experts: number): number {
  return Math.ceil(pairs / BATCH_ROWS) + Math.min(experts, pairs);
}

/** Elements (u32) of the batch table `moeSort` writes. */
export function moeBatchElements(pairs: number, experts: number): number {
  return moeBatchCount(pairs, experts) * BATCH_WORDS;
}

export interface MoeSortParams {
  /** Experts the indices range over. */
  experts: number;
}

/**
 * Sort the pairs of `indices` [tokens, topK] by expert, stably: `order` [pairs] (u32) is the pair
 * at each sorted row, `sortedRow` [pairs] its inverse, `batches` (u32, `moeBatchElements`) the
 * grouped products' batches (expert, first row, rows ≤ 4; unused ones have 0 rows).
 *
 * @example
 * ops.moeSort(enc, indices, order, sortedRow, batches, { experts: 128 });
 */
export function moeSort(enc: CommandEncoder, indices: Buffer, order: Buffer, sortedRow: Buffer, batches: Buffer, params: MoeSortParams): void {
  checkOptions("params", params, ["experts"], ["experts"]);
  const { experts } = params;
  if (!Number.isSafeInteger(experts) || experts < 1 || experts > MOE_MAX_EXPERTS) throw new ArgumentError("params.experts", `must be an integer in [1, ${MOE_MAX_EXPERTS}] (got ${experts})`);
  const { tokens, topK } = routeShape("indices", indices);
  const pairs = tokens * topK;
  checkBuffer("order", order, DType.U32, pairs);
  checkBuffer("sortedRow", sortedRow, DType.U32, pairs);
  checkBuffer("batches", batches, DType.U32, moeBatchElements(pairs, experts));
  const args = MoeArgs.write({ M: pairs, N: moeBatchCount(pairs, experts), K: 0, group_shift: 0, top_k: topK, n_experts: experts, x_per_pair: 0, norm_topk: 0 });
  const pipeline = enc.device.kernels.pipeline(kernels.moeSort, {});
  enc.dispatchThreads(pipeline, [indices, order, sortedRow, batches, args], [1, 1, 1], [1, 1, 1], access([0], [1, 2, 3]));
}

export interface MoeGatherRowsParams {
  /** Slots per token. */
  topK: number;
  /** x has a row per pair instead of one per token (default false). */
  xPerPair?: boolean;
}

/**
 * `xs[r] = x[row of order[r]]`: the x rows of the sorted pairs, xs [pairs, K] of x's type.
 *
 * @example
 * ops.moeGatherRows(enc, n, order, xs, { topK: 8 });
 */
export function moeGatherRows(enc: CommandEncoder, x: Buffer, order: Buffer, xs: Buffer, params: MoeGatherRowsParams): void {
  checkOptions("params", params, ["topK", "xPerPair"], ["topK"]);
  const { topK } = params;
  const xPerPair = params.xPerPair ?? false;
  if (!Number.isSafeInteger(topK) || topK < 1) throw new ArgumentError("params.topK", `must be a positive integer (got ${topK})`);
  const dtype = checkFloat("x", x);
  checkSameDType("order", order, DType.U32, "pair indices (u32)");
  const pairs = order.elementCount;
  if (pairs === 0 || pairs % topK !== 0) throw new ArgumentError("order", `must hold tokens · topK (${topK}) pairs (got ${pairs})`);
  checkSameDType("xs", xs, dtype, "x");
  const k = xs.elementCount / pairs;
  if (!Number.isInteger(k) || k === 0) throw new ArgumentError("xs", `must be [pairs = ${pairs}, K] (got shape [${xs.shape.join(", ")}])`);
  checkElements("x", x, (xPerPair ? pairs : pairs / topK) * k, `[${xPerPair ? "pairs" : "tokens"}, K = ${k}]`);
  const args = MoeArgs.write({ M: pairs, N: 0, K: k, group_shift: 0, top_k: topK, n_experts: 0, x_per_pair: xPerPair ? 1 : 0, norm_topk: 0 });
  const pipeline = enc.device.kernels.pipeline(kernels.moeGatherRows, { dtype });
  enc.dispatchThreads(pipeline, [x, order, xs, args], [k, pairs, 1], groupFor(pipeline, [k, pairs, 1]), access([0, 1], [2]));
}

/**
 * `ys[r] = W[expert of r's batch] · xs[r]` for the sorted rows xs [pairs, K], over `moeSort`'s
 * batches, into ys [pairs, n] of xs's type.
 *
 * @example
 * ops.groupedMatmul(enc, xs, gateExperts, batches, gate);
 */
export function groupedMatmul(enc: CommandEncoder, xs: Buffer, w: StackedExperts, batches: Buffer, ys: Buffer): void {
  const dtype = checkFloat("xs", xs);
  const { experts, n, k, quantized } = expertShape("w", w);
  if (experts * n * k > MAX_ELEMENTS) throw new ArgumentError("w", `experts·n·K = ${experts * n * k} exceeds the kernels' 32-bit element index`);
  const pairs = rowsOf("xs", xs, k, `[pairs, K = ${k}]`);
  checkSameDType("ys", ys, dtype, "xs");
  checkElements("ys", ys, pairs * n, `[pairs = ${pairs}, n = ${n}]`);
  checkLiveBuffer("batches", batches);
  const count = moeBatchCount(pairs, experts);
  checkBuffer("batches", batches, DType.U32, count * BATCH_WORDS);
  const grid: [number, number, number] = [Math.ceil(n / MV_ROWS_PER_GROUP), count, 1];
  const args = MoeArgs.write({ M: pairs, N: n, K: k, group_shift: quantized ? Math.log2(quantized.groupSize) : 0, top_k: 0, n_experts: experts, x_per_pair: 0, norm_topk: 0 });
  if (quantized) {
    const pipeline = enc.device.kernels.pipeline(kernels.moeQmv, { grouped: true, x: dtype, scales: quantized.scales.dtype, bits: quantized.bits });
    enc.dispatchThreadgroups(pipeline, [xs, quantized.weight, quantized.scales, quantized.biases, batches, ys, args], grid, [MV_THREADS, 1, 1], access([0, 1, 2, 3, 4], [5]));
  } else {
    const dense = w as Buffer;
    const pipeline = enc.device.kernels.pipeline(kernels.moeGemv, { grouped: true, x: dtype, w: dense.dtype });
    enc.dispatchThreadgroups(pipeline, [xs, dense, batches, ys, args], grid, [MV_THREADS, 1, 1], access([0, 1, 2], [3]));
  }
}
