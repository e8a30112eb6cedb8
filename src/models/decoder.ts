/**
 * Decoder runner for the Llama / Mistral / Qwen2 / Qwen3 / Gemma 3 / Qwen3-MoE / Mixtral models
 * `loadModelWeights` loads: a
 * forward pass of any number of new tokens against a KV cache, encoded as one command buffer
 * (prompts longer than `prefillChunk` take one per chunk), scratch from a `BufferPool` that is
 * reset per pass, barriers from the ops' declared accesses.
 *
 * Per layer, with the residual stream `x` [tokens, hidden] and `n` its normed copy:
 *   q, k, v = linears(n) (+ bias); Qwen3: per-head RMSNorm of q and k; RoPE(q, k) at the cache
 *   position; k, v appended to the cache; attention (decode kernel for one token, the causal
 *   prefill kernel otherwise); o = o_proj(attn); x += o and n = RMSNorm(x) in one fused op;
 *   x += down(silu(gate(n)) · up(n)), fused with the next layer's (or the final) RMSNorm.
 * The output projection runs on the last position only.
 *
 * Gemma 3: the embedding is scaled (embeddingScale); norms use (1 + w), made once at load; the
 * attention output and the MLP output are normed before their residual adds (sandwich norms);
 * the MLP is GELU-tanh gated; sliding layers rotate with the local base, attend a window, and
 * keep a bounded cache (see KVCache); logits are soft-capped when the config says so.
 * Mixture of experts: router logits → moeRoute (softmax, top-k on the device) → the selected
 * experts' gate and up products gathered in one dispatch each → SwiGLU → the gathered down
 * product → weighted combine; no host round trip, so a decode step stays one command buffer.
 *
 * Activations are f32 by default (accuracy first); `activationDType: "f16" | "bf16"` computes in
 * half precision. Weights stay in their stored format: quantized linears go through the MLX
 * affine kernels, GGUF block-quantized ones through the block kernels, dense ones through the
 * dense kernels reading the stored float type. Only the small vectors (norm weights, linear
 * biases) are converted to the activation type once.
 *
 * @example
 * const decoder = new Decoder(device, weights);
 * using cache = decoder.newCache();
 * const logits = decoder.forward([1, 2, 3], cache);   // prefill
 * const next = decoder.forward([4], cache);           // one decode step
 */
import type { Buffer } from "../buffer.ts";
import { cmdBufCount } from "../counters.ts";
import type { Device } from "../device.ts";
import { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError, DisposedError } from "../errors.ts";
import { decodeFloats, encodeFloats } from "../io/floats.ts";
import { ATTENTION_HEAD_DIMS, FLOATS } from "../../kernels/catalog.ts";
import * as ops from "../ops/all.ts";
import { checkOptions } from "../ops/validate.ts";
import { BufferPool } from "../pool.ts";
import type { ModelConfig } from "./config.ts";
import type { LinearWeights, ModelWeights } from "./weights.ts";

/** Float types activations and KV caches may use. */
export type FloatName = "f32" | "f16" | "bf16";

const FLOAT_BY_NAME = Object.fromEntries(FLOATS.map((d) => [d.name, d])) as Readonly<Record<FloatName, DType>>;

/** The DType of a float type name (or a DType), checked; `name` labels the error. */
export function floatDType(name: string, v: FloatName | DType): DType {
  if (typeof v === "string" && Object.hasOwn(FLOAT_BY_NAME, v)) return FLOAT_BY_NAME[v];
  if (FLOATS.includes(v as DType)) return v as DType;
  throw new ArgumentError(name, `must be "f32", "f16" or "bf16" (got ${JSON.stringify(typeof v === "object" ? (v as DType).name : v)})`);
}

export interface DecoderOptions {
  /** Type activations are computed in (default "f32"). */
  activationDType?: FloatName | DType;
  /** Most tokens per command buffer when a prompt is long (default 512). */
  prefillChunk?: number;
}

export interface KVCacheOptions {
  /** Most positions the cache may hold (default: the model's max_position_embeddings, else 4096). */
  maxLength?: number;
  /** Storage type (default: the activation type). */
  dtype?: FloatName | DType;
  /** Positions allocated at first; the cache doubles as needed up to `maxLength` (default 256). */
  initialCapacity?: number;
}

/** How to pick the next token on the device (see `ops.sample`). */
export interface SamplingParams {
  /** 0 is greedy (argmax). */
  temperature: number;
  /** 0 disables. */
  topK: number;
  /** 1 disables. */
  topP: number;
  seed: number;
  /** Position in the random stream (the generated-token counter). */
  step: number;
  /** Logit processing before sampling, on the device (see `ops.processLogits`). */
  processing?: LogitProcessing;
  /** Also compute the chosen token's log-probability and the `logprobs` most likely tokens' (0: only the chosen one's). */
  logprobs?: number;
}

/** Penalties, biases and min-p applied to the logits before sampling. */
export interface LogitProcessing {
  /** Distinct tokens of the penalty window and how often each occurs there. */
  history: readonly (readonly [token: number, count: number])[];
  /** Distinct tokens and the bias added to each logit. */
  biases: readonly (readonly [token: number, bias: number])[];
  repetitionPenalty: number;
  presencePenalty: number;
  frequencyPenalty: number;
  minP: number;
}

