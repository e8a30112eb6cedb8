/**
 * Model weights: a model directory's tensors in device buffers, grouped per module, checked
 * against the configuration before any device memory is allocated.
 *
 * Each linear (and the embedding) is `{ weight, scales?, biases?, bias? }` with its bits, group
 * size and float dtype. Quantized modules hold the packed U32 weight `[out, in * bits / 32]` and
 * `scales`/`biases` `[out, in / groupSize]` in the model's float dtype; unquantized ones hold a
 * float `weight [out, in]`. `bias` is a linear's additive bias (Qwen2's q/k/v), not the
 * quantization `biases`. With tied embeddings, `lmHead` is the embedding module itself
 * (mlx-lm's `embed_tokens.as_linear`). Mixture-of-experts layers hold the router (`gate`, a plain
 * linear, quantized or not) and the experts stacked as mlx-lm's SwitchGLU stores them:
 * `switch_mlp.{gate,up,down}_proj` with a leading expert axis on every tensor ([experts, out, in]
 * packed per expert, scales/biases [experts, out, groups]).
 *
 * @example
 * using weights = loadModelWeights(device, dir);
 * const q = weights.layers[0]!.attention.q;
 * console.log(q.bits, q.groupSize, q.weight.shape);
 */
import type { Buffer } from "../buffer.ts";
import type { Device } from "../device.ts";
import { DType } from "../dtype.ts";
import type { GgmlType } from "../ggml_types.ts";
import { FormatError } from "../errors.ts";
import type { ProgressOptions } from "../io/progress.ts";
import { SafetensorsArchive, type SafetensorsDType } from "../io/safetensors.ts";
import { countParameters, moduleQuantization, readModelConfig, type ModelConfig, type QuantSpec } from "./config.ts";

/** A linear layer or the embedding table. */
export interface LinearWeights {
  /** Module path, e.g. "model.layers.0.self_attn.q_proj". */
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Packed U32 `[out, in * bits / 32]` when quantized, else float `[out, in]`. */
  readonly weight: Buffer;
  /** `[out, in / groupSize]`, quantized modules only. */
  readonly scales?: Buffer;
  /** `[out, in / groupSize]`, quantized modules only. */
  readonly biases?: Buffer;
  /** Additive bias `[out]`. */
  readonly bias?: Buffer;
  /** Undefined when unquantized. */
  readonly bits: number | undefined;
  readonly groupSize: number | undefined;
  /** Float dtype of the values: the scales' when quantized, the weight's otherwise (F16 for GGUF blocks, whose scales are f16). */
  readonly dtype: DType;
  /** GGUF block-quantized weight: `weight` is U8 `[out, rowBytes]`, rows of this type's blocks as stored. */
  readonly blockType?: GgmlType;
  /** Stacked experts: every tensor has this leading axis (undefined for a plain linear). */
  readonly experts: number | undefined;
}

export interface AttentionWeights {
  readonly q: LinearWeights;
  readonly k: LinearWeights;
  readonly v: LinearWeights;
  readonly o: LinearWeights;
  /** Qwen3: RMSNorm weights `[headDim]` applied per head to queries and keys. */
  readonly qNorm?: Buffer;
  readonly kNorm?: Buffer;
}

export interface MlpWeights {
  readonly gate: LinearWeights;
  readonly up: LinearWeights;
  readonly down: LinearWeights;
}

/** A mixture-of-experts MLP: the router and the stacked experts' gated MLPs. */
export interface MoeWeights {
  /** [numExperts, hidden]: the router logits. */
  readonly router: LinearWeights;
  readonly gate: LinearWeights;
  readonly up: LinearWeights;
  readonly down: LinearWeights;
}

