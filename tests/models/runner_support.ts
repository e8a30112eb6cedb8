/**
 * What the decoder-runner tests share: the tiny presets they run, and logits compared against
 * the float64 reference.
 *
 * The synthetic presets use head_dim 16 (llama, qwen2, f16, mixtral: hidden 64 over 4 heads) and
 * 32 (qwen3, gemma3, qwen3_moe), which the attention kernels cover, so the presets run as written.
 * A preset whose head dim were not in ATTENTION_HEAD_DIMS would get head_dim 64: through
 * config.json's head_dim, or through hidden 256 for Qwen2 and Mixtral (head_dim = hidden / heads).
 */
import { expect } from "bun:test";
import { ops } from "../../src/index.ts";
import { syntheticPreset, type SyntheticModelSpec, type SyntheticPreset } from "../../src/models/synthetic.ts";

/** Head dims outside ATTENTION_HEAD_DIMS replaced as the module comment says. */
export function runnerPreset(name: Exclude<SyntheticPreset, "demo">, overrides: Partial<SyntheticModelSpec> = {}): SyntheticModelSpec {
  const spec = syntheticPreset(name, overrides);
  const headDim = spec.headDim ?? spec.hiddenSize / spec.numHeads;
  if (ops.ATTENTION_HEAD_DIMS.includes(headDim)) return spec;
  // Qwen2 and Mixtral take head_dim = hidden / heads.
  if (spec.modelType === "qwen2" || spec.modelType === "mixtral") return { ...spec, hiddenSize: 64 * spec.numHeads };
  return { ...spec, headDim: 64 };
}

/** How far logits are from the reference's: largest |Δ| relative to the largest |reference logit|, and the two argmaxes. */
export function compareLogits(logits: ArrayLike<number>, reference: ArrayLike<number>): { relError: number; top: number; refTop: number } {
  expect(logits.length).toBe(reference.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    err = Math.max(err, Math.abs(logits[i]! - reference[i]!));
    scale = Math.max(scale, Math.abs(reference[i]!));
  }
  return { relError: err / scale, top: argmax(logits), refTop: argmax(reference) };
}

/** Top-1 equal and max |Δ| ≤ `tolerance` · max |reference logit|. */
export function expectLogitsClose(logits: ArrayLike<number>, reference: ArrayLike<number>, tolerance: number): number {
  const c = compareLogits(logits, reference);
  expect(c.top).toBe(c.refTop);
  expect(c.relError).toBeLessThanOrEqual(tolerance);
  return c.relError;
}

/** Index of the largest value (the smallest such index). */
export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}
