/**
 * GGUF models: synthetic models converted as llama.cpp's converter does (gguf_convert.ts) load
 * through `loadModel` and match the float64 reference decoder over the exactly dequantized GGUF
 * tensors, per architecture; the tokenizer rebuilt from the metadata encodes like the original
 * tokenizer.json; malformed models get FormatErrors naming the tensor or key.
 *
 * Tolerance: max |Δlogit| / max |reference logit| ≤ 1e-4 with f32 activations (as for MLX models:
 * the reference uses exactly the values the kernels read, only f32 rounding separates them), and
 * top-1 equal.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DType, FormatError, loadModelSync, Tokenizer, type Model } from "../../src/index.ts";
import { encodeGguf, GgufFile, ggufValue, writeGguf } from "../../src/io/gguf.ts";
import { ggufModelConfig, unpermuteRowOrder } from "../../src/models/gguf_model.ts";
import { createSyntheticModel, type SyntheticModelSpec } from "../../src/models/synthetic.ts";
import type { GgmlTypeName } from "../../src/ggml_types.ts";
import { converterPermutation, convertToGguf } from "../support/gguf_convert.ts";
import { referenceFromGguf } from "../support/reference/gguf.ts";
import { fixture } from "../support/fixtures.ts";
import { expectFormatError } from "./support.ts";
import { main } from "../../src/cli/generate.ts";
import { expectLogitsClose, runnerPreset } from "./runner_support.ts";

setDefaultTimeout(300_000);
const { device } = fixture();
const TOLERANCE = 1e-4;

const root = mkdtempSync(join(tmpdir(), "mlxn-gguf-model-"));
const dirs: { dispose(): void }[] = [];
afterAll(() => {
  dirs.forEach((d) => d.dispose());
  rmSync(root, { recursive: true, force: true });
});
let counter = 0;
/** The source model directory of each converted file. */
const sources = new Map<string, string>();

/** A synthetic model (dense f32 source) converted to GGUF with `types`; returns the file path. */
type ConvertTypes = { linear?: GgmlTypeName; embedding?: GgmlTypeName; output?: GgmlTypeName; types?: Record<string, GgmlTypeName> };

function ggufModel(spec: SyntheticModelSpec, types: ConvertTypes = {}): string {
  const m = createSyntheticModel({ ...spec, quantization: false, quantizationOverrides: undefined, dtype: DType.F32 });
  dirs.push(m);
  const path = join(root, `${counter++}-${spec.modelType}.gguf`);
  convertToGguf(m.dir, path, types);
  sources.set(path, m.dir);
  return path;
}

const prompt = (n: number, vocab: number) => Array.from({ length: n }, (_, i) => (i * 97 + 13) % vocab);

/** Prefill of 6 tokens then 2 decode steps against the reference. */
function expectMatchesReference(model: Model, path: string): void {
  const ref = referenceFromGguf(path);
  const tokens = prompt(6, model.config.vocabSize);
  using cache = model.newCache();
  const refCache = ref.newCache();
  expectLogitsClose(model.forward(tokens, cache), ref.forward(tokens, refCache), TOLERANCE);
  for (const next of [3, 42]) expectLogitsClose(model.forward([next], cache), ref.forward([next], refCache), TOLERANCE);
}

test("the loader's row order undoes the converter's q/k permutation", () => {
  for (const [rows, heads] of [[8, 2], [128, 2], [256, 4]] as const) {
    const stored = converterPermutation(rows, heads);
    const back = unpermuteRowOrder(rows, heads);
    // Row r of the loaded tensor is stored row back[r], which holds original row stored[back[r]].
    expect(Array.from(back, (s) => stored[s])).toEqual(Array.from({ length: rows }, (_, r) => r));
  }
  // llama.cpp's converter on a head of 4 rows [a0, a1, b0, b1] stores [a0, b0, a1, b1].
  expect([...converterPermutation(4, 1)]).toEqual([0, 2, 1, 3]);
});

const DENSE_CASES: [string, SyntheticModelSpec, GgmlTypeName][] = [
  ["llama: F16, q/k permuted, Llama 3 RoPE as rope_freqs, tied output", runnerPreset("llama"), "F16"],
  ["qwen2: BF16, q/k/v biases", runnerPreset("qwen2"), "BF16"],
  ["qwen3: F32, q/k norms, untied output", runnerPreset("qwen3"), "F32"],
];

