/**
 * GGUF models mapped onto the decoder: hyper-parameters from the metadata become a `ModelConfig`
 * (the same validation as config.json), tensors are renamed to mlx-lm's module paths and loaded
 * as stored (block-quantized weights stay blocks; the kernels read them).
 *
 * Architectures (`general.architecture`): llama (Llama, Mistral), qwen2, qwen3.
 * - llama.cpp's converter permutes the rows of llama's q and k projections (weights and biases)
 *   so that RoPE rotates adjacent pairs: within each head of d rows, stored row 2j + s is the
 *   original row s·d/2 + j. Loading puts the rows back, so the decoder runs the original
 *   rotate-half RoPE, as for an MLX model. Qwen2/Qwen3 are converted unpermuted (NEOX RoPE).
 * - Without `output.weight` the output projection is tied to `token_embd.weight`.
 * - RoPE scaling: `rope.scaling.type` linear (with its factor); a `rope_freqs.weight` tensor
 *   (Llama 3.1+ per-frequency factors) is accepted when it is Llama 3 scaling, which is then run
 *   from its parameters.
 *
 * @example
 * const gguf = GgufFile.open(path);
 * const config = ggufModelConfig(gguf);
 * using weights = loadGgufWeights(device, gguf, { config });
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Buffer } from "../buffer.ts";
import type { Device } from "../device.ts";
import { FormatError } from "../errors.ts";
import { isBlockQuantized } from "../ggml_types.ts";
import { deviceLayout, type GgufFile, type GgufTensorInfo } from "../io/gguf.ts";
import { decodeFloats } from "../io/floats.ts";
import type { ProgressOptions } from "../io/progress.ts";
import { parseModelConfig, type ModelConfig } from "./config.ts";
import { ModelWeights, modelModules, type LinearPlan, type WeightPlan } from "./weights.ts";

export const GGUF_ARCHITECTURES = ["llama", "qwen2", "qwen3"] as const;
export type GgufArchitecture = (typeof GGUF_ARCHITECTURES)[number];

/** The GGUF file a path names: the file itself, or the one `.gguf` file of a directory. */
export function findGgufFile(path: string): string | undefined {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    return undefined;
  }
  if (!isDir) return path.toLowerCase().endsWith(".gguf") ? path : undefined;
  const files = readdirSync(path).filter((f) => f.toLowerCase().endsWith(".gguf")).sort();
  if (files.length === 0) return undefined;
  if (files.length > 1) throw new FormatError(path, `holds ${files.length} GGUF files (${files.slice(0, 4).join(", ")}${files.length > 4 ? ", …" : ""}); pass the one to load`);
  return join(path, files[0]!);
}

/** mlx-lm module path → GGUF tensor name prefix (without ".weight"/".bias"). */
function ggufModuleName(path: string): string {
  if (path === "model.embed_tokens") return "token_embd";
  if (path === "model.norm") return "output_norm";
  if (path === "lm_head") return "output";
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(path);
  if (!m) throw new Error(`no GGUF name for module ${path}`);
  const local: Record<string, string> = {
    input_layernorm: "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    post_attention_layernorm: "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
  };
  const name = local[m[2]!];
  if (name === undefined) throw new Error(`no GGUF name for module ${path}`);
  return `blk.${m[1]}.${name}`;
}

/** HF inverse frequency i of RoPE with Llama 3 scaling, divided into the unscaled one: the factor llama.cpp stores. */
function llama3Factor(i: number, headDim: number, theta: number, s: { factor: number; low: number; high: number; original: number }): number {
  const freq = theta ** (-(2 * i) / headDim);
  const wavelength = (2 * Math.PI) / freq;
  if (wavelength < s.original / s.high) return 1;
  if (wavelength > s.original / s.low) return s.factor;
  const smooth = (s.original / wavelength - s.low) / (s.high - s.low);
  return freq / (((1 - smooth) * freq) / s.factor + smooth * freq);
}

