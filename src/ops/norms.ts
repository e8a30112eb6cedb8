/**
 * Row normalizations (kernels/norms.{h,metal}) over x [rows, cols], one threadgroup per row:
 * RMSNorm, RMSNorm fused with the residual add, L2 norm and LayerNorm. Statistics accumulate in
 * f32; each output element is rounded once. Weights and biases have x's dtype and `cols`
 * elements. `out` may be `x` (in place).
 */
import type { Buffer } from "../buffer.ts";
import type { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { KernelRegistry } from "../registry.ts";
import { argStruct } from "./args.ts";
import { access, checkThreadsPerRow, namesByDType, rowGroup } from "./common.ts";
import { checkBuffer, checkCounts, checkDType, checkNumber, checkOptions, FLOAT_DTYPES, MAX_ELEMENTS } from "./validate.ts";

export interface NormParams {
  rows: number;
  cols: number;
  /** Added to the mean square (variance, sum of squares) before the square root (default 1e-6 / 1e-5 for LayerNorm). */
  eps?: number;
  dtype: DType;
  /** Threads per row's threadgroup, a multiple of 32 up to 1024 (default: chosen per device). */
  threadsPerRow?: number;
}

const NormArgs = argStruct("NormArgs", { cols: "u32", eps: "f32", inv_count: "f32" });
const RMS = namesByDType("rms_norm");
const RMS_NO_WEIGHT = namesByDType("rms_norm_no_weight");
const ADD_RMS = namesByDType("add_rms_norm");
const ADD_RMS_NO_WEIGHT = namesByDType("add_rms_norm_no_weight");
const LAYER = namesByDType("layer_norm");
const LAYER_NO_BIAS = namesByDType("layer_norm_no_bias");
const LAYER_NO_AFFINE = namesByDType("layer_norm_no_affine");
/** rms_norm bindings: x, residual, w read; out, sum written. */
const RMS_ACCESS = access([0, 1, 2], [3, 4]);
/** layer_norm bindings: x, w, b read; out written. */
const LAYER_ACCESS = access([0, 1, 2], [3]);

/** Validate the shape and the buffers every norm has; returns eps. */
function checkNorm(enc: CommandEncoder, params: NormParams, x: Buffer, out: Buffer, defaultEps: number): number {
  checkOptions("params", params, ["rows", "cols", "eps", "dtype", "threadsPerRow"], ["rows", "cols", "dtype"]);
  checkThreadsPerRow(enc, params.threadsPerRow);
  checkDType("params.dtype", params.dtype, FLOAT_DTYPES);
  checkCounts("params", params, ["rows", "cols"]);
  const eps = params.eps ?? defaultEps;
  checkNumber("params.eps", eps);
  if (eps < 0) throw new ArgumentError("params.eps", `must not be negative (got ${eps})`);
  const n = params.rows * params.cols;
  if (n > MAX_ELEMENTS) throw new ArgumentError("params", `rows·cols = ${n} exceeds the kernels' 32-bit element index`);
  checkBuffer("x", x, params.dtype, n);
  checkBuffer("out", out, params.dtype, n);
  return eps;
}

function encodeRms(enc: CommandEncoder, registry: KernelRegistry, names: ReadonlyMap<DType, string>, x: Buffer, residual: Buffer, weight: Buffer, out: Buffer, sum: Buffer, params: NormParams, eps: number, invCount: number): void {
  const pipeline = registry.getPipeline(names.get(params.dtype)!);
  const args = NormArgs.write({ cols: params.cols, eps, inv_count: invCount });
  enc.dispatchThreadgroups(pipeline, [x, residual, weight, out, sum, args], [params.rows, 1, 1], [rowGroup(enc, pipeline, params.cols, params.threadsPerRow), 1, 1], RMS_ACCESS);
}

/**
 * RMSNorm: `out = x · rsqrt(mean(x²) + eps) · weight` per row (no weight: `weight = null`).
 *
 * @example
 * ops.rmsNorm(enc, registry, hidden, inputNormWeight, normed, { rows: tokens, cols: 4096, eps: 1e-5, dtype: DType.BF16 });
 */
export function rmsNorm(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, weight: Buffer | null, out: Buffer, params: NormParams): void {
  const eps = checkNorm(enc, params, x, out, 1e-6);
  if (weight !== null) checkBuffer("weight", weight, params.dtype, params.cols);
  encodeRms(enc, registry, weight === null ? RMS_NO_WEIGHT : RMS, x, x, weight ?? x, out, out, params, eps, 1 / params.cols);
}

/**
 * Fused residual add and RMSNorm: `sum = x + residual` (rounded to dtype and stored), then
 * `out = rmsNorm(sum) · weight`, exactly as the two ops in sequence. `sum` may be `residual`
 * (the residual stream updated in place); `out` must be distinct from `sum`.
 *
 * @example
 * ops.addRmsNorm(enc, registry, attnOut, residual, postNormWeight, residual, normed, { rows, cols, eps: 1e-6, dtype: DType.F32 });
 */
export function addRmsNorm(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, residual: Buffer, weight: Buffer | null, sum: Buffer, out: Buffer, params: NormParams): void {
  const eps = checkNorm(enc, params, x, out, 1e-6);
  checkBuffer("residual", residual, params.dtype, params.rows * params.cols);
  checkBuffer("sum", sum, params.dtype, params.rows * params.cols);
  if (weight !== null) checkBuffer("weight", weight, params.dtype, params.cols);
  if (sum === out) throw new ArgumentError("out", "must not be the same buffer as sum");
  encodeRms(enc, registry, weight === null ? ADD_RMS_NO_WEIGHT : ADD_RMS, x, residual, weight ?? x, out, sum, params, eps, 1 / params.cols);
}

/**
 * L2 normalization: `out = x · rsqrt(Σx² + eps)` per row (as Qwen3-Next normalizes q and k).
 *
 * @example
 * ops.l2Norm(enc, registry, q, q, { rows: tokens * heads, cols: headDim, eps: 1e-6, dtype: DType.F32 });
 */
export function l2Norm(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, out: Buffer, params: NormParams): void {
  const eps = checkNorm(enc, params, x, out, 1e-6);
  encodeRms(enc, registry, RMS_NO_WEIGHT, x, x, x, out, out, params, eps, 1);
}

/**
 * LayerNorm: `out = (x - mean) · rsqrt(var + eps) · weight + bias` per row, with the biased
 * variance. `weight` and `bias` may be null (a bias needs a weight).
 *
 * @example
 * ops.layerNorm(enc, registry, x, gamma, beta, out, { rows, cols: 768, eps: 1e-5, dtype: DType.F32 });
 */
export function layerNorm(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, weight: Buffer | null, bias: Buffer | null, out: Buffer, params: NormParams): void {
  const eps = checkNorm(enc, params, x, out, 1e-5);
  if (weight !== null) checkBuffer("weight", weight, params.dtype, params.cols);
  if (bias !== null) {
    if (weight === null) throw new ArgumentError("bias", "needs a weight (pass both, or only a weight)");
    checkBuffer("bias", bias, params.dtype, params.cols);
  }
  const names = weight === null ? LAYER_NO_AFFINE : bias === null ? LAYER_NO_BIAS : LAYER;
  const pipeline = registry.getPipeline(names.get(params.dtype)!);
  const args = NormArgs.write({ cols: params.cols, eps, inv_count: 1 / params.cols });
  enc.dispatchThreadgroups(pipeline, [x, weight ?? x, bias ?? x, out, args], [params.rows, 1, 1], [rowGroup(enc, pipeline, params.cols, params.threadsPerRow), 1, 1], LAYER_ACCESS);
}
