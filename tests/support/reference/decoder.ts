/**
 * Float64 reference forward pass of the Llama / Mistral / Qwen2 / Qwen3 decoders, written from
 * the format description (anchors-and-formats §2) and mlx-lm's documented behaviour, and
 * independent of the kernels: weights are dequantized in TypeScript and every step is plain
 * float64 arithmetic, one token at a time (a causal prefill is the same as feeding tokens one by
 * one through the KV cache).
 *
 * Per layer: h = x + o_proj(attn(RMSNorm(x))); out = h + down(silu(gate(n)) * up(n)), n = RMSNorm(h).
 * Attention: q/k/v projections (+ bias for Qwen2 and Llama's attention_bias), Qwen3's per-head
 * q/k RMSNorm, RoPE (rotate-half unless `rope_traditional`; linear or Llama 3 scaling), causal
 * GQA (query head i reads kv head floor(i / (heads / kv_heads))), scale 1/sqrt(head_dim).
 * Output: final RMSNorm, then lm_head, or the (dequantized) embedding when tied.
 *
 * Gemma 3 (as mlx-lm's gemma3_text): the embedding row times sqrt(hidden) rounded to bfloat16;
 * every RMSNorm scales by (1 + w), rounded to the weight's dtype as MLX adds in that type;
 * h = x + postAttnNorm(attn(inputNorm(x))); out = h + postFFNorm(mlp(preFFNorm(h))); the MLP is
 * down(gelu_tanh(gate) * up); attention scale query_pre_attn_scalar^-0.5; sliding layers attend
 * positions p - window < j <= p and rotate with the local base and no scaling; logits are
 * soft-capped, cap * tanh(l / cap), when configured.
 * Mixture of experts (qwen3_moe, mixtral): p = softmax(router(n)); the k largest p (ties to the
 * lower index), renormalized when norm_topk_prob (always for Mixtral, whose softmax over the
 * top-k logits is the same thing); out = sum_i p_i * expert_i(n) with each expert a SwiGLU MLP.
 *
 * @example
 * const ref = ReferenceDecoder.fromDirectory(model.dir);
 * const cache = ref.newCache();
 * const logits = ref.forward([1, 2, 3], cache);   // prefill: logits of the last position
 * const next = ref.forward([4], cache);           // one decode step
 */
import { readModelConfig, moduleQuantization, type ModelConfig } from "../../../src/models/config.ts";
import type { Buffer } from "../../../src/buffer.ts";
import { deviceDType, SafetensorsArchive, safetensorsDType, type SafetensorsDType } from "../../../src/io/safetensors.ts";
import { decodeFloats, encodeFloats } from "../../../src/io/floats.ts";
import { dequantize } from "../../../src/quant.ts";

/** One tensor's bytes as stored in a file. */
export interface HostTensor {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
  /** The exact values, when the tensor is not stored in a float dtype (GGUF blocks): they win over `bytes`. */
  readonly values?: Float64Array;
}

/** Looks tensors up by name (undefined when absent). */
export type TensorSource = (name: string) => HostTensor | undefined;

/** A dense row-major matrix. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

// ---------------------------------------------------------------------------------------------
// Pieces

/** x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(x: ArrayLike<number>, weight: ArrayLike<number>, eps: number): Float64Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return Float64Array.from({ length: x.length }, (_, i) => x[i]! * r * weight[i]!);
}

/** m @ x (+ bias). */
export function matVec(m: Matrix, x: ArrayLike<number>, bias?: ArrayLike<number>): Float64Array {
  if (x.length !== m.cols) throw new Error(`matVec: x has ${x.length} values, matrix has ${m.cols} columns`);
  const out = new Float64Array(m.rows);
  for (let r = 0; r < m.rows; r++) {
    let s = bias ? bias[r]! : 0;
    const base = r * m.cols;
    for (let c = 0; c < m.cols; c++) s += m.data[base + c]! * x[c]!;
    out[r] = s;
  }
  return out;
}

