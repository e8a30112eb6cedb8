/**
 * A small real tokenizer for synthetic models: byte-level BPE (the GPT-2 / Llama 3 / Qwen
 * scheme) whose merges are learned, deterministically, from a short built-in text, plus chat
 * special tokens and reserved tokens that fill the vocabulary to the requested size. The output
 * is a `tokenizer.json` and `tokenizer_config.json` pair that `@huggingface/tokenizers` loads like
 * any model's.
 *
 * @example
 * const { tokenizerJson, tokenizerConfig, specialIds } = buildByteLevelTokenizer(512, { bosToken: true });
 */
import { ArgumentError } from "../errors.ts";

const CORPUS = `
Once upon a time, in a quiet town by the sea, there lived a small robot who liked to count things.
Every morning it counted the boats in the harbor, the birds on the roof and the clouds over the hills.
The baker gave it bread, and the robot said: thank you, that is very kind of you!
Hello! How are you today? I am fine, thank you. What would you like to know?
The weather is warm and bright; later this afternoon there might be some rain.
Numbers are easy: one, two, three, four, five, six, seven, eight, nine and ten.
We write 1, 2, 3, 10, 20, 100 and 2024 with digits, and the answer is 42.
A good question deserves a clear answer, so the assistant thinks before it speaks.
The user asked for a story about a dragon, a castle, a river and a forest full of old trees.
Please explain how the model reads each token, remembers the context and predicts the next word.
Water boils at one hundred degrees, and ice melts when the sun comes out in spring.
My friend plays music in the evening: the piano, the guitar and sometimes the violin.
Cats sleep most of the day, while dogs would rather run, jump and play in the garden.
Learning takes time. Practice every day, read many books and ask many questions.
The library opens at nine o'clock and closes at five; students study there quietly.
She walked along the street, looked at the shops and bought apples, cheese and fresh milk.
`;

/** GPT-2's reversible map from bytes to printable characters. */
function byteAlphabet(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + extra++));
  return out;
}

/** Pre-tokenization close to the ByteLevel regex: words keep their leading space. */
const WORDS = /'(?:s|t|re|ve|m|ll|d)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+/gu;

/** Up to `count` BPE merges learned from the corpus (most frequent pair first, ties by text). */
function learnMerges(alphabet: readonly string[], count: number): [string, string][] {
  const freq = new Map<string, number>();
  const encoder = new TextEncoder();
  for (const w of CORPUS.match(WORDS) ?? []) {
    const key = [...encoder.encode(w)].map((b) => alphabet[b]!).join("\u0000");
    freq.set(key, (freq.get(key) ?? 0) + 1);
  }
  const words = [...freq].map(([k, n]) => ({ symbols: k.split("\u0000"), n }));
  const merges: [string, string][] = [];
  while (merges.length < count) {
    const pairs = new Map<string, number>();
    for (const { symbols, n } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]}\u0000${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best: string | undefined;
    let bestCount = 0;
    for (const [key, n] of pairs) {
      if (n > bestCount || (n === bestCount && best !== undefined && key < best)) [best, bestCount] = [key, n];
    }
    if (best === undefined) break;
    const [a, b] = best.split("\u0000") as [string, string];
    merges.push([a, b]);
    for (const w of words) {
      const next: string[] = [];
      for (let i = 0; i < w.symbols.length; i++) {
        if (i + 1 < w.symbols.length && w.symbols[i] === a && w.symbols[i + 1] === b) next.push(a + b), i++;
        else next.push(w.symbols[i]!);
      }
      w.symbols = next;
    }
  }
  return merges;
}

export const SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"] as const;

/** ChatML turns; the BOS token first when the tokenizer has one. */
export const CHAT_TEMPLATE =
  "{% if bos_token %}{{ bos_token }}{% endif %}" +
  "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}" +
  "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

export interface SyntheticTokenizer {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  /** Ids of `SPECIAL_TOKENS` by content. */
  specialIds: Record<(typeof SPECIAL_TOKENS)[number], number>;
}

/**
 * A byte-level BPE tokenizer with exactly `vocabSize` ids: 256 byte tokens, learned merges, the
 * chat special tokens, then `<|reserved_N|>` tokens if the corpus runs out of merges.
 */
export function buildByteLevelTokenizer(vocabSize: number, options: { bosToken?: boolean } = {}): SyntheticTokenizer {
  const minimum = 256 + SPECIAL_TOKENS.length;
  if (!Number.isSafeInteger(vocabSize) || vocabSize < minimum) {
    throw new ArgumentError("vocabSize", `a byte-level tokenizer needs at least ${minimum} ids (got ${vocabSize})`);
  }
  const alphabet = byteAlphabet();
  const merges = learnMerges(alphabet, vocabSize - minimum);
  const vocab: Record<string, number> = {};
  alphabet.forEach((c, b) => (vocab[c] = b));
  let first = 256;
  // Two merges can spell the same token ("a"+"bc", "ab"+"c"); it keeps its first id.
  for (const [a, b] of merges) if (!Object.hasOwn(vocab, a + b)) vocab[a + b] = first++;
  const added = [...SPECIAL_TOKENS, ...Array.from({ length: vocabSize - first - SPECIAL_TOKENS.length }, (_, i) => `<|reserved_${i}|>`)];
  const addedTokens = added.map((content, i) => ({ id: first + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  for (const t of addedTokens) vocab[t.content] = t.id;
  const specialIds = Object.fromEntries(SPECIAL_TOKENS.map((s) => [s, vocab[s]!])) as SyntheticTokenizer["specialIds"];

  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const tokenizerConfig = {
    tokenizer_class: "PreTrainedTokenizerFast",
    add_bos_token: false,
    bos_token: options.bosToken ? "<|begin_of_text|>" : null,
    eos_token: "<|im_end|>",
    pad_token: "<|end_of_text|>",
    model_max_length: 131072,
    clean_up_tokenization_spaces: false,
    chat_template: CHAT_TEMPLATE,
    added_tokens_decoder: Object.fromEntries(addedTokens.map(({ id, ...rest }) => [String(id), rest])),
  };
  return { tokenizerJson, tokenizerConfig, specialIds };
}
