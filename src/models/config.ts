/**
 * MLX model configuration: `config.json` as mlx-lm writes it, parsed into a typed, validated
 * `ModelConfig`, with mlx-lm's defaults per model type and its per-module quantization rule.
 *
 * Supported `model_type`s: llama, mistral (run as llama, as mlx-lm does), qwen2, qwen3, gemma3_text,
 * gemma3 (the text model of the multimodal checkpoint: `text_config` nested, weights under
 * `language_model.`), qwen3_moe and mixtral. Differences between them that the config captures:
 * - qwen2: q/k/v projections carry a `.bias`; head_dim is always hidden_size / heads;
 *   defaults rope_theta 1e6.
 * - qwen3: `q_norm`/`k_norm` (RMSNorm over head_dim, per head, before RoPE); head_dim and
 *   tie_word_embeddings are required; RoPE is never traditional.
 * - llama/mistral: optional `attention_bias` (q/k/v/o) and `mlp_bias`; head_dim defaults to
 *   hidden_size / heads; tie_word_embeddings defaults to true.
 * - gemma3: RMSNorm scales by (1 + weight), also in q/k norms; "sandwich" norms around attention
 *   and MLP; GELU-tanh gated MLP; embedding scaled by sqrt(hidden_size) (rounded to bfloat16, as
 *   mlx-lm does); attention scale query_pre_attn_scalar^-0.5; sliding layers (every layer but each
 *   `sliding_window_pattern`-th, or as `layer_types` says) attend the last `sliding_window`
 *   positions with RoPE base `rope_local_base_freq`, global ones use rope_theta and rope_scaling;
 *   optional final logit soft-capping. Keys mlx-lm defaults (head_dim 256, heads 8/4, ...) default
 *   the same here; the sizes (hidden, intermediate, layers) are required.
 * - qwen3_moe: a Qwen3 whose MLP is, on the layers `decoder_sparse_step` and `mlp_only_layers`
 *   select, a mixture of experts (`mlp.gate` router, `mlp.switch_mlp.*` stacked experts):
 *   softmax over all experts, the top `num_experts_per_tok`, renormalized when `norm_topk_prob`.
 * - mixtral: Llama attention (head_dim = hidden / heads) and a mixture of experts on every layer
 *   (`block_sparse_moe.gate`, `block_sparse_moe.switch_mlp.*`); top-k of the router logits then a
 *   softmax over them, which is the same as the renormalized top-k of the full softmax.
 *
 * @example
 * const config = readModelConfig(dir);
 * const q = moduleQuantization(config, "model.layers.0.mlp.down_proj", archive.has("model.layers.0.mlp.down_proj.scales"));
 */
import { pathExists, readTextFile } from "../io/files.ts";
import { join } from "node:path";
import { FormatError } from "../errors.ts";
import { MLX_BITS, MLX_GROUP_SIZES } from "../quant.ts";

export const SUPPORTED_MODEL_TYPES = ["llama", "mistral", "qwen2", "qwen3", "gemma3_text", "gemma3", "qwen3_moe", "mixtral"] as const;
export type ModelType = (typeof SUPPORTED_MODEL_TYPES)[number];
/** The decoder variant a model type runs as. */
export type Architecture = "llama" | "qwen2" | "qwen3" | "gemma3" | "qwen3_moe" | "mixtral";

/** Attention span of a layer: every earlier position, or the last `slidingWindow` ones. */
export type LayerAttention = "full" | "sliding";

/** Mixture-of-experts MLP of the sparse layers. */
export interface MoeConfig {
  readonly numExperts: number;
  /** Experts each token is routed to (top-k). */
  readonly expertsPerToken: number;
  /** Hidden size of each expert's gated MLP. */
  readonly intermediateSize: number;
  /** Renormalize the top-k routing weights to sum to 1. */
  readonly normTopK: boolean;
  /** Per layer: true when its MLP is the mixture (else the dense MLP of `intermediateSize`). */
  readonly sparseLayers: readonly boolean[];
  /** Module name of the block under `model.layers.N.`: "mlp" (Qwen3-MoE) or "block_sparse_moe" (Mixtral). */
  readonly block: "mlp" | "block_sparse_moe";
}