/** config.json's rope_scaling for the file, or null. */
function ropeScaling(gguf: GgufFile, arch: string, headDim: number, theta: number): Record<string, unknown> | null {
  const freqs = gguf.info("rope_freqs.weight");
  const type = gguf.string(`${arch}.rope.scaling.type`, "none");
  if (freqs !== undefined) {
    if (freqs.type.name !== "F32" || freqs.elements !== headDim / 2) {
      throw new FormatError(gguf.path, `must be F32 with head_dim / 2 = ${headDim / 2} values (got ${freqs.type.name} [${freqs.dims.join(", ")}])`, "rope_freqs.weight");
    }
    const factors = decodeFloats(gguf.read("rope_freqs.weight"), deviceLayout(freqs).dtype);
    const s = { factor: Math.max(...factors), low: 1, high: 4, original: gguf.uint(`${arch}.rope.scaling.original_context_length`, 8192) };
    const fits = [...factors].every((f, i) => Math.abs(f - llama3Factor(i, headDim, theta, s)) <= 1e-3 * Math.max(1, f));
    if (!fits) throw new FormatError(gguf.path, "per-frequency RoPE factors other than Llama 3 scaling (factor = max, low_freq_factor 1, high_freq_factor 4) are not supported", "rope_freqs.weight");
    return { rope_type: "llama3", factor: s.factor, low_freq_factor: s.low, high_freq_factor: s.high, original_max_position_embeddings: s.original };
  }
  if (type === "none") return null;
  if (type === "linear") return { type: "linear", factor: gguf.float(`${arch}.rope.scaling.factor`) };
  throw new FormatError(gguf.path, `metadata "${arch}.rope.scaling.type" ${JSON.stringify(type)} is not supported (supported: none, linear, and Llama 3 factors in rope_freqs.weight)`);
}

/**
 * The model configuration a GGUF file's metadata describes.
 *
 * @example
 * const config = ggufModelConfig(GgufFile.open("qwen3-0.6b-q4_k_m.gguf"));
 */
export function ggufModelConfig(gguf: GgufFile): ModelConfig {
  const arch = gguf.string("general.architecture");
  if (!(GGUF_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new FormatError(gguf.path, `general.architecture ${JSON.stringify(arch)} is not supported (supported: ${GGUF_ARCHITECTURES.join(", ")})`);
  }
  const key = (k: string) => `${arch}.${k}`;
  const hidden = gguf.uint(key("embedding_length"));
  const heads = gguf.uint(key("attention.head_count"));
  if (typeof gguf.get(key("attention.head_count")) === "object" || typeof gguf.get(key("feed_forward_length")) === "object") {
    throw new FormatError(gguf.path, "per-layer head counts or feed-forward sizes are not supported");
  }
  const headDim = gguf.uint(key("attention.key_length"), heads > 0 && hidden % heads === 0 ? hidden / heads : undefined);
  if (gguf.uint(key("attention.value_length"), headDim) !== headDim) throw new FormatError(gguf.path, `metadata "${key("attention.value_length")}" must equal the key length ${headDim}`);
  if (gguf.uint(key("rope.dimension_count"), headDim) !== headDim) {
    throw new FormatError(gguf.path, `metadata "${key("rope.dimension_count")}" is ${gguf.uint(key("rope.dimension_count"))}: partial rotary embeddings are not supported (head_dim ${headDim})`);
  }
  const embed = gguf.require("token_embd.weight");
  const theta = gguf.float(key("rope.freq_base"), 10000);
  const has = (name: string) => gguf.has(name);
  const json: Record<string, unknown> = {
    model_type: arch,
    vocab_size: gguf.uint(key("vocab_size"), embed.shape[0]),
    hidden_size: hidden,
    intermediate_size: gguf.uint(key("feed_forward_length")),
    num_hidden_layers: gguf.uint(key("block_count")),
    num_attention_heads: heads,
    num_key_value_heads: gguf.uint(key("attention.head_count_kv"), heads),
    head_dim: headDim,
    rms_norm_eps: gguf.float(key("attention.layer_norm_rms_epsilon")),
    rope_theta: theta,
    rope_scaling: ropeScaling(gguf, arch, headDim, theta),
    max_position_embeddings: gguf.uint(key("context_length"), 0) || undefined,
    tie_word_embeddings: !has("output.weight"),
    eos_token_id: gguf.get("tokenizer.ggml.eos_token_id") === undefined ? undefined : gguf.uint("tokenizer.ggml.eos_token_id"),
    bos_token_id: gguf.get("tokenizer.ggml.bos_token_id") === undefined ? undefined : gguf.uint("tokenizer.ggml.bos_token_id"),
  };
  if (arch === "llama") {
    json.attention_bias = has("blk.0.attn_q.bias");
    json.mlp_bias = has("blk.0.ffn_gate.bias");
  }
  return parseModelConfig(json, gguf.path);
}

/**
 * Row order that undoes llama.cpp's q/k permutation: original row h·d + s·d/2 + j is stored at
 * h·d + 2j + s.
 */
export function unpermuteRowOrder(rows: number, heads: number): Int32Array {
  const d = rows / heads;
  const half = d / 2;
  const order = new Int32Array(rows);
  for (let h = 0; h < heads; h++) {
    for (let s = 0; s < 2; s++) for (let j = 0; j < half; j++) order[h * d + s * half + j] = h * d + 2 * j + s;
  }
  return order;
}

interface Planned {
  /** mlx-lm tensor name. */
  readonly name: string;
  readonly info: GgufTensorInfo;
  readonly rowOrder?: Int32Array;
  /** A 1-D tensor whose elements are permuted (llama's q/k biases). */
  readonly elementOrder?: Int32Array;
}

function expectShape(gguf: GgufFile, info: GgufTensorInfo, shape: readonly number[], float: boolean): void {
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    throw new FormatError(gguf.path, `shape [${info.shape.join(", ")}] (dims [${info.dims.join(", ")}]), expected [${shape.join(", ")}] from the metadata`, info.name);
  }
  if (float && isBlockQuantized(info.type)) throw new FormatError(gguf.path, `type ${info.type.name}, expected F32, F16 or BF16`, info.name);
}

