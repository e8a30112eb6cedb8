/**
 * The tokenizer a GGUF file carries, rebuilt as the `tokenizer.json` a Hugging Face tokenizer of
 * the same kind would have, so that it runs through the same `Tokenizer` as model directories.
 *
 * - `tokenizer.ggml.model` "gpt2": byte-level BPE from `tokens` and `merges` ("a b" strings).
 *   The pre-tokenizer split follows `tokenizer.ggml.pre` (llama-bpe / llama3, qwen2, or GPT-2's
 *   own regex for anything else).
 * - "llama": SentencePiece BPE with byte fallback, from `tokens` and `scores`. SentencePiece
 *   files have no merges; merges are derived from the scores the way Hugging Face's converter
 *   does it: every way to split a token into two tokens is a merge, ranked by the score of the
 *   merged token (highest first), so the most probable piece is formed first.
 * - `token_type` CONTROL (3) and USER_DEFINED (4) tokens are added tokens, matched whole;
 *   CONTROL ones are special (skipped when decoding with skipSpecialTokens).
 * - `add_bos_token` (default true for llama, false for gpt2) adds the BOS id in front when
 *   encoding with special tokens; `tokenizer.chat_template` is the chat template.
 *
 * @example
 * const tok = tokenizerFromGguf(GgufFile.open(path), { eosTokenIds: config.eosTokenIds });
 * tok?.encode("Hello");
 */
import { FormatError } from "../errors.ts";
import { GgufType, type GgufFile } from "../io/gguf.ts";
import { Tokenizer, type TokenizerOptions } from "./tokenizer.ts";

/** Values of `tokenizer.ggml.token_type`. */
export const GgufTokenType = Object.freeze({ NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 });

const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** Pre-tokenizer splits of the byte-level BPE families, by `tokenizer.ggml.pre`. */
const PRE_TOKENIZER_SPLITS: Readonly<Record<string, string>> = {
  "llama-bpe": LLAMA3_SPLIT,
  llama3: LLAMA3_SPLIT,
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

function stringArray(gguf: GgufFile, key: string, length?: number): string[] | undefined {
  const a = gguf.array(key, GgufType.STRING);
  if (a === undefined) return undefined;
  if (length !== undefined && a.items.length !== length) throw new FormatError(gguf.path, `metadata "${key}" has ${a.items.length} entries, tokenizer.ggml.tokens has ${length}`);
  return a.items as string[];
}

function numberArray(gguf: GgufFile, key: string, length: number): number[] | undefined {
  const a = gguf.array(key);
  if (a === undefined) return undefined;
  if (a.items.length !== length || a.items.some((v) => typeof v !== "number")) {
    throw new FormatError(gguf.path, `metadata "${key}" must be ${length} numbers, one per token (got ${a.items.length} items)`);
  }
  return a.items as number[];
}

function tokenId(gguf: GgufFile, key: string, vocab: number): number | undefined {
  if (gguf.get(key) === undefined) return undefined;
  const id = gguf.uint(key);
  if (id >= vocab) throw new FormatError(gguf.path, `metadata "${key}" is ${id}, outside the ${vocab}-token vocabulary`);
  return id;
}

/** SentencePiece merges from scores: (a, b) for every token a+b, highest-scoring merged token first. */
function mergesFromScores(tokens: readonly string[], scores: readonly number[], types: readonly number[] | undefined): [string, string][] {
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (!ids.has(t)) ids.set(t, i);
  });
  const found: { a: string; b: string; score: number; ia: number; ib: number }[] = [];
  tokens.forEach((t, i) => {
    const type = types?.[i] ?? GgufTokenType.NORMAL;
    if (type !== GgufTokenType.NORMAL && type !== GgufTokenType.USER_DEFINED) return;
    const chars = [...t];
    for (let k = 1; k < chars.length; k++) {
      const a = chars.slice(0, k).join("");
      const b = chars.slice(k).join("");
      const ia = ids.get(a);
      const ib = ids.get(b);
      if (ia !== undefined && ib !== undefined) found.push({ a, b, score: scores[i]!, ia, ib });
    }
  });
  found.sort((x, y) => y.score - x.score || x.ia - y.ia || x.ib - y.ib);
  return found.map(({ a, b }) => [a, b]);
}

/**
 * The `tokenizer.json` and `tokenizer_config.json` equivalents of a GGUF file's tokenizer, or
 * undefined when the file has none.
 */
