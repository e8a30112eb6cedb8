/**
 * Deterministic random models written as real MLX model directories: `config.json` (with the
 * `quantization` section mlx-lm writes, per-module overrides included), safetensors through the
 * MLX-style writer (optionally sharded with an index), and a small byte-level BPE tokenizer with
 * a chat template. The same spec and seed always give byte-identical files.
 *
 * Presets cover what the decoder has to handle: `llama` (tied 4-bit embedding, Llama 3 RoPE
 * scaling), `qwen2` (q/k/v biases, sharded), `qwen3` (q/k norms, head_dim != hidden/heads,
 * untied, per-module bit widths and an unquantized module), `f16` (no quantization), `demo`
 * (Llama-shaped, about 20M parameters, 4-bit), `gemma3` (sliding window 8 with pattern 2, local
 * RoPE base, query_pre_attn_scalar, soft-capped logits, (1 + w) norms, GELU-tanh),
 * `gemma3-nested` (the multimodal checkpoint's layout: text_config, `language_model.` names),
 * `qwen3_moe` (8 experts, top 2, one dense layer, an 8-bit router) and `mixtral` (4 experts, top 2,
 * an unquantized router). Experts are stacked [experts, out, in] and quantized per expert, as
 * mlx-lm stores `switch_mlp`. `llama3-1b` and `llama3-8b` are Llama-3.2-1B and Llama-3.1-8B
 * shaped (MLX 4-bit, group 64, bf16 scales, no tokenizer) and use `randomCodes`: quantized
 * tensors drawn directly and streamed to the file, as the float-weight path cannot hold them.
 *
 * @example
 * using model = createSyntheticModel(syntheticPreset("qwen3"));
 * const weights = loadModelWeights(device, model.dir);
 */
import { mkdtempSync, rmSync } from "node:fs";
import { fileError, makeDirectory, writeTextFile } from "../io/files.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DType } from "../dtype.ts";
import { ArgumentError } from "../errors.ts";
import { encodeFloats } from "../io/floats.ts";
import { safetensorsDType, writeModelSafetensors, type TensorData, type TensorStream } from "../io/safetensors.ts";
import { quantize } from "../quant.ts";
import { countParameters, parseModelConfig, type ModelConfig, type ModelType } from "./config.ts";
import { Random, randomBiases, randomCodes, randomFloats, randomScales } from "./synthetic_random.ts";
import { buildByteLevelTokenizer } from "./synthetic_tokenizer.ts";
import { modelModules } from "./weights.ts";

/** Bits and group size of a quantized module, as in config.json. */
export interface SyntheticQuant {
  readonly bits: number;
  readonly groupSize: number;
}

export interface SyntheticModelSpec {
  readonly modelType: ModelType;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  /** Default hiddenSize / numHeads (qwen2 requires that value). */
  readonly headDim?: number;
  /** Float dtype of unquantized tensors and of scales/biases. */
  readonly dtype: DType;
  /** Global quantization, or false for an unquantized model. */
  readonly quantization: SyntheticQuant | false;
  /** Per-module entries, keyed by module path (e.g. "model.layers.0.mlp.down_proj"). */
  readonly quantizationOverrides?: Readonly<Record<string, SyntheticQuant | false>>;
  readonly tieWordEmbeddings: boolean;
  readonly ropeTheta?: number;
  readonly ropeTraditional?: boolean;
  /** Written as config.json `rope_scaling`. */
  readonly ropeScaling?: Readonly<Record<string, string | number>>;
  readonly rmsNormEps?: number;
  readonly maxPositionEmbeddings?: number;
  /** Llama only: biases on q/k/v/o and on the MLP projections. */
  readonly attentionBias?: boolean;
  readonly mlpBias?: boolean;
  readonly seed?: number;
  /** Split tensor data into shards of at most this many bytes. Default: one file. */
  readonly maxShardBytes?: number;
  /**
   * Draw quantized modules directly as random codes with per-group scales and biases (weights of
   * mean 0 and the same spread as the float weights would have), and stream every tensor to the
   * file as it is made, never holding the model in memory: the way to write multi-gigabyte
   * models (an 8B shape in seconds). Default false: float weights quantized in memory, as MLX
   * would quantize them.
   */
  readonly randomCodes?: boolean;
  /** Write tokenizer files (needs vocabSize >= 260). Default true. */
  readonly tokenizer?: boolean;
  /** Gemma 3: sliding window, layer pattern, local RoPE base, attention scalar, logit cap. */
  readonly slidingWindow?: number;
  readonly slidingWindowPattern?: number;
  readonly ropeLocalTheta?: number;
  readonly queryPreAttnScalar?: number;
  readonly finalLogitSoftcap?: number;
  /** Gemma 3: write the multimodal layout (model_type gemma3, text_config, `language_model.` names). */
  readonly nested?: boolean;
  /** Mixture of experts (qwen3_moe, mixtral). */
  readonly numExperts?: number;
  readonly expertsPerToken?: number;
  /** qwen3_moe: each expert's hidden size (mixtral uses intermediateSize). */
  readonly moeIntermediateSize?: number;
  readonly normTopK?: boolean;
  readonly decoderSparseStep?: number;
  readonly mlpOnlyLayers?: readonly number[];
}