export const silu = (x: number): number => x / (1 + Math.exp(-x));

/** GELU, tanh approximation (MLX's gelu_approx, PyTorch's gelu "tanh"). */
export const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

export function softmax(x: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]!);
  const out = Float64Array.from({ length: x.length }, (_, i) => Math.exp(x[i]! - max));
  const total = out.reduce((a, b) => a + b, 0);
  return out.map((v) => v / total);
}

/** Indices of the k largest values, largest first (equal values: lower index first). */
export function topK(x: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: x.length }, (_, i) => i)
    .sort((a, b) => x[b]! - x[a]! || a - b)
    .slice(0, k);
}

/**
 * Routing of one token as mlx-lm's Qwen3-MoE/Mixtral blocks do it: the top-k experts of the
 * router's softmax and their weights (renormalized over the k when `normTopK`); `gap` is the
 * probability margin between the k-th and the (k+1)-th expert (how far from a tie the choice is).
 */
export function route(logits: ArrayLike<number>, k: number, normTopK: boolean): { experts: number[]; weights: number[]; gap: number } {
  const p = softmax(logits);
  const order = topK(p, Math.min(p.length, k + 1));
  const experts = order.slice(0, k);
  let weights = experts.map((e) => p[e]!);
  if (normTopK) {
    const total = weights.reduce((a, b) => a + b, 0);
    weights = weights.map((w) => w / total);
  }
  const gap = order.length > k ? p[order[k - 1]!]! - p[order[k]!]! : Infinity;
  return { experts, weights, gap };
}

/**
 * Inverse frequencies theta_i (i < headDim / 2) of RoPE: base^(-2i/d), divided by the factor for
 * linear scaling; for Llama 3 scaling, wavelengths 2*pi/theta above original/low_freq_factor are
 * divided by the factor, those below original/high_freq_factor kept, and those between
 * interpolated with s = (original/wavelength - low) / (high - low): theta*(1-s)/factor + theta*s.
 */
export function ropeInvFrequencies(config: Pick<ModelConfig, "headDim" | "ropeTheta" | "ropeScaling">): Float64Array {
  const half = config.headDim / 2;
  const s = config.ropeScaling;
  return Float64Array.from({ length: half }, (_, i) => {
    const theta = config.ropeTheta ** (-(2 * i) / config.headDim);
    if (!s) return theta;
    if (s.type === "linear") return theta / s.factor;
    const wavelength = (2 * Math.PI) / theta;
    const lowWavelength = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
    const highWavelength = s.originalMaxPositionEmbeddings / s.highFreqFactor;
    if (wavelength < highWavelength) return theta;
    if (wavelength > lowWavelength) return theta / s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return ((1 - smooth) * theta) / s.factor + smooth * theta;
  });
}

/**
 * Rotate one head vector for `position`. Pair i is (x[i], x[i + d/2]) ("rotate half", mlx-lm's
 * default) or (x[2i], x[2i+1]) when `traditional`; it turns by position * invFreq[i].
 */
export function applyRope(x: ArrayLike<number>, position: number, invFreq: ArrayLike<number>, traditional: boolean): Float64Array {
  const d = x.length;
  const half = d / 2;
  const out = Float64Array.from(x);
  for (let i = 0; i < half; i++) {
    const a = traditional ? 2 * i : i;
    const b = traditional ? 2 * i + 1 : i + half;
    const angle = position * invFreq[i]!;
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    out[a] = x[a]! * c - x[b]! * s;
    out[b] = x[a]! * s + x[b]! * c;
  }
  return out;
}