/** Affine quantization of one module. */
export interface QuantSpec {
  readonly bits: (typeof MLX_BITS)[number];
  readonly groupSize: (typeof MLX_GROUP_SIZES)[number];
  readonly mode: "affine";
}

export type RopeScaling =
  | { readonly type: "linear"; readonly factor: number }
  | {
      readonly type: "llama3";
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

export interface ModelConfig {
  readonly modelType: ModelType;
  readonly architecture: Architecture;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  /** true: rotate interleaved pairs (x0, x1); false: rotate halves (x_i, x_{i+d/2}), mlx-lm's default. */
  readonly ropeTraditional: boolean;
  readonly ropeScaling: RopeScaling | undefined;
  readonly maxPositionEmbeddings: number | undefined;
  readonly tieWordEmbeddings: boolean;
  /** q/k/v projections have a `.bias`. */
  readonly qkvBias: boolean;
  /** o_proj has a `.bias`. */
  readonly oBias: boolean;
  /** gate/up/down projections have a `.bias`. */
  readonly mlpBias: boolean;
  /** Per-head RMSNorm of queries and keys (`q_norm`, `k_norm`). */
  readonly qkNorm: boolean;
  /** Global quantization, or undefined for an unquantized model. */
  readonly quantization: QuantSpec | undefined;
  /** Per-module entries of `quantization`: a spec, or false for a module left unquantized. */
  readonly quantizationOverrides: ReadonlyMap<string, QuantSpec | false>;
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId: number | undefined;
  /** `torch_dtype` / `dtype` as written, e.g. "bfloat16". */
  readonly torchDtype: string | undefined;
  /** Prefix of every tensor name ("language_model." for gemma3, else ""). */
  readonly weightPrefix: string;
  /** RMSNorms scale by (1 + weight) (Gemma). */
  readonly normUnitOffset: boolean;
  /** Gemma's extra norms: post_attention_layernorm on the attention output, pre/post_feedforward_layernorm around the MLP. */
  readonly sandwichNorms: boolean;
  /** Activation of the gated MLP: silu (SwiGLU) or gelu_tanh (GeGLU, Gemma). */
  readonly hiddenActivation: "silu" | "gelu_tanh";
  /** Factor applied to the embedding rows (Gemma: sqrt(hidden_size) rounded to bfloat16). */
  readonly embeddingScale: number | undefined;
  /** Softmax scale of attention (1/sqrt(head_dim), or Gemma's query_pre_attn_scalar^-0.5). */
  readonly attentionScale: number;
  /** Per layer: full or sliding-window attention. */
  readonly layerAttention: readonly LayerAttention[];
  /** Window of sliding layers (positions attended, the query's own included). */
  readonly slidingWindow: number | undefined;
  /** RoPE base of sliding layers (Gemma's rope_local_base_freq); they take no rope_scaling. */
  readonly ropeLocalTheta: number | undefined;
  /** Final logits become cap * tanh(logits / cap). */
  readonly finalLogitSoftcap: number | undefined;
  /** The mixture of experts, for qwen3_moe and mixtral. */
  readonly moe: MoeConfig | undefined;
}

type Json = Record<string, unknown>;

/**
 * Upper bounds of config.json's integers, well above every published model (the largest have
 * about 262k vocabulary entries, 128 layers, 16k hidden and 53k intermediate sizes), so that
 * a damaged or hostile file is refused before it sizes an allocation or a loop.
 */
const LIMITS: Record<string, number> = {
  vocab_size: 1 << 22,
  hidden_size: 1 << 16,
  intermediate_size: 1 << 18,
  num_hidden_layers: 1024,
  num_attention_heads: 1024,
  num_key_value_heads: 1024,
  head_dim: 1024,
  max_position_embeddings: 1 << 24,
  original_max_position_embeddings: 1 << 24,
  moe_intermediate_size: 1 << 18,
  // Further bounded by the MoE kernels (MOE_MAX_EXPERTS, MOE_MAX_TOP_K) where the model is built.
  num_experts: 1 << 16,
  num_local_experts: 1 << 16,
  num_experts_per_tok: 1 << 16,
  decoder_sparse_step: 1024,
  sliding_window: 1 << 24,
  sliding_window_pattern: 1024,
};

/** Exclusive upper bounds of config.json's real numbers: beyond them f32 arithmetic breaks down. */
const REAL_LIMITS: Record<string, number> = {
  rms_norm_eps: 1,
  rope_theta: 1e30,
  low_freq_factor: 1e30,
  high_freq_factor: 1e30,
};

class Reader {
  constructor(
    readonly json: Json,
    readonly source: string,
  ) {}

  fail(key: string, detail: string): never {
    throw new FormatError(this.source, `${key}: ${detail}`);
  }

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  /** A positive integer no larger than `LIMITS[key]` (every size is bounded before anything is allocated). */
  int(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (v === undefined) this.fail(key, "required");
    if (!Number.isSafeInteger(v) || (v as number) <= 0) this.fail(key, `must be a positive integer (got ${JSON.stringify(v)})`);
    const max = LIMITS[key];
    if (max === undefined) throw new Error(`internal: config key ${key} has no limit`);
    if ((v as number) > max) this.fail(key, `${v} exceeds the supported maximum ${max}`);
    return v as number;
  }

  /** A positive number below `REAL_LIMITS[key]` when it has one (the device computes in f32). */
  positive(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (v === undefined) this.fail(key, "required");
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) this.fail(key, `must be a positive number (got ${JSON.stringify(v)})`);
    const max = REAL_LIMITS[key];
    if (max !== undefined && v >= max) this.fail(key, `${v} is out of range (must be below ${max})`);
    return v;
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.json[key] ?? fallback;
    if (v === undefined) this.fail(key, "required");
    if (typeof v !== "boolean") this.fail(key, `must be true or false (got ${JSON.stringify(v)})`);
    return v;
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseQuantSpec(v: Json, where: string, source: string): QuantSpec {
  const fail = (detail: string): never => {
    throw new FormatError(source, `${where}: ${detail}`);
  };
  const mode = v.mode ?? "affine";
  if (mode !== "affine") fail(`quantization mode ${JSON.stringify(mode)} is not supported (supported: affine)`);
  if (!(MLX_BITS as readonly unknown[]).includes(v.bits)) fail(`bits must be one of ${MLX_BITS.join(", ")} (got ${JSON.stringify(v.bits)})`);
  if (!(MLX_GROUP_SIZES as readonly unknown[]).includes(v.group_size)) {
    fail(`group_size must be one of ${MLX_GROUP_SIZES.join(", ")} (got ${JSON.stringify(v.group_size)})`);
  }
  return Object.freeze({ bits: v.bits as QuantSpec["bits"], groupSize: v.group_size as QuantSpec["groupSize"], mode: "affine" });
}

const GLOBAL_QUANT_KEYS = new Set(["group_size", "bits", "mode"]);

function parseQuantization(json: Json, source: string): Pick<ModelConfig, "quantization" | "quantizationOverrides"> {
  const overrides = new Map<string, QuantSpec | false>();
  let q = json.quantization;
  if (q === undefined || q === null) {
    const legacy = json.quantization_config;
    if (isObject(legacy) && legacy.quant_method !== undefined) {
      throw new FormatError(source, `quantization_config with quant_method ${JSON.stringify(legacy.quant_method)} is not supported; convert the model with mlx_lm.convert`);
    }
    // Some writers keep only the copy under quantization_config.
    if (isObject(legacy) && legacy.bits !== undefined) q = legacy;
    else return { quantization: undefined, quantizationOverrides: overrides };
  }
  if (!isObject(q)) throw new FormatError(source, `quantization must be an object (got ${JSON.stringify(q)})`);
  const global = parseQuantSpec(q, "quantization", source);
  for (const [key, value] of Object.entries(q)) {
    if (GLOBAL_QUANT_KEYS.has(key)) continue;
    if (value === false) overrides.set(key, false);
    else if (value === true) overrides.set(key, global);
    else if (isObject(value)) overrides.set(key, parseQuantSpec(value, `quantization["${key}"]`, source));
    else throw new FormatError(source, `quantization["${key}"] must be an object with bits and group_size, or false (got ${JSON.stringify(value)})`);
  }
  return { quantization: global, quantizationOverrides: overrides };
}

function parseRopeScaling(r: Reader): RopeScaling | undefined {
  const v = r.json.rope_scaling;
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) r.fail("rope_scaling", `must be an object or null (got ${JSON.stringify(v)})`);
  const type = v.type ?? v.rope_type ?? "default";
  if (type === "default") return undefined;
  const s = new Reader(v, r.source);
  const factor = (): number => {
    const f = v.factor;
    if (typeof f !== "number" || !(f > 0) || !(f < 1e30)) r.fail("rope_scaling.factor", `must be a positive number (got ${JSON.stringify(f)})`);
    return f;
  };
  if (type === "linear") return Object.freeze({ type: "linear", factor: factor() });
  if (type === "llama3") {
    const scaling = {
      type: "llama3" as const,
      factor: factor(),
      lowFreqFactor: s.positive("low_freq_factor", 1),
      highFreqFactor: s.positive("high_freq_factor", 4),
      originalMaxPositionEmbeddings: s.int("original_max_position_embeddings", 8192),
    };
    if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
      r.fail("rope_scaling", `high_freq_factor (${scaling.highFreqFactor}) must exceed low_freq_factor (${scaling.lowFreqFactor})`);
    }
    return Object.freeze(scaling);
  }
  return r.fail("rope_scaling", `type ${JSON.stringify(type)} is not supported (supported: default, linear, llama3)`);
}

