/**
 * Models from MLX model directories: `loadModel(dir)` reads the config, loads the weights, the
 * tokenizer when there is one, and gives a `Model` that runs forward passes and generates text.
 *
 * Generation samples on the device (greedy at temperature 0, else temperature, top-k and top-p
 * with a seeded random stream, see `ops.sample`), one command buffer per decoded token, awaited
 * without blocking the event loop (`CommandBuffer.completed`); an `AbortSignal` ends it. Text is
 * streamed through the tokenizer's `StreamDecoder`, so a chunk never ends inside a UTF-8
 * sequence; stop strings are matched across chunk boundaries, and text that could still begin a
 * stop string is held back until it is clear. Each token is yielded once the next one is known,
 * so the last chunk already carries the tail of the text (nothing is left to flush).
 *
 * @example
 * await using model = await loadModel("models/Qwen3-0.6B-4bit");
 * const gen = model.generate("Why is the sky blue?", { maxTokens: 64, temperature: 0.7, seed: 1 });
 * for await (const { text } of gen) process.stdout.write(text);
 * console.log(gen.stats.decodeTokensPerSecond);
 */
import { Device } from "../device.ts";
import type { DType } from "../dtype.ts";
import { ArgumentError, DisposedError } from "../errors.ts";
import type { ProgressOptions } from "../io/progress.ts";
import { checkOptions } from "../ops/validate.ts";
import { readModelConfig, type ModelConfig } from "./config.ts";
import { Decoder, floatDType, type FloatName, type KVCache, type KVCacheOptions, type LogitProcessing, type SamplingParams } from "./decoder.ts";
import { ChatSession, type ChatSessionOptions } from "./chat.ts";
import { Tokenizer, type ChatMessage, type StreamDecoder } from "./tokenizer.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GgufFile } from "../io/gguf.ts";
import { findGgufFile, ggufModelConfig, loadGgufWeights } from "./gguf_model.ts";
import { tokenizerFromGguf } from "./gguf_tokenizer.ts";
import { loadModelWeights, loadModelWeightsAsync, type ModelWeights } from "./weights.ts";

export interface LoadModelOptions {
  /** Device to run on (default: a new one, disposed with the model). */
  device?: Device;
  /** Type activations are computed in (default "f32"; "f16"/"bf16" trade accuracy for speed). */
  activationDType?: FloatName | DType;
  /** Default storage type of KV caches (default: the activation type). */
  kvCacheDType?: FloatName | DType;
  /** Most tokens per command buffer when a prompt is long (default 512). */
  prefillChunk?: number;
  /**
   * Progress bar while loading weights, and a line on stderr per kernel family whose compile
   * took over a quarter of a second (a first use: compiles are cached on disk); `false` never draws.
   */
  progress?: ProgressOptions | false;
}

export interface GenerateOptions {
  /** Most tokens to generate (default 256). */
  maxTokens?: number;
  /** 0 (the default) is greedy; so is anything below 1e-6 (`ops.MIN_TEMPERATURE`). */
  temperature?: number;
  /** Sample among the k most likely tokens (0, the default, disables). */
  topK?: number;
  /**
   * Sample among the smallest set of tokens reaching this probability, in (0, 1] (1, the
   * default, disables). Values below 2^-30 (`ops.MIN_TOP_P`) are raised to it: all of them keep
   * only the most probable token.
   */
  topP?: number;
  /** Seed of the sampling stream, a u32 (default: random). The same seed gives the same tokens. */
  seed?: number;
  /** Generation stops before the first occurrence of any of these strings. */
  stop?: readonly string[];
  /** Wrap a string prompt in the chat template as a user message (default false). */
  chatTemplate?: boolean;
  /** Continue from this cache (it advances); default: a fresh cache for this generation. */
  cache?: KVCache;
  /** Keep only tokens whose probability is at least this fraction of the most likely one's (0, the default, disables). */
  minP?: number;
  /** Divides positive logits of recent tokens and multiplies negative ones (1, the default, disables; mlx-lm's repetition_penalty). */
  repetitionPenalty?: number;
  /** Subtracted from the logit of every token in the recent window (OpenAI's presence_penalty; default 0). */
  presencePenalty?: number;
  /** Subtracted from a token's logit once per occurrence in the recent window (OpenAI's frequency_penalty; default 0). */
  frequencyPenalty?: number;
  /** How many of the latest tokens (prompt and generated) the penalties look at (default 64). */
  penaltyWindow?: number;
  /** Added to the logits of these token ids before sampling (OpenAI's logit_bias; -100 all but bans a token). */
  logitBias?: Readonly<Record<number, number>>;
  /** Report each token's log-probability, and those of the N most likely tokens (0 … 20; default: off). */
  logprobs?: number;
  /**
   * Stops generation within one token once aborted: the pass in flight completes, the token it
   * sampled is yielded, and the iteration ends with finish reason "abort". The model and the
   * cache stay usable; the cache holds the prompt and every yielded token but the last, as after
   * any other finish.
   */
  signal?: AbortSignal;
}

