/**
 * Gemma 3 and mixtures of experts (Qwen3-MoE, Mixtral) through the decoder runner, against the
 * float64 reference decoder.
 *
 * Tolerances as in forward.test.ts (max |Δlogit| / max |reference logit|, top-1 equal): f32
 * activations 1e-4 (only f32 rounding separates the two: the reference dequantizes exactly what
 * the kernels read). MoE prompts are chosen by the reference so that every routing decision has
 * a probability margin of at least 0.02 between the k-th and (k+1)-th expert, so that f32
 * rounding cannot flip an expert choice (which would change the logits by far more than any
 * tolerance). Gemma's sliding window is 8 (pattern 2: layers 0 and 2 slide, layer 1 is global),
 * so the runs below go well past it, and with a prefill chunk of 4 the sliding layers' bounded
 * cache (2·(8 − 1) + 4 = 18 rows) moves its window to the front several times.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cmdBufCount } from "../../src/counters.ts";
import { loadModelSync, type Model } from "../../src/index.ts";
import { createSyntheticModel, type SyntheticModelSpec } from "../../src/models/synthetic.ts";
import { ReferenceDecoder } from "../support/reference/decoder.ts";
import { expectArgumentError } from "../support/errors.ts";
import { fixture } from "../support/fixtures.ts";
import { compareLogits, expectLogitsClose, runnerPreset } from "./runner_support.ts";

setDefaultTimeout(300_000);

const { device } = fixture();
const F32_TOLERANCE = 1e-4;
const MIN_ROUTING_GAP = 0.02;

const dirs: { dispose(): void }[] = [];
afterAll(() => dirs.forEach((d) => d.dispose()));

function build(spec: SyntheticModelSpec): string {
  const m = createSyntheticModel({ ...spec, tokenizer: false });
  dirs.push(m);
  return m.dir;
}

const CASES: [string, SyntheticModelSpec][] = [
  ["gemma3_text: sliding window 8, local RoPE base, soft-capped logits", runnerPreset("gemma3")],
  ["gemma3 (nested text_config, language_model. names)", runnerPreset("gemma3-nested")],
  ["qwen3_moe: 8 experts, top 2, a dense layer, 8-bit router", runnerPreset("qwen3_moe")],
  ["mixtral: 4 experts, top 2, unquantized router", runnerPreset("mixtral")],
];

describe.each(CASES)("%s", (_name, spec) => {
  const dir = build(spec);
  let model: Model;
  let ref: ReferenceDecoder;
  let tokens: number[];
  beforeAll(() => {
    model = loadModelSync(dir, { device, progress: false });
    ref = ReferenceDecoder.fromBuffers(model.config, model.weights.tensors);
    tokens = model.config.moe ? ref.promptWithoutRoutingTies(26, MIN_ROUTING_GAP) : Array.from({ length: 26 }, (_, i) => (i * 97 + 13) % model.config.vocabSize);
  });
  afterAll(() => model.dispose());

  test("prefill, then decode past the sliding window, match the float64 reference; one command buffer per decode step", () => {
    using cache = model.newCache();
    const refCache = ref.newCache();
    expectLogitsClose(model.forward(tokens.slice(0, 12), cache), ref.forward(tokens.slice(0, 12), refCache), F32_TOLERANCE);
    for (const t of tokens.slice(12)) {
      const before = cmdBufCount();
      const logits = model.forward([t], cache);
      expect(cmdBufCount() - before).toBe(1);
      expectLogitsClose(logits, ref.forward([t], refCache), F32_TOLERANCE);
    }
    expect(cache.position).toBe(26);
  });

  test("incremental decode in small chunks equals a full forward, and the sliding layers' cache stays bounded", () => {
    using chunked = loadModelSync(dir, { device, progress: false, prefillChunk: 4 });
    using cache = chunked.newCache({ initialCapacity: 2 });
    let bytesAt: number | undefined;
    let incremental = chunked.forward(tokens.slice(0, 9), cache);
    for (let i = 9; i < tokens.length; i++) {
      incremental = chunked.forward([tokens[i]!], cache);
      if (i === 20) bytesAt = cache.byteLength;
    }
    expectLogitsClose(incremental, model.forward(tokens), F32_TOLERANCE);
    expectLogitsClose(incremental, ref.forward(tokens), F32_TOLERANCE);
    if (cache.window !== undefined) {
      expect(cache.slidingLimit).toBe(2 * (cache.window - 1) + 4);
      expect(cache.slidingCapacity).toBeLessThanOrEqual(cache.slidingLimit);
      expect(cache.slidingBase).toBeGreaterThan(0);
      // From position 21 on only the global layers grow (one doubling at 32 would be next).
      expect(cache.capacity).toBe(32);
      expect(bytesAt).toBe(cache.byteLength);
    }
  });
});

describe("gemma3: the sliding layers' cache", () => {
  const dir = build(runnerPreset("gemma3"));

  test("f16 and bf16 activations stay within forward.test.ts's half-precision tolerances past the window", () => {
    const tokens = Array.from({ length: 20 }, (_, i) => (i * 53 + 3) % 320);
    for (const [act, tolerance] of [["f16", 1e-2], ["bf16", 6e-2]] as const) {
      using half = loadModelSync(dir, { device, progress: false, activationDType: act });
      const ref = ReferenceDecoder.fromBuffers(half.config, half.weights.tensors);
      const { relError } = compareLogits(half.forward(tokens), ref.forward(tokens));
      expect(relError).toBeLessThanOrEqual(tolerance);
    }
  });

  test("truncating before what the sliding layers still hold is refused; back to 0 starts over", () => {
    using model = loadModelSync(dir, { device, progress: false, prefillChunk: 4 });
    const ref = ReferenceDecoder.fromBuffers(model.config, model.weights.tensors);
    using cache = model.newCache();
    const tokens = Array.from({ length: 24 }, (_, i) => (i * 31 + 5) % model.config.vocabSize);
    model.forward(tokens, cache);
    expect(cache.slidingBase).toBeGreaterThan(0);
    expectArgumentError(() => cache.truncate(cache.slidingBase + 1), "position", "sliding-window layers no longer hold positions before");
    cache.truncate(cache.slidingBase + 7);
    cache.truncate(0);
    expect(cache.slidingBase).toBe(0);
    expectLogitsClose(model.forward(tokens.slice(0, 10), cache), ref.forward(tokens.slice(0, 10)), F32_TOLERANCE);
  });
});