function tokenIds(v: unknown, key: string, source: string): number[] {
  if (v === undefined || v === null) return [];
  const ids = Array.isArray(v) ? v : [v];
  if (ids.some((id) => !Number.isSafeInteger(id) || id < 0)) {
    throw new FormatError(source, `${key} must be a token id or a list of them (got ${JSON.stringify(v)})`);
  }
  return ids as number[];
}

/** mlx-lm rounds Gemma's embedding scale sqrt(hidden_size) to bfloat16 before applying it. */
function roundToBFloat16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  // Round to nearest even on the 16 dropped bits.
  u[0] = (u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) & 0xffff0000;
  return f[0]!;
}

/** The `layer_types` list of newer configs ("full_attention" / "sliding_attention"), if present. */
function parseLayerTypes(r: Reader, layers: number, allowSliding: boolean): LayerAttention[] | undefined {
  const v = r.json.layer_types;
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length !== layers) r.fail("layer_types", `must be a list of ${layers} entries, one per layer (got ${JSON.stringify(v)})`);
  const known = allowSliding ? ["full_attention", "sliding_attention"] : ["full_attention"];
  return v.map((t, i) => {
    if (!known.includes(t as string)) {
      r.fail(`layer_types[${i}]`, `${JSON.stringify(t)} is not supported (supported: ${known.map((k) => JSON.stringify(k)).join(", ")})`);
    }
    return t === "sliding_attention" ? "sliding" : "full";
  });
}

