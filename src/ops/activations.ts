/**
 * Activations (kernels/activations.{h,metal}): elementwise over flat arrays, computed in f32 and
 * rounded once to the output dtype. `x` and `out` may be the same buffer.
 */
import type { Buffer } from "../buffer.ts";
import type { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import type { KernelRegistry } from "../registry.ts";
import { argStruct } from "./args.ts";
import { access, dispatchBlocks, namesByDType, pipelineFor } from "./common.ts";
import { checkBuffer, checkCount, checkDType, checkNumber, checkOneOf, FLOAT_DTYPES } from "./validate.ts";

/** GELU's two forms: the tanh approximation or the exact erf form. */
export type GeluApproximation = "tanh" | "erf";

const ActivationArgs = argStruct("ActivationArgs", { n: "u32", param: "f32" });
const UNARY_ACCESS = access([0], [1]);
const GATED_ACCESS = access([0, 1], [2]);
const UNARY = {
  silu: namesByDType("silu"),
  sigmoid: namesByDType("sigmoid"),
  gelu_tanh: namesByDType("gelu_tanh"),
  gelu_erf: namesByDType("gelu_erf"),
  softcap: namesByDType("softcap"),
};
const GATED = {
  silu: namesByDType("silu_mul"),
  sigmoid: namesByDType("sigmoid_mul"),
  gelu_tanh: namesByDType("gelu_tanh_mul"),
  gelu_erf: namesByDType("gelu_erf_mul"),
};

function unary(names: ReadonlyMap<DType, string>, enc: CommandEncoder, registry: KernelRegistry, x: Buffer, out: Buffer, n: number, dtype: DType, param = 0): void {
  checkDType("dtype", dtype, FLOAT_DTYPES);
  checkCount("n", n);
  checkBuffer("x", x, dtype, n);
  checkBuffer("out", out, dtype, n);
  dispatchBlocks(enc, pipelineFor(registry, names, dtype), [x, out, ActivationArgs.write({ n, param })], [n, 1, 1], UNARY_ACCESS);
}

function gated(names: ReadonlyMap<DType, string>, enc: CommandEncoder, registry: KernelRegistry, gate: Buffer, x: Buffer, out: Buffer, n: number, dtype: DType, xName: string): void {
  checkDType("dtype", dtype, FLOAT_DTYPES);
  checkCount("n", n);
  checkBuffer("gate", gate, dtype, n);
  checkBuffer(xName, x, dtype, n);
  checkBuffer("out", out, dtype, n);
  dispatchBlocks(enc, pipelineFor(registry, names, dtype), [gate, x, out, ActivationArgs.write({ n, param: 0 })], [n, 1, 1], GATED_ACCESS);
}

/**
 * `out = x · σ(x)` (SiLU, a.k.a. swish).
 *
 * @example
 * ops.silu(enc, registry, x, out, n, DType.F32);
 */
export function silu(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, out: Buffer, n: number, dtype: DType): void {
  unary(UNARY.silu, enc, registry, x, out, n, dtype);
}

/**
 * `out = 1 / (1 + e^-x)`.
 *
 * @example
 * ops.sigmoid(enc, registry, x, out, n, DType.BF16);
 */
export function sigmoid(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, out: Buffer, n: number, dtype: DType): void {
  unary(UNARY.sigmoid, enc, registry, x, out, n, dtype);
}

/**
 * GELU: `0.5·x·(1 + erf(x/√2))` ("erf", exact), or `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`
 * ("tanh", the approximation GPT-2-style and Gemma models use).
 *
 * @example
 * ops.gelu(enc, registry, x, out, n, DType.F16, "tanh");
 */
export function gelu(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, out: Buffer, n: number, dtype: DType, approximation: GeluApproximation): void {
  checkOneOf("approximation", approximation, ["tanh", "erf"]);
  unary(approximation === "tanh" ? UNARY.gelu_tanh : UNARY.gelu_erf, enc, registry, x, out, n, dtype);
}

/**
 * `out = cap · tanh(x / cap)` (logit soft-capping, as Gemma 2 does with cap 30 or 50).
 *
 * @example
 * ops.softcap(enc, registry, logits, logits, vocab, DType.F32, 30);
 */
export function softcap(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, out: Buffer, n: number, dtype: DType, cap: number): void {
  checkNumber("cap", cap, 0);
  unary(UNARY.softcap, enc, registry, x, out, n, dtype, cap);
}

/**
 * SwiGLU: `out = silu(gate) · up`. `out` may alias either input.
 *
 * @example
 * ops.swiglu(enc, registry, gate, up, act, tokens * ffnDim, DType.BF16);
 */
export function swiglu(enc: CommandEncoder, registry: KernelRegistry, gate: Buffer, up: Buffer, out: Buffer, n: number, dtype: DType): void {
  gated(GATED.silu, enc, registry, gate, up, out, n, dtype, "up");
}

/**
 * `out = σ(gate) · x` (the output gate of Qwen3-Next attention).
 *
 * @example
 * ops.sigmoidMul(enc, registry, attnOut, gate, out, n, DType.F32);
 */
export function sigmoidMul(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, gate: Buffer, out: Buffer, n: number, dtype: DType): void {
  gated(GATED.sigmoid, enc, registry, gate, x, out, n, dtype, "x");
}

/**
 * GeGLU: `out = gelu(gate) · up`, with either GELU form.
 *
 * @example
 * ops.geglu(enc, registry, gate, up, act, n, DType.BF16, "tanh");
 */
export function geglu(enc: CommandEncoder, registry: KernelRegistry, gate: Buffer, up: Buffer, out: Buffer, n: number, dtype: DType, approximation: GeluApproximation): void {
  checkOneOf("approximation", approximation, ["tanh", "erf"]);
  gated(approximation === "tanh" ? GATED.gelu_tanh : GATED.gelu_erf, enc, registry, gate, up, out, n, dtype, "up");
}