/** One generated token and the text it completed ("" while a UTF-8 sequence or a possible stop string is pending). */
export interface GeneratedToken {
  readonly token: number;
  readonly text: string;
  /** With the `logprobs` option: the token's log-probability (after penalties and biases, at temperature 1). */
  readonly logprob?: number;
  /** With `logprobs: N > 0`: the N most likely tokens and their log-probabilities, most likely first. */
  readonly topLogprobs?: readonly { readonly token: number; readonly logprob: number }[];
}

export type FinishReason = "length" | "eos" | "stop" | "context" | "abort";

/** Figures of one generation; complete once the iteration has ended. */
export interface GenerationStats {
  promptTokens: number;
  /** Prompt tokens whose keys and values were reused from a cache instead of computed (chat sessions). */
  cachedTokens: number;
  /** Tokens yielded. */
  generatedTokens: number;
  /** Seconds spent compiling kernels on first use during this generation (not in prefill or decode). */
  compileSeconds: number;
  /** Seconds of the prompt's forward pass (up to the first sampled token), less kernel compiles. */
  prefillSeconds: number;
  prefillTokensPerSecond: number;
  /** Single-token forward passes after the prompt, and their seconds. */
  decodeSteps: number;
  decodeSeconds: number;
  decodeTokensPerSecond: number;
  /** Command buffers per decode step. */
  commandBuffersPerToken: number;
  /** Most device bytes held at once since the device was opened. */
  peakBytes: number;
  finishReason: FinishReason | undefined;
}

/**
 * Holds back text that may begin a stop string, and cuts the text at the first stop string.
 */
/**
 * What a generation allocated for itself (its KV cache). Released when the generation ends,
 * returns or throws; if it is dropped half-way, when its model is disposed or, as a backstop,
 * when the garbage collector finds it unreachable.
 */
class GenerationResources {
  cache: KVCache | undefined;
  release(): void {
    this.cache?.dispose();
    this.cache = undefined;
  }
}

const abandoned = new FinalizationRegistry<GenerationResources>((r) => r.release());

class StopMatcher {
  #pending = "";
  constructor(readonly stops: readonly string[]) {}

  /** Add text; returns what can be released, and whether a stop string was found. */
  push(text: string): { text: string; stopped: boolean } {
    const pending = this.#pending + text;
    let cut = -1;
    for (const s of this.stops) {
      const i = pending.indexOf(s);
      if (i !== -1 && (cut === -1 || i < cut)) cut = i;
    }
    if (cut !== -1) {
      this.#pending = "";
      return { text: pending.slice(0, cut), stopped: true };
    }
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, pending.length); k > hold; k--) {
        if (pending.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    this.#pending = pending.slice(pending.length - hold);
    return { text: pending.slice(0, pending.length - hold), stopped: false };
  }

  /** Release what is held back (generation ended without a stop string). */
  flush(): string {
    const t = this.#pending;
    this.#pending = "";
    return t;
  }
}

/**
 * The tokens of one `generate` call, as an async iterator; `stats`, `text` and `tokens` fill in
 * as it runs. Breaking out of a `for await` loop ends it (and frees its cache).
 *
 * @example
 * const gen = model.generate([1, 2, 3], { maxTokens: 8 });
 * const { text, tokens } = await gen.complete();
 */
export class Generation implements AsyncIterableIterator<GeneratedToken> {
  readonly stats: GenerationStats;
  /** Tokens yielded so far. */
  readonly tokens: number[] = [];
  #text = "";
  readonly #it: AsyncGenerator<GeneratedToken, void, undefined>;

