/** config.json parsing: model types and their mlx-lm defaults, quantization, RoPE scaling, errors. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countParameters, moduleQuantization, parseModelConfig, readModelConfig } from "../../src/models/config.ts";
import { expectFormatError } from "./support.ts";

const base = {
  vocab_size: 1000,
  hidden_size: 256,
  intermediate_size: 512,
  num_hidden_layers: 2,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
};
const parse = (extra: Record<string, unknown>) => parseModelConfig({ ...base, ...extra });

describe("model types", () => {
  test("llama: mlx-lm defaults (tied, rope_theta 1e4, rotate-half, head_dim = hidden / heads)", () => {
    const c = parse({ model_type: "llama" });
    expect(c.architecture).toBe("llama");
    expect(c.headDim).toBe(32);
    expect(c.tieWordEmbeddings).toBe(true);
    expect(c.ropeTheta).toBe(10000);
    expect(c.ropeTraditional).toBe(false);
    expect(c.ropeScaling).toBeUndefined();
    expect([c.qkvBias, c.oBias, c.mlpBias, c.qkNorm]).toEqual([false, false, false, false]);
    expect(c.quantization).toBeUndefined();
  });

  test("llama: explicit head_dim, attention and MLP biases, kv heads default to heads, traditional RoPE", () => {
    const { num_key_value_heads: _, ...noKv } = base;
    const c = parseModelConfig({ ...noKv, model_type: "llama", head_dim: 64, attention_bias: true, mlp_bias: true, rope_traditional: true, tie_word_embeddings: false });
    expect(c.numKeyValueHeads).toBe(8);
    expect(c.headDim).toBe(64);
    expect([c.qkvBias, c.oBias, c.mlpBias]).toEqual([true, true, true]);
    expect(c.ropeTraditional).toBe(true);
    expect(c.tieWordEmbeddings).toBe(false);
  });

  test("mistral runs as llama", () => {
    const c = parse({ model_type: "mistral", rope_theta: 1e6 });
    expect(c.modelType).toBe("mistral");
    expect(c.architecture).toBe("llama");
    expect(c.ropeTheta).toBe(1e6);
  });

  test("qwen2: q/k/v biases (not o), rope_theta 1e6, head_dim must be hidden / heads", () => {
    const c = parse({ model_type: "qwen2" });
    expect([c.qkvBias, c.oBias, c.qkNorm]).toEqual([true, false, false]);
    expect(c.ropeTheta).toBe(1000000);
    expect(c.maxPositionEmbeddings).toBe(32768);
    expect(parse({ model_type: "qwen2", head_dim: 32 }).headDim).toBe(32);
    expectFormatError(() => parse({ model_type: "qwen2", head_dim: 64 }), /head_dim: qwen2 uses hidden_size \/ num_attention_heads = 32/);
  });

  test("qwen3: q/k norms, head_dim and tie_word_embeddings required, never traditional", () => {
    const c = parse({ model_type: "qwen3", head_dim: 128, tie_word_embeddings: true, rope_theta: 1e6, rope_traditional: true });
    expect(c.qkNorm).toBe(true);
    expect(c.qkvBias).toBe(false);
    expect(c.headDim).toBe(128);
    expect(c.ropeTraditional).toBe(false);
    expectFormatError(() => parse({ model_type: "qwen3", tie_word_embeddings: true, rope_theta: 1e6 }), /head_dim: required/);
    expectFormatError(() => parse({ model_type: "qwen3", head_dim: 128, rope_theta: 1e6 }), /tie_word_embeddings: required/);
    // Newer transformers nest rope_theta.
    expect(parse({ model_type: "qwen3", head_dim: 64, tie_word_embeddings: false, rope_parameters: { rope_theta: 5e6, rope_type: "default" } }).ropeTheta).toBe(5e6);
  });

  test("unsupported model_type lists the supported ones", () => {
    const e = expectFormatError(() => parse({ model_type: "gemma3" }), /model_type: "gemma3" is not supported \(supported: llama, mistral, qwen2, qwen3\)/);
    expect(e.path).toBe("config.json");
    expectFormatError(() => parse({}), /model_type: undefined is not supported/);
  });

  test("invalid values name the key", () => {
    expectFormatError(() => parse({ model_type: "llama", hidden_size: 0 }), /hidden_size: must be a positive integer \(got 0\)/);
    expectFormatError(() => parse({ model_type: "llama", rms_norm_eps: "1e-6" }), /rms_norm_eps: must be a positive number/);
    expectFormatError(() => parse({ model_type: "llama", num_key_value_heads: 3 }), /num_key_value_heads: 3 must divide num_attention_heads \(8\)/);
    expectFormatError(() => parse({ model_type: "llama", hidden_size: 100 }), /hidden_size: 100 is not a multiple of num_attention_heads/);
    expectFormatError(() => parse({ model_type: "llama", head_dim: 33 }), /head_dim: must be even/);
    expectFormatError(() => parse({ model_type: "llama", tie_word_embeddings: "yes" }), /tie_word_embeddings: must be true or false/);
    expectFormatError(() => parse({ model_type: "llama", eos_token_id: "x" }), /eos_token_id must be a token id/);
    expectFormatError(() => parseModelConfig([1]), /must be a JSON object/);
    expectFormatError(() => parse({ model_type: "llama", layer_types: ["full_attention", "sliding_attention"] }), /layer_types: only "full_attention" layers are supported/);
    expect(parse({ model_type: "llama", layer_types: ["full_attention", "full_attention"] }).numHiddenLayers).toBe(2);
  });

  test("token ids: one or a list", () => {
    expect(parse({ model_type: "llama", eos_token_id: 7, bos_token_id: 1 })).toMatchObject({ eosTokenIds: [7], bosTokenId: 1 });
    expect(parse({ model_type: "llama", eos_token_id: [7, 9] }).eosTokenIds).toEqual([7, 9]);
    expect(parse({ model_type: "llama" }).eosTokenIds).toEqual([]);
  });
});

describe("RoPE scaling", () => {
  test("default and null mean none; linear keeps its factor", () => {
    expect(parse({ model_type: "llama", rope_scaling: null }).ropeScaling).toBeUndefined();
    expect(parse({ model_type: "llama", rope_scaling: { rope_type: "default" } }).ropeScaling).toBeUndefined();
    expect(parse({ model_type: "llama", rope_scaling: { type: "linear", factor: 2 } }).ropeScaling).toEqual({ type: "linear", factor: 2 });
  });

  test("llama3 with mlx-lm's defaults for missing fields", () => {
    expect(parse({ model_type: "llama", rope_scaling: { rope_type: "llama3", factor: 8 } }).ropeScaling).toEqual({
      type: "llama3",
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
  });

  test("unsupported types and bad factors", () => {
    expectFormatError(() => parse({ model_type: "llama", rope_scaling: { type: "yarn", factor: 4 } }), /rope_scaling: type "yarn" is not supported \(supported: default, linear, llama3\)/);
    expectFormatError(() => parse({ model_type: "llama", rope_scaling: { type: "linear" } }), /rope_scaling.factor: must be a positive number/);
    expectFormatError(() => parse({ model_type: "llama", rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 4, high_freq_factor: 1 } }), /high_freq_factor \(1\) must exceed/);
  });
});

describe("quantization", () => {
  const quantization = {
    group_size: 64,
    bits: 4,
    "model.layers.0.mlp.down_proj": { group_size: 32, bits: 8 },
    lm_head: false,
    "model.embed_tokens": true,
  };

  test("global setting, missing mode means affine, per-module overrides and false", () => {
    const c = parse({ model_type: "llama", quantization });
    expect(c.quantization).toEqual({ bits: 4, groupSize: 64, mode: "affine" });
    expect(c.quantizationOverrides.get("model.layers.0.mlp.down_proj")).toEqual({ bits: 8, groupSize: 32, mode: "affine" });
    expect(c.quantizationOverrides.get("lm_head")).toBe(false);
    expect(c.quantizationOverrides.get("model.embed_tokens")).toEqual(c.quantization!);
  });

  test("moduleQuantization follows mlx-lm: override first, else global when scales exist", () => {
    const c = parse({ model_type: "llama", quantization });
    expect(moduleQuantization(c, "model.layers.0.mlp.down_proj", true)?.bits).toBe(8);
    expect(moduleQuantization(c, "lm_head", true)).toBeUndefined();
    expect(moduleQuantization(c, "model.layers.1.mlp.down_proj", true)?.bits).toBe(4);
    expect(moduleQuantization(c, "model.layers.1.mlp.down_proj", false)).toBeUndefined();
    expect(moduleQuantization(parse({ model_type: "llama" }), "lm_head", true)).toBeUndefined();
  });

  test("quantization_config alone is accepted when it is the MLX copy, refused when it is a foreign method", () => {
    expect(parse({ model_type: "llama", quantization_config: { group_size: 32, bits: 3 } }).quantization).toEqual({ bits: 3, groupSize: 32, mode: "affine" });
    expectFormatError(() => parse({ model_type: "llama", quantization_config: { quant_method: "awq", bits: 4 } }), /quant_method "awq" is not supported/);
  });

  test("invalid bits, group sizes, modes and override values", () => {
    expectFormatError(() => parse({ model_type: "llama", quantization: { group_size: 64, bits: 7 } }), /quantization: bits must be one of 2, 3, 4, 5, 6, 8 \(got 7\)/);
    expectFormatError(() => parse({ model_type: "llama", quantization: { group_size: 16, bits: 4 } }), /group_size must be one of 32, 64, 128 \(got 16\)/);
    expectFormatError(() => parse({ model_type: "llama", quantization: { group_size: 32, bits: 4, mode: "mxfp4" } }), /mode "mxfp4" is not supported \(supported: affine\)/);
    expectFormatError(() => parse({ model_type: "llama", quantization: { group_size: 64, bits: 4, lm_head: { bits: 9, group_size: 64 } } }), /quantization\["lm_head"\]: bits must be/);
    expectFormatError(() => parse({ model_type: "llama", quantization: { group_size: 64, bits: 4, lm_head: 8 } }), /quantization\["lm_head"\] must be an object with bits and group_size, or false/);
    expectFormatError(() => parse({ model_type: "llama", quantization: 4 }), /quantization must be an object/);
  });
});

describe("model directories", () => {
  const dir = mkdtempSync(join(tmpdir(), "mlxn-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("generation_config.json's eos_token_id replaces the config's, as in mlx-lm", () => {
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...base, model_type: "qwen2", eos_token_id: 5 }));
    expect(readModelConfig(dir).eosTokenIds).toEqual([5]);
    writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [5, 6] }));
    expect(readModelConfig(dir).eosTokenIds).toEqual([5, 6]);
  });

  test("missing or broken config.json names the file", () => {
    expectFormatError(() => readModelConfig(join(dir, "nowhere")), /config\.json: cannot open: no such file or directory/);
    writeFileSync(join(dir, "config.json"), "{");
    expectFormatError(() => readModelConfig(dir), /config\.json: is not valid JSON/);
  });
});

test("countParameters: Llama-3.2-1B's shape gives its published 1.24B", () => {
  const c = parseModelConfig({
    model_type: "llama",
    vocab_size: 128256,
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
  });
  expect(countParameters(c)).toBe(1235814400);
});