/** softmax(q . k_j * scale) weighted sum of v_j over the given keys and values. */
export function attend(q: ArrayLike<number>, keys: readonly ArrayLike<number>[], values: readonly ArrayLike<number>[], scale: number): Float64Array {
  const scores = keys.map((k) => {
    let s = 0;
    for (let i = 0; i < q.length; i++) s += q[i]! * k[i]!;
    return s * scale;
  });
  const max = Math.max(...scores);
  const w = scores.map((s) => Math.exp(s - max));
  const total = w.reduce((a, b) => a + b, 0);
  const out = new Float64Array(values[0]!.length);
  values.forEach((v, j) => {
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + (w[j]! / total) * v[i]!;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Weights

function floats(t: HostTensor, name: string): Float64Array {
  if (t.values) return t.values;
  const dtype = deviceDType(t.dtype);
  if (!dtype?.isFloat) throw new Error(`${name}: expected a float tensor, got ${t.dtype}`);
  return decodeFloats(t.bytes, dtype);
}

function expectShape(t: HostTensor, shape: readonly number[], name: string): void {
  if (t.shape.join() !== shape.join()) throw new Error(`${name}: shape [${t.shape}] expected [${shape}]`);
}

interface Linear {
  readonly m: Matrix;
  readonly bias?: Float64Array;
}

/** A mixture of experts: the router and each expert's gate/up/down. */
interface Experts {
  router: Linear;
  gate: Matrix[];
  up: Matrix[];
  down: Matrix[];
}

interface Layer {
  sliding: boolean;
  inputNorm: Float64Array;
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  qNorm?: Float64Array;
  kNorm?: Float64Array;
  postNorm: Float64Array;
  preFFNorm?: Float64Array;
  postFFNorm?: Float64Array;
  gate?: Linear;
  up?: Linear;
  down?: Linear;
  experts?: Experts;
}

/** Per-layer lists of past keys and values (one [kvHeads * headDim] vector per position). */
export class ReferenceKVCache {
  readonly keys: Float64Array[][];
  readonly values: Float64Array[][];

  constructor(layers: number) {
    this.keys = Array.from({ length: layers }, () => []);
    this.values = Array.from({ length: layers }, () => []);
  }

  /** Positions held. */
  get length(): number {
    return this.keys[0]?.length ?? 0;
  }

  /** Forget positions from `length` on. */
  truncate(length: number): void {
    for (const list of [...this.keys, ...this.values]) list.length = length;
  }
}

export class ReferenceDecoder {
  readonly config: ModelConfig;
  readonly embedding: Matrix;
  readonly lmHead: Matrix;
  readonly #layers: Layer[];
  readonly #norm: Float64Array;
  readonly #matrices = new Map<string, Matrix>();
  readonly #invFreq: Float64Array;
  readonly #localInvFreq: Float64Array;
  /** Smallest routing margin (see `route`) of every token routed so far; tests reset it. */
  minRoutingGap = Infinity;

  constructor(config: ModelConfig, source: TensorSource) {
    this.config = config;
    const get = (name: string): HostTensor => {
      const t = source(name);
      if (!t) throw new Error(`reference: missing tensor ${name}`);
      return t;
    };
    const vector = (name: string, size: number): Float64Array => {
      const t = get(name);
      expectShape(t, [size], name);
      return floats(t, name);
    };
    // Gemma's norms scale by 1 + w, which MLX computes in the weight's type.
    const normWeight = (name: string, size: number): Float64Array => {
      const w = vector(name, size);
      if (!config.normUnitOffset) return w;
      const dtype = deviceDType(get(name).dtype)!;
      return decodeFloats(encodeFloats(w.map((v) => 1 + v), dtype), dtype);
    };
    /** The matrices of a linear, one per expert when `experts` is set. */
    const matrices = (path: string, inF: number, outF: number, experts?: number): Matrix[] => {
      const quant = moduleQuantization(config, path, source(`${path}.scales`) !== undefined);
      const w = get(`${path}.weight`);
      const n = experts ?? 1;
      const lead = experts === undefined ? [] : [experts];
      const out: Matrix[] = [];
      if (quant) {
        const words = (inF * quant.bits) / 32;
        expectShape(w, [...lead, outF, words], `${path}.weight`);
        const groups = inF / quant.groupSize;
        const scales = get(`${path}.scales`);
        const biases = get(`${path}.biases`);
        expectShape(scales, [...lead, outF, groups], `${path}.scales`);
        expectShape(biases, [...lead, outF, groups], `${path}.biases`);
        const packed = new Uint32Array(w.bytes.slice().buffer);
        const s = floats(scales, path);
        const b = floats(biases, path);
        for (let e = 0; e < n; e++) {
          const data = dequantize({
            rows: outF,
            cols: inF,
            bits: quant.bits,
            groupSize: quant.groupSize,
            packed: packed.subarray(e * outF * words, (e + 1) * outF * words),
            scales: s.subarray(e * outF * groups, (e + 1) * outF * groups),
            biases: b.subarray(e * outF * groups, (e + 1) * outF * groups),
            scaleDType: deviceDType(scales.dtype)!,
          });
          out.push({ rows: outF, cols: inF, data });
        }
      } else {
        expectShape(w, [...lead, outF, inF], `${path}.weight`);
        const data = floats(w, `${path}.weight`);
        for (let e = 0; e < n; e++) out.push({ rows: outF, cols: inF, data: data.slice(e * outF * inF, (e + 1) * outF * inF) });
      }
      return out;
    };
    const linear = (path: string, inF: number, outF: number, hasBias: boolean): Linear => {
      const m = matrices(path, inF, outF)[0]!;
      this.#matrices.set(path, m);
      return { m, bias: hasBias ? vector(`${path}.bias`, outF) : undefined };
    };

    const { hiddenSize: h, intermediateSize: inter, headDim, numAttentionHeads: nq, numKeyValueHeads: nkv, vocabSize, moe } = config;
    const top = config.weightPrefix;
    this.embedding = linear(`${top}model.embed_tokens`, h, vocabSize, false).m;
    this.#layers = Array.from({ length: config.numHiddenLayers }, (_, i): Layer => {
      const p = `${top}model.layers.${i}`;
      const sparse = moe?.sparseLayers[i] === true;
      const b = `${p}.${moe?.block}`;
      return {
        sliding: config.layerAttention[i] === "sliding",
        inputNorm: normWeight(`${p}.input_layernorm.weight`, h),
        q: linear(`${p}.self_attn.q_proj`, h, nq * headDim, config.qkvBias),
        k: linear(`${p}.self_attn.k_proj`, h, nkv * headDim, config.qkvBias),
        v: linear(`${p}.self_attn.v_proj`, h, nkv * headDim, config.qkvBias),
        o: linear(`${p}.self_attn.o_proj`, nq * headDim, h, config.oBias),
        qNorm: config.qkNorm ? normWeight(`${p}.self_attn.q_norm.weight`, headDim) : undefined,
        kNorm: config.qkNorm ? normWeight(`${p}.self_attn.k_norm.weight`, headDim) : undefined,
        postNorm: normWeight(`${p}.post_attention_layernorm.weight`, h),
        preFFNorm: config.sandwichNorms ? normWeight(`${p}.pre_feedforward_layernorm.weight`, h) : undefined,
        postFFNorm: config.sandwichNorms ? normWeight(`${p}.post_feedforward_layernorm.weight`, h) : undefined,
        ...(sparse
          ? {
              experts: {
                router: linear(`${b}.gate`, h, moe!.numExperts, false),
                gate: matrices(`${b}.switch_mlp.gate_proj`, h, moe!.intermediateSize, moe!.numExperts),
                up: matrices(`${b}.switch_mlp.up_proj`, h, moe!.intermediateSize, moe!.numExperts),
                down: matrices(`${b}.switch_mlp.down_proj`, moe!.intermediateSize, h, moe!.numExperts),
              },
            }
          : {
              gate: linear(`${p}.mlp.gate_proj`, h, inter, config.mlpBias),
              up: linear(`${p}.mlp.up_proj`, h, inter, config.mlpBias),
              down: linear(`${p}.mlp.down_proj`, inter, h, config.mlpBias),
            }),
      };
    });
    this.#norm = normWeight(`${top}model.norm.weight`, h);
    this.lmHead = config.tieWordEmbeddings ? this.embedding : linear(`${top}lm_head`, h, vocabSize, false).m;
    this.#invFreq = ropeInvFrequencies(config);
    // Sliding layers rotate with the local base and take no scaling (mlx-lm's gemma3_text).
    this.#localInvFreq = config.ropeLocalTheta === undefined ? this.#invFreq : ropeInvFrequencies({ headDim, ropeTheta: config.ropeLocalTheta, ropeScaling: undefined });
  }

  /** The reference for a model directory (config.json + safetensors). */
  static fromDirectory(dir: string): ReferenceDecoder {
    const archive = SafetensorsArchive.open(dir);
    const source: TensorSource = (name) => {
      const info = archive.info(name);
      return info && { dtype: info.dtype, shape: info.shape, bytes: archive.read(name) };
    };
    return new ReferenceDecoder(readModelConfig(dir), source);
  }

  /**
   * A prompt of `length` tokens whose every routing decision (each token, each sparse layer) has
   * a probability margin of at least `minGap` between the k-th and (k+1)-th expert, so that
   * rounding on a device cannot flip it: tokens are tried in a fixed pseudo-random order and the
   * first that keeps the margin is kept.
   */
  promptWithoutRoutingTies(length: number, minGap: number, seed = 1): number[] {
    const cache = this.newCache();
    const out: number[] = [];
    let candidate = seed;
    for (let tries = 0; out.length < length; tries++) {
      if (tries > 64 * length) throw new Error(`reference: no prompt of ${length} tokens with routing margins >= ${minGap}`);
      candidate = (candidate * 48271 + 11) % this.config.vocabSize;
      this.minRoutingGap = Infinity;
      this.hiddenState(candidate, cache);
      if (this.minRoutingGap >= minGap) out.push(candidate);
      else cache.truncate(out.length);
    }
    this.minRoutingGap = Infinity;
    return out;
  }

  /** The (dequantized) weight matrix of a linear module, e.g. "model.layers.0.mlp.down_proj". */
  moduleMatrix(path: string): Matrix {
    const m = this.#matrices.get(path);
    if (!m) throw new Error(`reference: no linear module ${path}`);
    return m;
  }

  /**
   * The reference for tensors already in device buffers (e.g. `loadModelWeights(...).tensors`),
   * read back through their host-visible contents.
   */
  static fromBuffers(config: ModelConfig, tensors: ReadonlyMap<string, Buffer>): ReferenceDecoder {
    return new ReferenceDecoder(config, (name) => {
      const buf = tensors.get(name);
      if (!buf) return undefined;
      const bytes = buf.elementCount * buf.dtype.size;
      return { dtype: safetensorsDType(buf.dtype), shape: buf.shape, bytes: buf.view(Uint8Array).slice(0, bytes) };
    });
  }

  newCache(): ReferenceKVCache {
    return new ReferenceKVCache(this.config.numHiddenLayers);
  }

  /** Logits of the last token of `tokens`, which are appended to `cache` (positions continue from it). */
  forward(tokens: readonly number[], cache: ReferenceKVCache = this.newCache()): Float64Array {
    const all = this.forwardAll(tokens, cache);
    return all[all.length - 1]!;
  }

  /** Logits of every token of `tokens`, appended to `cache`. */
  forwardAll(tokens: readonly number[], cache: ReferenceKVCache = this.newCache()): Float64Array[] {
    if (tokens.length === 0) throw new Error("reference: no tokens");
    const cap = this.config.finalLogitSoftcap;
    return tokens.map((t) => {
      const logits = matVec(this.lmHead, this.hiddenState(t, cache));
      return cap === undefined ? logits : logits.map((l) => cap * Math.tanh(l / cap));
    });
  }

  /** Final-normed hidden state of one token at position cache.length, which it appends to. */
  hiddenState(token: number, cache: ReferenceKVCache): Float64Array {
    const c = this.config;
    if (!Number.isInteger(token) || token < 0 || token >= c.vocabSize) throw new Error(`reference: token ${token} outside the vocabulary`);
    const position = cache.length;
    const { headDim: d, numAttentionHeads: nq, numKeyValueHeads: nkv } = c;
    const group = nq / nkv;
    let x: Float64Array = this.embedding.data.slice(token * c.hiddenSize, (token + 1) * c.hiddenSize);
    if (c.embeddingScale !== undefined) x = x.map((v) => v * c.embeddingScale!);
    this.#layers.forEach((layer, li) => {
      const invFreq = layer.sliding ? this.#localInvFreq : this.#invFreq;
      // A sliding layer's query at `position` sees keys j with position - window < j.
      const first = layer.sliding ? Math.max(0, position + 1 - c.slidingWindow!) : 0;
      const n = rmsNorm(x, layer.inputNorm, c.rmsNormEps);
      const q = matVec(layer.q.m, n, layer.q.bias);
      const k = matVec(layer.k.m, n, layer.k.bias);
      const v = matVec(layer.v.m, n, layer.v.bias);
      const head = (vec: Float64Array, i: number, norm?: Float64Array) => {
        const part = vec.subarray(i * d, (i + 1) * d);
        return applyRope(norm ? rmsNorm(part, norm, c.rmsNormEps) : part, position, invFreq, c.ropeTraditional);
      };
      const kRot = new Float64Array(nkv * d);
      for (let i = 0; i < nkv; i++) kRot.set(head(k, i, layer.kNorm), i * d);
      cache.keys[li]!.push(kRot);
      cache.values[li]!.push(v);
      const attnOut = new Float64Array(nq * d);
      for (let i = 0; i < nq; i++) {
        const kv = Math.floor(i / group);
        const keys = cache.keys[li]!.slice(first).map((kk) => kk.subarray(kv * d, (kv + 1) * d));
        const values = cache.values[li]!.slice(first).map((vv) => vv.subarray(kv * d, (kv + 1) * d));
        attnOut.set(attend(head(q, i, layer.qNorm), keys, values, c.attentionScale), i * d);
      }
      let o = matVec(layer.o.m, attnOut, layer.o.bias);
      if (layer.preFFNorm) o = rmsNorm(o, layer.postNorm, c.rmsNormEps);
      const hState = x.map((xi, i) => xi + o[i]!);
      const n2 = rmsNorm(hState, layer.preFFNorm ?? layer.postNorm, c.rmsNormEps);
      const act = c.hiddenActivation === "gelu_tanh" ? geluTanh : silu;
      let down: Float64Array;
      if (layer.experts) {
        const e = layer.experts;
        const r = route(matVec(e.router.m, n2), c.moe!.expertsPerToken, c.moe!.normTopK);
        this.minRoutingGap = Math.min(this.minRoutingGap, r.gap);
        down = new Float64Array(c.hiddenSize);
        r.experts.forEach((ex, i) => {
          const gate = matVec(e.gate[ex]!, n2);
          const up = matVec(e.up[ex]!, n2);
          const y = matVec(e.down[ex]!, gate.map((g, j) => act(g) * up[j]!));
          for (let j = 0; j < y.length; j++) down[j] = down[j]! + r.weights[i]! * y[j]!;
        });
      } else {
        const gate = matVec(layer.gate!.m, n2, layer.gate!.bias);
        const up = matVec(layer.up!.m, n2, layer.up!.bias);
        down = matVec(layer.down!.m, gate.map((g, i) => act(g) * up[i]!), layer.down!.bias);
      }
      if (layer.postFFNorm) down = rmsNorm(down, layer.postFFNorm, c.rmsNormEps);
      x = hState.map((hi, i) => hi + down[i]!);
    });
    return rmsNorm(x, this.#norm, c.rmsNormEps);
  }
}
