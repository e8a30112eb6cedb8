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
 * (codes [E, n, k·bits/32], scales and biases [E, n, k/groupSize]). Every (token, slot) pair is one
 * matrix-vector product over its expert's slice; prefill runs the same gathered products, one per
 * pair (the kernel a grouped prefill would use, tokens sorted by expert, is not written yet).
 *
 * @example
 * ops.moeRoute(enc, registry, routerLogits, idx, w, { tokens: 1, experts: 128, topK: 8, normTopK: true, dtype });
 * ops.gatherMatmul(enc, registry, n, gateExperts, idx, g, { tokens: 1, topK: 8, n: 768, k: 2048, dtype, xPerPair: false });
 */
import type { Buffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { FunctionConstants, KernelRegistry } from "../registry.ts";
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

/** The gathered kernels always take the matrix-vector body's one-row path (one pair per grid row). */
const ONE_ROW: FunctionConstants = { bools: [[100, true]] };
const MV_ROWS_PER_GROUP = 8;
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
    const pipeline = registry.getPipeline(`gather_qmv_${dtype.name}_${w.dtype.name}_b${w.bits}`, ONE_ROW);
    enc.dispatchThreadgroups(pipeline, [x, w.weight, w.scales, w.biases, indices, y, args], grid, [MV_THREADS, 1, 1], access([0, 1, 2, 3, 4], [5]));
  } else {
    checkBuffer("w.weight", w.weight, w.dtype, experts * n * k);
    const args = MoeArgs.write({ ...common, group_shift: 0 });
    const pipeline = registry.getPipeline(`gather_gemv_${dtype.name}_${w.dtype.name}`, ONE_ROW);
    enc.dispatchThreadgroups(pipeline, [x, w.weight, indices, y, args], grid, [MV_THREADS, 1, 1], access([0, 1, 2], [3]));
  }
}

export interface MoeCombineParams {
  tokens: number;
  topK: number;
  /** Width of each row. */
  n: number;
  dtype: DType;
}

/** `out[t] = Σ_s weights[t, s] · y[t·topK + s]`. */
export function moeCombine(enc: CommandEncoder, registry: KernelRegistry, y: Buffer, weights: Buffer, out: Buffer, params: MoeCombineParams): void {
  checkOptions("params", params, ["tokens", "topK", "n", "dtype"], ["tokens", "topK", "n", "dtype"]);
  const { tokens, topK, n, dtype } = params;
  checkCounts("params", { tokens, topK, n }, ["tokens", "topK", "n"]);
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkBuffer("y", y, dtype, tokens * topK * n);
  checkBuffer("weights", weights, DType.F32, tokens * topK);
  checkBuffer("out", out, dtype, tokens * n);
  const args = MoeArgs.write({ M: tokens, N: n, K: 0, group_shift: 0, top_k: topK, n_experts: 0, x_per_pair: 0, norm_topk: 0 });
  const pipeline = registry.getPipeline(`moe_combine_${dtype.name}`);
  enc.dispatchThreads(pipeline, [y, weights, out, args], [n, tokens, 1], groupFor(pipeline, [n, tokens, 1]), access([0, 1], [2]));
}
