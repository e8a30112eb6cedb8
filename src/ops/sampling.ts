/**
 * Selection over rows of logits (kernels/sampling.{h,metal}), one threadgroup per row: argmax,
 * top-k and seeded sampling. Inputs are [rows, cols] of a float dtype; indices are U32. NaN
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
import type { Buffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { KernelRegistry } from "../registry.ts";
import { argStruct } from "./args.ts";
import { access, checkThreadsPerRow, namesByDType, rowGroup } from "./common.ts";
import { checkBuffer, checkCounts, checkDType, checkInt, checkNumber, checkOptions, FLOAT_DTYPES, MAX_ELEMENTS } from "./validate.ts";

export interface SelectParams {
  rows: number;
  cols: number;
  dtype: DType;
  /** Threads per row's threadgroup, a multiple of 32 up to 1024 (default: chosen per device). */
  threadsPerRow?: number;
}

/** Largest k of `topK` (its winners are sorted in threadgroup memory). */
export const TOP_K_MAX = 1024;
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
const TOP_K = namesByDType("top_k");
const SAMPLE = namesByDType("sample");
const READ_WRITE = access([0], [1]);
const TOP_K_ACCESS = access([0], [1, 2]);

function checkRows(enc: CommandEncoder, params: SelectParams, known: readonly string[], required: readonly string[], x: Buffer): void {
  checkOptions("params", params, known, required);
  checkThreadsPerRow(enc, params.threadsPerRow);
  checkDType("params.dtype", params.dtype, FLOAT_DTYPES);
  checkCounts("params", params, ["rows", "cols"]);
  checkInt("params.cols", params.cols, 1, MAX_COLS);
  if (params.rows * params.cols > MAX_ELEMENTS) throw new ArgumentError("params", `rows·cols exceeds the kernels' 32-bit element index`);
  checkBuffer("x", x, params.dtype, params.rows * params.cols);
}

/**
 * `out[r]` = index of the largest element of row r (smallest index among equal maxima).
 *
 * @example
 * ops.argmax(enc, registry, logits, token, { rows: 1, cols: vocab, dtype: DType.F32 });
 */
export function argmax(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, out: Buffer, params: SelectParams): void {
  checkRows(enc, params, ["rows", "cols", "dtype", "threadsPerRow"], ["rows", "cols", "dtype"], x);
  checkBuffer("out", out, DType.U32, params.rows);
  // The sampling kernel at temperature 0 is the argmax.
  const pipeline = registry.getPipeline(SAMPLE.get(params.dtype)!);
  const args = SelectArgs.write({ cols: params.cols, k: 0, inv_temperature: 0, top_p: 1, seed: 0, step: 0 });
  enc.dispatchThreadgroups(pipeline, [x, out, args], [params.rows, 1, 1], [rowGroup(enc, pipeline, params.cols, params.threadsPerRow), 1, 1], READ_WRITE);
}

export interface TopKParams extends SelectParams {
  /** 1 … min(cols, 1024). */
  k: number;
}

/**
 * The k largest elements of each row, largest first (equal values: smaller index first; ties at
 * the k-th value go to the smaller indices): `values` [rows, k] of dtype and `indices` [rows, k] U32.
 *
 * @example
 * ops.topK(enc, registry, logits, vals, idx, { rows: 1, cols: vocab, k: 40, dtype: DType.F32 });
 */
export function topK(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, values: Buffer, indices: Buffer, params: TopKParams): void {
  checkRows(enc, params, ["rows", "cols", "k", "dtype", "threadsPerRow"], ["rows", "cols", "k", "dtype"], x);
  checkInt("params.k", params.k, 1, Math.min(params.cols, TOP_K_MAX));
  checkBuffer("values", values, params.dtype, params.rows * params.k);
  checkBuffer("indices", indices, DType.U32, params.rows * params.k);
  const pipeline = registry.getPipeline(TOP_K.get(params.dtype)!);
  const args = SelectArgs.write({ cols: params.cols, k: params.k, inv_temperature: 0, top_p: 1, seed: 0, step: 0 });
  enc.dispatchThreadgroups(pipeline, [x, values, indices, args], [params.rows, 1, 1], [rowGroup(enc, pipeline, params.cols, params.threadsPerRow), 1, 1], TOP_K_ACCESS);
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
 * ops.sample(enc, registry, logits, token, { rows: 1, cols: vocab, temperature: 0.7, topK: 40, topP: 0.9, seed: 1234, step: t, dtype: DType.F32 });
 */
export function sample(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, out: Buffer, params: SampleParams): void {
  checkRows(enc, params, ["rows", "cols", "dtype", "threadsPerRow", "temperature", "topK", "topP", "seed", "step"], ["rows", "cols", "dtype", "temperature", "seed", "step"], x);
  const topK = params.topK ?? 0;
  const topP = params.topP ?? 1;
  checkNumber("params.temperature", params.temperature);
  if (params.temperature < 0) throw new ArgumentError("params.temperature", `must be >= 0 (got ${params.temperature})`);
  checkInt("params.topK", topK, 0, MAX_ELEMENTS - 1);
  checkNumber("params.topP", topP, 0);
  if (topP > 1) throw new ArgumentError("params.topP", `must be in (0, 1] (got ${topP})`);
  checkInt("params.seed", params.seed, 0, 0xffffffff);
  checkInt("params.step", params.step, 0, 0xffffffff);
  checkBuffer("out", out, DType.U32, params.rows);
  if (!(topP > 0)) throw new ArgumentError("params.topP", `must be in (0, 1] (got ${topP})`);
  const invTemperature = params.temperature < MIN_TEMPERATURE ? 0 : 1 / params.temperature;
  const pipeline = registry.getPipeline(SAMPLE.get(params.dtype)!);
  const args = SelectArgs.write({ cols: params.cols, k: topK, inv_temperature: invTemperature, top_p: Math.max(topP, MIN_TOP_P), seed: params.seed, step: params.step });
  enc.dispatchThreadgroups(pipeline, [x, out, args], [params.rows, 1, 1], [rowGroup(enc, pipeline, params.cols, params.threadsPerRow), 1, 1], READ_WRITE);
}

