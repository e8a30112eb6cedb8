/**
 * Mixture-of-experts ops (kernels/moe.h): the router's softmax and top-k, the selected experts'
 * products gathered in one dispatch, and the weighted combine. Together they run a sparse MLP
 * with no host round trip, so a decode step stays one command buffer:
 *
 *   moeRoute(logits [T, E]) → indices [T, k] (u32), weights [T, k] (f32)
 *   gatherMatmul(x, experts, indices) → y [T·k, n]   (gate and up: x [T, K]; down: x [T·k, K])
 *   moeCombine(y [T·k, n], weights) → out [T, n]
 *
 * Experts are stacked as mlx-lm stores `switch_mlp`: [E, n, k] dense, or MLX affine per expert
 * (codes [E, n, k·bits/32], scales and biases [E, n, k/groupSize]). In `gatherMatmul` every
 * (token, slot) pair is one matrix-vector product over its expert's slice (decode). Prefill
 * groups the pairs by expert instead, so an expert's weights are read once per batch of up to 4
 * pairs:
 *
 *   moeSort(indices) → order, sortedRow, batches        (a counting sort on the device)
 *   moeGatherRows(x, order) → xs                          (x rows in sorted order)
 *   groupedMatmul(xs, experts, batches) → ys              (gate, up; then down on the sorted rows)
 *   moeCombine(ys, weights, { sortedRow }) → out
 *
 * @example
 * ops.moeRoute(enc, registry, routerLogits, idx, w, { tokens: 1, experts: 128, topK: 8, normTopK: true, dtype });
 * ops.gatherMatmul(enc, registry, n, gateExperts, idx, g, { tokens: 1, topK: 8, n: 768, k: 2048, dtype, xPerPair: false });
 */