export function ggufTokenizerFiles(gguf: GgufFile): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown>; chatTemplate: string | undefined } | undefined {
  const kind = gguf.get("tokenizer.ggml.model");
  if (kind === undefined) return undefined;
  const model = gguf.string("tokenizer.ggml.model");
  const tokens = stringArray(gguf, "tokenizer.ggml.tokens");
  if (tokens === undefined) throw new FormatError(gguf.path, 'metadata "tokenizer.ggml.tokens" is missing');
  const n = tokens.length;
  const types = numberArray(gguf, "tokenizer.ggml.token_type", n);
  const bos = tokenId(gguf, "tokenizer.ggml.bos_token_id", n);
  const eos = tokenId(gguf, "tokenizer.ggml.eos_token_id", n);
  const unk = tokenId(gguf, "tokenizer.ggml.unknown_token_id", n);
  const pad = tokenId(gguf, "tokenizer.ggml.padding_token_id", n);

  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    // A token spelled twice keeps its first id, as the vocabulary map of the original tokenizer.
    if (!Object.hasOwn(vocab, t)) vocab[t] = i;
  });
  const addedTokens = tokens.flatMap((content, id) => {
    const type = types?.[id];
    const special = type === GgufTokenType.CONTROL || id === bos || id === eos;
    if (!special && type !== GgufTokenType.USER_DEFINED) return [];
    return [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special }];
  });

  let tokenizerJson: Record<string, unknown>;
  let addBosDefault: boolean;
  if (model === "gpt2") {
    const merges = stringArray(gguf, "tokenizer.ggml.merges");
    if (merges === undefined) throw new FormatError(gguf.path, 'metadata "tokenizer.ggml.merges" is missing (a gpt2 tokenizer needs its merges)');
    const pairs = merges.map((m, i) => {
      const space = m.indexOf(" ", 1);
      if (space < 0) throw new FormatError(gguf.path, `metadata "tokenizer.ggml.merges"[${i}] must be two tokens separated by a space (got ${JSON.stringify(m)})`);
      return [m.slice(0, space), m.slice(space + 1)];
    });
    const pre = gguf.string("tokenizer.ggml.pre", "default");
    const split = PRE_TOKENIZER_SPLITS[pre];
    const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: split === undefined };
    tokenizerJson = {
      pre_tokenizer: split === undefined ? byteLevel : { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: split }, behavior: "Isolated", invert: false }, byteLevel] },
      normalizer: null,
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: pre === "llama-bpe" || pre === "llama3", vocab, merges: pairs },
    };
    addBosDefault = false;
  } else if (model === "llama") {
    const scores = numberArray(gguf, "tokenizer.ggml.scores", n);
    if (scores === undefined) throw new FormatError(gguf.path, 'metadata "tokenizer.ggml.scores" is missing (a llama tokenizer needs its scores)');
    tokenizerJson = {
      normalizer: { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "▁" }, { type: "Replace", pattern: { String: " " }, content: "▁" }] },
      pre_tokenizer: null,
      decoder: { type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "▁" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 0 }] },
      model: { type: "BPE", dropout: null, unk_token: unk === undefined ? null : tokens[unk], continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: mergesFromScores(tokens, scores, types) },
    };
    addBosDefault = true;
  } else {
    throw new FormatError(gguf.path, `tokenizer.ggml.model ${JSON.stringify(model)} is not supported (supported: gpt2, llama)`);
  }
  const addBos = gguf.bool("tokenizer.ggml.add_bos_token", addBosDefault) && bos !== undefined;
  const bosText = bos === undefined ? undefined : tokens[bos]!;
  tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    ...tokenizerJson,
    post_processor: addBos
      ? {
          type: "TemplateProcessing",
          single: [{ SpecialToken: { id: bosText, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
          pair: [{ SpecialToken: { id: bosText, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
          special_tokens: { [bosText!]: { id: bosText, ids: [bos], tokens: [bosText] } },
        }
      : null,
  };
  const text = (id: number | undefined) => (id === undefined ? null : tokens[id]);
  const tokenizerConfig = { bos_token: text(bos), eos_token: text(eos), unk_token: text(unk), pad_token: text(pad), add_bos_token: addBos };
  const template = gguf.get("tokenizer.chat_template");
  return { tokenizerJson, tokenizerConfig, chatTemplate: template === undefined ? undefined : gguf.string("tokenizer.chat_template") };
}

/**
 * The tokenizer of a GGUF file, or undefined when it carries none.
 *
 * @example
 * const tok = tokenizerFromGguf(gguf);
 */
export function tokenizerFromGguf(gguf: GgufFile, options: TokenizerOptions = {}): Tokenizer | undefined {
  const files = ggufTokenizerFiles(gguf);
  if (files === undefined) return undefined;
  return new Tokenizer(files.tokenizerJson, files.tokenizerConfig, { ...options, source: gguf.path, chatTemplate: files.chatTemplate });
}