/** The fields only some architectures set, at their "off" values. */
const PLAIN = {
  weightPrefix: "",
  normUnitOffset: false,
  sandwichNorms: false,
  hiddenActivation: "silu",
  embeddingScale: undefined,
  slidingWindow: undefined,
  ropeLocalTheta: undefined,
  finalLogitSoftcap: undefined,
  moe: undefined,
} as const;

/**
 * Validate a parsed `config.json`. `source` names the file in errors.
 *
 * @example
 * const config = parseModelConfig(JSON.parse(text), "model/config.json");
 */
export function parseModelConfig(json: unknown, source = "config.json"): ModelConfig {
  if (!isObject(json)) throw new FormatError(source, "must be a JSON object");
  const modelType = json.model_type;
  if (!(SUPPORTED_MODEL_TYPES as readonly unknown[]).includes(modelType)) {
    new Reader(json, source).fail("model_type", `${JSON.stringify(modelType)} is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(", ")})`);
  }
  if (modelType === "gemma3") {
    // The multimodal checkpoint: the text model's keys sit under text_config, with mlx-lm's
    // defaults for what it leaves out; quantization and token ids stay at the top level.
    const text = json.text_config;
    if (!isObject(text)) throw new FormatError(source, `text_config: required: an object with the text model's keys (got ${JSON.stringify(text)})`);
    const inner = {
      ...text,
      model_type: "gemma3_text",
      vocab_size: text.vocab_size ?? json.vocab_size ?? 262208,
      num_attention_heads: text.num_attention_heads ?? 8,
      num_key_value_heads: text.num_key_value_heads ?? 4,
      quantization: json.quantization,
      quantization_config: json.quantization_config,
      eos_token_id: json.eos_token_id ?? text.eos_token_id,
      bos_token_id: json.bos_token_id ?? text.bos_token_id,
      torch_dtype: json.torch_dtype ?? text.torch_dtype,
      dtype: json.dtype ?? text.dtype,
    };
    const config = parseModelConfig(inner, `${source} (text_config)`);
    return Object.freeze({ ...config, modelType: "gemma3", weightPrefix: "language_model." });
  }
  const r = new Reader(json, source);
  const type = modelType as Exclude<ModelType, "gemma3">;
  const architecture: Architecture = type === "mistral" ? "llama" : type === "gemma3_text" ? "gemma3" : type;
  const isGemma = architecture === "gemma3";
  const isQwen3 = architecture === "qwen3" || architecture === "qwen3_moe";

  const hiddenSize = r.int("hidden_size");
  const numHiddenLayers = r.int("num_hidden_layers");
  const numAttentionHeads = r.int("num_attention_heads", isGemma ? 4 : undefined);
  const kvDefault = architecture === "llama" || architecture === "mixtral" ? numAttentionHeads : isGemma ? 1 : undefined;
  const numKeyValueHeads = r.int("num_key_value_heads", kvDefault);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    r.fail("num_key_value_heads", `${numKeyValueHeads} must divide num_attention_heads (${numAttentionHeads})`);
  }
  let headDim: number;
  if (isQwen3) headDim = r.int("head_dim");
  else if (isGemma) headDim = r.int("head_dim", 256);
  else if (architecture === "llama" && r.has("head_dim")) headDim = r.int("head_dim");
  else {
    if (hiddenSize % numAttentionHeads !== 0) r.fail("hidden_size", `${hiddenSize} is not a multiple of num_attention_heads (${numAttentionHeads})`);
    headDim = hiddenSize / numAttentionHeads;
    if (architecture === "qwen2" && r.has("head_dim") && json.head_dim !== headDim) {
      r.fail("head_dim", `qwen2 uses hidden_size / num_attention_heads = ${headDim} (got ${JSON.stringify(json.head_dim)})`);
    }
  }
  if (headDim % 2 !== 0) r.fail("head_dim", `must be even for RoPE (got ${headDim})`);

  // Newer transformers nest rope_theta under rope_parameters.
  const ropeParameters = isObject(json.rope_parameters) ? json.rope_parameters : undefined;
  const ropeThetaDefaults: Record<Architecture, number | undefined> = {
    llama: 10000,
    qwen2: 1000000,
    qwen3: undefined,
    qwen3_moe: undefined,
    mixtral: 1000000,
    gemma3: (json.rope_global_base_freq as number | undefined) ?? 1000000,
  };
  const ropeThetaDefault = (ropeParameters?.rope_theta as number | undefined) ?? ropeThetaDefaults[architecture];
  const maxPositionEmbeddings = r.has("max_position_embeddings") ? r.int("max_position_embeddings") : architecture === "qwen2" ? 32768 : undefined;
  const attentionBias = architecture === "llama" && r.bool("attention_bias", false);

  let layerAttention: LayerAttention[] = Array.from({ length: numHiddenLayers }, () => "full");
  let gemma: Partial<ModelConfig> = {};
  if (isGemma) {
    const slidingWindow = r.int("sliding_window", 512);
    const fromTypes = parseLayerTypes(r, numHiddenLayers, true);
    if (fromTypes) layerAttention = fromTypes;
    else {
      const pattern = r.int("sliding_window_pattern", 6);
      layerAttention = layerAttention.map((_, i) => ((i + 1) % pattern === 0 ? "full" : "sliding"));
    }
    const activation = json.hidden_activation ?? json.hidden_act ?? "gelu_pytorch_tanh";
    if (activation !== "gelu_pytorch_tanh") r.fail("hidden_activation", `${JSON.stringify(activation)} is not supported (supported: "gelu_pytorch_tanh")`);
    if (r.has("attn_logit_softcapping")) r.fail("attn_logit_softcapping", `attention logit soft-capping is not supported (got ${JSON.stringify(json.attn_logit_softcapping)}; Gemma 3 sets null)`);
    gemma = {
      normUnitOffset: true,
      sandwichNorms: true,
      hiddenActivation: "gelu_tanh",
      embeddingScale: roundToBFloat16(Math.sqrt(hiddenSize)),
      slidingWindow,
      ropeLocalTheta: r.positive("rope_local_base_freq", 10000),
      finalLogitSoftcap: r.has("final_logit_softcapping") ? r.positive("final_logit_softcapping") : undefined,
    };
  } else if (architecture === "llama") {
    // mlx-lm's llama can mix in sliding-window layers; this decoder runs them for Gemma only.
    parseLayerTypes(r, numHiddenLayers, false);
  }

  let moe: MoeConfig | undefined;
  let intermediateSize: number;
  if (architecture === "qwen3_moe") {
    intermediateSize = r.int("intermediate_size");
    const numExperts = r.int("num_experts");
    const step = r.int("decoder_sparse_step");
    const mlpOnly = json.mlp_only_layers;
    if (mlpOnly === undefined || mlpOnly === null) throw new FormatError(source, "mlp_only_layers: required (a list of layer indices, possibly empty)");
    if (!Array.isArray(mlpOnly) || mlpOnly.some((i) => !Number.isSafeInteger(i) || i < 0 || i >= numHiddenLayers)) {
      return r.fail("mlp_only_layers", `must be a list of layer indices in [0, ${numHiddenLayers}) (got ${JSON.stringify(mlpOnly)})`);
    }
    moe = {
      numExperts,
      expertsPerToken: r.int("num_experts_per_tok"),
      intermediateSize: r.int("moe_intermediate_size"),
      normTopK: r.bool("norm_topk_prob"),
      sparseLayers: Object.freeze(Array.from({ length: numHiddenLayers }, (_, i) => !mlpOnly.includes(i) && (i + 1) % step === 0)),
      block: "mlp",
    };
  } else if (architecture === "mixtral") {
    // Mixtral's experts are the MLP: intermediate_size is each expert's hidden size.
    intermediateSize = r.int("intermediate_size");
    moe = {
      numExperts: r.int("num_local_experts"),
      expertsPerToken: r.int("num_experts_per_tok"),
      intermediateSize,
      normTopK: true,
      sparseLayers: Object.freeze(Array.from({ length: numHiddenLayers }, () => true)),
      block: "block_sparse_moe",
    };
  } else intermediateSize = r.int("intermediate_size");
  if (moe && moe.expertsPerToken > moe.numExperts) {
    r.fail("num_experts_per_tok", `${moe.expertsPerToken} exceeds the number of experts (${moe.numExperts})`);
  }
  if (moe) moe = Object.freeze(moe);

  const tieDefault = isQwen3 ? undefined : architecture === "mixtral" ? false : true;
  return Object.freeze({
    ...PLAIN,
    ...gemma,
    modelType: type,
    architecture,
    vocabSize: r.int("vocab_size", isGemma ? 262144 : undefined),
    hiddenSize,
    intermediateSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: r.positive("rms_norm_eps", isGemma ? 1e-6 : undefined),
    ropeTheta: r.positive("rope_theta", ropeThetaDefault),
    ropeTraditional: isQwen3 ? false : r.bool("rope_traditional", false),
    ropeScaling: parseRopeScaling(r),
    maxPositionEmbeddings,
    tieWordEmbeddings: r.bool("tie_word_embeddings", tieDefault),
    qkvBias: architecture === "qwen2" || attentionBias,
    oBias: attentionBias,
    mlpBias: architecture === "llama" && r.bool("mlp_bias", false),
    qkNorm: isQwen3 || isGemma,
    attentionScale: 1 / Math.sqrt(isGemma ? r.positive("query_pre_attn_scalar", 256) : headDim),
    layerAttention: Object.freeze(layerAttention),
    moe,
    ...parseQuantization(json, source),
    eosTokenIds: Object.freeze(tokenIds(json.eos_token_id, "eos_token_id", source)),
    bosTokenId: tokenIds(json.bos_token_id, "bos_token_id", source)[0],
    torchDtype: typeof json.torch_dtype === "string" ? json.torch_dtype : typeof json.dtype === "string" ? json.dtype : undefined,
  });
}

