/**
 * MLX model configuration: `config.json` as mlx-lm writes it, parsed into a typed, validated
 * `ModelConfig`, with mlx-lm's defaults per model type and its per-module quantization rule.
 *
 * Supported `model_type`s: llama, mistral (run as llama, as mlx-lm does), qwen2, qwen3.
 * Differences between them that the config captures:
 * - qwen2: q/k/v projections carry a `.bias`; head_dim is always hidden_size / heads;
 *   defaults rope_theta 1e6.
 * - qwen3: `q_norm`/`k_norm` (RMSNorm over head_dim, per head, before RoPE); head_dim and
 *   tie_word_embeddings are required; RoPE is never traditional.
 * - llama/mistral: optional `attention_bias` (q/k/v/o) and `mlp_bias`; head_dim defaults to
 *   hidden_size / heads; tie_word_embeddings defaults to true.
 *
 * @example
 * const config = readModelConfig(dir);
 * const q = moduleQuantization(config, "model.layers.0.mlp.down_proj", archive.has("model.layers.0.mlp.down_proj.scales"));
 */
import { pathExists, readTextFile } from "../io/files.ts";
import { join } from "node:path";
import { FormatError } from "../errors.ts";
import { MLX_BITS, MLX_GROUP_SIZES } from "../quant.ts";

export const SUPPORTED_MODEL_TYPES = ["llama", "mistral", "qwen2", "qwen3"] as const;
export type ModelType = (typeof SUPPORTED_MODEL_TYPES)[number];
/** The decoder variant a model type runs as. */
export type Architecture = "llama" | "qwen2" | "qwen3";

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

/**
 * Validate a parsed `config.json`. `source` names the file in errors.
 *
 * @example
 * const config = parseModelConfig(JSON.parse(text), "model/config.json");
 */
export function parseModelConfig(json: unknown, source = "config.json"): ModelConfig {
  if (!isObject(json)) throw new FormatError(source, "must be a JSON object");
  const r = new Reader(json, source);
  const modelType = json.model_type;
  if (!(SUPPORTED_MODEL_TYPES as readonly unknown[]).includes(modelType)) {
    r.fail("model_type", `${JSON.stringify(modelType)} is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(", ")})`);
  }
  const type = modelType as ModelType;
  const architecture: Architecture = type === "mistral" ? "llama" : type;

  const hiddenSize = r.int("hidden_size");
  const numAttentionHeads = r.int("num_attention_heads");
  const numKeyValueHeads = r.int("num_key_value_heads", architecture === "llama" ? numAttentionHeads : undefined);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    r.fail("num_key_value_heads", `${numKeyValueHeads} must divide num_attention_heads (${numAttentionHeads})`);
  }
  let headDim: number;
  if (architecture === "qwen3") headDim = r.int("head_dim");
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
  const ropeThetaDefault = (ropeParameters?.rope_theta as number | undefined) ?? { llama: 10000, qwen2: 1000000, qwen3: undefined }[architecture];
  const maxPositionEmbeddings = r.has("max_position_embeddings") ? r.int("max_position_embeddings") : architecture === "qwen2" ? 32768 : undefined;
  const attentionBias = architecture === "llama" && r.bool("attention_bias", false);
  // mlx-lm's llama can mix in sliding-window layers; this decoder runs full attention only.
  const layerTypes = json.layer_types;
  if (Array.isArray(layerTypes) && layerTypes.some((t) => t !== "full_attention")) {
    r.fail("layer_types", `only "full_attention" layers are supported (got ${JSON.stringify([...new Set(layerTypes)])})`);
  }

  return Object.freeze({
    modelType: type,
    architecture,
    vocabSize: r.int("vocab_size"),
    hiddenSize,
    intermediateSize: r.int("intermediate_size"),
    numHiddenLayers: r.int("num_hidden_layers"),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: r.positive("rms_norm_eps"),
    ropeTheta: r.positive("rope_theta", ropeThetaDefault),
    ropeTraditional: architecture === "qwen3" ? false : r.bool("rope_traditional", false),
    ropeScaling: parseRopeScaling(r),
    maxPositionEmbeddings,
    tieWordEmbeddings: r.bool("tie_word_embeddings", architecture === "qwen3" ? undefined : true),
    qkvBias: architecture === "qwen2" || attentionBias,
    oBias: attentionBias,
    mlpBias: architecture === "llama" && r.bool("mlp_bias", false),
    qkNorm: architecture === "qwen3",
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
  const { hiddenSize: h, intermediateSize: inter, headDim: d, numAttentionHeads: nq, numKeyValueHeads: nkv, vocabSize: v } = config;
  const attention = h * nq * d + 2 * h * nkv * d + nq * d * h + (config.qkvBias ? (nq + 2 * nkv) * d : 0) + (config.oBias ? h : 0) + (config.qkNorm ? 2 * d : 0);
  const mlp = 3 * h * inter + (config.mlpBias ? 2 * inter + h : 0);
  const layer = attention + mlp + 2 * h;
  return v * h + config.numHiddenLayers * layer + h + (config.tieWordEmbeddings ? 0 : v * h);
}