export type SyntheticPreset = "llama" | "qwen2" | "qwen3" | "f16" | "demo" | "gemma3" | "gemma3-nested" | "qwen3_moe" | "mixtral" | "llama3-1b" | "llama3-8b";

const TINY = { vocabSize: 320, hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 2 } as const;

/** Llama 3 at full size, MLX 4-bit (group 64, bf16 scales), random codes, no tokenizer. */
const LLAMA3 = {
  modelType: "llama",
  vocabSize: 128256,
  numHeads: 32,
  numKvHeads: 8,
  dtype: DType.BF16,
  quantization: { bits: 4, groupSize: 64 },
  ropeTheta: 500000,
  ropeScaling: { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
  maxPositionEmbeddings: 131072,
  randomCodes: true,
  tokenizer: false,
} as const;

const PRESETS: Record<SyntheticPreset, SyntheticModelSpec> = {
  llama: {
    modelType: "llama",
    ...TINY,
    dtype: DType.F16,
    quantization: { bits: 4, groupSize: 32 },
    tieWordEmbeddings: true,
    ropeTheta: 10000,
    // A short original context so that the scaling changes several frequencies of a small head.
    ropeScaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
    seed: 1,
  },
  qwen2: {
    modelType: "qwen2",
    ...TINY,
    dtype: DType.BF16,
    quantization: { bits: 4, groupSize: 64 },
    tieWordEmbeddings: true,
    seed: 2,
    maxShardBytes: 24_000,
  },
  qwen3: {
    modelType: "qwen3",
    ...TINY,
    headDim: 32,
    dtype: DType.BF16,
    quantization: { bits: 4, groupSize: 32 },
    quantizationOverrides: {
      "model.layers.0.mlp.down_proj": { bits: 8, groupSize: 32 },
      "model.layers.1.self_attn.v_proj": false,
      lm_head: { bits: 6, groupSize: 64 },
    },
    tieWordEmbeddings: false,
    seed: 3,
  },
  f16: {
    modelType: "llama",
    ...TINY,
    dtype: DType.F16,
    quantization: false,
    tieWordEmbeddings: false,
    ropeTheta: 500000,
    seed: 4,
  },
  demo: {
    modelType: "llama",
    vocabSize: 1024,
    hiddenSize: 512,
    intermediateSize: 1536,
    numLayers: 6,
    numHeads: 8,
    numKvHeads: 4,
    dtype: DType.F16,
    quantization: { bits: 4, groupSize: 64 },
    tieWordEmbeddings: true,
    ropeTheta: 500000,
    ropeScaling: { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    seed: 5,
  },
  gemma3: {
    modelType: "gemma3_text",
    ...TINY,
    numLayers: 3,
    headDim: 32,
    dtype: DType.BF16,
    quantization: { bits: 4, groupSize: 32 },
    tieWordEmbeddings: true,
    ropeTheta: 1000000,
    ropeLocalTheta: 10000,
    // Global layers take linear scaling; sliding ones must not.
    ropeScaling: { rope_type: "linear", factor: 8 },
    rmsNormEps: 1e-6,
    slidingWindow: 8,
    slidingWindowPattern: 2,
    queryPreAttnScalar: 48,
    finalLogitSoftcap: 30,
    seed: 6,
  },
  "gemma3-nested": {
    modelType: "gemma3",
    ...TINY,
    numLayers: 2,
    headDim: 32,
    dtype: DType.BF16,
    quantization: { bits: 4, groupSize: 64 },
    tieWordEmbeddings: true,
    slidingWindow: 4,
    slidingWindowPattern: 2,
    queryPreAttnScalar: 32,
    nested: true,
    seed: 7,
  },
  qwen3_moe: {
    modelType: "qwen3_moe",
    ...TINY,
    numLayers: 3,
    headDim: 32,
    dtype: DType.BF16,
    quantization: { bits: 4, groupSize: 32 },
    // mlx-lm quantizes the router with 8 bits, group 64.
    quantizationOverrides: { "model.layers.0.mlp.gate": { bits: 8, groupSize: 64 }, "model.layers.2.mlp.gate": { bits: 8, groupSize: 64 } },
    tieWordEmbeddings: false,
    numExperts: 8,
    expertsPerToken: 2,
    moeIntermediateSize: 32,
    normTopK: true,
    decoderSparseStep: 1,
    mlpOnlyLayers: [1],
    seed: 8,
  },
  mixtral: {
    modelType: "mixtral",
    ...TINY,
    dtype: DType.F16,
    quantization: { bits: 4, groupSize: 32 },
    quantizationOverrides: { "model.layers.0.block_sparse_moe.gate": false, "model.layers.1.block_sparse_moe.gate": false },
    tieWordEmbeddings: false,
    numExperts: 4,
    expertsPerToken: 2,
    seed: 9,
  },
  "llama3-1b": { ...LLAMA3, hiddenSize: 2048, intermediateSize: 8192, numLayers: 16, headDim: 64, tieWordEmbeddings: true, seed: 10 },
  "llama3-8b": { ...LLAMA3, hiddenSize: 4096, intermediateSize: 14336, numLayers: 32, headDim: 128, tieWordEmbeddings: false, seed: 11 },
};

/**
 * A preset spec, optionally with fields replaced.
 *
 * @example
 * const spec = syntheticPreset("llama", { numLayers: 1 });
 */
export function syntheticPreset(name: SyntheticPreset, overrides: Partial<SyntheticModelSpec> = {}): SyntheticModelSpec {
  const base = PRESETS[name];
  if (!base) throw new ArgumentError("name", `unknown preset ${JSON.stringify(name)} (presets: ${Object.keys(PRESETS).join(", ")})`);
  return { ...base, ...overrides };
}

const TORCH_DTYPE = new Map<DType, string>([
  [DType.F32, "float32"],
  [DType.F16, "float16"],
  [DType.BF16, "bfloat16"],
]);

function snakeQuant(q: SyntheticQuant): Record<string, number | string> {
  return { group_size: q.groupSize, bits: q.bits, mode: "affine" };
}

const ARCHITECTURE_NAMES: Record<ModelType, string> = {
  llama: "LlamaForCausalLM",
  mistral: "MistralForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
  gemma3_text: "Gemma3ForCausalLM",
  gemma3: "Gemma3ForConditionalGeneration",
  qwen3_moe: "Qwen3MoeForCausalLM",
  mixtral: "MixtralForCausalLM",
};

/** The config.json a spec describes. */
export function syntheticConfigJson(spec: SyntheticModelSpec): Record<string, unknown> {
  const isLlama = spec.modelType === "llama" || spec.modelType === "mistral";
  const isGemma = spec.modelType === "gemma3_text" || spec.modelType === "gemma3";
  const json: Record<string, unknown> = {
    architectures: [ARCHITECTURE_NAMES[spec.modelType]],
    model_type: spec.modelType,
    vocab_size: spec.vocabSize,
    hidden_size: spec.hiddenSize,
    intermediate_size: spec.intermediateSize,
    num_hidden_layers: spec.numLayers,
    num_attention_heads: spec.numHeads,
    num_key_value_heads: spec.numKvHeads,
    rms_norm_eps: spec.rmsNormEps ?? 1e-5,
    rope_theta: spec.ropeTheta ?? (spec.modelType.startsWith("qwen") ? 1000000 : 10000),
    max_position_embeddings: spec.maxPositionEmbeddings ?? 4096,
    tie_word_embeddings: spec.tieWordEmbeddings,
    torch_dtype: TORCH_DTYPE.get(spec.dtype),
  };
  const needsHeadDim = spec.modelType === "qwen3" || spec.modelType === "qwen3_moe" || isGemma;
  if (spec.headDim !== undefined || needsHeadDim) json.head_dim = spec.headDim ?? spec.hiddenSize / spec.numHeads;
  if (spec.ropeTraditional !== undefined) json.rope_traditional = spec.ropeTraditional;
  if (spec.ropeScaling) json.rope_scaling = { ...spec.ropeScaling };
  if (isLlama) Object.assign(json, { attention_bias: spec.attentionBias ?? false, mlp_bias: spec.mlpBias ?? false });
  if (isGemma) {
    Object.assign(json, {
      hidden_activation: "gelu_pytorch_tanh",
      sliding_window: spec.slidingWindow ?? 512,
      sliding_window_pattern: spec.slidingWindowPattern ?? 6,
      rope_local_base_freq: spec.ropeLocalTheta ?? 10000,
      query_pre_attn_scalar: spec.queryPreAttnScalar ?? json.head_dim,
      final_logit_softcapping: spec.finalLogitSoftcap ?? null,
      attn_logit_softcapping: null,
    });
  }
  const need = (key: keyof SyntheticModelSpec) => {
    const v = spec[key];
    if (v === undefined) throw new ArgumentError(`spec.${key}`, `required for model type ${spec.modelType}`);
    return v;
  };
  if (spec.modelType === "qwen3_moe") {
    Object.assign(json, {
      num_experts: need("numExperts"),
      num_experts_per_tok: need("expertsPerToken"),
      moe_intermediate_size: need("moeIntermediateSize"),
      norm_topk_prob: spec.normTopK ?? true,
      decoder_sparse_step: spec.decoderSparseStep ?? 1,
      mlp_only_layers: [...(spec.mlpOnlyLayers ?? [])],
    });
  }
  if (spec.modelType === "mixtral") Object.assign(json, { num_local_experts: need("numExperts"), num_experts_per_tok: need("expertsPerToken") });
  if (spec.quantization) {
    const q: Record<string, unknown> = snakeQuant(spec.quantization);
    for (const [path, o] of Object.entries(spec.quantizationOverrides ?? {})) q[path] = o === false ? false : snakeQuant(o);
    json.quantization = q;
    json.quantization_config = q;
  }
  if (spec.modelType === "gemma3") {
    // The multimodal layout: the text model's keys under text_config; quantization, token ids
    // and the vocabulary at the top.
    const { quantization, quantization_config, vocab_size, architectures, torch_dtype, ...text } = json;
    return { architectures, model_type: "gemma3", vocab_size, torch_dtype, text_config: { ...text, model_type: "gemma3_text" }, quantization, quantization_config };
  }
  return json;
}

export interface SyntheticModel {
  readonly dir: string;
  readonly config: ModelConfig;
  /** Parameters of the unquantized model (what the quantized tensors stand for). */
  readonly parameterCount: number;
  /** Files written, relative to `dir`. */
  readonly files: readonly string[];
}

/**
 * Write the model a spec describes into `dir` (created if needed).
 *
 * @example
 * const model = writeSyntheticModel("/tmp/tiny-qwen2", syntheticPreset("qwen2"));
 */
export function writeSyntheticModel(dir: string, spec: SyntheticModelSpec): SyntheticModel {
  const writeTokenizer = spec.tokenizer ?? true;
  const configJson = syntheticConfigJson(spec);
  const bosToken = !spec.modelType.startsWith("qwen");
  const tokenizer = writeTokenizer ? buildByteLevelTokenizer(spec.vocabSize, { bosToken }) : undefined;
  if (tokenizer) {
    configJson.bos_token_id = bosToken ? tokenizer.specialIds["<|begin_of_text|>"] : null;
    configJson.eos_token_id = [tokenizer.specialIds["<|im_end|>"], tokenizer.specialIds["<|end_of_text|>"]];
  }
  // Validating through the real parser catches a spec the loader would reject, before writing.
  const config = parseModelConfig(configJson, "synthetic config");
  const tensors = syntheticTensors(spec, config);
  const parameterCount = countParameters(config);
  makeDirectory(dir);
  const files = writeModelSafetensors(dir, tensors, { maxShardBytes: spec.maxShardBytes, totalParameters: parameterCount });
  writeTextFile(join(dir, "config.json"), JSON.stringify(configJson, null, 4));
  files.push("config.json");
  if (tokenizer) {
    writeTextFile(join(dir, "tokenizer.json"), JSON.stringify(tokenizer.tokenizerJson));
    writeTextFile(join(dir, "tokenizer_config.json"), JSON.stringify(tokenizer.tokenizerConfig, null, 2));
    files.push("tokenizer.json", "tokenizer_config.json");
  }
  return { dir, config, parameterCount, files };
}

/**
 * Write a synthetic model into a new temporary directory; dispose the result to delete it.
 *
 * @example
 * using model = createSyntheticModel(syntheticPreset("demo"));
 */
export function createSyntheticModel(spec: SyntheticModelSpec, parentDir: string = tmpdir()): SyntheticModel & Disposable & { dispose(): void } {
  let dir: string;
  try {
    dir = mkdtempSync(join(parentDir, `mlxn-${spec.modelType}-`));
  } catch (e) {
    throw fileError(parentDir, e, "create a directory in");
  }
  try {
    const model = writeSyntheticModel(dir, spec);
    const dispose = () => rmSync(dir, { recursive: true, force: true });
    return { ...model, dispose, [Symbol.dispose]: dispose };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Tensors in name order: in memory (float weights quantized as MLX would), or with
 * `spec.randomCodes` as streams of random codes, scales, biases and floats made while writing.
 */
function syntheticTensors(spec: SyntheticModelSpec, config: ModelConfig): [string, TensorData | TensorStream][] {
  const seed = spec.seed ?? 0;
  const stream = spec.randomCodes ?? false;
  const dtype = safetensorsDType(spec.dtype);
  const out: [string, TensorData | TensorStream][] = [];
  /** Floats center ± spread drawn from `Random(seed, stream name)`. */
  const float = (name: string, streamName: string, shape: number[], center: number, spread: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    out.push([name, stream ? randomFloats(seed, streamName, shape, spec.dtype, center, spread) : { dtype, shape, data: encodeFloats(new Random(seed, streamName).fill(n, center, spread), spec.dtype) }]);
  };
  const overrides = spec.quantizationOverrides ?? {};
  const embedding = `${config.weightPrefix}model.embed_tokens`;
  for (const m of modelModules(config)) {
    if (m.kind === "norm") {
      // Gemma scales by (1 + w): its stored weights sit around 0.
      float(`${m.path}.weight`, m.path, [m.size], config.normUnitOffset ? 0 : 1, 0.2);
      continue;
    }
    const { path, inFeatures: inF, outFeatures: outF } = m;
    const lead = m.experts === undefined ? [] : [m.experts];
    // Embedding rows feed an RMSNorm; linears keep unit variance (uniform, var = 1 / in); the
    // router's logits spread wide so that routing has clear winners.
    const spread = path === embedding ? 0.5 : path.endsWith(".gate") ? 4 * Math.sqrt(3 / inF) : Math.sqrt(3 / inF);
    const q = Object.hasOwn(overrides, path) ? overrides[path]! : spec.quantization;
    if (q && inF % q.groupSize === 0) {
      const shape = [...lead, outF, (inF * q.bits) / 32];
      const groups = [...lead, outF, inF / q.groupSize];
      if (stream) {
        // A uniform spread s has standard deviation s / √3.
        const std = spread / Math.sqrt(3);
        out.push([`${path}.weight`, randomCodes(seed, `${path}.weight`, shape)]);
        out.push([`${path}.scales`, randomScales(seed, path, groups, spec.dtype, q.bits, std)]);
        out.push([`${path}.biases`, randomBiases(seed, path, groups, spec.dtype, q.bits, std)]);
      } else {
        const bytes = quantizedInMemory(new Random(seed, path), spec.dtype, m.experts ?? 1, outF, inF, q, spread);
        out.push([`${path}.weight`, { dtype: "U32", shape, data: bytes.packed }]);
        out.push([`${path}.scales`, { dtype, shape: groups, data: bytes.scales }]);
        out.push([`${path}.biases`, { dtype, shape: groups, data: bytes.biases }]);
      }
    } else {
      float(`${path}.weight`, path, [...lead, outF, inF], 0, spread);
    }
    if (m.hasBias) float(`${path}.bias`, `${path}.bias`, [outF], 0, 0.2);
  }
  out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return out;
}

/**
 * Uniform float weights (± spread) quantized as MLX quantizes them, as file bytes: each expert on
 * its own, as MLX quantizes a stacked [experts, out, in] weight.
 */
function quantizedInMemory(rng: Random, dtype: DType, experts: number, outF: number, inF: number, q: SyntheticQuant, spread: number): { packed: Uint8Array; scales: Uint8Array; biases: Uint8Array } {
  const w = rng.fill(experts * outF * inF, 0, spread);
  const groups = inF / q.groupSize;
  const packedWords = (inF * q.bits) / 32;
  const packed = new Uint32Array(experts * outF * packedWords);
  const scales = new Float64Array(experts * outF * groups);
  const biases = new Float64Array(experts * outF * groups);
  for (let e = 0; e < experts; e++) {
    const part = quantize(w.subarray(e * outF * inF, (e + 1) * outF * inF), outF, inF, q.bits, q.groupSize, dtype);
    packed.set(part.packed, e * outF * packedWords);
    scales.set(part.scales, e * outF * groups);
    biases.set(part.biases, e * outF * groups);
  }
  return { packed: new Uint8Array(packed.buffer), scales: encodeFloats(scales, dtype), biases: encodeFloats(biases, dtype) };
}