  /** @internal Use `Model.generate`. */
  constructor(run: (g: Generation) => AsyncGenerator<GeneratedToken, void, undefined>, promptTokens: number, device: Device, resources?: GenerationResources) {
    this.stats = {
      promptTokens,
      cachedTokens: 0,
      generatedTokens: 0,
      compileSeconds: 0,
      prefillSeconds: 0,
      prefillTokensPerSecond: 0,
      decodeSteps: 0,
      decodeSeconds: 0,
      decodeTokensPerSecond: 0,
      commandBuffersPerToken: 0,
      peakBytes: device.peakBytes,
      finishReason: undefined,
    };
    this.#it = run(this);
    if (resources) abandoned.register(this, resources, resources);
  }

  /** Text yielded so far. */
  get text(): string {
    return this.#text;
  }

  /** @internal */
  record(chunk: GeneratedToken): GeneratedToken {
    this.tokens.push(chunk.token);
    this.#text += chunk.text;
    this.stats.generatedTokens++;
    return chunk;
  }

  next(): Promise<IteratorResult<GeneratedToken, void>> {
    return this.#it.next();
  }

  /** Stop early: the KV cache the generation made is released now. */
  return(): Promise<IteratorResult<GeneratedToken, void>> {
    return this.#it.return();
  }

  /** Stop with an error (rethrown): the KV cache the generation made is released now. */
  throw(error?: unknown): Promise<IteratorResult<GeneratedToken, void>> {
    return this.#it.throw(error);
  }

  /** `await using g = model.generate(…)` stops the generation when the scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#it.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Run to the end; returns the text, the tokens and the figures. */
  async complete(): Promise<{ text: string; tokens: number[]; stats: GenerationStats }> {
    for await (const _ of this);
    return { text: this.#text, tokens: this.tokens, stats: this.stats };
  }
}

/**
 * A loaded model. Dispose it to free its weights, scratch and (if it opened it) its device.
 */
export class Model {
  readonly config: ModelConfig;
  /** Undefined when the directory has no tokenizer.json: token ids still work, text does not. */
  readonly tokenizer: Tokenizer | undefined;
  readonly device: Device;
  readonly weights: ModelWeights;
  readonly decoder: Decoder;
  readonly #kvCacheDType: FloatName | DType | undefined;
  readonly #ownsDevice: boolean;
  /** Caches of generations not finished yet, released with the model. */
  readonly #live = new Set<GenerationResources>();
  #disposed = false;

