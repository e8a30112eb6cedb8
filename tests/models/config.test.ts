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
    const e = expectFormatError(() => parse({ model_type: "phi3" }), /model_type: "phi3" is not supported \(supported: llama, mistral, qwen2, qwen3, gemma3_text, gemma3, qwen3_moe, mixtral\)/);
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
    expectFormatError(() => parse({ model_type: "llama", layer_types: ["full_attention", "sliding_attention"] }), /layer_types\[1\]: "sliding_attention" is not supported \(supported: "full_attention"\)/);
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

describe("gemma3 and mixtures of experts", () => {
  const gemma = { model_type: "gemma3_text", hidden_size: 128, intermediate_size: 256, num_hidden_layers: 6 };

  test("gemma3_text: mlx-lm defaults, (1 + w) norms, GELU-tanh, sandwich norms, the layer pattern, bf16-rounded embedding scale", () => {
    const c = parseModelConfig(gemma);
    expect(c.architecture).toBe("gemma3");
    expect([c.numAttentionHeads, c.numKeyValueHeads, c.headDim, c.vocabSize, c.rmsNormEps]).toEqual([4, 1, 256, 262144, 1e-6]);
    expect([c.normUnitOffset, c.sandwichNorms, c.qkNorm, c.tieWordEmbeddings]).toEqual([true, true, true, true]);
    expect(c.hiddenActivation).toBe("gelu_tanh");
    expect(c.layerAttention).toEqual(["sliding", "sliding", "sliding", "sliding", "sliding", "full"]);
    expect([c.slidingWindow, c.ropeLocalTheta, c.ropeTheta]).toEqual([512, 10000, 1e6]);
    expect(c.attentionScale).toBe(1 / 16);
    // sqrt(128) = 11.3137..., 11.3125 in bfloat16.
    expect(c.embeddingScale).toBe(11.3125);
    expect(c.finalLogitSoftcap).toBeUndefined();
    expect(c.moe).toBeUndefined();
  });

  test("gemma3_text: layer_types, query_pre_attn_scalar, soft-capping, rope_scaling and a local base", () => {
    const c = parseModelConfig({
      ...gemma,
      num_hidden_layers: 3,
      layer_types: ["full_attention", "sliding_attention", "full_attention"],
      query_pre_attn_scalar: 64,
      final_logit_softcapping: 30,
      rope_local_base_freq: 5000,
      rope_scaling: { rope_type: "linear", factor: 8 },
      sliding_window: 1024,
    });
    expect(c.layerAttention).toEqual(["full", "sliding", "full"]);
    expect([c.attentionScale, c.finalLogitSoftcap, c.ropeLocalTheta, c.slidingWindow]).toEqual([1 / 8, 30, 5000, 1024]);
    expect(c.ropeScaling).toEqual({ type: "linear", factor: 8 });
  });

  test("gemma3: text_config nested, mlx-lm's 8/4 head defaults, vocabulary and quantization from the top, language_model. names", () => {
    const c = parseModelConfig({ model_type: "gemma3", vocab_size: 1000, text_config: gemma, quantization: { bits: 4, group_size: 64 }, eos_token_id: [1, 106] });
    expect(c.modelType).toBe("gemma3");
    expect(c.architecture).toBe("gemma3");
    expect([c.numAttentionHeads, c.numKeyValueHeads, c.vocabSize]).toEqual([8, 4, 1000]);
    expect(c.weightPrefix).toBe("language_model.");
    expect(c.quantization).toEqual({ bits: 4, groupSize: 64, mode: "affine" });
    expect(c.eosTokenIds).toEqual([1, 106]);
  });

  test("gemma refusals name the key", () => {
    const { hidden_size: _h, ...noHidden } = gemma;
    expectFormatError(() => parseModelConfig(noHidden), /hidden_size: required/);
    expectFormatError(() => parseModelConfig({ model_type: "gemma3" }), /text_config: required/);
    expectFormatError(() => parseModelConfig({ model_type: "gemma3", text_config: { ...gemma, intermediate_size: undefined } }), /text_config\).*intermediate_size: required/);
    expectFormatError(() => parseModelConfig({ ...gemma, layer_types: ["full_attention"] }), /layer_types: must be a list of 6 entries/);
    expectFormatError(() => parseModelConfig({ ...gemma, attn_logit_softcapping: 50 }), /attn_logit_softcapping: attention logit soft-capping is not supported/);
    expectFormatError(() => parseModelConfig({ ...gemma, hidden_activation: "relu" }), /hidden_activation: "relu" is not supported/);
  });

  const qwenMoe = {
    ...base,
    model_type: "qwen3_moe",
    head_dim: 64,
    rope_theta: 1e6,
    tie_word_embeddings: false,
    num_hidden_layers: 4,
    num_experts: 16,
    num_experts_per_tok: 4,
    moe_intermediate_size: 96,
    norm_topk_prob: true,
    decoder_sparse_step: 1,
    mlp_only_layers: [2],
  };

  test("qwen3_moe: sparse layers from decoder_sparse_step and mlp_only_layers, q/k norms, expert sizes", () => {
    const c = parseModelConfig(qwenMoe);
    expect(c.architecture).toBe("qwen3_moe");
    expect(c.qkNorm).toBe(true);
    expect(c.moe).toEqual({ numExperts: 16, expertsPerToken: 4, intermediateSize: 96, normTopK: true, sparseLayers: [true, true, false, true], block: "mlp" });
    expect(parseModelConfig({ ...qwenMoe, decoder_sparse_step: 2, mlp_only_layers: [] }).moe!.sparseLayers).toEqual([false, true, false, true]);
    expect(c.intermediateSize).toBe(512);
    // Layers 0, 1, 3: attention + norms + router + 16 experts; layer 2: the dense MLP.
    const attention = 256 * 8 * 64 * 2 + 2 * 256 * 2 * 64 + 2 * 64;
    const sparse = 256 * 16 + 16 * 3 * 256 * 96;
    expect(countParameters(c)).toBe(2 * 1000 * 256 + 256 + 4 * (attention + 2 * 256) + 3 * sparse + 3 * 256 * 512);
  });

  test("mixtral: every layer sparse, head_dim = hidden / heads, renormalized top-k, untied by default", () => {
    const c = parse({ model_type: "mixtral", num_local_experts: 8, num_experts_per_tok: 2 });
    expect(c.architecture).toBe("mixtral");
    expect(c.headDim).toBe(32);
    expect(c.tieWordEmbeddings).toBe(false);
    expect(c.ropeTheta).toBe(1e6);
    expect(c.moe).toEqual({ numExperts: 8, expertsPerToken: 2, intermediateSize: 512, normTopK: true, sparseLayers: [true, true], block: "block_sparse_moe" });
  });

  test("MoE refusals name the key", () => {
    for (const key of ["num_experts", "num_experts_per_tok", "moe_intermediate_size", "norm_topk_prob", "decoder_sparse_step", "mlp_only_layers"]) {
      expectFormatError(() => parseModelConfig({ ...qwenMoe, [key]: undefined }), new RegExp(`${key}: required`));
    }
    expectFormatError(() => parse({ model_type: "mixtral", num_experts_per_tok: 2 }), /num_local_experts: required/);
    expectFormatError(() => parse({ model_type: "mixtral", num_local_experts: 2, num_experts_per_tok: 3 }), /num_experts_per_tok: 3 exceeds the number of experts \(2\)/);
    expectFormatError(() => parseModelConfig({ ...qwenMoe, mlp_only_layers: [9] }), /mlp_only_layers: must be a list of layer indices in \[0, 4\)/);
  });

  test("an unsupported model_type lists the supported ones", () => {
    expectFormatError(() => parse({ model_type: "gpt2" }), /model_type: "gpt2" is not supported \(supported: llama, mistral, qwen2, qwen3, gemma3_text, gemma3, qwen3_moe, mixtral\)/);
  });
});