export interface LayerWeights {
  readonly inputNorm: Buffer;
  readonly attention: AttentionWeights;
  /** Before the MLP (Llama, Qwen, Mixtral), or on the attention output (Gemma's sandwich norms). */
  readonly postAttentionNorm: Buffer;
  /** Gemma: the norm before the MLP. */
  readonly preFeedforwardNorm?: Buffer;
  /** Gemma: the norm of the MLP output. */
  readonly postFeedforwardNorm?: Buffer;
  /** The dense MLP, on layers without experts. */
  readonly mlp: MlpWeights | undefined;
  /** The mixture of experts, on sparse layers. */
  readonly moe: MoeWeights | undefined;
}

/** One tensor the configuration calls for. */
export interface ExpectedTensor {
  readonly name: string;
  /** "packed": U32 quantized codes; "float": F32, F16 or BF16. */
  readonly kind: "packed" | "float";
  readonly shape: readonly number[];
}

/** One linear module of a plan: sizes and how its weight is stored. */
export interface LinearPlan {
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** MLX affine quantization (scales and biases beside the packed weight). */
  readonly quant: QuantSpec | undefined;
  /** GGUF block type of the weight (blocks as stored, no scales/biases tensors). */
  readonly blockType?: GgmlType;
  readonly hasBias: boolean;
  readonly experts: number | undefined;
}

/** What a model directory must hold for its configuration. */
export interface WeightPlan {
  readonly config: ModelConfig;
  readonly tensors: readonly ExpectedTensor[];
  /** Linear modules by path, with their quantization. */
  readonly linears: ReadonlyMap<string, LinearPlan>;
}

const FLOAT_DTYPES: readonly SafetensorsDType[] = ["F32", "F16", "BF16"];
/** Tensors mlx-lm drops on load (`sanitize`): RoPE tables, and gemma3's vision tower. */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$|^(vision_tower|multi_modal_projector)\./;

/** Module paths of layer `i`. */
function layerPrefix(config: ModelConfig, i: number): string {
  return `${config.weightPrefix}model.layers.${i}`;
}

/** A module with parameters, as mlx-lm names it: a linear (or the embedding, or stacked experts) or an RMSNorm. */
export type ModuleSpec =
  | { readonly kind: "linear"; readonly path: string; readonly inFeatures: number; readonly outFeatures: number; readonly hasBias: boolean; readonly experts?: number }
  | { readonly kind: "norm"; readonly path: string; readonly size: number };

/**
 * Every module of the model `config` describes, in execution order: the embedding
 * ("model.embed_tokens", a [vocab, hidden] linear), per layer the input norm, q/k/v/o (q_norm /
 * k_norm where the model has them), the post-attention norm (Gemma: and the pre/post-feedforward
 * norms), then gate/up/down, or for a mixture of experts the router and the stacked
 * `switch_mlp` experts; the final norm; lm_head unless tied. Paths carry `config.weightPrefix`.
 */