describe.each(DENSE_CASES)("%s", (_name, spec, type) => {
  const path = ggufModel(spec, { linear: type });
  let model: Model;
  beforeAll(() => {
    model = loadModelSync(path, { device, progress: false });
  });
  afterAll(() => model.dispose());

  test("config from the metadata", () => {
    const c = model.config;
    expect([c.architecture as string, c.hiddenSize, c.numHiddenLayers, c.numAttentionHeads, c.numKeyValueHeads, c.headDim]).toEqual([spec.modelType as string, spec.hiddenSize, spec.numLayers, spec.numHeads, spec.numKvHeads, spec.headDim ?? spec.hiddenSize / spec.numHeads]);
    expect(c.tieWordEmbeddings).toBe(spec.tieWordEmbeddings);
    expect(c.ropeTraditional).toBe(false);
    if (spec.modelType === "llama") expect(c.ropeScaling).toEqual({ type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 });
  });

  test("prefill and decode match the float64 reference", () => {
    expectMatchesReference(model, path);
  });

  test("tokenizer and chat template from the metadata encode like tokenizer.json", () => {
    const original = Tokenizer.fromDirectory(sources.get(path)!);
    const tok = model.tokenizer!;
    expect(tok).toBeDefined();
    for (const text of ["Hello! How are you today?", "The answer is 42, and 2024 numbers.", " leading  spaces\nnew line", "unicode é ü 😀"]) {
      expect(tok.encode(text)).toEqual(original!.encode(text));
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
    const chat = [{ role: "user", content: "Hi there" }];
    expect(tok.encodeChat(chat)).toEqual(original!.encodeChat(chat));
    expect(tok.eosTokenIds).toContain(original!.tokenToId("<|im_end|>")!);
  });
});

/** Shapes whose rows are whole 256-element super-blocks (head_dim 64). */
const K_SHAPE = { hiddenSize: 256, intermediateSize: 512, numHeads: 4, numKvHeads: 2, headDim: 64 } as const;

const QUANTIZED_CASES: [string, SyntheticModelSpec, ConvertTypes][] = [
  ["llama: Q4_0 matrices, Q8_0 tied embedding", runnerPreset("llama", K_SHAPE), { linear: "Q4_0", embedding: "Q8_0" }],
  ["qwen2: Q4_K matrices, Q6_K tied embedding", runnerPreset("qwen2", { ...K_SHAPE, headDim: undefined }), { linear: "Q4_K", embedding: "Q6_K" }],
  [
    "qwen3: Q5_K with Q2_K, Q3_K, Q5_0, Q5_1 layers, Q4_1 embedding, Q6_K output",
    runnerPreset("qwen3", { ...K_SHAPE, numLayers: 1 }),
    { linear: "Q5_K", embedding: "Q4_1", output: "Q6_K", types: { "blk.0.attn_v.weight": "Q2_K", "blk.0.ffn_down.weight": "Q3_K", "blk.0.ffn_gate.weight": "Q5_0", "blk.0.ffn_up.weight": "Q5_1" } },
  ],
];

describe.each(QUANTIZED_CASES)("%s", (_name, spec, types) => {
  const path = ggufModel(spec, types);
  test("blocks stay blocks on the device; prefill and decode match the float64 reference", () => {
    using model = loadModelSync(path, { device, progress: false });
    const q = model.weights.layers[0]!.attention.q;
    expect(q.blockType?.name).toBe(types.types?.["blk.0.attn_q.weight"] ?? types.linear);
    expect(q.weight.dtype).toBe(DType.U8);
    expect(model.weights.embedding.blockType?.name).toBe(types.embedding);
    expectMatchesReference(model, path);
  });
});

test("a directory holding one .gguf file loads; two are refused", () => {
  const path = ggufModel(runnerPreset("qwen2", { numLayers: 1 }), { linear: "F32" });
  const dir = join(root, "one");
  mkdirSync(dir);
  copyFileSync(path, join(dir, "model.gguf"));
  using model = loadModelSync(dir, { device, progress: false });
  expect(model.config.architecture).toBe("qwen2");
  copyFileSync(path, join(dir, "other.gguf"));
  expectFormatError(() => loadModelSync(dir, { device, progress: false }), "holds 2 GGUF files");
});

test("the CLI generates from a .gguf file with its tokenizer and chat template", async () => {
  const path = ggufModel(runnerPreset("qwen2", { ...K_SHAPE, headDim: undefined, numLayers: 1 }), { linear: "Q4_K", embedding: "Q6_K" });
  let out = "";
  let err = "";
  const status = await main(["--model", path, "--prompt", "Hello there", "--max-tokens", "4", "--seed", "1"], (t) => void (out += t), (t) => void (err += t));
  expect(status).toBe(0);
  expect(err).toMatch(/qwen2, 1 layers/);
  expect(out + err).toMatch(/tokens\/s/);
  const missing = await main(["--model", join(root, "nothing.gguf")], () => {}, (t) => void (err += t));
  expect(missing).toBe(1);
});

describe("malformed models", () => {
  const path = ggufModel(runnerPreset("qwen3", { numLayers: 1 }), { linear: "F32" });
  const file = GgufFile.open(path);
  /** The file rewritten with edited metadata and tensors. */
  const edit = (change: (metadata: [string, ReturnType<typeof ggufValue.str>][], tensors: { name: string; type: GgmlTypeName; dims: number[]; data: Uint8Array }[]) => void) => {
    const metadata = [...file.metadata].map(([k, e]) => [k, e] as [string, ReturnType<typeof ggufValue.str>]);
    const tensors = [...file.tensors.values()].map((t) => ({ name: t.name, type: t.type.name, dims: [...t.dims], data: file.read(t.name) }));
    change(metadata, tensors);
    const out = join(root, `${counter++}-edited.gguf`);
    writeGguf(out, { metadata, tensors });
    return out;
  };

  test("unsupported architecture, missing key, partial rotary", () => {
    const arch = edit((m) => (m.find(([k]) => k === "general.architecture")![1] = ggufValue.str("gemma2")));
    expectFormatError(() => loadModelSync(arch, { device }), 'general.architecture "gemma2" is not supported');
    const missing = edit((m) => m.splice(m.findIndex(([k]) => k === "qwen3.block_count"), 1));
    expectFormatError(() => loadModelSync(missing, { device }), 'metadata "qwen3.block_count" must be a non-negative integer (got nothing)');
    const rotary = edit((m) => (m.find(([k]) => k === "qwen3.rope.dimension_count")![1] = ggufValue.u32(file.uint("qwen3.rope.dimension_count") / 2)));
    expectFormatError(() => loadModelSync(rotary, { device }), "partial rotary");
  });

  test("missing tensor, wrong shape, block type for a norm, unused tensor", () => {
    const missing = edit((_, t) => t.splice(t.findIndex((x) => x.name === "blk.0.ffn_up.weight"), 1));
    expectFormatError(() => loadModelSync(missing, { device }), 'tensor "blk.0.ffn_up.weight": missing');
    const shape = edit((_, t) => {
      const x = t.find((x) => x.name === "blk.0.attn_norm.weight")!;
      x.dims = [x.dims[0]! / 2];
      x.data = x.data.subarray(0, x.data.byteLength / 2);
    });
    expectFormatError(() => loadModelSync(shape, { device }), 'tensor "blk.0.attn_norm.weight": shape [32]', "expected [64] from the metadata");
    const extra = edit((_, t) => t.push({ name: "blk.7.ffn_up.weight", type: "F32", dims: [4], data: new Uint8Array(16) }));
    expectFormatError(() => loadModelSync(extra, { device }), "does not use: blk.7.ffn_up.weight");
  });

  test("rope_freqs that are not Llama 3 scaling", () => {
    // One factor per rotary frequency (head_dim / 2), so that only their values are wrong.
    const half = file.uint("qwen3.rope.dimension_count") / 2;
    const freqs = edit((_, t) => t.push({ name: "rope_freqs.weight", type: "F32", dims: [half], data: new Uint8Array(Float32Array.from({ length: half }, (_, i) => 1 + i).buffer) }));
    expectFormatError(() => ggufModelConfig(GgufFile.open(freqs)), 'tensor "rope_freqs.weight"', "other than Llama 3 scaling");
  });

  test("a GGUF with no tokenizer still runs on token ids", () => {
    const bare = edit((m) => m.splice(0, m.length, ...m.filter(([k]) => !k.startsWith("tokenizer."))));
    using model = loadModelSync(bare, { device, progress: false });
    expect(model.tokenizer).toBeUndefined();
    expect(model.forward([1, 2, 3]).length).toBe(model.config.vocabSize);
    expect(() => model.promptTokens("hi")).toThrow(/needs a tokenizer/);
  });

  test("an empty .gguf file is a FormatError, not a crash", () => {
    const empty = join(root, "empty.gguf");
    writeFileSync(empty, "");
    expect(() => loadModelSync(empty, { device })).toThrow(FormatError);
    expect(encodeGguf({}).byteLength).toBe(32);
  });
});