function readJson(path: string): unknown {
  const text = readTextFile(path, MAX_CONFIG_BYTES);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(path, `is not valid JSON (${(e as Error).message})`);
  }
}

/** config.json and generation_config.json of real models are a few kilobytes. */
const MAX_CONFIG_BYTES = 16 << 20;

/**
 * Read `config.json` of a model directory. As mlx-lm does, `eos_token_id` from
 * `generation_config.json`, when present, replaces the config's.
 *
 * @example
 * const config = readModelConfig("models/Qwen3-0.6B-4bit");
 */
export function readModelConfig(dir: string): ModelConfig {
  const path = join(dir, "config.json");
  const json = readJson(path);
  const genPath = join(dir, "generation_config.json");
  if (isObject(json) && pathExists(genPath)) {
    const gen = readJson(genPath);
    if (isObject(gen) && gen.eos_token_id !== undefined && gen.eos_token_id !== null) {
      return parseModelConfig({ ...json, eos_token_id: gen.eos_token_id }, path);
    }
  }
  return parseModelConfig(json, path);
}

/**
 * The quantization of module `path` (e.g. "model.layers.0.self_attn.q_proj", "lm_head",
 * "model.embed_tokens"), decided as mlx-lm does: a per-module entry wins (false: unquantized);
 * otherwise the global setting applies when the weights hold `<path>.scales`.
 */