/**
 * Keys and values of every layer, head-major [kvHeads, capacity, headDim] as the attention
 * kernels read them, plus the number of positions already written. Grows by doubling (a copy on
 * the device, in the pass that needs it) up to `maxLength`.
 *
 * Sliding-window layers (Gemma 3) keep a bounded cache: at most `slidingLimit` rows,
 * 2·(window − 1) + prefillChunk. When a pass would run past it, the last window − 1 positions are
 * moved to the front (one copy on the device, amortized over about window + chunk tokens) and
 * `slidingBase`, the first position those layers still hold, advances. So a long generation's
 * memory stops growing on those layers; the copy's source and destination never overlap because
 * the limit leaves room for two windows.
 *
 * @example
 * using cache = decoder.newCache({ maxLength: 2048, dtype: "f16" });
 * decoder.forward(prompt, cache);
 * console.log(cache.position); // prompt.length
 */
export class KVCache {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly dtype: DType;
  readonly maxLength: number;
  /** Window of the sliding layers (undefined: every layer attends all positions). */
  readonly window: number | undefined;
  /** Most rows a sliding layer's buffers hold. */
  readonly slidingLimit: number;
  /** @internal The decoder this cache belongs to. */
  readonly owner: object;
  readonly #sliding: readonly boolean[];
  #keys: Buffer[] = [];
  #values: Buffer[] = [];
  #capacity = 0;
  #slidingCapacity = 0;
  #slidingBase = 0;
  #position = 0;
  #disposed = false;

  /** @internal Use `Decoder.newCache` (or `Model.newCache`). */
  constructor(owner: object, readonly device: Device, config: ModelConfig, dtype: DType, maxLength: number, initialCapacity: number, prefillChunk: number) {
    this.owner = owner;
    this.layers = config.numHiddenLayers;
    this.kvHeads = config.numKeyValueHeads;
    this.headDim = config.headDim;
    this.dtype = dtype;
    this.maxLength = maxLength;
    this.#sliding = config.layerAttention.map((a) => a === "sliding");
    this.window = this.#sliding.some((s) => s) ? config.slidingWindow : undefined;
    this.slidingLimit = this.window === undefined ? maxLength : Math.min(maxLength, 2 * (this.window - 1) + prefillChunk);
    const initial = Math.min(initialCapacity, maxLength);
    this.#keys = new Array<Buffer>(this.layers);
    this.#values = new Array<Buffer>(this.layers);
    this.#allocate(false, initial);
    this.#allocate(true, Math.min(initial, this.slidingLimit));
  }

  /** Positions written so far: the next token goes to this position. */
  get position(): number {
    return this.#position;
  }

  /** Positions the full-attention layers' buffers currently hold. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Rows the sliding layers' buffers currently hold (at most `slidingLimit`). */
  get slidingCapacity(): number {
    return this.#slidingCapacity;
  }

  /** First position the sliding layers still hold (row 0 of their buffers). */
  get slidingBase(): number {
    return this.#slidingBase;
  }

  /** Positions still free before `maxLength`. */
  get remaining(): number {
    return this.maxLength - this.#position;
  }

  /** Bytes of device memory the cache holds. */
  get byteLength(): number {
    let rows = 0;
    for (const s of this.#sliding) rows += s ? this.#slidingCapacity : this.#capacity;
    return 2 * this.#rowBytes * rows;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Whether `layer` is a sliding-window layer. */
  isSliding(layer: number): boolean {
    return this.#sliding[layer] === true;
  }

  /** The key buffer of `layer` (valid until the cache grows). */
  keys(layer: number): Buffer {
    this.#check();
    return this.#keys[this.#layer(layer)]!;
  }

  /** The value buffer of `layer` (valid until the cache grows). */
  values(layer: number): Buffer {
    this.#check();
    return this.#values[this.#layer(layer)]!;
  }

  #layer(layer: number): number {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.layers) {
      throw new ArgumentError("layer", `must be an integer in [0, ${this.layers}) (got ${typeof layer === "number" ? layer : typeof layer})`);
    }
    return layer;
  }

  /**
   * Forget positions from `position` on (default 0: empty the cache), so they are computed again.
   * With sliding layers, a position whose window reaches before `slidingBase` can no longer be
   * recomputed: only 0 or positions from slidingBase + window − 1 on are accepted.
   *
   * @example
   * cache.truncate(systemPromptLength); // keep a shared prefix
   */
  truncate(position = 0): void {
    this.#check();
    if (!Number.isSafeInteger(position) || position < 0 || position > this.#position) {
      throw new ArgumentError("position", `must be an integer in [0, ${this.#position}] (got ${position})`);
    }
    if (position === 0) this.#slidingBase = 0;
    else if (this.window !== undefined && this.#slidingBase > 0 && position < this.#slidingBase + this.window - 1) {
      throw new ArgumentError("position", `must be 0 or at least ${this.#slidingBase + this.window - 1}: the sliding-window layers no longer hold positions before ${this.#slidingBase} (got ${position})`);
    }
    this.#position = position;
  }

  /** @internal Called by the decoder once a pass has completed. */
  advance(tokens: number): void {
    this.#check();
    if (!Number.isSafeInteger(tokens) || tokens < 0 || this.#position + tokens > this.#capacity) {
      throw new ArgumentError("tokens", `must be an integer in [0, ${this.#capacity - this.#position}] (got ${tokens})`);
    }
    this.#position += tokens;
  }