import type { Buffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { KernelRegistry } from "../registry.ts";
import { argStruct } from "./args.ts";
import { access, groupFor } from "./common.ts";
import { checkBuffer, checkCounts, checkDType, checkOneOf, checkOptions, FLOAT_DTYPES, MAX_ELEMENTS } from "./validate.ts";

/** Most experts `moeRoute` handles (one simdgroup holds a token's logits, 8 per lane). */
export const MOE_MAX_EXPERTS = 256;
/** Most experts per token (one lane keeps each chosen slot). */
export const MOE_MAX_TOP_K = 32;
/** Bit widths the gathered quantized kernels are built for. */
export const GATHER_BITS: readonly number[] = Object.freeze([4, 8]);

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

const MV_ROWS_PER_GROUP = 8;
/** Pairs per batch of the grouped products (the matrix-vector body's MV_MAX_X_ROWS). */
const BATCH_ROWS = 4;
/** Bytes of one MoeBatch (expert, first, rows). */
const BATCH_BYTES = 12;
const MV_THREADS = 64;

export interface MoeRouteParams {
  tokens: number;
  experts: number;
  topK: number;
  /** Renormalize the top-k weights to sum to 1. */
  normTopK: boolean;
  /** Type of the logits. */
  dtype: DType;
}

/**
 * Per token, the `topK` experts with the largest softmax probability (ties: the lower index) and
 * their weights: `indices` [tokens, topK] u32 in descending order, `weights` [tokens, topK] f32.
 */
export function moeRoute(enc: CommandEncoder, registry: KernelRegistry, logits: Buffer, indices: Buffer, weights: Buffer, params: MoeRouteParams): void {
  checkOptions("params", params, ["tokens", "experts", "topK", "normTopK", "dtype"], ["tokens", "experts", "topK", "normTopK", "dtype"]);
  const { tokens, experts, topK, normTopK, dtype } = params;
  checkCounts("params", { tokens, experts, topK }, ["tokens", "experts", "topK"]);
  if (experts > MOE_MAX_EXPERTS) throw new ArgumentError("params.experts", `must be at most ${MOE_MAX_EXPERTS} (got ${experts})`);
  if (topK > Math.min(experts, MOE_MAX_TOP_K)) throw new ArgumentError("params.topK", `must be at most min(experts, ${MOE_MAX_TOP_K}) = ${Math.min(experts, MOE_MAX_TOP_K)} (got ${topK})`);
  if (typeof normTopK !== "boolean") throw new ArgumentError("params.normTopK", `must be true or false (got ${JSON.stringify(normTopK)})`);
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkBuffer("logits", logits, dtype, tokens * experts);
  checkBuffer("indices", indices, DType.U32, tokens * topK);
  checkBuffer("weights", weights, DType.F32, tokens * topK);
  const args = MoeArgs.write({ M: tokens, N: 0, K: 0, group_shift: 0, top_k: topK, n_experts: experts, x_per_pair: 0, norm_topk: normTopK ? 1 : 0 });
  const pipeline = registry.getPipeline(`moe_route_${dtype.name}`);
  enc.dispatchThreadgroups(pipeline, [logits, indices, weights, args], [tokens, 1, 1], [32, 1, 1], access([0], [1, 2]));
}

/** Stacked experts: dense [E, n, k], or MLX affine per expert. */
export type StackedExperts =
  | { weight: Buffer; dtype: DType }
  | { weight: Buffer; scales: Buffer; biases: Buffer; bits: number; groupSize: number; dtype: DType };

export interface GatherMatmulParams {
  tokens: number;
  topK: number;
  experts: number;
  /** Rows of one expert (output features). */
  n: number;
  /** Columns of one expert (input features). */
  k: number;
  /** Type of x and y. */
  dtype: DType;
  /** x has a row per (token, slot) pair (the down projection) instead of one per token. */
  xPerPair: boolean;
}

/**
 * `y[t·topK + s] = W[indices[t, s]] · x[t or t·topK + s]` for every token t and slot s, in one
 * dispatch. `w.dtype` is the weight's (dense) or the scales' (affine) type.
 */
export function gatherMatmul(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, w: StackedExperts, indices: Buffer, y: Buffer, params: GatherMatmulParams): void {
  checkOptions("params", params, ["tokens", "topK", "experts", "n", "k", "dtype", "xPerPair"], ["tokens", "topK", "experts", "n", "k", "dtype", "xPerPair"]);
  const { tokens, topK, experts, n, k, dtype, xPerPair } = params;
  checkCounts("params", { tokens, topK, experts, n, k }, ["tokens", "topK", "experts", "n", "k"]);
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkDType("w.dtype", w.dtype, FLOAT_DTYPES);
  if (experts * n * k > MAX_ELEMENTS) throw new ArgumentError("params", `experts·n·k = ${experts * n * k} exceeds the kernels' 32-bit element index`);
  const pairs = tokens * topK;
  checkBuffer("x", x, dtype, (xPerPair ? pairs : tokens) * k);
  checkBuffer("indices", indices, DType.U32, pairs);
  checkBuffer("y", y, dtype, pairs * n);
  const grid: [number, number, number] = [Math.ceil(n / MV_ROWS_PER_GROUP), pairs, 1];
  const common = { M: pairs, N: n, K: k, top_k: topK, n_experts: experts, x_per_pair: xPerPair ? 1 : 0, norm_topk: 0 };
  if ("scales" in w) {
    checkOneOf("w.bits", w.bits, GATHER_BITS);
    checkOneOf("w.groupSize", w.groupSize, [32, 64, 128]);
    if (k % w.groupSize !== 0) throw new ArgumentError("params.k", `must be a multiple of w.groupSize (${w.groupSize}) (got ${k})`);
    checkBuffer("w.weight", w.weight, DType.U32, (experts * n * k * w.bits) / 32);
    checkBuffer("w.scales", w.scales, w.dtype, (experts * n * k) / w.groupSize);
    checkBuffer("w.biases", w.biases, w.dtype, (experts * n * k) / w.groupSize);
    const args = MoeArgs.write({ ...common, group_shift: Math.log2(w.groupSize) });
    const pipeline = registry.getPipeline(`gather_qmv_${dtype.name}_${w.dtype.name}_b${w.bits}`);
    enc.dispatchThreadgroups(pipeline, [x, w.weight, w.scales, w.biases, indices, y, args], grid, [MV_THREADS, 1, 1], access([0, 1, 2, 3, 4], [5]));
  } else {
    checkBuffer("w.weight", w.weight, w.dtype, experts * n * k);
    const args = MoeArgs.write({ ...common, group_shift: 0 });
    const pipeline = registry.getPipeline(`gather_gemv_${dtype.name}_${w.dtype.name}`);
    enc.dispatchThreadgroups(pipeline, [x, w.weight, indices, y, args], grid, [MV_THREADS, 1, 1], access([0, 1, 2], [3]));
  }
}

export interface MoeCombineParams {
  tokens: number;
  topK: number;
  /** Width of each row. */
  n: number;
  dtype: DType;
  /** y is in sorted order (the grouped path): pair p's row is `sortedRow[p]` (from `moeSort`). */
  sortedRow?: Buffer;
}

/** `out[t] = Σ_s weights[t, s] · y[t·topK + s]` (or y's row `sortedRow[t·topK + s]`). */
export function moeCombine(enc: CommandEncoder, registry: KernelRegistry, y: Buffer, weights: Buffer, out: Buffer, params: MoeCombineParams): void {
  checkOptions("params", params, ["tokens", "topK", "n", "dtype", "sortedRow"], ["tokens", "topK", "n", "dtype"]);
  const { tokens, topK, n, dtype, sortedRow } = params;
  checkCounts("params", { tokens, topK, n }, ["tokens", "topK", "n"]);
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkBuffer("y", y, dtype, tokens * topK * n);
  checkBuffer("weights", weights, DType.F32, tokens * topK);
  checkBuffer("out", out, dtype, tokens * n);
  const args = MoeArgs.write({ M: tokens, N: n, K: 0, group_shift: 0, top_k: topK, n_experts: 0, x_per_pair: 0, norm_topk: 0 });
  if (sortedRow) {
    checkBuffer("params.sortedRow", sortedRow, DType.U32, tokens * topK);
    const pipeline = registry.getPipeline(`moe_combine_sorted_${dtype.name}`);
    enc.dispatchThreads(pipeline, [y, weights, sortedRow, out, args], [n, tokens, 1], groupFor(pipeline, [n, tokens, 1]), access([0, 1, 2], [3]));
    return;
  }
  const pipeline = registry.getPipeline(`moe_combine_${dtype.name}`);
  enc.dispatchThreads(pipeline, [y, weights, out, args], [n, tokens, 1], groupFor(pipeline, [n, tokens, 1]), access([0, 1], [2]));
}

/** Batches of the grouped products for `pairs` pairs over `experts` experts (an upper bound). */
export function moeBatchCount(pairs: number, experts: number): number {
  return Math.ceil(pairs / BATCH_ROWS) + Math.min(experts, pairs);
}

/** Bytes of the batch table `moeSort` writes. */
export function moeBatchBytes(pairs: number, experts: number): number {
  return moeBatchCount(pairs, experts) * BATCH_BYTES;
}

export interface MoeSortParams {
  /** Pairs: tokens · topK. */
  pairs: number;
  experts: number;
}

/**
 * Sort the pairs of `indices` [pairs] (u32 experts) by expert, stably: `order` [pairs] is the
 * pair at each sorted row, `sortedRow` [pairs] its inverse, `batches` (`moeBatchBytes` bytes) the
 * grouped products' batches (expert, first row, rows ≤ 4).
 */
export function moeSort(enc: CommandEncoder, registry: KernelRegistry, indices: Buffer, order: Buffer, sortedRow: Buffer, batches: Buffer, params: MoeSortParams): void {
  checkOptions("params", params, ["pairs", "experts"], ["pairs", "experts"]);
  const { pairs, experts } = params;
  checkCounts("params", { pairs, experts }, ["pairs", "experts"]);
  if (experts > MOE_MAX_EXPERTS) throw new ArgumentError("params.experts", `must be at most ${MOE_MAX_EXPERTS} (got ${experts})`);
  checkBuffer("indices", indices, DType.U32, pairs);
  checkBuffer("order", order, DType.U32, pairs);
  checkBuffer("sortedRow", sortedRow, DType.U32, pairs);
  if (batches.byteLength < moeBatchBytes(pairs, experts)) {
    throw new ArgumentError("batches", `must hold at least ${moeBatchBytes(pairs, experts)} bytes (moeBatchBytes) (got ${batches.byteLength})`);
  }
  const args = MoeArgs.write({ M: pairs, N: moeBatchCount(pairs, experts), K: 0, group_shift: 0, top_k: 0, n_experts: experts, x_per_pair: 0, norm_topk: 0 });
  const pipeline = registry.getPipeline("moe_sort");
  enc.dispatchThreads(pipeline, [indices, order, sortedRow, batches, args], [1, 1, 1], [1, 1, 1], access([0], [1, 2, 3]));
}

export interface MoeGatherRowsParams {
  tokens: number;
  topK: number;
  /** Row width. */
  k: number;
  dtype: DType;
  /** x has a row per pair instead of one per token. */
  xPerPair: boolean;
}

/** `xs[r] = x[row of order[r]]`: the x rows of the sorted pairs. */
export function moeGatherRows(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, order: Buffer, xs: Buffer, params: MoeGatherRowsParams): void {
  checkOptions("params", params, ["tokens", "topK", "k", "dtype", "xPerPair"], ["tokens", "topK", "k", "dtype", "xPerPair"]);
  const { tokens, topK, k, dtype, xPerPair } = params;
  checkCounts("params", { tokens, topK, k }, ["tokens", "topK", "k"]);
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  const pairs = tokens * topK;
  checkBuffer("x", x, dtype, (xPerPair ? pairs : tokens) * k);
  checkBuffer("order", order, DType.U32, pairs);
  checkBuffer("xs", xs, dtype, pairs * k);
  const args = MoeArgs.write({ M: pairs, N: 0, K: k, group_shift: 0, top_k: topK, n_experts: 0, x_per_pair: xPerPair ? 1 : 0, norm_topk: 0 });
  const pipeline = registry.getPipeline(`moe_gather_rows_${dtype.name}`);
  enc.dispatchThreads(pipeline, [x, order, xs, args], [k, pairs, 1], groupFor(pipeline, [k, pairs, 1]), access([0, 1], [2]));
}

export interface GroupedMatmulParams {
  /** Rows of xs and ys (tokens · topK). */
  pairs: number;
  experts: number;
  n: number;
  k: number;
  dtype: DType;
}

/** `ys[r] = W[expert of r's batch] · xs[r]` for the sorted rows, one dispatch over `moeSort`'s batches. */
export function groupedMatmul(enc: CommandEncoder, registry: KernelRegistry, xs: Buffer, w: StackedExperts, batches: Buffer, ys: Buffer, params: GroupedMatmulParams): void {
  checkOptions("params", params, ["pairs", "experts", "n", "k", "dtype"], ["pairs", "experts", "n", "k", "dtype"]);
  const { pairs, experts, n, k, dtype } = params;
  checkCounts("params", { pairs, experts, n, k }, ["pairs", "experts", "n", "k"]);
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkDType("w.dtype", w.dtype, FLOAT_DTYPES);
  if (experts * n * k > MAX_ELEMENTS) throw new ArgumentError("params", `experts·n·k = ${experts * n * k} exceeds the kernels' 32-bit element index`);
  checkBuffer("xs", xs, dtype, pairs * k);
  checkBuffer("ys", ys, dtype, pairs * n);
  const count = moeBatchCount(pairs, experts);
  if (batches.byteLength < count * BATCH_BYTES) throw new ArgumentError("batches", `must hold at least ${count * BATCH_BYTES} bytes (moeBatchBytes) (got ${batches.byteLength})`);
  const grid: [number, number, number] = [Math.ceil(n / MV_ROWS_PER_GROUP), count, 1];
  const common = { M: pairs, N: n, K: k, top_k: 0, n_experts: experts, x_per_pair: 0, norm_topk: 0 };
  if ("scales" in w) {
    checkOneOf("w.bits", w.bits, GATHER_BITS);
    checkOneOf("w.groupSize", w.groupSize, [32, 64, 128]);
    if (k % w.groupSize !== 0) throw new ArgumentError("params.k", `must be a multiple of w.groupSize (${w.groupSize}) (got ${k})`);
    checkBuffer("w.weight", w.weight, DType.U32, (experts * n * k * w.bits) / 32);
    checkBuffer("w.scales", w.scales, w.dtype, (experts * n * k) / w.groupSize);
    checkBuffer("w.biases", w.biases, w.dtype, (experts * n * k) / w.groupSize);
    const args = MoeArgs.write({ ...common, group_shift: Math.log2(w.groupSize) });
    const pipeline = registry.getPipeline(`grouped_qmv_${dtype.name}_${w.dtype.name}_b${w.bits}`);
    enc.dispatchThreadgroups(pipeline, [xs, w.weight, w.scales, w.biases, batches, ys, args], grid, [MV_THREADS, 1, 1], access([0, 1, 2, 3, 4], [5]));
  } else {
    checkBuffer("w.weight", w.weight, w.dtype, experts * n * k);
    const args = MoeArgs.write({ ...common, group_shift: 0 });
    const pipeline = registry.getPipeline(`grouped_gemv_${dtype.name}_${w.dtype.name}`);
    enc.dispatchThreadgroups(pipeline, [xs, w.weight, batches, ys, args], grid, [MV_THREADS, 1, 1], access([0, 1, 2], [3]));
  }
}
