/**
 * Tokenizers rebuilt from GGUF metadata: SentencePiece ("llama": scores, byte fallback, BOS
 * added) on a hand-made vocabulary whose tokenizations follow by hand; special tokens; bad
 * metadata gets FormatErrors. (Byte-level BPE from a real tokenizer.json is checked in
 * gguf.test.ts.)
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgufFile, ggufValue, writeGguf, type GgufEntry } from "../../src/io/gguf.ts";
import { tokenizerFromGguf } from "../../src/models/gguf_tokenizer.ts";
import { expectFormatError } from "./support.ts";

const root = mkdtempSync(join(tmpdir(), "mlxn-gguf-tok-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

function fileWith(metadata: [string, GgufEntry][]): GgufFile {
  const path = join(root, `${counter++}.gguf`);
  writeGguf(path, { metadata });
  return GgufFile.open(path);
}

// <unk> <s> </s>, 256 byte tokens, then pieces with scores (higher merges first).
const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
const pieces: [string, number][] = [
  ["▁", -1],
  ["h", -2],
  ["e", -2],
  ["l", -2],
  ["o", -2],
  ["w", -2],
  ["r", -2],
  ["d", -2],
  ["ll", -3],
  ["he", -4],
  ["▁he", -5],
  ["llo", -6],
  ["▁hello", -7],
  ["or", -8],
  ["<|im_end|>", 0],
];
const tokens = ["<unk>", "<s>", "</s>", ...bytes, ...pieces.map(([p]) => p)];
const types = [2, 3, 3, ...bytes.map(() => 6), ...pieces.map(([p]) => (p === "<|im_end|>" ? 3 : 1))];
const scores = [0, 0, 0, ...bytes.map(() => 0), ...pieces.map(([, s]) => s)];
const id = (t: string) => tokens.indexOf(t);

const llama: [string, GgufEntry][] = [
  ["tokenizer.ggml.model", ggufValue.str("llama")],
  ["tokenizer.ggml.tokens", ggufValue.strings(tokens)],
  ["tokenizer.ggml.scores", ggufValue.f32s(scores)],
  ["tokenizer.ggml.token_type", ggufValue.i32s(types)],
  ["tokenizer.ggml.bos_token_id", ggufValue.u32(1)],
  ["tokenizer.ggml.eos_token_id", ggufValue.u32(2)],
  ["tokenizer.ggml.unknown_token_id", ggufValue.u32(0)],
  ["tokenizer.chat_template", ggufValue.str("{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}<|im_end|>{% endfor %}")],
];

test("SentencePiece: merges by score, BOS added, byte fallback, special tokens whole", () => {
  const tok = tokenizerFromGguf(fileWith(llama))!;
  expect(tok.encode("hello")).toEqual([1, id("▁hello")]);
  // "world": no piece covers it whole; "or" is the only merge; "w", "l", "d" stay single.
  expect(tok.encode("world", { addSpecialTokens: false })).toEqual([id("▁"), id("w"), id("or"), id("l"), id("d")]);
  // é is not in the vocabulary: its UTF-8 bytes.
  expect(tok.encode("hello é", { addSpecialTokens: false })).toEqual([id("▁hello"), id("▁"), id("<0xC3>"), id("<0xA9>")]);
  expect(tok.decode(tok.encode("hello é"), { skipSpecialTokens: true })).toBe("hello é");
  expect(tok.encode("hello<|im_end|>", { addSpecialTokens: false })).toEqual([id("▁hello"), id("<|im_end|>")]);
  expect(tok.eosTokenIds).toEqual([2]);
  expect(tok.bosToken).toBe("<s>");
  expect(tok.applyChatTemplate([{ role: "user", content: "hi" }])).toBe("<s>[user] hi<|im_end|>");
});

test("add_bos_token false leaves BOS out", () => {
  const tok = tokenizerFromGguf(fileWith([...llama, ["tokenizer.ggml.add_bos_token", ggufValue.bool(false)]]))!;
  expect(tok.encode("hello")).toEqual([id("▁hello")]);
});

test("no tokenizer metadata: undefined; bad metadata: FormatError naming the key", () => {
  expect(tokenizerFromGguf(fileWith([["general.architecture", ggufValue.str("llama")]]))).toBeUndefined();
  const without = (key: string) => llama.filter(([k]) => k !== key);
  expectFormatError(() => tokenizerFromGguf(fileWith(without("tokenizer.ggml.scores"))), '"tokenizer.ggml.scores" is missing');
  expectFormatError(() => tokenizerFromGguf(fileWith(without("tokenizer.ggml.tokens"))), '"tokenizer.ggml.tokens" is missing');
  expectFormatError(() => tokenizerFromGguf(fileWith([...without("tokenizer.ggml.scores"), ["tokenizer.ggml.scores", ggufValue.f32s([1, 2])]])), "must be 274 numbers");
  expectFormatError(() => tokenizerFromGguf(fileWith([...without("tokenizer.ggml.bos_token_id"), ["tokenizer.ggml.bos_token_id", ggufValue.u32(9999)]])), "outside the 274-token vocabulary");
  expectFormatError(() => tokenizerFromGguf(fileWith([...without("tokenizer.ggml.model"), ["tokenizer.ggml.model", ggufValue.str("bert")]])), 'tokenizer.ggml.model "bert" is not supported');
  const gpt2 = [["tokenizer.ggml.model", ggufValue.str("gpt2")], ["tokenizer.ggml.tokens", ggufValue.strings(["a", "b", "ab"])]] as [string, GgufEntry][];
  expectFormatError(() => tokenizerFromGguf(fileWith(gpt2)), '"tokenizer.ggml.merges" is missing');
  expectFormatError(() => tokenizerFromGguf(fileWith([...gpt2, ["tokenizer.ggml.merges", ggufValue.strings(["ab"])]])), "two tokens separated by a space");
});