  /**
   * @internal Make room for `tokens` more positions, encoding the copies of the old contents into
   * `enc`; returns the buffers to dispose once that command buffer has completed.
   */
  reserve(enc: CommandEncoder, tokens: number): Buffer[] {
    this.#check();
    if (!Number.isSafeInteger(tokens) || tokens < 0) throw new ArgumentError("tokens", `must be a non-negative integer (got ${tokens})`);
    const needed = this.#position + tokens;
    if (needed > this.maxLength) {
      throw new ArgumentError("tokens", `cache overflow: ${tokens} new tokens at position ${this.#position} exceed the cache's maxLength of ${this.maxLength} positions`);
    }
    const retired = this.#grow(enc, false, needed, this.maxLength, this.#position);
    if (this.window !== undefined) {
      if (this.slidingLimit < this.maxLength && tokens > this.slidingLimit - (this.window - 1)) {
        throw new ArgumentError("tokens", `${tokens} tokens in one pass exceed what the sliding layers' cache holds past a window (${this.slidingLimit - (this.window - 1)})`);
      }
      let held = this.#position - this.#slidingBase;
      if (held + tokens > this.slidingLimit) {
        // Keep the last window − 1 positions, moved to the front; the rest have left every window.
        const keep = Math.min(this.window - 1, held);
        const from = held - keep;
        if (keep > 0) {
          const params = { tokens: keep, srcPosition: from, dstPosition: 0 };
          for (let l = 0; l < this.layers; l++) {
            if (!this.#sliding[l]) continue;
            ops.kvCacheCopy(enc, this.#keys[l]!, this.#keys[l]!, params);
            ops.kvCacheCopy(enc, this.#values[l]!, this.#values[l]!, params);
          }
        }
        this.#slidingBase += from;
        held = keep;
      }
      retired.push(...this.#grow(enc, true, held + tokens, this.slidingLimit, held));
    }
    return retired;
  }

  /** Release the buffers. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const b of [...this.#keys, ...this.#values]) b.dispose();
    this.#keys = [];
    this.#values = [];
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  get #rowBytes(): number {
    return this.kvHeads * this.headDim * this.dtype.size;
  }

  /** Grow one group's buffers (sliding or not) to hold `needed` rows (doubling, capped at `limit`), copying `used` rows. */
  #grow(enc: CommandEncoder, sliding: boolean, needed: number, limit: number, used: number): Buffer[] {
    const current = sliding ? this.#slidingCapacity : this.#capacity;
    if (needed <= current || !this.#sliding.some((s) => s === sliding)) return [];
    let capacity = Math.max(current, 1);
    while (capacity < needed) capacity *= 2;
    capacity = Math.min(capacity, limit);
    const old: Buffer[] = [];
    const oldKeys = [...this.#keys];
    const oldValues = [...this.#values];
    this.#allocate(sliding, capacity);
    for (let l = 0; l < this.layers; l++) {
      if (this.#sliding[l] !== sliding) continue;
      old.push(oldKeys[l]!, oldValues[l]!);
      if (used > 0) {
        const params = { tokens: used };
        ops.kvCacheCopy(enc, oldKeys[l]!, this.#keys[l]!, params);
        ops.kvCacheCopy(enc, oldValues[l]!, this.#values[l]!, params);
      }
    }
    return old;
  }

  /** New buffers of `capacity` rows for the sliding or the full-attention layers. */
  #allocate(sliding: boolean, capacity: number): void {
    const bytes = this.#rowBytes * capacity;
    const shape = [this.kvHeads, capacity, this.headDim];
    for (let l = 0; l < this.layers; l++) {
      if (this.#sliding[l] !== sliding) continue;
      this.#keys[l] = this.device.allocBuffer(bytes, this.dtype, shape);
      this.#values[l] = this.device.allocBuffer(bytes, this.dtype, shape);
    }
    if (sliding) this.#slidingCapacity = capacity;
    else this.#capacity = capacity;
  }

  #check(): void {
    if (this.#disposed) throw new DisposedError("KV cache");
  }
}

/** A linear layer ready to encode: the weight in its stored form, the bias in the activation type. */
interface Linear {
  /** The weight as matmul takes it: a dense buffer, an MLX affine table or GGUF blocks. */
  readonly matrix: Buffer | ops.QuantizedTable | ops.BlockTable;
  readonly bias: Buffer | undefined;
}

/** Stacked experts ready to encode. */
interface Experts {
  readonly router: Linear;
  readonly gate: ops.StackedExperts;
  readonly up: ops.StackedExperts;
  readonly down: ops.StackedExperts;
}

interface Layer {
  readonly sliding: boolean;
  readonly inputNorm: Buffer;
  readonly postNorm: Buffer;
  /** Gemma: the norm before the MLP and the norm of its output. */
  readonly preFFNorm: Buffer | undefined;
  readonly postFFNorm: Buffer | undefined;
  readonly qNorm: Buffer | undefined;
  readonly kNorm: Buffer | undefined;
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  /** Dense MLP (undefined on a mixture-of-experts layer). */
  readonly gate: Linear | undefined;
  readonly up: Linear | undefined;
  readonly down: Linear | undefined;
  readonly experts: Experts | undefined;
}

/** Per-pass buffers of the mixture-of-experts layers. */
interface MoeScratch {
  readonly logits: Buffer;
  readonly indices: Buffer;
  readonly weights: Buffer;
  readonly gate: Buffer;
  readonly up: Buffer;
  readonly down: Buffer;
  /** Prefill: the sort of the pairs by expert and the activations in that order. */
  readonly grouped: { readonly order: Buffer; readonly sortedRow: Buffer; readonly batches: Buffer; readonly xs: Buffer } | undefined;
}

/** What a pass produces on the device, read back after it completes. */
type Output = { kind: "logits" } | { kind: "sample"; params: SamplingParams };

/** Result of `Decoder.run`. */
export interface StepResult {
  /** Last position's logits (when asked for). */
  logits?: Float32Array;
  /** Sampled token (when sampling). */
  token?: number;
  /** The sampled token's log-probability under the processed logits (when asked for). */
  logprob?: number;
  /** The most likely tokens and their log-probabilities, most likely first (when asked for). */
  topLogprobs?: { token: number; logprob: number }[];
  /** Command buffers the pass used. */
  commandBuffers: number;
}

/**
 * Runs a loaded model's forward passes (see the module comment). `loadModel` builds one; use it
 * directly to run weights loaded with `loadModelWeights`. It owns the converted norm and bias
 * vectors and the scratch pool, not the weights.
 *
 * @example
 * using decoder = new Decoder(device, weights);
 * using cache = decoder.newCache();
 * const { token } = decoder.sample(promptIds, cache, { temperature: 0, topK: 0, topP: 1, seed: 0, step: 0 });
 */
export class Decoder {
  readonly device: Device;
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  /** Type activations are computed in. */
  readonly activationDType: DType;
  readonly prefillChunk: number;
  readonly #pool: BufferPool;
  readonly #layers: readonly Layer[];
  readonly #finalNorm: Buffer;
  readonly #lmHead: Linear;
  /** The embedding table as `ops.embedding` takes it. */
  readonly #embedding: Buffer | ops.QuantizedTable | ops.BlockTable;
  /** Buffers converted to the activation type, owned here. */
  readonly #owned: Buffer[] = [];
  readonly #rope: ops.RopeParams;
  /** RoPE of the sliding layers: the local base, no scaling. */
  readonly #localRope: ops.RopeParams;
  /** Milliseconds the last awaited decode pass took: when `runAsync` starts checking for completion. */
  #decodeMs = 0;
  /** Settles when the last queued asynchronous pass has finished. */
  #lastPass: Promise<void> = Promise.resolve();
  #passesInFlight = 0;
  #disposed = false;

  /**
   * @example
   * const decoder = new Decoder(device, loadModelWeights(device, dir), { activationDType: "f16" });
   */
  constructor(device: Device, weights: ModelWeights, options: DecoderOptions = {}) {
    checkOptions("options", options, ["activationDType", "prefillChunk"]);
    this.device = device;
    this.weights = weights;
    this.config = weights.config;
    this.activationDType = floatDType("options.activationDType", options.activationDType ?? "f32");
    this.prefillChunk = options.prefillChunk ?? 512;
    if (!Number.isSafeInteger(this.prefillChunk) || this.prefillChunk < 1) {
      throw new ArgumentError("options.prefillChunk", `must be a positive integer (got ${options.prefillChunk})`);
    }
    const c = this.config;
    if (c.moe && c.moe.numExperts > ops.MOE_MAX_EXPERTS) {
      throw new ArgumentError("weights", `${c.moe.numExperts} experts exceed the router kernel's ${ops.MOE_MAX_EXPERTS}`);
    }
    if (c.moe && c.moe.expertsPerToken > ops.MOE_MAX_TOP_K) {
      throw new ArgumentError("weights", `${c.moe.expertsPerToken} experts per token exceed the router kernel's ${ops.MOE_MAX_TOP_K}`);
    }
    if (!ATTENTION_HEAD_DIMS.includes(c.headDim)) {
      throw new ArgumentError("weights", `head_dim ${c.headDim} is not supported by the attention kernels (supported: ${ATTENTION_HEAD_DIMS.join(", ")})`);
    }
    this.#pool = new BufferPool(device);
    // Norm weights and linear biases in the activation type, converted in one command buffer.
    const enc = device.commandEncoder();
    try {
      const vector = (b: Buffer) => this.#toActivation(enc, b);
      // Gemma's norms scale by 1 + w, which MLX computes in the weight's type; made once, here.
      const norm = (b: Buffer) => (c.normUnitOffset ? this.#unitOffset(b) : vector(b));
      const stacked = (w: LinearWeights): ops.StackedExperts =>
        w.bits === undefined ? w.weight : { weight: w.weight, scales: w.scales!, biases: w.biases!, bits: w.bits, groupSize: w.groupSize! };
      const linear = (w: LinearWeights): Linear => ({
        matrix: matrixOf(w),
        bias: w.bias === undefined ? undefined : vector(w.bias),
      });
      this.#layers = weights.layers.map((l, i) => ({
        sliding: c.layerAttention[i] === "sliding",
        inputNorm: norm(l.inputNorm),
        postNorm: norm(l.postAttentionNorm),
        preFFNorm: l.preFeedforwardNorm && norm(l.preFeedforwardNorm),
        postFFNorm: l.postFeedforwardNorm && norm(l.postFeedforwardNorm),
        qNorm: l.attention.qNorm && norm(l.attention.qNorm),
        kNorm: l.attention.kNorm && norm(l.attention.kNorm),
        q: linear(l.attention.q),
        k: linear(l.attention.k),
        v: linear(l.attention.v),
        o: linear(l.attention.o),
        gate: l.mlp && linear(l.mlp.gate),
        up: l.mlp && linear(l.mlp.up),
        down: l.mlp && linear(l.mlp.down),
        experts: l.moe && { router: linear(l.moe.router), gate: stacked(l.moe.gate), up: stacked(l.moe.up), down: stacked(l.moe.down) },
      }));
      this.#finalNorm = norm(weights.norm);
      this.#embedding = linear(weights.embedding).matrix;
      this.#lmHead = linear(weights.lmHead);
      enc.commitAndWait();
    } catch (e) {
      this.dispose();
      throw e;
    } finally {
      enc.dispose();
    }
    const scaling = ropeScaling(c);
    this.#rope = { theta: c.ropeTheta, offset: 0, traditional: c.ropeTraditional, ...(scaling && { scaling }) };
    this.#localRope = { theta: c.ropeLocalTheta ?? c.ropeTheta, offset: 0, traditional: c.ropeTraditional };
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * A new, empty KV cache for this decoder.
   *
   * @example
   * using cache = decoder.newCache({ dtype: "f16" });
   */
  newCache(options: KVCacheOptions = {}): KVCache {
    this.#check();
    checkOptions("options", options, ["maxLength", "dtype", "initialCapacity"]);
    const maxLength = options.maxLength ?? this.config.maxPositionEmbeddings ?? 4096;
    const initial = options.initialCapacity ?? 256;
    for (const [name, v] of [["options.maxLength", maxLength], ["options.initialCapacity", initial]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new ArgumentError(name, `must be a positive integer (got ${v})`);
    }
    const dtype = floatDType("options.dtype", options.dtype ?? this.activationDType);
    return new KVCache(this, this.device, this.config, dtype, maxLength, initial, this.prefillChunk);
  }

  /**
   * Run `tokens` through the model at the cache's position and return the last position's logits.
   * The cache advances by `tokens.length`.
   *
   * @example
   * const logits = decoder.forward(promptIds, cache);
   */
  forward(tokens: ArrayLike<number>, cache: KVCache): Float32Array {
    return this.run(tokens, cache, { kind: "logits" }).logits!;
  }

  /**
   * Run `tokens` and sample the next token on the device (no logits leave it).
   *
   * @example
   * const { token } = decoder.sample([lastToken], cache, { temperature: 0.7, topK: 0, topP: 0.9, seed: 1, step: i });
   */
  sample(tokens: ArrayLike<number>, cache: KVCache, params: SamplingParams): StepResult {
    return this.run(tokens, cache, { kind: "sample", params });
  }

  /**
   * The same as `forward`, waiting for the device without blocking the JS thread.
   *
   * @example
   * const logits = await decoder.forwardAsync(promptIds, cache);
   */
  async forwardAsync(tokens: ArrayLike<number>, cache: KVCache): Promise<Float32Array> {
    return (await this.runAsync(tokens, cache, { kind: "logits" })).logits!;
  }

  /**
   * The same as `sample`, waiting for the device without blocking the JS thread (timers, I/O
   * and other requests run while the command buffer executes).
   *
   * @example
   * const { token } = await decoder.sampleAsync([lastToken], cache, { temperature: 0, topK: 0, topP: 1, seed: 0, step: i });
   */
  async sampleAsync(tokens: ArrayLike<number>, cache: KVCache, params: SamplingParams): Promise<StepResult> {
    return this.runAsync(tokens, cache, { kind: "sample", params });
  }

  /** @internal One call of `forward` or `sample`. */
  run(tokens: ArrayLike<number>, cache: KVCache, output: Output): StepResult {
    this.#checkRun(tokens, cache);
    if (this.#passesInFlight > 0) throw new ArgumentError("tokens", "an asynchronous pass of this model is in flight; await it (or use the async methods) before a blocking one");
    const cbStart = cmdBufCount();
    let result: StepResult = { commandBuffers: 0 };
    for (let start = 0; start < tokens.length; start += this.prefillChunk) {
      const end = Math.min(tokens.length, start + this.prefillChunk);
      const pass = this.#encodePass(tokens, start, end, cache, end === tokens.length ? output : undefined);
      try {
        pass.encoder.commitAndWaitLabeled(pass.label);
        result = pass.finish();
      } finally {
        pass.release();
      }
    }
    result.commandBuffers = cmdBufCount() - cbStart;
    return result;
  }

  /**
   * @internal `run`, awaiting each command buffer without blocking. Between chunks of a long
   * prompt the event loop runs too. The cache advances only once a pass has completed, so a
   * caller that stops between passes leaves it consistent.
   */
  async runAsync(tokens: ArrayLike<number>, cache: KVCache, output: Output): Promise<StepResult> {
    this.#checkRun(tokens, cache);
    // Passes share the scratch pool, so one runs at a time: later callers queue here.
    const previous = this.#lastPass;
    let done!: () => void;
    this.#lastPass = new Promise<void>((resolve) => (done = resolve));
    this.#passesInFlight++;
    try {
      await previous;
      this.#checkRun(tokens, cache);
      return await this.#runAsyncLocked(tokens, cache, output);
    } finally {
      this.#passesInFlight--;
      done();
    }
  }

  async #runAsyncLocked(tokens: ArrayLike<number>, cache: KVCache, output: Output): Promise<StepResult> {
    const cbStart = cmdBufCount();
    let result: StepResult = { commandBuffers: 0 };
    for (let start = 0; start < tokens.length; start += this.prefillChunk) {
      const end = Math.min(tokens.length, start + this.prefillChunk);
      const pass = this.#encodePass(tokens, start, end, cache, end === tokens.length ? output : undefined);
      try {
        const t0 = performance.now();
        await pass.encoder.commitAndWaitAsync(pass.label, { expectedMs: end - start === 1 ? this.#decodeMs : 0 });
        if (end - start === 1) this.#decodeMs = performance.now() - t0;
        result = pass.finish();
      } finally {
        pass.release();
      }
    }
    result.commandBuffers = cmdBufCount() - cbStart;
    return result;
  }

  #checkRun(tokens: ArrayLike<number>, cache: KVCache): void {
    this.#check();
    this.checkTokens(tokens);
    if (!(cache instanceof KVCache) || cache.owner !== this) throw new ArgumentError("cache", "must be a KVCache made by this model's newCache()");
    if (cache.disposed) throw new DisposedError("KV cache");
    if (tokens.length > cache.remaining) {
      throw new ArgumentError("tokens", `cache overflow: ${tokens.length} tokens at position ${cache.position} exceed the cache's maxLength of ${cache.maxLength} positions`);
    }
  }

  /** Throws unless `tokens` is a non-empty list of ids in [0, vocabSize). */
  checkTokens(tokens: ArrayLike<number>): void {
    if (tokens === null || typeof tokens !== "object" || typeof tokens.length !== "number") {
      throw new ArgumentError("tokens", `must be an array of token ids (got ${tokens === null ? "null" : typeof tokens})`);
    }
    if (!Number.isSafeInteger(tokens.length) || tokens.length < 0) {
      throw new ArgumentError("tokens", `length must be a non-negative integer (got ${tokens.length})`);
    }
    if (tokens.length === 0) throw new ArgumentError("tokens", "must hold at least one token id (got an empty list)");
    const vocab = this.config.vocabSize;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= vocab) {
        throw new ArgumentError(`tokens[${i}]`, `token id ${t} is outside the vocabulary [0, ${vocab})`);
      }
    }
  }

  /** True while an asynchronous pass is queued or running. */
  get busy(): boolean {
    return this.#passesInFlight > 0;
  }

  /** Settles once every asynchronous pass queued so far has finished. */
  idle(): Promise<void> {
    return this.#lastPass;
  }

  /** Release the converted vectors and the scratch pool (not the weights). Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    // The last pass's scratch is still leased (reset() returns it at the start of the next
    // pass): return it first, or its views would hold the memory until garbage collection.
    this.#pool.reset();
    this.#pool.dispose();
    for (const b of this.#owned) b.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ───────────── one pass ─────────────

  /**
   * Encode tokens [start, end) at the cache's position. The caller commits `encoder` (labeled
   * `label`) and waits, then calls `finish` to advance the cache and read back `output`, and
   * `release` in every case.
   */
  #encodePass(tokens: ArrayLike<number>, start: number, end: number, cache: KVCache, output: Output | undefined): { encoder: CommandEncoder; label: string; finish: () => StepResult; release: () => void } {
    const T = end - start;
    const pool = this.#pool;
    pool.reset();
    const enc = this.device.commandEncoder();
    const views: Buffer[] = [];
    let retired: Buffer[] = [];
    const release = () => {
      enc.dispose();
      for (const b of views) b.dispose();
      for (const b of retired) b.dispose();
    };
    try {
      retired = cache.reserve(enc, T);
      const ids = pool.alloc(T * 4, DType.U32, [T]);
      const idView = ids.view(Uint32Array);
      for (let i = 0; i < T; i++) idView[i] = tokens[start + i]!;
      const normed = this.#encodeLayers(enc, ids, T, cache);
      const last = T === 1 ? normed : this.#row(views, normed, T - 1);
      const act = this.activationDType;
      const logits = pool.alloc(this.config.vocabSize * act.size, act, [1, this.config.vocabSize]);
      this.#linear(enc, this.#lmHead, last, logits);
      const cap = this.config.finalLogitSoftcap;
      if (cap !== undefined) ops.softcap(enc, logits, logits, { cap });
      let token: Buffer | undefined;
      let chosen: Buffer | undefined;
      let top: { values: Buffer; indices: Buffer; k: number } | undefined;
      if (output?.kind === "sample") {
        const vocab = this.config.vocabSize;
        const { processing, logprobs, ...sampling } = output.params;
        if (processing !== undefined) this.#processLogits(enc, logits, processing, sampling.temperature);
        token = pool.alloc(4, DType.U32, [1]);
        ops.sample(enc, logits, token, sampling);
        if (logprobs !== undefined) {
          chosen = pool.alloc(8, DType.F32, [2]);
          ops.logprobChosen(enc, logits, token, chosen);
          const k = Math.min(logprobs, vocab);
          if (k > 0) {
            top = { values: pool.alloc(k * act.size, act, [1, k]), indices: pool.alloc(k * 4, DType.U32, [1, k]), k };
            ops.topK(enc, logits, top.values, top.indices);
          }
        }
      }
      const finish = (): StepResult => {
        cache.advance(T);
        const result: StepResult = { commandBuffers: 0 };
        if (output?.kind === "logits") result.logits = readFloats(logits, this.config.vocabSize);
        if (token !== undefined) result.token = token.view(Uint32Array)[0]!;
        if (chosen !== undefined) {
          const [lse, logprob] = chosen.view(Float32Array);
          result.logprob = logprob!;
          if (top !== undefined) {
            const values = readFloats(top.values, top.k);
            const indices = top.indices.view(Uint32Array);
            result.topLogprobs = Array.from(values, (v, i) => ({ token: indices[i]!, logprob: v - lse! }));
          }
        }
        return result;
      };
      return { encoder: enc, label: T === 1 ? "decode" : "prefill", finish, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /** Upload the processing lists (into pool scratch) and encode `ops.processLogits` on `logits` in place. */
  #processLogits(enc: CommandEncoder, logits: Buffer, p: LogitProcessing, temperature: number): void {
    const pool = this.#pool;
    const list = (n: number, dtype: DType) => pool.alloc(4 * Math.max(n, 1), dtype, [Math.max(n, 1)]);
    const historyTokens = list(p.history.length, DType.U32);
    const historyCounts = list(p.history.length, DType.U32);
    const biasTokens = list(p.biases.length, DType.U32);
    const biasValues = list(p.biases.length, DType.F32);
    historyTokens.view(Uint32Array).set(p.history.map((h) => h[0]));
    historyCounts.view(Uint32Array).set(p.history.map((h) => h[1]));
    biasTokens.view(Uint32Array).set(p.biases.map((b) => b[0]));
    biasValues.view(Float32Array).set(p.biases.map((b) => b[1]));
    ops.processLogits(enc, logits, { historyTokens, historyCounts, biasTokens, biasValues }, {
      history: p.history.length,
      biases: p.biases.length,
      repetitionPenalty: p.repetitionPenalty,
      presencePenalty: p.presencePenalty,
      frequencyPenalty: p.frequencyPenalty,
      minP: p.minP,
      temperature: temperature > 0 ? temperature : 1,
    });
  }

  /** Encode the embedding and every layer; returns the final-normed hidden states [T, hidden]. */
  #encodeLayers(enc: CommandEncoder, ids: Buffer, T: number, cache: KVCache): Buffer {
    const c = this.config;
    const act = this.activationDType;
    const pool = this.#pool;
    const h = c.hiddenSize;
    const d = c.headDim;
    const nq = c.numAttentionHeads;
    const nkv = c.numKeyValueHeads;
    const inter = this.#layers.some((l) => l.gate) ? c.intermediateSize : 0;
    const position = cache.position;
    const s = act.size;
    const [x, n, q, k, v, attn, y] = pool.allocBatch([
      { byteLength: T * h * s, dtype: act, shape: [T, h] },
      { byteLength: T * h * s, dtype: act, shape: [T, h] },
      { byteLength: T * nq * d * s, dtype: act, shape: [T, nq, d] },
      { byteLength: T * nkv * d * s, dtype: act, shape: [T, nkv, d] },
      { byteLength: T * nkv * d * s, dtype: act, shape: [T, nkv, d] },
      { byteLength: T * nq * d * s, dtype: act, shape: [T, nq, d] },
      { byteLength: T * h * s, dtype: act, shape: [T, h] },
    ]) as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
    const [gate, up] = inter > 0 ? pool.allocBatch([
      { byteLength: T * inter * s, dtype: act, shape: [T, inter] },
      { byteLength: T * inter * s, dtype: act, shape: [T, inter] },
    ]) as [Buffer, Buffer] : [undefined, undefined];
    const moe = c.moe && this.#layers.some((l) => l.experts) ? this.#moeScratch(T) : undefined;
    const scratchBytes = ops.attentionDecodeScratchBytes(nq, d);
    const scratch = T === 1 ? pool.alloc(scratchBytes, DType.F32, [scratchBytes / 4]) : undefined;

    this.#embed(enc, ids, x);
    if (c.embeddingScale !== undefined) ops.scalarMul(enc, x, x, c.embeddingScale);
    const norm = { eps: c.rmsNormEps };
    ops.rmsNorm(enc, x, this.#layers[0]!.inputNorm, n, norm);
    this.#layers.forEach((layer, li) => {
      // Sliding layers hold positions from cache.slidingBase on, in their own (bounded) buffers.
      const base = layer.sliding ? cache.slidingBase : 0;
      const capacity = layer.sliding ? cache.slidingCapacity : cache.capacity;
      const rope = { ...(layer.sliding ? this.#localRope : this.#rope), offset: position };
      const attention = { kvLen: position - base + T, scale: c.attentionScale, ...(layer.sliding && { window: c.slidingWindow! }) };
      const append = { position: position - base };
      this.#linear(enc, layer.q, n, q);
      this.#linear(enc, layer.k, n, k);
      this.#linear(enc, layer.v, n, v);
      if (layer.qNorm) ops.rmsNorm(enc, q, layer.qNorm, q, norm);
      if (layer.kNorm) ops.rmsNorm(enc, k, layer.kNorm, k, norm);
      ops.rope(enc, q, q, rope);
      ops.rope(enc, k, k, rope);
      const kCache = cache.keys(li);
      const vCache = cache.values(li);
      ops.kvCacheAppend(enc, k, kCache, append);
      ops.kvCacheAppend(enc, v, vCache, append);
      if (scratch) ops.attentionDecode(enc, q, kCache, vCache, attn, scratch, attention);
      else ops.attentionPrefill(enc, q, kCache, vCache, attn, attention);
      this.#linear(enc, layer.o, attn, y);
      if (layer.preFFNorm) {
        // Gemma: x += norm(attention output); n = preFFNorm(x).
        ops.rmsNorm(enc, y, layer.postNorm, y, norm);
        ops.addRmsNorm(enc, y, x, layer.preFFNorm, x, n, norm);
      } else {
        ops.addRmsNorm(enc, y, x, layer.postNorm, x, n, norm);
      }
      if (layer.experts) this.#experts(enc, layer.experts, n, y, moe!);
      else {
        this.#linear(enc, layer.gate!, n, gate!);
        this.#linear(enc, layer.up!, n, up!);
        if (c.hiddenActivation === "gelu_tanh") ops.geglu(enc, gate!, up!, gate!, { approximation: "tanh" });
        else ops.swiglu(enc, gate!, up!, gate!);
        this.#linear(enc, layer.down!, gate!, y);
      }
      if (layer.postFFNorm) ops.rmsNorm(enc, y, layer.postFFNorm, y, norm);
      const next = this.#layers[li + 1];
      ops.addRmsNorm(enc, y, x, next ? next.inputNorm : this.#finalNorm, x, n, norm);
    });
    return n;
  }

  /** Scratch of a mixture-of-experts layer for T tokens. */
  #moeScratch(T: number): MoeScratch {
    const { moe, hiddenSize: h } = this.config;
    const act = this.activationDType;
    const pairs = T * moe!.expertsPerToken;
    const inter = moe!.intermediateSize;
    const [logits, indices, weights, gate, up, down] = this.#pool.allocBatch([
      { byteLength: T * moe!.numExperts * act.size, dtype: act, shape: [T, moe!.numExperts] },
      { byteLength: pairs * 4, dtype: DType.U32, shape: [T, moe!.expertsPerToken] },
      { byteLength: pairs * 4, dtype: DType.F32, shape: [T, moe!.expertsPerToken] },
      { byteLength: pairs * inter * act.size, dtype: act, shape: [pairs, inter] },
      { byteLength: pairs * inter * act.size, dtype: act, shape: [pairs, inter] },
      { byteLength: pairs * h * act.size, dtype: act, shape: [pairs, h] },
    ]) as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
    if (T === 1) return { logits, indices, weights, gate, up, down, grouped: undefined };
    const batchWords = ops.moeBatchElements(pairs, moe!.numExperts);
    const [order, sortedRow, batches, xs] = this.#pool.allocBatch([
      { byteLength: pairs * 4, dtype: DType.U32, shape: [pairs] },
      { byteLength: pairs * 4, dtype: DType.U32, shape: [pairs] },
      { byteLength: batchWords * 4, dtype: DType.U32, shape: [batchWords] },
      { byteLength: pairs * h * act.size, dtype: act, shape: [pairs, h] },
    ]) as [Buffer, Buffer, Buffer, Buffer];
    return { logits, indices, weights, gate, up, down, grouped: { order, sortedRow, batches, xs } };
  }

  /**
   * out [T, hidden] = Σ over each token's top-k experts of weight · down(silu(gate(n)) · up(n)).
   * Decode gathers one product per (token, slot) pair; prefill sorts the pairs by expert and runs
   * the grouped products, each expert's weights read once per batch of up to 4 pairs.
   */
  #experts(enc: CommandEncoder, e: Experts, n: Buffer, out: Buffer, m: MoeScratch): void {
    const { numExperts: experts, expertsPerToken: topK, normTopK } = this.config.moe!;
    this.#linear(enc, e.router, n, m.logits);
    ops.moeRoute(enc, m.logits, m.indices, m.weights, { normTopK });
    const g = m.grouped;
    if (g) {
      ops.moeSort(enc, m.indices, g.order, g.sortedRow, g.batches, { experts });
      ops.moeGatherRows(enc, n, g.order, g.xs, { topK });
      ops.groupedMatmul(enc, g.xs, e.gate, g.batches, m.gate);
      ops.groupedMatmul(enc, g.xs, e.up, g.batches, m.up);
      ops.swiglu(enc, m.gate, m.up, m.gate);
      ops.groupedMatmul(enc, m.gate, e.down, g.batches, m.down);
      ops.moeCombine(enc, m.down, m.weights, out, { sortedRow: g.sortedRow });
      return;
    }
    ops.gatherMatmul(enc, n, e.gate, m.indices, m.gate);
    ops.gatherMatmul(enc, n, e.up, m.indices, m.up);
    ops.swiglu(enc, m.gate, m.up, m.gate);
    ops.gatherMatmul(enc, m.gate, e.down, m.indices, m.down, { xPerPair: true });
    ops.moeCombine(enc, m.down, m.weights, out);
  }


  #embed(enc: CommandEncoder, ids: Buffer, x: Buffer): void {
    ops.embedding(enc, this.#embedding, ids, x);
  }

  /** y [m, n] = x [m, k] · Wᵀ (+ bias). */
  #linear(enc: CommandEncoder, l: Linear, x: Buffer, y: Buffer): void {
    ops.matmul(enc, x, l.matrix, y);
    if (l.bias) ops.elementwiseAdd(enc, y, l.bias, y);
  }

  /** A view of row `row` of a [rows, cols] buffer, disposed after the pass. */
  #row(views: Buffer[], b: Buffer, row: number): Buffer {
    const cols = b.shape[b.shape.length - 1]!;
    const bytes = cols * b.dtype.size;
    const view = b.slice(row * bytes, bytes, b.dtype, [1, cols]);
    views.push(view);
    return view;
  }

  /** `b` in the activation type: itself, or a converted copy owned by the decoder. */
  #toActivation(enc: CommandEncoder, b: Buffer): Buffer {
    const act = this.activationDType;
    if (b.dtype === act) return b;
    const out = this.device.allocBuffer(b.elementCount * act.size, act, b.shape);
    ops.cast(enc, b, out);
    this.#owned.push(out);
    return out;
  }

  /** (1 + w) rounded to w's type (as MLX adds in it), then in the activation type; owned here. */
  #unitOffset(b: Buffer): Buffer {
    const n = b.elementCount;
    const plusOne = decodeFloats(b.view(Uint8Array).subarray(0, n * b.dtype.size), b.dtype).map((v) => v + 1);
    const rounded = decodeFloats(encodeFloats(plusOne, b.dtype), b.dtype);
    const act = this.activationDType;
    const out = this.device.allocBuffer(n * act.size, act, b.shape);
    out.view(Uint8Array).set(encodeFloats(rounded, act));
    this.#owned.push(out);
    return out;
  }

