/** Tokenizer and chat template of a model directory (the synthetic byte-level BPE one and edge cases). */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { syntheticPreset, writeSyntheticModel } from "../../src/models/synthetic.ts";
import { buildByteLevelTokenizer, SPECIAL_TOKENS } from "../../src/models/synthetic_tokenizer.ts";
import { Tokenizer } from "../../src/models/tokenizer.ts";
import { expectFormatError } from "./support.ts";

const root = mkdtempSync(join(tmpdir(), "mlxn-tokenizer-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const llama = writeSyntheticModel(join(root, "llama"), syntheticPreset("llama", { numLayers: 1 }));
const qwen = writeSyntheticModel(join(root, "qwen"), syntheticPreset("qwen2", { numLayers: 1 }));
const tok = Tokenizer.fromDirectory(llama.dir, { eosTokenIds: llama.config.eosTokenIds })!;

describe("synthetic byte-level BPE through @huggingface/tokenizers", () => {
  test("vocabulary matches the model; specials are the last learned ids", () => {
    expect(tok.vocabSize).toBe(llama.config.vocabSize);
    const ids = SPECIAL_TOKENS.map((s) => tok.tokenToId(s)!);
    expect(ids.every((id) => id >= 256 && id < 320)).toBe(true);
    expect(tok.idToToken(ids[0]!)).toBe("<|begin_of_text|>");
    expect(tok.idToToken(65)).toBe("A");
  });

  test("encode/decode round trip on text, digits, accents and emoji; merges shorten common words", () => {
    for (const text of ["Hello! How are you today?", "the answer is 42.", "  spaces\tand\nnewlines ", "café ünï 😀 日本"]) {
      const ids = tok.encode(text);
      expect(tok.decode(ids)).toBe(text);
    }
    expect(tok.encode("the").length).toBeLessThan(3);
    expect(tok.encode("😀").length).toBe(4);
  });

  test("special tokens in text are single ids; skipSpecialTokens drops them; unknown ids decode to nothing", () => {
    const ids = tok.encode("<|im_start|>user\nhi<|im_end|>");
    expect(ids[0]).toBe(tok.tokenToId("<|im_start|>")!);
    expect(ids.at(-1)).toBe(tok.tokenToId("<|im_end|>")!);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe("user\nhi");
    expect(tok.decode([100000])).toBe("");
    expect(tok.decode([])).toBe("");
  });

  test("chat template: BOS for llama, none for qwen; generation prompt; eos ids from config and tokenizer", () => {
    const messages = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hello!" },
    ];
    expect(tok.applyChatTemplate(messages)).toBe("<|begin_of_text|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n");
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: false }).endsWith("Hello!<|im_end|>\n")).toBe(true);
    const ids = tok.encodeChat(messages);
    expect(ids[0]).toBe(llama.config.bosTokenId!);
    expect(tok.decode(ids)).toBe(tok.applyChatTemplate(messages));

    const q = Tokenizer.fromDirectory(qwen.dir, { eosTokenIds: qwen.config.eosTokenIds })!;
    expect(q.applyChatTemplate([{ role: "user", content: "Hi" }])).toBe("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    expect(qwen.config.bosTokenId).toBeUndefined();

    const imEnd = tok.tokenToId("<|im_end|>")!;
    expect(tok.eosTokenIds).toContain(imEnd);
    expect(tok.eosTokenIds).toContain(tok.tokenToId("<|end_of_text|>")!);
    expect(tok.isEos(imEnd)).toBe(true);
    expect(tok.isEos(65)).toBe(false);
  });

  test("the stream decoder holds back incomplete UTF-8 and spaces words like a full decode", () => {
    const text = "Hi 😀 there, the robot counted boats.";
    const ids = tok.encode(text);
    const stream = tok.streamDecoder();
    const pieces = ids.map((id) => stream.push(id));
    expect(pieces.join("") + stream.flush()).toBe(text);
    expect(pieces.some((p) => p.includes("\uFFFD"))).toBe(false);
    const emoji = tok.encode("😀");
    const s2 = tok.streamDecoder();
    expect(emoji.map((id) => s2.push(id))).toEqual(["", "", "", "😀"]);
    const s3 = tok.streamDecoder();
    expect(s3.push(emoji[0]!)).toBe("");
    expect(s3.flush()).toBe("\uFFFD");
  });

  test("too small a vocabulary for a byte-level tokenizer is an argument error", () => {
    expect(() => buildByteLevelTokenizer(100)).toThrow(/needs at least 260 ids/);
  });
});

describe("directories and malformed files", () => {
  const dirWith = (files: Record<string, string>) => {
    const dir = join(root, `d${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  const tokenizerJson = readFileSync(join(llama.dir, "tokenizer.json"), "utf8");

  test("no tokenizer.json: no tokenizer (the model still loads without one)", () => {
    expect(Tokenizer.fromDirectory(dirWith({}))).toBeUndefined();
  });

  test("without tokenizer_config.json there is no template: a plain role-prefixed prompt", () => {
    const t = Tokenizer.fromDirectory(dirWith({ "tokenizer.json": tokenizerJson }))!;
    expect(t.chatTemplate).toBeUndefined();
    expect(t.applyChatTemplate([{ role: "user", content: "Hi" }])).toBe("user: Hi\nassistant: ");
  });

  test("chat_template.jinja wins; a list of named templates picks the default; AddedToken objects as bos/eos", () => {
    const config = { bos_token: { content: "<|begin_of_text|>" }, eos_token: { content: "<|im_end|>" }, chat_template: [{ name: "tool_use", template: "T" }, { name: "default", template: "D{{ bos_token }}" }] };
    const listed = Tokenizer.fromDirectory(dirWith({ "tokenizer.json": tokenizerJson, "tokenizer_config.json": JSON.stringify(config) }))!;
    expect(listed.applyChatTemplate([])).toBe("D<|begin_of_text|>");
    expect(listed.eosTokenIds).toEqual([listed.tokenToId("<|im_end|>")!]);
    const jinja = Tokenizer.fromDirectory(dirWith({ "tokenizer.json": tokenizerJson, "tokenizer_config.json": JSON.stringify(config), "chat_template.jinja": "J{{ messages | length }}" }))!;
    expect(jinja.applyChatTemplate([{ role: "user", content: "x" }])).toBe("J1");
  });

  test("malformed files are FormatErrors naming the file", () => {
    const bad = dirWith({ "tokenizer.json": "{" });
    expectFormatError(() => Tokenizer.fromDirectory(bad), join(bad, "tokenizer.json"), /is not valid JSON/);
    expectFormatError(() => Tokenizer.fromDirectory(dirWith({ "tokenizer.json": JSON.stringify({ model: { type: "Nope" } }) })), /cannot build a tokenizer/);
    expectFormatError(() => Tokenizer.fromDirectory(dirWith({ "tokenizer.json": tokenizerJson, "tokenizer_config.json": JSON.stringify({ chat_template: 5 }) })), /chat_template must be a string/);
    expectFormatError(() => Tokenizer.fromDirectory(dirWith({ "tokenizer.json": tokenizerJson, "tokenizer_config.json": JSON.stringify({ chat_template: "{% for %}" }) })), /chat template does not parse/);
    const raising = Tokenizer.fromDirectory(dirWith({ "tokenizer.json": tokenizerJson, "tokenizer_config.json": JSON.stringify({ chat_template: "{{ raise_exception('only user turns') }}" }) }))!;
    expectFormatError(() => raising.applyChatTemplate([]), /chat template failed to render \(.*only user turns/);
  });
});