export function modelModules(config: ModelConfig): ModuleSpec[] {
  const { hiddenSize: h, intermediateSize: inter, headDim, numAttentionHeads: nq, numKeyValueHeads: nkv, vocabSize, moe } = config;
  const out: ModuleSpec[] = [];
  const linear = (path: string, inFeatures: number, outFeatures: number, hasBias = false, experts?: number) =>
    out.push({ kind: "linear", path, inFeatures, outFeatures, hasBias, ...(experts !== undefined && { experts }) });
  const norm = (path: string, size: number) => out.push({ kind: "norm", path, size });
  const top = config.weightPrefix;
  linear(`${top}model.embed_tokens`, h, vocabSize);
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = layerPrefix(config, i);
    norm(`${p}.input_layernorm`, h);
    linear(`${p}.self_attn.q_proj`, h, nq * headDim, config.qkvBias);
    linear(`${p}.self_attn.k_proj`, h, nkv * headDim, config.qkvBias);
    linear(`${p}.self_attn.v_proj`, h, nkv * headDim, config.qkvBias);
    linear(`${p}.self_attn.o_proj`, nq * headDim, h, config.oBias);
    if (config.qkNorm) {
      norm(`${p}.self_attn.q_norm`, headDim);
      norm(`${p}.self_attn.k_norm`, headDim);
    }
    norm(`${p}.post_attention_layernorm`, h);
    if (config.sandwichNorms) {
      norm(`${p}.pre_feedforward_layernorm`, h);
      norm(`${p}.post_feedforward_layernorm`, h);
    }
    if (moe?.sparseLayers[i]) {
      const b = `${p}.${moe.block}`;
      linear(`${b}.gate`, h, moe.numExperts);
      linear(`${b}.switch_mlp.gate_proj`, h, moe.intermediateSize, false, moe.numExperts);
      linear(`${b}.switch_mlp.up_proj`, h, moe.intermediateSize, false, moe.numExperts);
      linear(`${b}.switch_mlp.down_proj`, moe.intermediateSize, h, false, moe.numExperts);
    } else {
      linear(`${p}.mlp.gate_proj`, h, inter, config.mlpBias);
      linear(`${p}.mlp.up_proj`, h, inter, config.mlpBias);
      linear(`${p}.mlp.down_proj`, inter, h, config.mlpBias);
    }
  }
  norm(`${top}model.norm`, h);
  if (!config.tieWordEmbeddings) linear(`${top}lm_head`, h, vocabSize);
  return out;
}

/**
 * The tensors a model with `config` needs, with shapes, deciding each module's quantization from
 * the config and the presence of `<module>.scales` in `archive`. Throws a `FormatError` naming the
 * module when the two disagree.
 */
export function planWeights(config: ModelConfig, archive: SafetensorsArchive): WeightPlan {
  checkWeightTotal(config, archive);
  const tensors: ExpectedTensor[] = [];
  const linears = new Map<string, LinearPlan>();
  for (const m of modelModules(config)) {
    if (m.kind === "norm") {
      tensors.push({ name: `${m.path}.weight`, kind: "float", shape: [m.size] });
      continue;
    }
    const { path: name, inFeatures, outFeatures, hasBias } = m;
    const experts = m.experts;
    const lead = experts === undefined ? [] : [experts];
    const hasScales = archive.has(`${name}.scales`);
    const quant = moduleQuantization(config, name, hasScales);
    if (hasScales && !quant) {
      const why = config.quantizationOverrides.get(name) === false ? `quantization["${name}"] is false` : "config.json has no quantization";
      throw new FormatError(archive.source, `the weights are quantized but ${why}`, `${name}.scales`);
    }
    if (quant) {
      if (inFeatures % quant.groupSize !== 0) {
        throw new FormatError(archive.source, `input size ${inFeatures} is not a multiple of group_size ${quant.groupSize}`, `${name}.weight`);
      }
      const groups = inFeatures / quant.groupSize;
      tensors.push({ name: `${name}.weight`, kind: "packed", shape: [...lead, outFeatures, (inFeatures * quant.bits) / 32] });
      tensors.push({ name: `${name}.scales`, kind: "float", shape: [...lead, outFeatures, groups] });
      tensors.push({ name: `${name}.biases`, kind: "float", shape: [...lead, outFeatures, groups] });
    } else {
      tensors.push({ name: `${name}.weight`, kind: "float", shape: [...lead, outFeatures, inFeatures] });
    }
    if (hasBias) tensors.push({ name: `${name}.bias`, kind: "float", shape: [outFeatures] });
    linears.set(name, { name, inFeatures, outFeatures, quant, hasBias, experts });
  }
  return { config, tensors, linears };
}

/**
 * Refuse a config.json whose model cannot fit the weight files, before planning anything from
 * its sizes: every parameter takes at least 2 bits (the smallest MLX quantization), whatever
 * the config says, so the tensor-by-tensor checks still report the finer mismatches.
 */