  #check(): void {
    if (this.#disposed) throw new DisposedError("decoder");
    if (this.weights.disposed) throw new DisposedError("model weights");
  }
}

/** A linear's weight as `ops.matmul` / `ops.embedding` take it. */
function matrixOf(w: LinearWeights): Buffer | ops.QuantizedTable | ops.BlockTable {
  if (w.blockType !== undefined) return new ops.BlockTable({ weight: w.weight, type: w.blockType });
  if (w.bits !== undefined) return new ops.QuantizedTable({ weight: w.weight, scales: w.scales!, biases: w.biases!, bits: w.bits, groupSize: w.groupSize! });
  return w.weight;
}

/** The config's RoPE scaling as `ops.rope` takes it. */
function ropeScaling(c: ModelConfig): ops.RopeScaling | undefined {
  const s = c.ropeScaling;
  if (s === undefined) return undefined;
  if (s.type === "linear") return { type: "linear", factor: s.factor };
  return { type: "llama3", factor: s.factor, lowFreqFactor: s.lowFreqFactor, highFreqFactor: s.highFreqFactor, originalMaxPositions: s.originalMaxPositionEmbeddings };
}

/** The first `n` values of a float buffer, as f32. */
function readFloats(b: Buffer, n: number): Float32Array {
  if (b.dtype === DType.F32) return b.view(Float32Array).slice(0, n);
  return Float32Array.from(decodeFloats(b.view(Uint8Array).subarray(0, n * b.dtype.size), b.dtype));
}
