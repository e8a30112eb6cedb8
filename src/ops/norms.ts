/**
 * Row normalizations (kernels/norms.h) over x [..., cols] (the last dimension is a row; the
 * leading ones multiply to the rows), one threadgroup per row: RMSNorm, RMSNorm fused with the
 * residual add, L2 norm and LayerNorm. Statistics accumulate in f32; each output element is
 * rounded once. Every buffer has x's dtype; weights and biases hold `cols` elements; `out` holds
 * as many elements as x and may be `x` (in place).
 */
import { kernels } from "../../kernels/catalog.ts";
import type { Buffer } from "../buffer.ts";
import type { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { Pipeline } from "../registry.ts";
import { argStruct } from "./args.ts";
import { access, checkThreadsPerRow, rowGroup } from "./common.ts";
import { checkCount, checkElements, checkFloat, checkNumber, checkOptions, checkSameDType, lastDim, MAX_ELEMENTS } from "./validate.ts";

export interface NormParams {
  /** Added to the mean square (variance, sum of squares) before the square root (default 1e-6 / 1e-5 for LayerNorm). */
  eps?: number;
  /** Threads per row's threadgroup, a multiple of 32 up to 1024 (default: chosen per device). */
  threadsPerRow?: number;
}

const NormArgs = argStruct("NormArgs", { cols: "u32", eps: "f32", inv_count: "f32" });
/** rms_norm bindings: x, residual, w read; out, sum written. */
const RMS_ACCESS = access([0, 1, 2], [3, 4]);
/** layer_norm bindings: x, w, b read; out written. */
const LAYER_ACCESS = access([0, 1, 2], [3]);

interface Checked {
  dtype: DType;
  rows: number;
  cols: number;
  eps: number;
}

/** Validate the params and the buffers every norm has. */
function checkNorm(enc: CommandEncoder, params: NormParams, x: Buffer, out: Buffer, defaultEps: number): Checked {
  checkOptions("params", params, ["eps", "threadsPerRow"]);
  checkThreadsPerRow(enc, params.threadsPerRow);
  const eps = params.eps ?? defaultEps;
  checkNumber("params.eps", eps);
  if (eps < 0) throw new ArgumentError("params.eps", `must not be negative (got ${eps})`);
  const dtype = checkFloat("x", x);
  checkSameDType("out", out, dtype, "x");
  const n = x.elementCount;
  checkCount("x.elementCount", n, MAX_ELEMENTS);
  checkElements("out", out, n, "as many as x");
  const cols = lastDim(x);
  return { dtype, rows: n / cols, cols, eps };
}

function checkVector(name: string, v: Buffer, c: Checked): void {
  checkSameDType(name, v, c.dtype, "x");
  checkElements(name, v, c.cols, "one row: x's last dimension");
}

function dispatchRows(enc: CommandEncoder, pipeline: Pipeline, bindings: readonly (Buffer | Uint32Array)[], c: Checked, params: NormParams, accesses: typeof RMS_ACCESS): void {
  enc.dispatchThreadgroups(pipeline, bindings, [c.rows, 1, 1], [rowGroup(enc, pipeline, c.cols, params.threadsPerRow), 1, 1], accesses);
}

/**
 * RMSNorm: `out = x · rsqrt(mean(x²) + eps) · weight` per row (no weight: `weight = null`).
 *
 * @example
 * ops.rmsNorm(enc, hidden, inputNormWeight, normed, { eps: 1e-5 });
 */
export function rmsNorm(enc: CommandEncoder, x: Buffer, weight: Buffer | null, out: Buffer, params: NormParams = {}): void {
  const c = checkNorm(enc, params, x, out, 1e-6);
  if (weight !== null) checkVector("weight", weight, c);
  const pipeline = enc.device.kernels.pipeline(kernels.rmsNorm, { residual: false, weight: weight !== null, dtype: c.dtype });
  dispatchRows(enc, pipeline, [x, x, weight ?? x, out, out, NormArgs.write({ cols: c.cols, eps: c.eps, inv_count: 1 / c.cols })], c, params, RMS_ACCESS);
}

/**
 * Fused residual add and RMSNorm: `sum = x + residual` (rounded to dtype and stored), then
 * `out = rmsNorm(sum) · weight`, exactly as the two ops in sequence. `sum` may be `residual`
 * (the residual stream updated in place); `out` must be distinct from `sum`.
 *
 * @example
 * ops.addRmsNorm(enc, attnOut, residual, postNormWeight, residual, normed, { eps: 1e-6 });
 */
export function addRmsNorm(enc: CommandEncoder, x: Buffer, residual: Buffer, weight: Buffer | null, sum: Buffer, out: Buffer, params: NormParams = {}): void {
  const c = checkNorm(enc, params, x, out, 1e-6);
  for (const [name, b] of [["residual", residual], ["sum", sum]] as const) {
    checkSameDType(name, b, c.dtype, "x");
    checkElements(name, b, c.rows * c.cols, "as many as x");
  }
  if (weight !== null) checkVector("weight", weight, c);
  if (sum === out) throw new ArgumentError("out", "must not be the same buffer as sum");
  const pipeline = enc.device.kernels.pipeline(kernels.rmsNorm, { residual: true, weight: weight !== null, dtype: c.dtype });
  dispatchRows(enc, pipeline, [x, residual, weight ?? x, out, sum, NormArgs.write({ cols: c.cols, eps: c.eps, inv_count: 1 / c.cols })], c, params, RMS_ACCESS);
}

/**
 * L2 normalization: `out = x · rsqrt(Σx² + eps)` per row (as Qwen3-Next normalizes q and k).
 *
 * @example
 * ops.l2Norm(enc, q, q, { eps: 1e-6 }); // q [tokens, heads, headDim]: rows of headDim
 */
export function l2Norm(enc: CommandEncoder, x: Buffer, out: Buffer, params: NormParams = {}): void {
  const c = checkNorm(enc, params, x, out, 1e-6);
  const pipeline = enc.device.kernels.pipeline(kernels.rmsNorm, { residual: false, weight: false, dtype: c.dtype });
  dispatchRows(enc, pipeline, [x, x, x, out, out, NormArgs.write({ cols: c.cols, eps: c.eps, inv_count: 1 })], c, params, RMS_ACCESS);
}

/**
 * LayerNorm: `out = (x - mean) · rsqrt(var + eps) · weight + bias` per row, with the biased
 * variance. `weight` and `bias` may be null (a bias needs a weight).
 *
 * @example
 * ops.layerNorm(enc, x, gamma, beta, out, { eps: 1e-5 });
 */
export function layerNorm(enc: CommandEncoder, x: Buffer, weight: Buffer | null, bias: Buffer | null, out: Buffer, params: NormParams = {}): void {
  const c = checkNorm(enc, params, x, out, 1e-5);
  if (weight !== null) checkVector("weight", weight, c);
  if (bias !== null) {
    if (weight === null) throw new ArgumentError("bias", "needs a weight (pass both, or only a weight)");
    checkVector("bias", bias, c);
  }
  const affine = weight === null ? "none" : bias === null ? "weight" : "weight_bias";
  const pipeline = enc.device.kernels.pipeline(kernels.layerNorm, { affine, dtype: c.dtype });
  dispatchRows(enc, pipeline, [x, weight ?? x, bias ?? x, out, NormArgs.write({ cols: c.cols, eps: c.eps, inv_count: 1 / c.cols })], c, params, LAYER_ACCESS);
}