export interface LoadGgufWeightsOptions {
  config?: ModelConfig;
  progress?: ProgressOptions | false;
}

/**
 * Load a GGUF file's weights into device buffers under mlx-lm's names, checking every tensor's
 * presence, shape and type against the configuration before the first buffer is allocated.
 *
 * @example
 * using weights = loadGgufWeights(device, GgufFile.open(path));
 */
export function loadGgufWeights(device: Device, gguf: GgufFile, options: LoadGgufWeightsOptions = {}): ModelWeights {
  const config = options.config ?? ggufModelConfig(gguf);
  const permute = config.architecture === "llama";
  const planned: Planned[] = [];
  const linears = new Map<string, LinearPlan>();
  const used = new Set<string>(["rope_freqs.weight"]);
  const take = (ggufName: string, name: string) => {
    const info = gguf.info(ggufName);
    if (!info) throw new FormatError(gguf.path, `missing (the ${config.modelType} model's ${name})`, ggufName);
    used.add(ggufName);
    return info;
  };
  for (const m of modelModules(config)) {
    const base = ggufModuleName(m.path);
    if (m.kind === "norm") {
      const info = take(`${base}.weight`, `${m.path}.weight`);
      expectShape(gguf, info, [m.size], true);
      planned.push({ name: `${m.path}.weight`, info });
      continue;
    }
    const info = take(`${base}.weight`, `${m.path}.weight`);
    expectShape(gguf, info, [m.outFeatures, m.inFeatures], false);
    const heads = m.path.endsWith("q_proj") ? config.numAttentionHeads : m.path.endsWith("k_proj") ? config.numKeyValueHeads : 0;
    const order = permute && heads > 0 ? unpermuteRowOrder(m.outFeatures, heads) : undefined;
    planned.push({ name: `${m.path}.weight`, info, rowOrder: order });
    if (m.hasBias) {
      const bias = take(`${base}.bias`, `${m.path}.bias`);
      expectShape(gguf, bias, [m.outFeatures], true);
      planned.push({ name: `${m.path}.bias`, info: bias, elementOrder: order });
    }
    linears.set(m.path, { name: m.path, inFeatures: m.inFeatures, outFeatures: m.outFeatures, quant: undefined, blockType: isBlockQuantized(info.type) ? info.type : undefined, hasBias: m.hasBias, experts: undefined });
  }
  const unused = [...gguf.tensors.keys()].filter((n) => !used.has(n));
  if (unused.length > 0) {
    throw new FormatError(gguf.path, `tensors a ${config.modelType} model with this metadata does not use: ${unused.slice(0, 5).join(", ")}${unused.length > 5 ? `, … (${unused.length} in all)` : ""}`);
  }

  const direct = planned.filter((p) => p.elementOrder === undefined);
  const buffers = gguf.load(
    device,
    direct.map((p) => ({ name: p.info.name, rowOrder: p.rowOrder })),
    { progress: options.progress, label: "loading weights" },
  );
  const tensors = new Map<string, Buffer>();
  try {
    for (const p of direct) tensors.set(p.name, buffers.get(p.info.name)!);
    for (const p of planned) {
      if (p.elementOrder === undefined) continue;
      const { dtype, shape } = deviceLayout(p.info);
      const stored = gguf.read(p.info.name);
      const buf = device.allocBuffer(stored.byteLength, dtype, shape);
      tensors.set(p.name, buf);
      const out = buf.view(Uint8Array);
      const size = dtype.size;
      p.elementOrder.forEach((src, i) => out.set(stored.subarray(src * size, (src + 1) * size), i * size));
    }
  } catch (e) {
    for (const b of new Set([...buffers.values(), ...tensors.values()])) b.dispose();
    throw e;
  }
  const plan: WeightPlan = { config, tensors: [], linears };
  return new ModelWeights(plan, tensors);
}
