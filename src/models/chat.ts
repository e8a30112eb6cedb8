/**
 * Chat sessions: a conversation whose KV cache lives across turns. Each turn re-renders the
 * whole conversation through the chat template and keeps the longest common token prefix of
 * what the cache already holds, so turn two computes only its new tokens (the user's message and
 * whatever of the assistant's reply the template renders differently from how it was generated).
 *
 * Re-rendering rather than appending keeps the template in charge: a template may change earlier
 * text when a message is added (Qwen3 drops the thinking of earlier turns), and the prefix
 * comparison turns that into a shorter reuse instead of a wrong cache.
 *
 * @example
 * await using model = await loadModel(dir);
 * using chat = model.chat({ system: "You are terse.", templateVariables: { enable_thinking: false } });
 * console.log((await chat.send("Hi!").complete()).text);
 * const second = chat.send("And again?");
 * await second.complete();
 * console.log(second.stats.cachedTokens); // the whole first turn
 */
import { ArgumentError, DisposedError } from "../errors.ts";
import { checkOptions } from "../ops/validate.ts";
import type { KVCache, KVCacheOptions } from "./decoder.ts";
import { Generation, type GeneratedToken, type GenerateOptions, type Model } from "./model.ts";
import type { ChatMessage } from "./tokenizer.ts";

export interface ChatSessionOptions {
  /** A system message placed first in every rendering. */
  system?: string;
  /** Extra chat template variables, e.g. Qwen3's `{ enable_thinking: false }`. */
  templateVariables?: Record<string, unknown>;
  /** Tool descriptions, passed to the template as `tools` (the template decides how to show them). */
  tools?: readonly unknown[];
  /** The session's KV cache (default: the model's maximum length, grown as needed). */
  cache?: KVCacheOptions;
}

/** Generation options a chat turn takes (the session owns the cache and the template). */
export type ChatGenerateOptions = Omit<GenerateOptions, "cache" | "chatTemplate">;

/** Length of the longest common prefix of two token lists. */
export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * A conversation with one model and one KV cache. One turn runs at a time. Dispose it to free
 * the cache.
 */
export class ChatSession {
  readonly model: Model;
  /** The conversation so far (without the system message), assistant replies appended as they finish. */
  readonly messages: ChatMessage[] = [];
  readonly #options: ChatSessionOptions;
  readonly #cache: KVCache;
  /** The tokens whose keys and values the cache holds, in order (its length is the cache position). */
  #cached: number[] = [];
  #busy = false;
  #disposed = false;

  /** Same as `model.chat(options)`. */
  constructor(model: Model, options: ChatSessionOptions = {}) {
    checkOptions("options", options, ["system", "templateVariables", "tools", "cache"]);
    if (options.system !== undefined && typeof options.system !== "string") throw new ArgumentError("options.system", "must be a string");
    if (options.templateVariables !== undefined && (typeof options.templateVariables !== "object" || options.templateVariables === null)) {
      throw new ArgumentError("options.templateVariables", "must be an object of template variables");
    }
    if (options.tools !== undefined && !Array.isArray(options.tools)) throw new ArgumentError("options.tools", "must be an array");
    if (model.tokenizer === undefined) throw new ArgumentError("model", "a chat session needs a tokenizer, and this model directory has no tokenizer.json");
    this.model = model;
    this.#options = options;
    this.#cache = model.newCache(options.cache ?? {});
  }

  /** Tokens the cache holds for reuse by the next turn. */
  get cachedTokenCount(): number {
    return this.#cached.length;
  }

  /**
   * Add a user message and generate the assistant's reply, which joins `messages` once the
   * generation ends (however it ends, with the text generated so far).
   *
   * @example
   * for await (const { text } of chat.send("Tell me a story", { maxTokens: 200 })) process.stdout.write(text);
   */
  send(content: string, options: ChatGenerateOptions = {}): Generation {
    if (typeof content !== "string" || content === "") throw new ArgumentError("content", "must be a non-empty string");
    return this.respond([...this.messages, { role: "user", content }], options);
  }

