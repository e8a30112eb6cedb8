/**
 * Logit processing before sampling (kernels/logits.h; catalog entries `logitsProcess`, `logprobChosen`), on one row of logits in place:
 * repetition / presence / frequency penalties over a token history, additive logit biases and
 * min-p masking; and the log-probability of a chosen token.
 *
 * **Semantics** (`processLogits`), in this order, on f32 values of the logits x:
 * 1. For each history entry (token t, count c): `x_t ← x_t / r` if `x_t > 0` else `x_t · r`
 *    (r = repetitionPenalty, 1 disables), then `x_t ← x_t − presence − frequency · c`.
 * 2. For each bias entry (t, b): `x_t ← x_t + b`.
 * 3. minP > 0: `x_i ← −∞` where `x_i < max_j x_j + temperature · ln(minP)` (tokens whose
 *    probability at that temperature is under minP times the most likely one's).
 * Tokens within the history list, and within the bias list, must be distinct.
 *
 * `logprobChosen` writes `[logsumexp(x), x_token − logsumexp(x)]` as f32: the chosen token's
 * log-probability under softmax(x).
 */
import { kernels } from "../../kernels/catalog.ts";
import type { Buffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import { argStruct } from "./args.ts";
import { access } from "./common.ts";
import { checkBuffer, checkFloat, checkInt, checkNumber, checkOptions, MAX_ELEMENTS } from "./validate.ts";

const LogitsArgs = argStruct("LogitsArgs", {
  cols: "u32",
  history: "u32",
  biases: "u32",
  repetition_penalty: "f32",
  presence_penalty: "f32",
  frequency_penalty: "f32",
  min_p: "f32",
  temperature: "f32",
});
const PROCESS_ACCESS = access([1, 2, 3, 4], [0]);
const CHOSEN_ACCESS = access([0, 1], [2]);
const THREADS = 256;

/** The logits row is `x` itself: its dtype is the kernel's, its element count the vocabulary (cols). */
export interface ProcessLogitsParams {
  /** Entries of `historyTokens`/`historyCounts` to use (default 0). */
  history?: number;
  /** Entries of `biasTokens`/`biasValues` to use (default 0). */
  biases?: number;
  /** > 0; 1 (the default) disables. */
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** In [0, 1); 0 (the default) disables. */
  minP?: number;
  /** Temperature min-p is taken at (> 0 when minP is on; default 1). */
  temperature?: number;
}

export interface LogitLists {
  /** U32 distinct token ids, and their U32 counts. */
  historyTokens: Buffer;
  historyCounts: Buffer;
  /** U32 distinct token ids, and their F32 biases. */
  biasTokens: Buffer;
  biasValues: Buffer;
}

/**
 * Apply penalties, biases and min-p to `x` [cols] in place (see the module comment). List
 * buffers are bound even when empty: pass any buffer of the right dtype (one element).
 *
 * @example
 * ops.processLogits(enc, logits, lists, { history: 12, repetitionPenalty: 1.1 });
 */
export function processLogits(enc: CommandEncoder, x: Buffer, lists: LogitLists, params: ProcessLogitsParams = {}): void {
  checkOptions("params", params, ["history", "biases", "repetitionPenalty", "presencePenalty", "frequencyPenalty", "minP", "temperature"]);
  const dtype = checkFloat("x", x);
  const cols = x.elementCount;
  checkInt("x (elements)", cols, 1, MAX_ELEMENTS);
  const history = params.history ?? 0;
  const biases = params.biases ?? 0;
  checkInt("params.history", history, 0, cols);
  checkInt("params.biases", biases, 0, cols);
  checkBuffer("lists.historyTokens", lists.historyTokens, DType.U32, Math.max(history, 1));
  checkBuffer("lists.historyCounts", lists.historyCounts, DType.U32, Math.max(history, 1));
  checkBuffer("lists.biasTokens", lists.biasTokens, DType.U32, Math.max(biases, 1));
  checkBuffer("lists.biasValues", lists.biasValues, DType.F32, Math.max(biases, 1));
  const repetition = params.repetitionPenalty ?? 1;
  checkNumber("params.repetitionPenalty", repetition, 0);
  const presence = params.presencePenalty ?? 0;
  const frequency = params.frequencyPenalty ?? 0;
  checkNumber("params.presencePenalty", presence);
  checkNumber("params.frequencyPenalty", frequency);
  const minP = params.minP ?? 0;
  checkNumber("params.minP", minP);
  if (minP < 0 || minP >= 1) throw new ArgumentError("params.minP", `must be in [0, 1) (got ${minP})`);
  const temperature = params.temperature ?? 1;
  checkNumber("params.temperature", temperature, 0);
  // The token lists are read on the device: check they index the row.
  for (const [name, buf, n] of [["lists.historyTokens", lists.historyTokens, history], ["lists.biasTokens", lists.biasTokens, biases]] as const) {
    const ids = buf.view(Uint32Array);
    for (let i = 0; i < n; i++) if (ids[i]! >= cols) throw new ArgumentError(`${name}[${i}]`, `token id ${ids[i]} is outside [0, ${cols})`);
  }
  const pipeline = enc.device.kernels.pipeline(kernels.logitsProcess, { dtype });
  const args = LogitsArgs.write({ cols, history, biases, repetition_penalty: repetition, presence_penalty: presence, frequency_penalty: frequency, min_p: minP, temperature });
  enc.dispatchThreadgroups(pipeline, [x, lists.historyTokens, lists.historyCounts, lists.biasTokens, lists.biasValues, args], [1, 1, 1], [Math.min(THREADS, pipeline.maxTotalThreadsPerThreadgroup), 1, 1], PROCESS_ACCESS);
}

/**
 * `out` (F32, 2 elements) = `[logsumexp(x), x[token[0]] − logsumexp(x)]`.
 *
 * @example
 * ops.logprobChosen(enc, logits, token, out);
 */
export function logprobChosen(enc: CommandEncoder, x: Buffer, token: Buffer, out: Buffer): void {
  const dtype = checkFloat("x", x);
  const cols = x.elementCount;
  checkInt("x (elements)", cols, 1, MAX_ELEMENTS);
  checkBuffer("token", token, DType.U32, 1);
  checkBuffer("out", out, DType.F32, 2);
  const pipeline = enc.device.kernels.pipeline(kernels.logprobChosen, { dtype });
  const args = LogitsArgs.write({ cols, history: 0, biases: 0, repetition_penalty: 1, presence_penalty: 0, frequency_penalty: 0, min_p: 0, temperature: 1 });
  enc.dispatchThreadgroups(pipeline, [x, token, out, args], [1, 1, 1], [Math.min(THREADS, pipeline.maxTotalThreadsPerThreadgroup), 1, 1], CHOSEN_ACCESS);
}
