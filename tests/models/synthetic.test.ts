/** Synthetic MLX model directories: deterministic, valid for the real loaders, shaped as specified. */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DType, loadModelSync, SafetensorsArchive, readSafetensorsHeader } from "../../src/index.ts";
import { decodeFloats } from "../../src/io/floats.ts";
import { dequantize } from "../../src/quant.ts";
import { countParameters, parseModelConfig, readModelConfig } from "../../src/models/config.ts";
import { createSyntheticModel, syntheticConfigJson, syntheticPreset, writeSyntheticModel } from "../../src/models/synthetic.ts";
import { ReferenceDecoder } from "../support/reference/decoder.ts";
import { fixture } from "../support/fixtures.ts";
import { expectLogitsClose } from "./runner_support.ts";
import { expectFormatError } from "./support.ts";

// The model test compiles kernel families on a cold cache; plain `bun test` allows 5 s a test.
setDefaultTimeout(180_000);

const root = mkdtempSync(join(tmpdir(), "mlxn-synthetic-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const filesOf = (dir: string) => Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));

test("same spec, same bytes; another seed, other weights", () => {
  const spec = syntheticPreset("qwen3", { numLayers: 1 });
  const a = writeSyntheticModel(join(root, "a"), spec);
  const b = writeSyntheticModel(join(root, "b"), spec);
  const c = writeSyntheticModel(join(root, "c"), { ...spec, seed: 99 });
  expect(filesOf(a.dir)).toEqual(filesOf(b.dir));
  expect(readFileSync(join(c.dir, "model.safetensors"))).not.toEqual(readFileSync(join(a.dir, "model.safetensors")));
  expect(readFileSync(join(c.dir, "config.json"))).toEqual(readFileSync(join(a.dir, "config.json")));
});

test("config.json reads back as the returned config, with mlx-lm's quantization sections", () => {
  const m = writeSyntheticModel(join(root, "q3"), syntheticPreset("qwen3"));
  expect(readModelConfig(m.dir)).toEqual(m.config);
  const json = JSON.parse(readFileSync(join(m.dir, "config.json"), "utf8"));
  expect(json.quantization).toEqual({
    group_size: 32,
    bits: 4,
    mode: "affine",
    "model.layers.0.mlp.down_proj": { group_size: 32, bits: 8, mode: "affine" },
    "model.layers.1.self_attn.v_proj": false,
    lm_head: { group_size: 64, bits: 6, mode: "affine" },
  });
  expect(json.quantization_config).toEqual(json.quantization);
  expect(json.head_dim).toBe(32);
  expect(m.files).toEqual(["model.safetensors", "model.safetensors.index.json", "config.json", "tokenizer.json", "tokenizer_config.json"]);
  const index = JSON.parse(readFileSync(join(m.dir, "model.safetensors.index.json"), "utf8"));
  expect(index.metadata.total_parameters).toBe(m.parameterCount);
  expect(Object.keys(index.weight_map)).toEqual(Object.keys(index.weight_map).sort());
});

test("sharding option and an unquantized f16 model", () => {
  const sharded = writeSyntheticModel(join(root, "q2"), syntheticPreset("qwen2"));
  expect(sharded.files.filter((f) => f.startsWith("model-")).length).toBe(3);
  const f16 = writeSyntheticModel(join(root, "f16"), syntheticPreset("f16", { tokenizer: false }));
  expect(f16.config.quantization).toBeUndefined();
  expect(existsSync(join(f16.dir, "tokenizer.json"))).toBe(false);
  expect(JSON.parse(readFileSync(join(f16.dir, "config.json"), "utf8")).torch_dtype).toBe("float16");
});

test("mistral is written and read as a llama-architecture model", () => {
  const m = writeSyntheticModel(join(root, "mistral"), syntheticPreset("llama", { modelType: "mistral", numLayers: 1, ropeTraditional: true }));
  expect(readModelConfig(m.dir)).toMatchObject({ modelType: "mistral", architecture: "llama", ropeTraditional: true });
  expect(m.config.bosTokenId).toBeDefined();
});

test("the demo preset is a ~20M-parameter Llama-shaped 4-bit model with a matching tokenizer size", () => {
  const spec = syntheticPreset("demo");
  const config = parseModelConfig(syntheticConfigJson(spec));
  expect(config.architecture).toBe("llama");
  expect(config.quantization).toEqual({ bits: 4, groupSize: 64, mode: "affine" });
  expect(config.tieWordEmbeddings).toBe(true);
  expect(config.numKeyValueHeads).toBeLessThan(config.numAttentionHeads);
  expect(countParameters(config)).toBeGreaterThan(18e6);
  expect(countParameters(config)).toBeLessThan(22e6);
  expect(spec.dtype).toBe(DType.F16);
});

test("createSyntheticModel writes into a fresh temporary directory and removes it on dispose", () => {
  const m = createSyntheticModel(syntheticPreset("llama", { numLayers: 1, tokenizer: false }), root);
  expect(existsSync(join(m.dir, "config.json"))).toBe(true);
  m.dispose();
  expect(existsSync(m.dir)).toBe(false);
});

test("a spec the loader would reject fails before anything is written", () => {
  const dir = join(root, "never");
  expectFormatError(() => writeSyntheticModel(dir, syntheticPreset("qwen2", { headDim: 32 })), /head_dim: qwen2 uses hidden_size \/ num_attention_heads = 16/);
  expect(existsSync(dir)).toBe(false);
  expect(() => syntheticPreset("gpt2" as never)).toThrow(/unknown preset "gpt2"/);
});

test.each(["gemma3", "gemma3-nested", "qwen3_moe", "mixtral"] as const)("%s: config.json reads back as the returned config; parameters counted", (name) => {
  const m = writeSyntheticModel(join(root, `new-${name}`), syntheticPreset(name));
  expect(readModelConfig(m.dir)).toEqual(m.config);
  const index = JSON.parse(readFileSync(join(m.dir, "model.safetensors.index.json"), "utf8"));
  expect(index.metadata.total_parameters).toBe(m.parameterCount);
  if (name === "gemma3-nested") {
    const json = JSON.parse(readFileSync(join(m.dir, "config.json"), "utf8"));
    expect(json.model_type).toBe("gemma3");
    expect(json.text_config.model_type).toBe("gemma3_text");
    expect(Object.keys(index.weight_map).every((n: string) => n.startsWith("language_model."))).toBe(true);
  }
  if (name === "qwen3_moe") expect(index.weight_map["model.layers.0.mlp.switch_mlp.down_proj.scales"]).toBeDefined();
});

test("an MoE spec without its expert counts names the field", () => {
  expect(() => syntheticConfigJson(syntheticPreset("mixtral", { numExperts: undefined }))).toThrow(/\[spec.numExperts\] required for model type mixtral/);
});

describe("random codes (streamed while writing)", () => {
  const small = { vocabSize: 512, hiddenSize: 128, intermediateSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 32 } as const;

  test.each(["llama3-1b", "llama3-8b"] as const)("%s shape, made small: the same tensors as the in-memory path, back to back, deterministic", (name) => {
    const spec = syntheticPreset(name, small);
    const a = writeSyntheticModel(join(root, `codes-${name}-a`), spec);
    const b = writeSyntheticModel(join(root, `codes-${name}-b`), spec);
    const quantized = writeSyntheticModel(join(root, `codes-${name}-q`), { ...spec, randomCodes: false });
    expect(filesOf(a.dir)).toEqual(filesOf(b.dir));
    expect(a.files).toEqual(["model.safetensors", "model.safetensors.index.json", "config.json"]);
    const header = readSafetensorsHeader(join(a.dir, "model.safetensors"));
    const reference = readSafetensorsHeader(join(quantized.dir, "model.safetensors"));
    const layout = (h: typeof header) => [...h.tensors.values()].map((t) => [t.name, t.dtype, t.shape]);
    expect(layout(header)).toEqual(layout(reference));
    // Data back to back in header order, up to the end of the file.
    let end = 8 + header.headerLength;
    for (const t of header.tensors.values()) {
      expect(t.offset).toBe(end);
      end += t.byteLength;
    }
    expect(end).toBe(header.fileSize);
    expect(header.tensors.has("lm_head.weight")).toBe(name === "llama3-8b");
  });

  test("dequantized weights have mean about 0 and the in-memory path's spread (1 / √in)", () => {
    const m = writeSyntheticModel(join(root, "codes-stats"), syntheticPreset("llama3-8b", small));
    const archive = SafetensorsArchive.open(m.dir);
    const path = "model.layers.1.mlp.down_proj";
    const [rows, cols] = [small.hiddenSize, small.intermediateSize];
    const scales = decodeFloats(archive.read(`${path}.scales`), DType.BF16);
    const biases = decodeFloats(archive.read(`${path}.biases`), DType.BF16);
    const packed = new Uint32Array(archive.read(`${path}.weight`).buffer);
    const w = dequantize({ rows, cols, bits: 4, groupSize: 64, packed, scales, biases, scaleDType: DType.BF16 });
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.05 / Math.sqrt(cols));
    expect(std * Math.sqrt(cols)).toBeGreaterThan(0.9);
    expect(std * Math.sqrt(cols)).toBeLessThan(1.15);
  });

  test("loads without a tokenizer and decodes finite logits that match the float64 reference", () => {
    using synthetic = createSyntheticModel(syntheticPreset("llama3-1b", { ...small, numLayers: 3 }), root);
    using model = loadModelSync(synthetic.dir, { device: fixture().device, progress: false });
    expect(model.tokenizer).toBeUndefined();
    const ref = ReferenceDecoder.fromBuffers(model.config, model.weights.tensors);
    using cache = model.newCache();
    const refCache = ref.newCache();
    const tokens = [1, 100, 511, 7, 300];
    const logits = model.forward(tokens, cache);
    expect(logits.every(Number.isFinite)).toBe(true);
    expectLogitsClose(logits, ref.forward(tokens, refCache), 1e-4);
    for (const next of [5, 400]) expectLogitsClose(model.forward([next], cache), ref.forward([next], refCache), 1e-4);
  });
});
