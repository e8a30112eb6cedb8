/**
 * Tokenizer and chat template of a model directory: `tokenizer.json` through
 * `@huggingface/tokenizers`, the chat template (`tokenizer_config.json` `chat_template`, or
 * `chat_template.jinja`) through `@huggingface/jinja`. Both files are optional for a model:
 * `Tokenizer.fromDirectory` returns undefined when there is no `tokenizer.json`.
 *
 * @example
 * const tok = Tokenizer.fromDirectory(dir, { eosTokenIds: config.eosTokenIds });
 * const ids = tok!.encodeChat([{ role: "user", content: "Hi" }]);
 * const stream = tok!.streamDecoder();
 * for (const id of generated) process.stdout.write(stream.push(id));
 */
import { Template } from "@huggingface/jinja";
import { Tokenizer as HFTokenizer } from "@huggingface/tokenizers";
import { pathExists, readTextFile } from "../io/files.ts";
import { join } from "node:path";
import { ArgumentError, FormatError, MlxnError } from "../errors.ts";

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

export interface TokenizerOptions {
  /** End-of-sequence ids from the model config, added to the tokenizer's own eos token. */
  eosTokenIds?: readonly number[];
}

export interface ChatTemplateOptions {
  /** End with the assistant turn's opening, so that generation continues it. Default true. */
  addGenerationPrompt?: boolean;
  /** More variables for the template. */
  variables?: Record<string, unknown>;
}

/** A boolean option of an options object (undefined: the default). */
function optionFlag(options: object, key: string, fallback: boolean): boolean {
  if (options === null || typeof options !== "object") throw new ArgumentError("options", `must be an object (got ${options === null ? "null" : typeof options})`);
  const v = (options as Record<string, unknown>)[key];
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") throw new ArgumentError(`options.${key}`, `must be a boolean (got ${JSON.stringify(v)})`);
  return v;
}

/** A call into the tokenizer library, whose own errors become ArgumentErrors naming the method. */
function library<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MlxnError) throw e;
    throw new ArgumentError(what, `the tokenizer refused the input (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** A special token in tokenizer_config.json: a string, or an AddedToken object with `content`. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "object" && v !== null && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return undefined;
}

function readJsonFile(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readTextFile(path));
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(path, `is not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new FormatError(path, "must be a JSON object");
  return v as Record<string, unknown>;
}

/** The template text of `chat_template`: a string, or a list of named templates (the "default" one). */
function templateText(v: unknown, source: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    const named = v.find((t) => t?.name === "default") ?? v[0];
    if (typeof named?.template === "string") return named.template;
  }
  throw new FormatError(source, "chat_template must be a string or a list of {name, template}");
}

export class Tokenizer {
  readonly #hf: HFTokenizer;
  readonly #template: Template | undefined;
  readonly #source: string;
  /** Jinja source of the chat template, if the model has one. */
  readonly chatTemplate: string | undefined;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  /** Ids that end generation: the config's and the tokenizer's eos token. */
  readonly eosTokenIds: readonly number[];
  /** Number of ids, added tokens included. */
  readonly vocabSize: number;
  readonly #config: Record<string, unknown>;

