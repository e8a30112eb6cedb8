/**
 * The decoder runner against the float64 reference decoder (weights dequantized in TypeScript,
 * every step in float64): tiny Llama (tied 4-bit embedding as the output projection, Llama 3
 * RoPE scaling), Qwen2 (q/k/v biases, bf16, sharded), Qwen3 (q/k norms, per-module 8-bit, 6-bit
 * and unquantized overrides) and an unquantized f16 Llama.
 *
 * Tolerances, as max |Δlogit| / max |reference logit| over the vocabulary (measured worst case
 * over these presets and the demo model, prompt of 16 tokens then 8 decode steps, in brackets):
 * - f32 activations, f32 KV cache: 1e-4 [1.6e-6]. The weights are the same numbers in both (the
 *   reference dequantizes exactly what the kernels read), so only f32 rounding separates them.
 * - f32 activations, f16 KV cache: 5e-3 [4.7e-4].
 * - f16 activations: 1e-2 [1.6e-3]; bf16 activations: 6e-2 [1.4e-2]. Top-1 agreed in every
 *   measured case but is not asserted for half activations (a near tie may flip).
 * Prompts of 12 tokens take the tiled prefill kernels, 5 tokens the matrix-vector ones.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { DisposedError, FormatError, loadModelSync, ops, type Model } from "../../src/index.ts";
import { createSyntheticModel, type SyntheticModelSpec } from "../../src/models/synthetic.ts";
import { ReferenceDecoder } from "../support/reference/decoder.ts";
import { expectArgumentError } from "../support/errors.ts";
import { fixture } from "../support/fixtures.ts";
import { compareLogits, expectLogitsClose, runnerPreset } from "./runner_support.ts";

// A cold kernel cache compiles families here; plain `bun test` (no --timeout) allows only 5 s a test.
setDefaultTimeout(180_000);

const { device } = fixture();
const F32_TOLERANCE = 1e-4;
const HALF_TOLERANCE = { f16: 1e-2, bf16: 6e-2 } as const;
const F16_CACHE_TOLERANCE = 5e-3;

const dirs: { dispose(): void }[] = [];
afterAll(() => dirs.forEach((d) => d.dispose()));

function build(spec: SyntheticModelSpec): string {
  const m = createSyntheticModel(spec);
  dirs.push(m);
  return m.dir;
}

/** Deterministic prompt tokens inside the vocabulary. */
function prompt(n: number, vocab: number, salt = 0): number[] {
  return Array.from({ length: n }, (_, i) => (i * 97 + 13 + salt * 31) % vocab);
}

const CASES: [string, SyntheticModelSpec][] = [
  ["llama: tied 4-bit embedding as output projection, Llama 3 RoPE scaling", runnerPreset("llama")],
  ["qwen2: q/k/v biases, bf16 scales, sharded", runnerPreset("qwen2")],
  ["qwen3: q/k norms, 8-bit / 6-bit / unquantized module overrides", runnerPreset("qwen3")],
  ["f16: unquantized", runnerPreset("f16")],
];

describe.each(CASES)("%s", (_name, spec) => {
  const dir = build(spec);
  let model: Model;
  let ref: ReferenceDecoder;
  beforeAll(() => {
    model = loadModelSync(dir, { device, progress: false });
    ref = ReferenceDecoder.fromBuffers(model.config, model.weights.tensors);
  });
  afterAll(() => model.dispose());

  test("prefill and decode match the float64 reference", () => {
    const vocab = model.config.vocabSize;
    for (const length of [12, 5]) {
      const tokens = prompt(length, vocab, length);
      using cache = model.newCache();
      const refCache = ref.newCache();
      expectLogitsClose(model.forward(tokens, cache), ref.forward(tokens, refCache), F32_TOLERANCE);
      for (const next of [3, vocab - 1, 42]) expectLogitsClose(model.forward([next], cache), ref.forward([next], refCache), F32_TOLERANCE);
      expect(cache.position).toBe(length + 3);
    }
  });

  test("incremental decode equals a full forward on the same tokens", () => {
    const tokens = prompt(11, model.config.vocabSize, 7);
    using cache = model.newCache();
    model.forward(tokens.slice(0, 7), cache);
    let incremental: Float32Array = new Float32Array();
    for (const t of tokens.slice(7)) incremental = model.forward([t], cache);
    const full = model.forward(tokens);
    expectLogitsClose(incremental, full, F32_TOLERANCE);
    expectLogitsClose(full, ref.forward(tokens), F32_TOLERANCE);
  });

  test("a prompt split into several command buffers, into a cache that grows, gives the same logits", () => {
    const tokens = prompt(13, model.config.vocabSize, 3);
    using chunked = loadModelSync(dir, { device, progress: false, prefillChunk: 4 });
    using cache = chunked.newCache({ initialCapacity: 2 });
    const logits = chunked.forward(tokens, cache);
    expect(cache.capacity).toBe(16);
    expectLogitsClose(logits, model.forward(tokens), F32_TOLERANCE);
    expectLogitsClose(chunked.forward([9], cache), ref.forward([...tokens, 9]), F32_TOLERANCE);
  });

  test("f16 and bf16 activations and KV caches stay close to the reference", () => {
    const tokens = prompt(12, model.config.vocabSize, 1);
    const expected = ref.forward(tokens);
    for (const act of ["f16", "bf16"] as const) {
      using half = loadModelSync(dir, { device, progress: false, activationDType: act });
      const { relError } = compareLogits(half.forward(tokens), expected);
      expect(relError).toBeLessThanOrEqual(HALF_TOLERANCE[act]);
    }
    using halfCache = model.newCache({ dtype: "f16" });
    const { relError } = compareLogits(model.forward(tokens, halfCache), expected);
    expect(relError).toBeLessThanOrEqual(F16_CACHE_TOLERANCE);
  });
});

