/**
 * A model directory converted to GGUF the way llama.cpp's converter does it, for tests and
 * benchmarks: metadata from config.json, the tokenizer from tokenizer.json (byte-level BPE →
 * `tokenizer.ggml.model` "gpt2"), tensors renamed (token_embd, blk.N.attn_q, …), llama's q/k
 * rows permuted for adjacent-pair RoPE, Llama 3 RoPE scaling as `rope_freqs.weight`, and each
 * matrix quantized to the requested ggml type with the reference quantizers of ggml_quants.ts.
 *
 * @example
 * using dir = createSyntheticModel(syntheticPreset("qwen3", { quantization: false, dtype: DType.F32 }));
 * convertToGguf(dir.dir, "model.gguf", { linear: "Q4_K" });
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeFloats } from "../../src/io/floats.ts";
import { ggufValue, writeGguf, type GgufEntry, type GgufTensorData } from "../../src/io/gguf.ts";
import { deviceDType, SafetensorsArchive } from "../../src/io/safetensors.ts";
import { readModelConfig, type ModelConfig } from "../../src/models/config.ts";
import { modelModules } from "../../src/models/weights.ts";
import type { GgmlTypeName } from "../../src/ggml_types.ts";
import { dequantize } from "../../src/quant.ts";
import { quantizeRows } from "./ggml_quants.ts";

export interface ConvertOptions {
  /** Type of the q/k/v/o and MLP matrices (default F32). */
  linear?: GgmlTypeName;
  /** Type of token_embd (default: `linear`). */
  embedding?: GgmlTypeName;
  /** Type of output.weight when untied (default: `linear`). */
  output?: GgmlTypeName;
  /** Per-tensor override by GGUF name. */
  types?: Readonly<Record<string, GgmlTypeName>>;
  /**
   * Matrices of type Q4_0 get random blocks (seeded by this value) instead of the directory's
   * values, which are then never decoded: for benchmarks on large models.
   */
  randomQ4_0?: number;
  /** Leave the tokenizer out. */
  noTokenizer?: boolean;
  version?: 2 | 3;
}

/** The GGUF name of an mlx-lm tensor name. */
export function ggufTensorName(name: string): string {
  const fixed: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  if (fixed[name]) return fixed[name];
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) throw new Error(`no GGUF name for ${name}`);
  const map: Record<string, string> = {
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
  return `blk.${m[1]}.${map[m[2]!]}.${m[3]}`;
}

/**
 * llama.cpp's converter permutation of a q or k projection's rows: viewed as
 * [heads, 2, d/2, ...], the two middle axes are swapped. Returns the stored order: stored row i
 * is original row `order[i]`.
 */
export function converterPermutation(rows: number, heads: number): Int32Array {
  const d = rows / heads;
  const half = d / 2;
  const order = new Int32Array(rows);
  let i = 0;
  // Reading [heads, d/2, 2] in row-major order after the swap.
  for (let h = 0; h < heads; h++) for (let j = 0; j < half; j++) for (let s = 0; s < 2; s++) order[i++] = h * d + s * half + j;
  return order;
}

/**
 * The tensors of a model directory in module order, each with a thunk giving its values as
 * float64 (quantized modules dequantized), so that a caller that does not need them never decodes
 * them.
 */
function* denseTensors(dir: string, config: ModelConfig): Generator<[string, { shape: number[]; values: () => Float64Array }]> {
  const archive = SafetensorsArchive.open(dir);
  const floats = (name: string) => decodeFloats(archive.read(name), deviceDType(archive.require(name).dtype)!);
  for (const m of modelModules(config)) {
    if (m.kind === "norm") {
      yield [`${m.path}.weight`, { shape: [m.size], values: () => floats(`${m.path}.weight`) }];
      continue;
    }
    const scales = archive.info(`${m.path}.scales`);
    const values = (): Float64Array => {
      if (!scales) return floats(`${m.path}.weight`);
      const packed = new Uint32Array(archive.read(`${m.path}.weight`).slice().buffer);
      const groups = scales.shape[1]!;
      const bits = (packed.length * 32) / (m.outFeatures * m.inFeatures);
      return dequantize({ rows: m.outFeatures, cols: m.inFeatures, bits, groupSize: m.inFeatures / groups, packed, scales: floats(`${m.path}.scales`), biases: floats(`${m.path}.biases`), scaleDType: deviceDType(scales.dtype)! });
    };
    yield [`${m.path}.weight`, { shape: [m.outFeatures, m.inFeatures], values }];
    if (m.hasBias) yield [`${m.path}.bias`, { shape: [m.outFeatures], values: () => floats(`${m.path}.bias`) }];
  }
}