  /**
   * A tokenizer from parsed `tokenizer.json` and `tokenizer_config.json` contents.
   * `source` names them in errors.
   */
  constructor(tokenizerJson: unknown, tokenizerConfig: Record<string, unknown> = {}, options: TokenizerOptions & { source?: string; chatTemplate?: string } = {}) {
    this.#source = options.source ?? "tokenizer.json";
    try {
      this.#hf = new HFTokenizer(tokenizerJson as object, tokenizerConfig);
    } catch (e) {
      throw new FormatError(this.#source, `cannot build a tokenizer (${(e as Error).message})`);
    }
    this.#config = tokenizerConfig;
    this.bosToken = tokenText(tokenizerConfig.bos_token);
    this.eosToken = tokenText(tokenizerConfig.eos_token);
    this.chatTemplate = options.chatTemplate ?? templateText(tokenizerConfig.chat_template, this.#source);
    if (this.chatTemplate !== undefined) {
      try {
        this.#template = new Template(this.chatTemplate);
      } catch (e) {
        throw new FormatError(this.#source, `chat template does not parse (${(e as Error).message})`);
      }
    }
    const eos = new Set(options.eosTokenIds ?? []);
    const own = this.eosToken === undefined ? undefined : this.#hf.token_to_id(this.eosToken);
    if (own !== undefined) eos.add(own);
    this.eosTokenIds = Object.freeze([...eos]);
    this.vocabSize = this.#hf.get_vocab(true).size;
  }

  /**
   * The tokenizer of a model directory, or undefined when it has no `tokenizer.json`.
   *
   * @example
   * const tok = Tokenizer.fromDirectory(dir, { eosTokenIds: config.eosTokenIds });
   */
  static fromDirectory(dir: string, options: TokenizerOptions = {}): Tokenizer | undefined {
    const path = join(dir, "tokenizer.json");
    if (!pathExists(path)) return undefined;
    const configPath = join(dir, "tokenizer_config.json");
    const config = pathExists(configPath) ? readJsonFile(configPath) : {};
    const jinjaPath = join(dir, "chat_template.jinja");
    const chatTemplate = pathExists(jinjaPath) ? readTextFile(jinjaPath) : undefined;
    return new Tokenizer(readJsonFile(path), config, { ...options, source: path, chatTemplate });
  }

  /** Token ids of `text`; `addSpecialTokens` applies the tokenizer's post-processor (e.g. a BOS). */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    if (typeof text !== "string") throw new ArgumentError("text", `must be a string (got ${text === null ? "null" : typeof text})`);
    const add = optionFlag(options, "addSpecialTokens", true);
    return library("encode", () => this.#hf.encode(text, { add_special_tokens: add }).ids);
  }

  /** Text of `ids`. Ids outside the vocabulary decode to nothing. */
  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    if (!Array.isArray(ids) && !ArrayBuffer.isView(ids)) throw new ArgumentError("ids", `must be an array of token ids (got ${ids === null ? "null" : typeof ids})`);
    const list = [...(ids as ArrayLike<number> as number[])];
    if (list.some((id) => !Number.isSafeInteger(id) || id < 0 || id >= 2 ** 32)) throw new ArgumentError("ids", "must be non-negative integer token ids below 2^32");
    const skip = optionFlag(options, "skipSpecialTokens", false);
    // The library refuses an empty list.
    if (list.length === 0) return "";
    return library("decode", () => this.#hf.decode(list, { skip_special_tokens: skip }));
  }

  tokenToId(token: string): number | undefined {
    if (typeof token !== "string") throw new ArgumentError("token", `must be a string (got ${token === null ? "null" : typeof token})`);
    return library("tokenToId", () => this.#hf.token_to_id(token));
  }

  idToToken(id: number): string | undefined {
    if (!Number.isSafeInteger(id) || id < 0) throw new ArgumentError("id", `must be a non-negative integer (got ${String(id)})`);
    return library("idToToken", () => this.#hf.id_to_token(id));
  }

  /** True when `id` ends generation. */
  isEos(id: number): boolean {
    return this.eosTokenIds.includes(id);
  }

  /**
   * Render the chat template for `messages`. Without a template, messages are joined as
   * "role: content" lines (a plain prompt).
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (!Array.isArray(messages) || messages.some((m) => m === null || typeof m !== "object" || typeof m.role !== "string" || typeof m.content !== "string")) {
      throw new ArgumentError("messages", "must be a list of { role, content } strings");
    }
    if (options === null || typeof options !== "object") throw new ArgumentError("options", "must be an object");
    const addGenerationPrompt = options.addGenerationPrompt ?? true;
    if (!this.#template) {
      return messages.map((m) => `${m.role}: ${m.content}\n`).join("") + (addGenerationPrompt ? "assistant: " : "");
    }
    const specials = Object.fromEntries(
      ["bos_token", "eos_token", "pad_token", "unk_token"].map((k) => [k, tokenText(this.#config[k]) ?? ""]),
    );
    try {
      return this.#template.render({ ...specials, ...options.variables, messages, add_generation_prompt: addGenerationPrompt });
    } catch (e) {
      throw new FormatError(this.#source, `chat template failed to render (${(e as Error).message})`);
    }
  }

  /** Ids of the rendered chat template (special tokens come from the template, none are added). */
  encodeChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, options), { addSpecialTokens: false });
  }

  /** An incremental decoder for generated ids. */
  streamDecoder(options: { skipSpecialTokens?: boolean } = {}): StreamDecoder {
    return new StreamDecoder(this, optionFlag(options, "skipSpecialTokens", true));
  }
}

/**
 * Turns generated ids into text as they arrive. Text is released only when it no longer ends in
 * an incomplete UTF-8 sequence (a U+FFFD), and each id is decoded together with the ids before it,
 * so tokenizers that drop a leading space at the start of a decode still space words correctly.
 */
export class StreamDecoder {
  readonly #tokenizer: Tokenizer;
  readonly #skipSpecial: boolean;
  readonly #ids: number[] = [];
  #prefixStart = 0;
  #readStart = 0;

  constructor(tokenizer: Tokenizer, skipSpecialTokens: boolean) {
    this.#tokenizer = tokenizer;
    this.#skipSpecial = skipSpecialTokens;
  }

  #text(from: number, to: number): string {
    return this.#tokenizer.decode(this.#ids.slice(from, to), { skipSpecialTokens: this.#skipSpecial });
  }

  /** Add one id; returns the text that became complete (possibly ""). */
  push(id: number): string {
    this.#ids.push(id);
    const before = this.#text(this.#prefixStart, this.#readStart);
    const after = this.#text(this.#prefixStart, this.#ids.length);
    if (after.length <= before.length || after.endsWith("\uFFFD")) return "";
    this.#prefixStart = this.#readStart;
    this.#readStart = this.#ids.length;
    return after.slice(before.length);
  }

  /** Text still held back (an incomplete sequence at the end of generation). */
  flush(): string {
    const before = this.#text(this.#prefixStart, this.#readStart);
    const after = this.#text(this.#prefixStart, this.#ids.length);
    this.#prefixStart = this.#readStart = this.#ids.length;
    return after.slice(before.length);
  }
}