describe("model-level errors", () => {
  const dir = build(runnerPreset("llama"));
  const noTokenizer = build(runnerPreset("f16", { tokenizer: false }));

  test("token ids outside the vocabulary, non-integers and empty prompts are refused before anything runs", () => {
    using model = loadModelSync(dir, { device, progress: false });
    const vocab = model.config.vocabSize;
    using cache = model.newCache();
    expectArgumentError(() => model.forward([1, vocab], cache), "tokens[1]", `token id ${vocab} is outside the vocabulary [0, ${vocab})`);
    expectArgumentError(() => model.forward([-1]), "tokens[0]", "outside the vocabulary");
    expectArgumentError(() => model.forward([1.5]), "tokens[0]", "outside the vocabulary");
    expectArgumentError(() => model.forward([], cache), "tokens", "at least one token");
    expectArgumentError(() => model.forward("abc" as unknown as number[]), "tokens", "must be an array");
    expect(cache.position).toBe(0);
    expectArgumentError(() => model.generate(""), "prompt", "empty");
    expectArgumentError(() => model.generate([]), "prompt", "empty");
    expectArgumentError(() => model.generate([vocab + 5]), "tokens[0]", "outside the vocabulary");
  });

  test("cache overflow is refused and leaves the cache usable", () => {
    using model = loadModelSync(dir, { device, progress: false });
    using cache = model.newCache({ maxLength: 4 });
    model.forward([1, 2, 3], cache);
    expectArgumentError(() => model.forward([4, 5], cache), "tokens", "cache overflow: 2 tokens at position 3 exceed the cache's maxLength of 4");
    expect(cache.position).toBe(3);
    const logits = model.forward([4], cache);
    expectLogitsClose(logits, model.forward([1, 2, 3, 4]), F32_TOLERANCE);
    expectArgumentError(() => model.forward([5], cache), "tokens", "cache overflow");
    expectArgumentError(() => model.generate([1, 2], { cache }), "prompt", "cache overflow");
    cache.truncate(1);
    expect(cache.position).toBe(1);
    expectArgumentError(() => cache.truncate(2), "position", "[0, 1]");
  });

  test("a cache of another model, disposed handles and bad options are refused", () => {
    using a = loadModelSync(dir, { device, progress: false });
    using b = loadModelSync(dir, { device, progress: false });
    using cache = a.newCache();
    expectArgumentError(() => b.forward([1], cache), "cache", "newCache()");
    const disposed = a.newCache();
    disposed.dispose();
    expect(() => a.forward([1], disposed)).toThrow(DisposedError);
    expectArgumentError(() => loadModelSync(dir, { device, activationDType: "f8" as "f16" }), "options.activationDType", '"f8"');
    expectArgumentError(() => loadModelSync(dir, { device, kvCacheDType: "int4" as "f16" }), "options.kvCacheDType", '"int4"');
    expectArgumentError(() => loadModelSync(dir, { device, activation: "f16" } as object), "options.activation", "is not an option");
    expectArgumentError(() => loadModelSync(dir, { device, prefillChunk: 0 }), "options.prefillChunk", "positive integer");
    expectArgumentError(() => a.newCache({ maxLength: 0 }), "options.maxLength", "positive integer");
    expectArgumentError(() => a.newCache({ dtype: "u8" as "f16" }), "options.dtype", '"u8"');
    expect(() => loadModelSync(`${dir}-missing`, { device })).toThrow(FormatError);
    b.dispose();
    expect(() => b.forward([1])).toThrow(DisposedError);
    expect(() => b.generate([1])).toThrow(DisposedError);
  });

  test("a directory without tokenizer files loads and runs token ids; text needs a tokenizer", async () => {
    using model = loadModelSync(noTokenizer, { device, progress: false });
    expect(model.tokenizer).toBeUndefined();
    expect(model.forward([1, 2, 3]).length).toBe(model.config.vocabSize);
    expectArgumentError(() => model.generate("hello"), "prompt", "needs a tokenizer");
    expectArgumentError(() => model.generate([1], { stop: ["x"] }), "prompt", "needs a tokenizer");
    const { tokens, text } = await model.generate([1, 2], { maxTokens: 3 }).complete();
    expect(tokens.length).toBeGreaterThan(0);
    expect(text).toBe("");
  });

  test("a head_dim the attention kernels lack is refused at load", () => {
    const headDim = Array.from({ length: 128 }, (_, i) => 2 * (i + 1)).find((d) => !ops.ATTENTION_HEAD_DIMS.includes(d))!;
    const odd = build({ ...runnerPreset("f16"), headDim, tokenizer: false });
    expectArgumentError(() => loadModelSync(odd, { device, progress: false }), "weights", `head_dim ${headDim} is not supported by the attention kernels`);
  });

  test("generate options are checked when generate is called", () => {
    using model = loadModelSync(dir, { device, progress: false });
    expectArgumentError(() => model.generate([1], { maxTokens: 0 }), "options.maxTokens");
    expectArgumentError(() => model.generate([1], { temperature: -1 }), "options.temperature");
    expectArgumentError(() => model.generate([1], { topP: 0 }), "options.topP");
    expectArgumentError(() => model.generate([1], { topK: 1.5 }), "options.topK");
    expectArgumentError(() => model.generate([1], { seed: 2 ** 32 }), "options.seed");
    expectArgumentError(() => model.generate([1], { stop: [""] }), "options.stop");
    expectArgumentError(() => model.generate([1], { maxToken: 3 } as object), "options.maxToken", "is not an option");
  });
});