/**
 * Rows of random Q4_0 blocks (f16 scale about 2^-7, uniform codes) from a seeded xorshift: what a
 * benchmark needs at sizes where quantizing in TypeScript takes minutes.
 */
function randomQ4_0(rows: number, cols: number, seed: number): Uint8Array {
  const blocks = (rows * cols) / 32;
  const out = new Uint8Array(blocks * 18);
  const words = new Uint32Array(out.buffer, 0, Math.floor(out.length / 4));
  let x = seed | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) view.setUint16(b * 18, 0x2000 + (out[b * 18]! & 0xff), true);
  return out;
}

function permuteRows(values: Float64Array, rows: number, cols: number, order: Int32Array): Float64Array {
  const out = new Float64Array(values.length);
  for (let r = 0; r < rows; r++) out.set(values.subarray(order[r]! * cols, (order[r]! + 1) * cols), r * cols);
  return out;
}

function tokenizerMetadata(dir: string, config: ModelConfig): [string, GgufEntry][] {
  const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const tconfig = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const vocab = json.model.vocab as Record<string, number>;
  const tokens: string[] = new Array(config.vocabSize).fill("");
  for (const [t, id] of Object.entries(vocab)) tokens[id] = t;
  const special = new Set<number>((json.added_tokens as { id: number; special: boolean }[]).filter((t) => t.special).map((t) => t.id));
  const types = tokens.map((_, id) => (special.has(id) ? 3 : 1));
  const merges = (json.model.merges as (string | [string, string])[]).map((m) => (typeof m === "string" ? m : `${m[0]} ${m[1]}`));
  const entries: [string, GgufEntry][] = [
    ["tokenizer.ggml.model", ggufValue.str("gpt2")],
    ["tokenizer.ggml.pre", ggufValue.str("default")],
    ["tokenizer.ggml.tokens", ggufValue.strings(tokens)],
    ["tokenizer.ggml.token_type", ggufValue.i32s(types)],
    ["tokenizer.ggml.merges", ggufValue.strings(merges)],
    ["tokenizer.ggml.add_bos_token", ggufValue.bool(tconfig.add_bos_token === true)],
  ];
  if (typeof tconfig.bos_token === "string") entries.push(["tokenizer.ggml.bos_token_id", ggufValue.u32(vocab[tconfig.bos_token]!)]);
  if (typeof tconfig.eos_token === "string") entries.push(["tokenizer.ggml.eos_token_id", ggufValue.u32(vocab[tconfig.eos_token]!)]);
  if (typeof tconfig.chat_template === "string") entries.push(["tokenizer.chat_template", ggufValue.str(tconfig.chat_template)]);
  return entries;
}

/** Llama 3 per-frequency factors as the converter stores them in rope_freqs.weight. */
function llama3Factors(config: ModelConfig): Float64Array {
  const s = config.ropeScaling;
  if (s?.type !== "llama3") throw new Error("llama3Factors: not Llama 3 scaling");
  const half = config.headDim / 2;
  return Float64Array.from({ length: half }, (_, i) => {
    const freq = config.ropeTheta ** (-(2 * i) / config.headDim);
    const wavelength = (2 * Math.PI) / freq;
    if (wavelength < s.originalMaxPositionEmbeddings / s.highFreqFactor) return 1;
    if (wavelength > s.originalMaxPositionEmbeddings / s.lowFreqFactor) return s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return 1 / ((1 - smooth) / s.factor + smooth);
  });
}

