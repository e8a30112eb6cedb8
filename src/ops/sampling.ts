/**
 * Selection over rows of logits (kernels/sampling.h), one threadgroup per row: argmax, top-k and
 * seeded sampling. Inputs are [..., cols] of a float dtype (rows of the last dimension); indices
 * are U32, one per row (argmax, sample) or k per row (top-k). NaN
 * logits are not supported (argmax never picks one; top-k and sampling results are unspecified).
 *
 * **Sampling semantics** (`sample`), per row r, on f32 values of the logits x:
 * 1. `temperature === 0`: the argmax (smallest index among equal maxima). Otherwise, weights
 *    `w_i = exp(x_i / T - max_j x_j / T)`.
 * 2. top-k (`topK` in 1…cols-1; 0 or ≥ cols disables it): keep elements whose value is at
 *    least the k-th largest value (ties at the boundary are all kept).
 * 3. top-p (`topP` in (0, 1); 1 disables it): among those, keep elements whose value is at
 *    least v*, the largest value such that the kept elements ≥ v* hold at least `topP` of the
 *    kept weight (the smallest set of top values reaching topP; ties kept).
 * 4. Draw `u = uniform(seed, step, r)` in [0, 1) and return the smallest kept index i whose
 *    cumulative kept weight (in index order, up to and including i) exceeds `u · Σ kept w`.
 * `uniform(seed, step, r) = (h >> 8) / 2^24` with `h = mix(mix(mix(seed) ^ step) ^ r)` and
 * `mix(v)`: `v ^= v >> 16; v *= 0x7feb352d; v ^= v >> 15; v *= 0x846ca68b; v ^= v >> 16` (u32).
 * The same (logits, seed, step) give the same tokens on every run; advance `step` per token.
 */