export function moduleQuantization(config: ModelConfig, path: string, hasScales: boolean): QuantSpec | undefined {
  const override = config.quantizationOverrides.get(path);
  if (override !== undefined) return override === false ? undefined : override;
  return hasScales ? config.quantization : undefined;
}

/**
 * Parameters of the model a config describes, counting each quantized weight as the float
 * matrix it stands for (embedding counted once when tied).
 *
 * @example
 * console.log(`${(countParameters(config) / 1e6).toFixed(1)}M parameters`);
 */
export function countParameters(config: ModelConfig): number {
  const { hiddenSize: h, intermediateSize: inter, headDim: d, numAttentionHeads: nq, numKeyValueHeads: nkv, vocabSize: v, moe } = config;
  const attention = h * nq * d + 2 * h * nkv * d + nq * d * h + (config.qkvBias ? (nq + 2 * nkv) * d : 0) + (config.oBias ? h : 0) + (config.qkNorm ? 2 * d : 0);
  const dense = 3 * h * inter + (config.mlpBias ? 2 * inter + h : 0);
  const sparse = moe ? h * moe.numExperts + moe.numExperts * 3 * h * moe.intermediateSize : 0;
  const norms = (config.sandwichNorms ? 4 : 2) * h;
  let layers = 0;
  for (let i = 0; i < config.numHiddenLayers; i++) layers += attention + norms + (moe?.sparseLayers[i] ? sparse : dense);
  return v * h + layers + h + (config.tieWordEmbeddings ? 0 : v * h);
}