  /**
   * Replace the conversation with `messages` and generate the next assistant reply, reusing the
   * cache for the longest common token prefix (what a server does with each request's history).
   *
   * @example
   * const gen = chat.respond([{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello!" }, { role: "user", content: "Bye" }]);
   */
  respond(messages: readonly ChatMessage[], options: ChatGenerateOptions = {}): Generation {
    this.#check();
    if (this.#busy) throw new ArgumentError("messages", "this chat session is still generating the previous reply; finish or break out of it first");
    if (!Array.isArray(messages) || messages.length === 0) throw new ArgumentError("messages", "must be a non-empty array of chat messages");
    messages.forEach((m, i) => {
      if (m === null || typeof m !== "object" || typeof m.role !== "string" || typeof m.content !== "string") {
        throw new ArgumentError(`messages[${i}]`, "must be an object with string role and content");
      }
    });
    const prompt = this.render(messages);
    const gen = this.#generate(prompt, options, (text) => this.messages.push({ role: "assistant", content: text }));
    this.messages.splice(0, this.messages.length, ...messages);
    return gen;
  }

  /**
   * Generate from raw prompt tokens (no template), reusing the cache for the longest common
   * prefix as `respond` does; `messages` is left alone. A server uses it for plain completions.
   *
   * @example
   * const gen = chat.continueFrom(model.promptTokens("Once upon a time"), { maxTokens: 16 });
   */
  continueFrom(prompt: readonly number[], options: ChatGenerateOptions = {}): Generation {
    this.#check();
    this.model.decoder.checkTokens(prompt);
    return this.#generate([...prompt], options, () => {});
  }

  #generate(prompt: number[], options: ChatGenerateOptions, onEnd: (text: string) => void): Generation {
    if (this.#busy) throw new ArgumentError("messages", "this chat session is still generating the previous reply; finish or break out of it first");
    if (options === null || typeof options !== "object") throw new ArgumentError("options", "must be an object");
    for (const key of ["cache", "chatTemplate"]) if (key in options) throw new ArgumentError(`options.${key}`, "is set by the chat session");
    if (prompt.length > this.#cache.maxLength) {
      throw new ArgumentError("messages", `the conversation is ${prompt.length} tokens, more than the session cache's maxLength of ${this.#cache.maxLength}`);
    }
    // At least the last prompt token is computed: its logits give the first new token.
    const reuse = Math.min(commonPrefixLength(this.#cached, prompt), prompt.length - 1);
    this.#cache.truncate(reuse);
    this.#cached.length = reuse;
    const inner = this.model.generate(prompt.slice(reuse), { ...options, cache: this.#cache });
    this.#busy = true;
    const session = this;
    const cache = this.#cache;
    return new Generation(
      async function* (g: Generation): AsyncGenerator<GeneratedToken, void, undefined> {
        const sync = () => {
          Object.assign(g.stats, inner.stats, { promptTokens: prompt.length, cachedTokens: reuse, generatedTokens: g.stats.generatedTokens });
        };
        try {
          for await (const chunk of inner) {
            sync();
            yield g.record(chunk);
          }
        } finally {
          await inner.return();
          sync();
          // The cache holds the prompt and the generated tokens it was fed: its position says how many.
          session.#cached = [...prompt, ...inner.tokens].slice(0, cache.disposed ? 0 : cache.position);
          onEnd(inner.text);
          session.#busy = false;
          if (session.#disposed) cache.dispose();
        }
      },
      prompt.length,
      this.model.device,
    );
  }

  /** Token ids of `messages` as this session renders them (system message, variables, tools). */
  render(messages: readonly ChatMessage[]): number[] {
    const system = this.#options.system;
    const all = system === undefined ? messages : [{ role: "system", content: system }, ...messages];
    const variables = { ...this.#options.templateVariables, ...(this.#options.tools !== undefined && { tools: this.#options.tools }) };
    return this.model.tokenizer!.encodeChat(all, { variables });
  }

  /** Forget the conversation and the cached tokens (the cache's memory is kept). */
  reset(): void {
    this.#check();
    if (this.#busy) throw new ArgumentError("session", "cannot reset while a reply is being generated");
    this.messages.length = 0;
    this.#cached = [];
    this.#cache.truncate(0);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Free the cache (once a reply being generated has ended). Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (!this.#busy) this.#cache.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #check(): void {
    if (this.#disposed) throw new DisposedError("chat session");
  }
}