import { kernels } from "../../kernels/catalog.ts";
import type { Buffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import { argStruct } from "./args.ts";
import { access, checkThreadsPerRow, rowGroup } from "./common.ts";
import { checkElements, checkFloat, checkInt, checkNumber, checkOptions, checkSameDType, lastDim, MAX_ELEMENTS } from "./validate.ts";

export interface SelectParams {
  /** Threads per row's threadgroup, a multiple of 32 up to 1024 (default: chosen per device). */
  threadsPerRow?: number;
}

/** Largest k of `topK` (its winners are sorted in threadgroup memory). */
export const TOP_K_MAX = 1024; // = kernels/sampling.h: TOP_K_MAX
/** Counts are exact in f32 up to 2^24, so rows are limited to that length. */
const MAX_COLS = 2 ** 24;
/** Smallest temperature sampled as such; below it sampling is greedy (see `SampleParams`). */
export const MIN_TEMPERATURE = 1e-6;
/**
 * Smallest top-p sent to the device: a normal f32 below 1 / MAX_COLS, so that it still keeps
 * only the most probable token of any row (see `SampleParams`).
 */
export const MIN_TOP_P = 2 ** -30;

const SelectArgs = argStruct("SelectArgs", { cols: "u32", k: "u32", inv_temperature: "f32", top_p: "f32", seed: "u32", step: "u32" });
const READ_WRITE = access([0], [1]);
const TOP_K_ACCESS = access([0], [1, 2]);

interface Rows {
  rows: number;
  cols: number;
}

function checkRows(enc: CommandEncoder, params: SelectParams, known: readonly string[], required: readonly string[], x: Buffer): Rows {
  checkOptions("params", params, known, required);
  checkThreadsPerRow(enc, params.threadsPerRow);
  checkFloat("x", x);
  const n = x.elementCount;
  if (n === 0 || n > MAX_ELEMENTS) throw new ArgumentError("x", `must hold 1 to 2^32 elements (got shape [${x.shape.join(", ")}])`);
  const cols = lastDim(x);
  checkInt("x (last dimension)", cols, 1, MAX_COLS);
  return { rows: n / cols, cols };
}

function checkIndices(name: string, b: Buffer, elements: number, what: string): void {
  checkSameDType(name, b, DType.U32, "token indices (u32)");
  checkElements(name, b, elements, what);
}

/**
 * `out[r]` = index of the largest element of row r (smallest index among equal maxima); `out`
 * holds one U32 per row.
 *
 * @example
 * ops.argmax(enc, logits, token); // logits [1, vocab], token [1] u32
 */
export function argmax(enc: CommandEncoder, x: Buffer, out: Buffer, params: SelectParams = {}): void {
  const { rows, cols } = checkRows(enc, params, ["threadsPerRow"], [], x);
  checkIndices("out", out, rows, "one per row of x");
  // The sampling kernel at temperature 0 is the argmax.
  const pipeline = enc.device.kernels.pipeline(kernels.sample, { dtype: x.dtype });
  const args = SelectArgs.write({ cols, k: 0, inv_temperature: 0, top_p: 1, seed: 0, step: 0 });
  enc.dispatchThreadgroups(pipeline, [x, out, args], [rows, 1, 1], [rowGroup(enc, pipeline, cols, params.threadsPerRow), 1, 1], READ_WRITE);
}

/**
 * The k largest elements of each row, largest first (equal values: smaller index first; ties at
 * the k-th value go to the smaller indices), k being the last dimension of `values`
 * (1 … min(cols, 1024)): `values` [rows, k] of x's dtype and `indices` [rows, k] U32.
 *
 * @example
 * ops.topK(enc, logits, vals, idx); // logits [1, vocab], vals [1, 40], idx [1, 40] u32
 */
export function topK(enc: CommandEncoder, x: Buffer, values: Buffer, indices: Buffer, params: SelectParams = {}): void {
  const { rows, cols } = checkRows(enc, params, ["threadsPerRow"], [], x);
  checkSameDType("values", values, x.dtype, "x");
  const k = lastDim(values);
  checkInt("values (last dimension: k)", k, 1, Math.min(cols, TOP_K_MAX));
  checkElements("values", values, rows * k, `[rows = ${rows}, k]`);
  checkIndices("indices", indices, rows * k, "as many as values");
  const pipeline = enc.device.kernels.pipeline(kernels.topK, { dtype: x.dtype });
  const args = SelectArgs.write({ cols, k, inv_temperature: 0, top_p: 1, seed: 0, step: 0 });
  enc.dispatchThreadgroups(pipeline, [x, values, indices, args], [rows, 1, 1], [rowGroup(enc, pipeline, cols, params.threadsPerRow), 1, 1], TOP_K_ACCESS);
}

export interface SampleParams extends SelectParams {
  /**
   * ≥ 0; 0 is greedy (argmax). Temperatures below `MIN_TEMPERATURE` are taken as 0: scaling
   * logits by their inverse would overflow f32, and the limit they approach is the argmax.
   */
  temperature: number;
  /** Keep the k largest (ties kept); 0 (default) disables. */
  topK?: number;
  /**
   * Keep the smallest top set reaching this probability, in (0, 1]; 1 (default) disables.
   * Values below `MIN_TOP_P` are raised to it: the device computes in f32, where they would
   * round to 0, and any of them keeps only the most probable token (ties kept).
   */
  topP?: number;
  /** Seed of the random stream, a u32. */
  seed: number;
  /** Position in the stream (the token counter), a u32. */
  step: number;
}

/**
 * Draw one token per row (see the module comment for the exact semantics) into `out` [rows] U32.
 *
 * @example
 * ops.sample(enc, logits, token, { temperature: 0.7, topK: 40, topP: 0.9, seed: 1234, step: t });
 */
export function sample(enc: CommandEncoder, x: Buffer, out: Buffer, params: SampleParams): void {
  const { rows, cols } = checkRows(enc, params, ["threadsPerRow", "temperature", "topK", "topP", "seed", "step"], ["temperature", "seed", "step"], x);
  const topK = params.topK ?? 0;
  const topP = params.topP ?? 1;
  checkNumber("params.temperature", params.temperature);
  if (params.temperature < 0) throw new ArgumentError("params.temperature", `must be >= 0 (got ${params.temperature})`);
  checkInt("params.topK", topK, 0, MAX_ELEMENTS - 1);
  checkNumber("params.topP", topP, 0);
  if (topP > 1) throw new ArgumentError("params.topP", `must be in (0, 1] (got ${topP})`);
  checkInt("params.seed", params.seed, 0, 0xffffffff);
  checkInt("params.step", params.step, 0, 0xffffffff);
  checkIndices("out", out, rows, "one per row of x");
  if (!(topP > 0)) throw new ArgumentError("params.topP", `must be in (0, 1] (got ${topP})`);
  const invTemperature = params.temperature < MIN_TEMPERATURE ? 0 : 1 / params.temperature;
  const pipeline = enc.device.kernels.pipeline(kernels.sample, { dtype: x.dtype });
  const args = SelectArgs.write({ cols, k: topK, inv_temperature: invTemperature, top_p: Math.max(topP, MIN_TOP_P), seed: params.seed, step: params.step });
  enc.dispatchThreadgroups(pipeline, [x, out, args], [rows, 1, 1], [rowGroup(enc, pipeline, cols, params.threadsPerRow), 1, 1], READ_WRITE);
}