function checkWeightTotal(config: ModelConfig, archive: SafetensorsArchive): void {
  const bits = 2;
  const needed = (countParameters(config) * bits) / 8;
  const held = archive.files.reduce((sum, f) => sum + (f.fileSize - 8 - f.headerLength), 0);
  if (needed > held) {
    throw new FormatError(
      archive.source,
      `config.json describes ${countParameters(config)} parameters, at least ${Math.ceil(needed)} bytes at ${bits} bits each (the smallest quantization), but the weight files hold ${held} bytes of tensor data`,
    );
  }
}

/**
 * Check that `archive` holds exactly the tensors of `plan` (apart from what mlx-lm drops on
 * load), with the expected dtypes and shapes. Throws a `FormatError` naming the tensor, the
 * expected and the actual value.
 */
export function checkWeights(plan: WeightPlan, archive: SafetensorsArchive): void {
  const expected = new Set<string>();
  for (const t of plan.tensors) {
    expected.add(t.name);
    const info = archive.info(t.name);
    if (!info) throw new FormatError(archive.source, `missing (expected ${t.kind === "packed" ? "U32" : "a float tensor"} of shape [${t.shape.join(", ")}])`, t.name);
    const dtypeOk = t.kind === "packed" ? info.dtype === "U32" : FLOAT_DTYPES.includes(info.dtype);
    if (!dtypeOk) {
      throw new FormatError(info.file, `dtype ${info.dtype}, expected ${t.kind === "packed" ? "U32 (packed quantized codes)" : FLOAT_DTYPES.join(", ")}`, t.name);
    }
    if (info.shape.length !== t.shape.length || info.shape.some((d, i) => d !== t.shape[i])) {
      throw new FormatError(info.file, `shape [${info.shape.join(", ")}], expected [${t.shape.join(", ")}] from config.json`, t.name);
    }
  }
  const tied = plan.config.tieWordEmbeddings;
  const lmHead = `${plan.config.weightPrefix}lm_head.`;
  const unexpected = archive.names.filter((n) => !expected.has(n) && !IGNORED.test(n) && !(tied && n.startsWith(lmHead)));
  if (unexpected.length > 0) {
    const shown = unexpected.slice(0, 5).join(", ") + (unexpected.length > 5 ? `, … (${unexpected.length} in all)` : "");
    throw new FormatError(archive.source, `tensors a ${plan.config.modelType} model with this config.json does not use: ${shown}`);
  }
}

/**
 * The weights of a model in device buffers. Dispose it to release them.
 */
export class ModelWeights {
  readonly config: ModelConfig;
  readonly embedding: LinearWeights;
  readonly layers: readonly LayerWeights[];
  readonly norm: Buffer;
  /** The output projection; the embedding itself when embeddings are tied. */
  readonly lmHead: LinearWeights;
  /** Every loaded tensor by name. */
  readonly tensors: ReadonlyMap<string, Buffer>;
  #disposed = false;

