/**
 * Activations (kernels/activations.h): elementwise over every element of the input, computed in
 * f32 and rounded once to the dtype. Inputs and output share one dtype and element count; `x`
 * and `out` may be the same buffer.
 */
import { kernels, type GatedActivation, type UnaryActivation } from "../../kernels/catalog.ts";
import type { Buffer } from "../buffer.ts";
import type { CommandEncoder } from "../encoder.ts";
import { argStruct } from "./args.ts";
import { access, dispatchBlocks } from "./common.ts";
import { checkCount, checkElements, checkFloat, checkNumber, checkOneOf, checkOptions, checkSameDType, MAX_ELEMENTS } from "./validate.ts";

/** GELU's two forms: the tanh approximation or the exact erf form. */
export type GeluApproximation = "tanh" | "erf";

export interface GeluParams {
  /** "erf" (exact) or "tanh" (the approximation GPT-2-style and Gemma models use). */
  approximation: GeluApproximation;
}

export interface SoftcapParams {
  /** The cap, > 0. */
  cap: number;
}

const ActivationArgs = argStruct("ActivationArgs", { n: "u32", param: "f32" });
const UNARY_ACCESS = access([0], [1]);
const GATED_ACCESS = access([0, 1], [2]);

function unary(act: UnaryActivation, enc: CommandEncoder, x: Buffer, out: Buffer, param = 0): void {
  const dtype = checkFloat("x", x);
  checkSameDType("out", out, dtype, "x");
  const n = x.elementCount;
  checkCount("x.elementCount", n, MAX_ELEMENTS);
  checkElements("out", out, n, "as many as x");
  dispatchBlocks(enc, enc.device.kernels.pipeline(kernels.activation, { act, dtype }), [x, out, ActivationArgs.write({ n, param })], [n, 1, 1], UNARY_ACCESS);
}

function gated(act: GatedActivation, enc: CommandEncoder, gate: Buffer, x: Buffer, out: Buffer, xName: string): void {
  const dtype = checkFloat("gate", gate);
  checkSameDType(xName, x, dtype, "gate");
  checkSameDType("out", out, dtype, "gate");
  const n = gate.elementCount;
  checkCount("gate.elementCount", n, MAX_ELEMENTS);
  checkElements(xName, x, n, "as many as gate");
  checkElements("out", out, n, "as many as gate");
  dispatchBlocks(enc, enc.device.kernels.pipeline(kernels.gatedActivation, { act, dtype }), [gate, x, out, ActivationArgs.write({ n, param: 0 })], [n, 1, 1], GATED_ACCESS);
}

function approximationOf(params: GeluParams): GeluApproximation {
  checkOptions("params", params, ["approximation"], ["approximation"]);
  checkOneOf("params.approximation", params.approximation, ["tanh", "erf"]);
  return params.approximation;
}

/**
 * `out = x · σ(x)` (SiLU, a.k.a. swish).
 *
 * @example
 * ops.silu(enc, x, out);
 */
export function silu(enc: CommandEncoder, x: Buffer, out: Buffer): void {
  unary("silu", enc, x, out);
}

/**
 * `out = 1 / (1 + e^-x)`.
 *
 * @example
 * ops.sigmoid(enc, x, out);
 */
export function sigmoid(enc: CommandEncoder, x: Buffer, out: Buffer): void {
  unary("sigmoid", enc, x, out);
}

/**
 * GELU: `0.5·x·(1 + erf(x/√2))` ("erf", exact), or `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`
 * ("tanh", the approximation GPT-2-style and Gemma models use).
 *
 * @example
 * ops.gelu(enc, x, out, { approximation: "tanh" });
 */
export function gelu(enc: CommandEncoder, x: Buffer, out: Buffer, params: GeluParams): void {
  unary(approximationOf(params) === "tanh" ? "gelu_tanh" : "gelu_erf", enc, x, out);
}

/**
 * `out = cap · tanh(x / cap)` (logit soft-capping, as Gemma 2 does with cap 30 or 50).
 *
 * @example
 * ops.softcap(enc, logits, logits, { cap: 30 });
 */
export function softcap(enc: CommandEncoder, x: Buffer, out: Buffer, params: SoftcapParams): void {
  checkOptions("params", params, ["cap"], ["cap"]);
  checkNumber("params.cap", params.cap, 0);
  unary("softcap", enc, x, out, params.cap);
}

/**
 * SwiGLU: `out = silu(gate) · up`. `out` may alias either input.
 *
 * @example
 * ops.swiglu(enc, gate, up, act);
 */
export function swiglu(enc: CommandEncoder, gate: Buffer, up: Buffer, out: Buffer): void {
  gated("silu", enc, gate, up, out, "up");
}

/**
 * `out = σ(gate) · x` (the output gate of Qwen3-Next attention).
 *
 * @example
 * ops.sigmoidMul(enc, attnOut, gate, out);
 */
export function sigmoidMul(enc: CommandEncoder, x: Buffer, gate: Buffer, out: Buffer): void {
  gated("sigmoid", enc, gate, x, out, "x");
}

/**
 * GeGLU: `out = gelu(gate) · up`, with either GELU form.
 *
 * @example
 * ops.geglu(enc, gate, up, act, { approximation: "tanh" });
 */
export function geglu(enc: CommandEncoder, gate: Buffer, up: Buffer, out: Buffer, params: GeluParams): void {
  gated(approximationOf(params) === "tanh" ? "gelu_tanh" : "gelu_erf", enc, gate, up, out, "up");
}