/**
 * Convert the model directory `dir` to a GGUF file at `path`; returns the types chosen per GGUF
 * tensor name.
 */
export function convertToGguf(dir: string, path: string, options: ConvertOptions = {}): Map<string, GgmlTypeName> {
  const config = readModelConfig(dir);
  const arch = config.architecture;
  const a = (k: string) => `${arch}.${k}`;
  const metadata: [string, GgufEntry][] = [
    ["general.architecture", ggufValue.str(arch)],
    ["general.name", ggufValue.str(`synthetic ${arch}`)],
    [a("context_length"), ggufValue.u32(config.maxPositionEmbeddings ?? 4096)],
    [a("embedding_length"), ggufValue.u32(config.hiddenSize)],
    [a("block_count"), ggufValue.u32(config.numHiddenLayers)],
    [a("feed_forward_length"), ggufValue.u32(config.intermediateSize)],
    [a("attention.head_count"), ggufValue.u32(config.numAttentionHeads)],
    [a("attention.head_count_kv"), ggufValue.u32(config.numKeyValueHeads)],
    [a("attention.layer_norm_rms_epsilon"), ggufValue.f32(config.rmsNormEps)],
    [a("rope.freq_base"), ggufValue.f32(config.ropeTheta)],
    [a("rope.dimension_count"), ggufValue.u32(config.headDim)],
    [a("vocab_size"), ggufValue.u32(config.vocabSize)],
  ];
  if (config.headDim * config.numAttentionHeads !== config.hiddenSize) {
    metadata.push([a("attention.key_length"), ggufValue.u32(config.headDim)], [a("attention.value_length"), ggufValue.u32(config.headDim)]);
  }
  if (config.ropeScaling?.type === "linear") metadata.push([a("rope.scaling.type"), ggufValue.str("linear")], [a("rope.scaling.factor"), ggufValue.f32(config.ropeScaling.factor)]);
  if (config.ropeScaling?.type === "llama3") metadata.push([a("rope.scaling.original_context_length"), ggufValue.u32(config.ropeScaling.originalMaxPositionEmbeddings)]);
  if (!options.noTokenizer) metadata.push(...tokenizerMetadata(dir, config));

  const linear = options.linear ?? "F32";
  const chosen = new Map<string, GgmlTypeName>();
  const tensors: GgufTensorData[] = [];
  for (const [name, t] of denseTensors(dir, config)) {
    const gname = ggufTensorName(name);
    const isMatrix = t.shape.length === 2;
    const type: GgmlTypeName = options.types?.[gname] ?? (!isMatrix ? "F32" : gname === "token_embd.weight" ? (options.embedding ?? linear) : gname === "output.weight" ? (options.output ?? linear) : linear);
    chosen.set(gname, type);
    const rows = isMatrix ? t.shape[0]! : 1;
    const cols = isMatrix ? t.shape[1]! : t.shape[0]!;
    if (options.randomQ4_0 !== undefined && type === "Q4_0") {
      tensors.push({ name: gname, type, dims: [...t.shape].reverse(), data: randomQ4_0(rows, cols, options.randomQ4_0 + tensors.length) });
      continue;
    }
    let values = t.values();
    const heads = /q_proj\./.test(name) ? config.numAttentionHeads : /k_proj\./.test(name) ? config.numKeyValueHeads : 0;
    if (arch === "llama" && heads > 0) values = permuteRows(values, t.shape[0]!, t.shape[1] ?? 1, converterPermutation(t.shape[0]!, heads));
    tensors.push({ name: gname, type, dims: [...t.shape].reverse(), data: quantizeRows(type, values, rows, cols) });
  }
  if (config.ropeScaling?.type === "llama3") {
    tensors.push({ name: "rope_freqs.weight", type: "F32", dims: [config.headDim / 2], data: quantizeRows("F32", llama3Factors(config), 1, config.headDim / 2) });
  }
  writeGguf(path, { version: options.version, metadata, tensors });
  return chosen;
}