  /** @internal Use `loadModelWeights`. */
  constructor(plan: WeightPlan, tensors: Map<string, Buffer>) {
    const config = plan.config;
    this.config = config;
    this.tensors = tensors;
    const buf = (name: string) => tensors.get(name)!;
    const linear = (name: string): LinearWeights => {
      const p = plan.linears.get(name)!;
      const weight = buf(`${name}.weight`);
      const scales = p.quant ? buf(`${name}.scales`) : undefined;
      return Object.freeze({
        name,
        inFeatures: p.inFeatures,
        outFeatures: p.outFeatures,
        weight,
        scales,
        biases: p.quant ? buf(`${name}.biases`) : undefined,
        bias: p.hasBias ? buf(`${name}.bias`) : undefined,
        bits: p.quant?.bits,
        groupSize: p.quant?.groupSize,
        dtype: p.blockType ? DType.F16 : (scales ?? weight).dtype,
        blockType: p.blockType,
        experts: p.experts,
      });
    };
    const top = config.weightPrefix;
    const moe = config.moe;
    this.embedding = linear(`${top}model.embed_tokens`);
    this.layers = Object.freeze(
      Array.from({ length: config.numHiddenLayers }, (_, i): LayerWeights => {
        const p = layerPrefix(config, i);
        const sparse = moe?.sparseLayers[i] === true;
        const b = `${p}.${moe?.block}`;
        return Object.freeze({
          inputNorm: buf(`${p}.input_layernorm.weight`),
          attention: Object.freeze({
            q: linear(`${p}.self_attn.q_proj`),
            k: linear(`${p}.self_attn.k_proj`),
            v: linear(`${p}.self_attn.v_proj`),
            o: linear(`${p}.self_attn.o_proj`),
            qNorm: config.qkNorm ? buf(`${p}.self_attn.q_norm.weight`) : undefined,
            kNorm: config.qkNorm ? buf(`${p}.self_attn.k_norm.weight`) : undefined,
          }),
          postAttentionNorm: buf(`${p}.post_attention_layernorm.weight`),
          preFeedforwardNorm: config.sandwichNorms ? buf(`${p}.pre_feedforward_layernorm.weight`) : undefined,
          postFeedforwardNorm: config.sandwichNorms ? buf(`${p}.post_feedforward_layernorm.weight`) : undefined,
          mlp: sparse ? undefined : Object.freeze({ gate: linear(`${p}.mlp.gate_proj`), up: linear(`${p}.mlp.up_proj`), down: linear(`${p}.mlp.down_proj`) }),
          moe: sparse
            ? Object.freeze({ router: linear(`${b}.gate`), gate: linear(`${b}.switch_mlp.gate_proj`), up: linear(`${b}.switch_mlp.up_proj`), down: linear(`${b}.switch_mlp.down_proj`) })
            : undefined,
        });
      }),
    );
    this.norm = buf(`${top}model.norm.weight`);
    this.lmHead = config.tieWordEmbeddings ? this.embedding : linear(`${top}lm_head`);
  }

  /** Bytes of device memory the tensors hold. */
  get byteLength(): number {
    let n = 0;
    for (const b of this.tensors.values()) n += b.byteLength;
    return n;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Release every buffer. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const b of this.tensors.values()) b.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

export interface LoadWeightsOptions {
  /** The configuration, if already read (default: `readModelConfig(dir)`). */
  config?: ModelConfig;
  /** Progress bar options; `false` never draws. Default: on a terminal, for loads over a second. */
  progress?: ProgressOptions | false;
}

/**
 * Load a model directory's weights into device buffers, grouped per module. Headers, names,
 * dtypes and shapes are all checked before the first buffer is allocated.
 *
 * @example
 * using weights = loadModelWeights(device, "models/Llama-3.2-1B-Instruct-4bit");
 */
export function loadModelWeights(device: Device, dir: string, options: LoadWeightsOptions = {}): ModelWeights {
  const config = options.config ?? readModelConfig(dir);
  const archive = SafetensorsArchive.open(dir);
  const plan = planWeights(config, archive);
  checkWeights(plan, archive);
  const buffers = archive.load(
    device,
    plan.tensors.map((t) => t.name),
    { progress: options.progress, label: "loading weights" },
  );
  return new ModelWeights(plan, buffers);
}

/**
 * `loadModelWeights` through the asynchronous file API: the JS thread stays free while the
 * tensors are read.
 *
 * @example
 * using weights = await loadModelWeightsAsync(device, "models/Llama-3.2-1B-Instruct-4bit");
 */
export async function loadModelWeightsAsync(device: Device, dir: string, options: LoadWeightsOptions = {}): Promise<ModelWeights> {
  const config = options.config ?? readModelConfig(dir);
  const archive = SafetensorsArchive.open(dir);
  const plan = planWeights(config, archive);
  checkWeights(plan, archive);
  const buffers = await archive.loadAsync(
    device,
    plan.tensors.map((t) => t.name),
    { progress: options.progress, label: "loading weights" },
  );
  return new ModelWeights(plan, buffers);
}