  /** @internal Use `loadModel`. */
  constructor(parts: { config: ModelConfig; tokenizer: Tokenizer | undefined; device: Device; ownsDevice: boolean; weights: ModelWeights; decoder: Decoder; kvCacheDType?: FloatName | DType }) {
    this.config = parts.config;
    this.tokenizer = parts.tokenizer;
    this.device = parts.device;
    this.weights = parts.weights;
    this.decoder = parts.decoder;
    this.#ownsDevice = parts.ownsDevice;
    this.#kvCacheDType = parts.kvCacheDType;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * A new, empty KV cache.
   *
   * @example
   * using cache = model.newCache({ maxLength: 1024 });
   */
  newCache(options: KVCacheOptions = {}): KVCache {
    this.#check();
    return this.decoder.newCache(options !== null && typeof options === "object" ? { dtype: this.#kvCacheDType, ...options } : options);
  }

  /**
   * Logits of the last of `tokens`. With a cache, the tokens continue from its position and it
   * advances; without one, they are a whole sequence from position 0.
   *
   * @example
   * const logits = model.forward([1, 2, 3]);
   */
  forward(tokens: ArrayLike<number>, cache?: KVCache): Float32Array {
    this.#check();
    if (cache !== undefined) return this.decoder.forward(tokens, cache);
    this.decoder.checkTokens(tokens);
    using temp = this.newCache({ initialCapacity: tokens.length, maxLength: Math.max(tokens.length, this.config.maxPositionEmbeddings ?? 0) });
    return this.decoder.forward(tokens, temp);
  }

  /**
   * A chat session: a conversation whose KV cache is kept across turns, so each turn computes
   * only the tokens that differ from what the cache holds (see `ChatSession`).
   *
   * @example
   * using chat = model.chat({ system: "You are terse." });
   * console.log((await chat.send("Hi!").complete()).text);
   */
  chat(options: ChatSessionOptions = {}): ChatSession {
    this.#check();
    return new ChatSession(this, options);
  }

  /**
   * The same as `forward`, waiting for the device without blocking the JS thread.
   *
   * @example
   * const logits = await model.forwardAsync([1, 2, 3]);
   */
  async forwardAsync(tokens: ArrayLike<number>, cache?: KVCache): Promise<Float32Array> {
    this.#check();
    if (cache !== undefined) return this.decoder.forwardAsync(tokens, cache);
    this.decoder.checkTokens(tokens);
    using temp = this.newCache({ initialCapacity: tokens.length, maxLength: Math.max(tokens.length, this.config.maxPositionEmbeddings ?? 0) });
    return await this.decoder.forwardAsync(tokens, temp);
  }

  /**
   * Token ids of a prompt: a string (through the tokenizer, optionally in the chat template as a
   * user message), chat messages (through the template), or ids as they are.
   */
  promptTokens(prompt: string | readonly number[] | readonly ChatMessage[], chatTemplate = false): number[] {
    if (typeof prompt === "string") {
      if (prompt === "") throw new ArgumentError("prompt", "is empty");
      const tok = this.#requireTokenizer("a text prompt");
      return chatTemplate ? tok.encodeChat([{ role: "user", content: prompt }]) : tok.encode(prompt);
    }
    if (!Array.isArray(prompt) && !ArrayBuffer.isView(prompt)) throw new ArgumentError("prompt", `must be a string, token ids or chat messages (got ${prompt === null ? "null" : typeof prompt})`);
    if (prompt.length === 0) throw new ArgumentError("prompt", "is empty");
    if (typeof prompt[0] === "object") return this.#requireTokenizer("chat messages").encodeChat(prompt as readonly ChatMessage[]);
    const ids = [...(prompt as readonly number[])];
    this.decoder.checkTokens(ids);
    return ids;
  }

  /**
   * Generate from a prompt. Options are checked here, before anything runs.
   *
   * @example
   * for await (const { text } of model.generate("Hello", { maxTokens: 32, stop: ["\n\n"] })) process.stdout.write(text);
   */
  generate(prompt: string | readonly number[] | readonly ChatMessage[], options: GenerateOptions = {}): Generation {
    this.#check();
    checkOptions("options", options, ["maxTokens", "temperature", "topK", "topP", "seed", "stop", "chatTemplate", "cache", "signal", "minP", "repetitionPenalty", "presencePenalty", "frequencyPenalty", "penaltyWindow", "logitBias", "logprobs"]);
    const maxTokens = options.maxTokens ?? 256;
    const temperature = options.temperature ?? 0;
    const topK = options.topK ?? 0;
    const topP = options.topP ?? 1;
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
    const stop = options.stop ?? [];
    if (!Number.isSafeInteger(maxTokens) || maxTokens < 1) throw new ArgumentError("options.maxTokens", `must be a positive integer (got ${maxTokens})`);
    if (typeof temperature !== "number" || !Number.isFinite(temperature) || temperature < 0) throw new ArgumentError("options.temperature", `must be a finite number >= 0 (got ${temperature})`);
    if (!Number.isSafeInteger(topK) || topK < 0) throw new ArgumentError("options.topK", `must be a non-negative integer (got ${topK})`);
    if (typeof topP !== "number" || !(topP > 0 && topP <= 1)) throw new ArgumentError("options.topP", `must be in (0, 1] (got ${topP})`);
    if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ArgumentError("options.seed", `must be an integer in [0, 2^32) (got ${seed})`);
    if (!Array.isArray(stop) || stop.some((s) => typeof s !== "string" || s === "")) throw new ArgumentError("options.stop", "must be a list of non-empty strings");
    if (stop.length > 0) this.#requireTokenizer("stop strings");
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ArgumentError("options.signal", "must be an AbortSignal");
    const ids = this.promptTokens(prompt, options.chatTemplate ?? false);
    const cache = options.cache;
    if (cache !== undefined && ids.length > cache.remaining) {
      throw new ArgumentError("prompt", `cache overflow: ${ids.length} prompt tokens at position ${cache.position} exceed the cache's maxLength of ${cache.maxLength}`);
    }
    const controls = this.#samplingControls(options);
    const sampling = { temperature, topK, topP, seed, ...controls };
    const resources = new GenerationResources();
    return new Generation((g) => this.#run(g, ids, cache, maxTokens, sampling, stop, signal, resources), ids.length, this.device, resources);
  }

  /**
   * Free weights, scratch, and the device if the model opened it. Idempotent. A pass still in
   * flight (a generation being awaited) finishes first: the memory is freed once it has.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.decoder.busy) void this.decoder.idle().then(() => this.#free());
    else this.#free();
  }

  /** `dispose`, then wait until the memory has actually been freed (after a pass in flight). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
    await this.decoder.idle();
  }

  #free(): void {
    for (const r of this.#live) r.release();
    this.#live.clear();
    this.decoder.dispose();
    this.weights.dispose();
    if (this.#ownsDevice) this.device.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The options beyond temperature/top-k/top-p, checked; `processing` undefined when none is on. */
  #samplingControls(options: GenerateOptions): { processing: Omit<LogitProcessing, "history"> | undefined; window: number; logprobs: number | undefined } {
    const minP = options.minP ?? 0;
    const repetitionPenalty = options.repetitionPenalty ?? 1;
    const presencePenalty = options.presencePenalty ?? 0;
    const frequencyPenalty = options.frequencyPenalty ?? 0;
    const window = options.penaltyWindow ?? 64;
    const logprobs = options.logprobs;
    if (typeof minP !== "number" || !(minP >= 0 && minP < 1)) throw new ArgumentError("options.minP", `must be in [0, 1) (got ${minP})`);
    if (typeof repetitionPenalty !== "number" || !(repetitionPenalty > 0) || !Number.isFinite(repetitionPenalty)) throw new ArgumentError("options.repetitionPenalty", `must be a finite number > 0 (got ${repetitionPenalty})`);
    for (const [name, v] of [["options.presencePenalty", presencePenalty], ["options.frequencyPenalty", frequencyPenalty]] as const) {
      if (typeof v !== "number" || !Number.isFinite(v) || Math.abs(v) > 100) throw new ArgumentError(name, `must be a number in [-100, 100] (got ${v})`);
    }
    if (!Number.isSafeInteger(window) || window < 1) throw new ArgumentError("options.penaltyWindow", `must be a positive integer (got ${window})`);
    if (logprobs !== undefined && (!Number.isSafeInteger(logprobs) || logprobs < 0 || logprobs > 20)) throw new ArgumentError("options.logprobs", `must be an integer in [0, 20] (got ${logprobs})`);
    const biases: [number, number][] = [];
    if (options.logitBias !== undefined) {
      if (options.logitBias === null || typeof options.logitBias !== "object") throw new ArgumentError("options.logitBias", "must be an object of token id -> bias");
      for (const [key, bias] of Object.entries(options.logitBias)) {
        const token = Number(key);
        if (!Number.isInteger(token) || token < 0 || token >= this.config.vocabSize) throw new ArgumentError(`options.logitBias[${key}]`, `token id is outside the vocabulary [0, ${this.config.vocabSize})`);
        if (typeof bias !== "number" || !Number.isFinite(bias) || Math.abs(bias) > 100) throw new ArgumentError(`options.logitBias[${key}]`, `bias must be a number in [-100, 100] (got ${bias})`);
        biases.push([token, bias]);
      }
    }
    const on = minP > 0 || repetitionPenalty !== 1 || presencePenalty !== 0 || frequencyPenalty !== 0 || biases.length > 0;
    return { processing: on ? { biases, repetitionPenalty, presencePenalty, frequencyPenalty, minP } : undefined, window, logprobs };
  }

  async *#run(g: Generation, ids: number[], given: KVCache | undefined, maxTokens: number, sampling: { temperature: number; topK: number; topP: number; seed: number; processing: Omit<LogitProcessing, "history"> | undefined; window: number; logprobs: number | undefined }, stops: readonly string[], signal: AbortSignal | undefined, resources: GenerationResources): AsyncGenerator<GeneratedToken, void, undefined> {
    const stats = g.stats;
    this.#check();
    const cache = given ?? this.newCache({ maxLength: Math.max(ids.length + maxTokens, 1), initialCapacity: Math.min(ids.length + maxTokens, 1024) });
    if (given === undefined) {
      resources.cache = cache;
      this.#live.add(resources);
    }
    const tok = this.tokenizer;
    const eos = new Set(tok?.eosTokenIds ?? this.config.eosTokenIds);
    const stream: StreamDecoder | undefined = tok?.streamDecoder();
    const matcher = new StopMatcher(stops);
    let step = 0;
    // The penalty window: the latest tokens, prompt first, each sampled token appended.
    const recent = ids.slice(-sampling.window);
    // Log-probabilities of the token sampled last (`nextInfo`) and of the one being yielded (`info`).
    let nextInfo: { logprob?: number; topLogprobs?: { token: number; logprob: number }[] } = {};
    let info = nextInfo;
    const emit = (chunk: GeneratedToken): GeneratedToken => g.record({ ...chunk, ...info });
    const sample = async (input: number[]): Promise<{ token: number; seconds: number; commandBuffers: number }> => {
      this.#check();
      const t0 = performance.now();
      const compiled0 = this.device.kernels.compileSeconds;
      const { processing, window: _window, logprobs, ...base } = sampling;
      const params: SamplingParams = { ...base, step: step++ };
      if (processing !== undefined) {
        const counts = new Map<number, number>();
        for (const t of recent) counts.set(t, (counts.get(t) ?? 0) + 1);
        params.processing = { ...processing, history: [...counts] };
      }
      if (logprobs !== undefined) params.logprobs = logprobs;
      const r = await this.decoder.sampleAsync(input, cache, params);
      recent.push(r.token!);
      if (recent.length > sampling.window) recent.splice(0, recent.length - sampling.window);
      nextInfo = r.logprob === undefined ? {} : { logprob: r.logprob, ...(r.topLogprobs !== undefined && { topLogprobs: r.topLogprobs }) };
      const compile = this.device.kernels.compileSeconds - compiled0;
      stats.compileSeconds += compile;
      return { token: r.token!, seconds: Math.max(0, (performance.now() - t0) / 1000 - compile), commandBuffers: r.commandBuffers };
    };
    const finish = (reason: FinishReason) => {
      stats.finishReason = reason;
      stats.peakBytes = this.device.peakBytes;
      stats.decodeTokensPerSecond = stats.decodeSeconds > 0 ? stats.decodeSteps / stats.decodeSeconds : 0;
    };
    let decodeCommandBuffers = 0;
    try {
      if (signal?.aborted) return finish("abort");
      const first = await sample(ids);
      stats.prefillSeconds = first.seconds;
      stats.prefillTokensPerSecond = first.seconds > 0 ? ids.length / first.seconds : 0;
      let current = first.token;
      info = nextInfo;
      if (eos.has(current)) return finish("eos");
      for (let count = 1; ; count++) {
        const piece = matcher.push(stream ? stream.push(current) : "");
        if (piece.stopped) {
          yield emit({ token: current, text: piece.text });
          return finish("stop");
        }
        // The last token carries whatever the decoder and the matcher still hold.
        const last = (reason: FinishReason) => {
          const rest = matcher.push(stream ? stream.flush() : "");
          if (!rest.stopped) rest.text += matcher.flush();
          return { chunk: { token: current, text: piece.text + rest.text }, reason: rest.stopped ? "stop" : reason };
        };
        const limit: FinishReason | undefined = count === maxTokens ? "length" : cache.remaining < 1 ? "context" : undefined;
        if (limit) {
          const { chunk, reason } = last(limit);
          yield emit(chunk);
          return finish(reason);
        }
        if (signal?.aborted) {
          // The token sampled last is yielded but not fed back, so the cache holds the prompt
          // and every yielded token but the last, as after any other finish.
          const { chunk } = last("abort");
          yield emit(chunk);
          return finish("abort");
        }
        const next = await sample([current]);
        stats.decodeSteps++;
        stats.decodeSeconds += next.seconds;
        decodeCommandBuffers += next.commandBuffers;
        stats.commandBuffersPerToken = decodeCommandBuffers / stats.decodeSteps;
        if (eos.has(next.token)) {
          const { chunk, reason } = last("eos");
          yield emit(chunk);
          return finish(reason);
        }
        yield emit({ token: current, text: piece.text });
        current = next.token;
        info = nextInfo;
      }
    } finally {
      stats.peakBytes = this.device.peakBytes;
      if (given === undefined) {
        resources.release();
        this.#live.delete(resources);
        abandoned.unregister(resources);
      }
    }
  }

  #requireTokenizer(what: string): Tokenizer {
    if (this.tokenizer === undefined) throw new ArgumentError("prompt", `${what} needs a tokenizer, and this model has none (no tokenizer.json, or no tokenizer in the GGUF file; pass token ids instead)`);
    return this.tokenizer;
  }

  #check(): void {
    if (this.#disposed) throw new DisposedError("model");
  }
}

/**
 * Load a model: an MLX model directory (config.json, safetensors, and tokenizer files when
 * present), or a GGUF file (a `.gguf` path, or a directory holding one `.gguf` file and no
 * config.json) with the tokenizer and chat template it carries. An MLX directory's weights are
 * read through the asynchronous file API, so the event loop keeps running while a large model
 * loads; `loadModelSync` is the blocking form.
 *
 * @example
 * await using model = await loadModel("models/Llama-3.2-1B-Instruct-4bit", { activationDType: "f16" });
 * const logits = await model.forwardAsync(model.promptTokens("Hello"));
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<Model> {
  const parts = prepare(dir, options);
  return assemble(parts, options, async (device) => (parts.loadAsync ? await parts.loadAsync(device) : parts.load(device)));
}

/**
 * `loadModel`, blocking until the weights are read.
 *
 * @example
 * using model = loadModelSync("models/Llama-3.2-1B-Instruct-4bit");
 * const logits = model.forward(model.promptTokens("Hello"));
 * using q4 = loadModelSync("models/qwen2.5-0.5b-instruct-q4_k_m.gguf");
 */
export function loadModelSync(dir: string, options: LoadModelOptions = {}): Model {
  const parts = prepare(dir, options);
  return assemble(parts, options, (device) => parts.load(device));
}

interface ModelParts {
  config: ModelConfig;
  tokenizer: Tokenizer | undefined;
  load: (device: Device) => ModelWeights;
  loadAsync?: (device: Device) => Promise<ModelWeights>;
}

/** What `loadModel` and `loadModelSync` share: everything but reading the weights. */
function prepare(dir: string, options: LoadModelOptions): ModelParts {
  checkOptions("options", options, ["device", "activationDType", "kvCacheDType", "prefillChunk", "progress"]);
  if (typeof dir !== "string" || dir === "") throw new ArgumentError("dir", `must be a model directory or GGUF file path (got ${JSON.stringify(dir)})`);
  if (options.kvCacheDType !== undefined) floatDType("options.kvCacheDType", options.kvCacheDType);
  const ggufPath = existsSync(join(dir, "config.json")) ? undefined : findGgufFile(dir);
  if (ggufPath !== undefined) {
    const gguf = GgufFile.open(ggufPath);
    const config = ggufModelConfig(gguf);
    const tokenizer = tokenizerFromGguf(gguf, { eosTokenIds: config.eosTokenIds });
    return { config, tokenizer, load: (device) => loadGgufWeights(device, gguf, { config, progress: options.progress }) };
  }
  const config = readModelConfig(dir);
  const tokenizer = Tokenizer.fromDirectory(dir, { eosTokenIds: config.eosTokenIds });
  return {
    config,
    tokenizer,
    load: (device) => loadModelWeights(device, dir, { config, progress: options.progress }),
    loadAsync: (device) => loadModelWeightsAsync(device, dir, { config, progress: options.progress }),
  };
}

function assemble(parts: ModelParts, options: LoadModelOptions, load: (device: Device) => ModelWeights): Model;
function assemble(parts: ModelParts, options: LoadModelOptions, load: (device: Device) => Promise<ModelWeights>): Promise<Model>;
/** Open the device (unless given), load the weights and build the decoder; undo it all on failure. */
function assemble(parts: ModelParts, options: LoadModelOptions, load: (device: Device) => ModelWeights | Promise<ModelWeights>): Model | Promise<Model> {
  const { config, tokenizer } = parts;
  const ownsDevice = options.device === undefined;
  const device = options.device ?? Device.open();
  if (options.progress !== false) {
    const stream = options.progress?.stream ?? process.stderr;
    device.kernels.onCompile = (label, seconds) => {
      if (seconds >= 0.25) stream.write(`compiled ${label} in ${seconds.toFixed(1)} s (cached for next time)\n`);
    };
  }
  let weights: ModelWeights | undefined;
  const fail = (e: unknown): never => {
    weights?.dispose();
    if (ownsDevice) device.dispose();
    throw e;
  };
  const build = (w: ModelWeights): Model => {
    weights = w;
    const decoder = new Decoder(device, w, { activationDType: options.activationDType, prefillChunk: options.prefillChunk });
    return new Model({ config, tokenizer, device, ownsDevice, weights: w, decoder, kvCacheDType: options.kvCacheDType });
  };
  try {
    const w = load(device);
    if (w instanceof Promise) return w.then(build).catch(fail);
    return build(w);
  } catch (e) {
    return fail(e);
  }
}
