/**
 * Chat sessions: the second turn reuses the first turn's cache and computes only its new tokens,
 * while giving exactly the tokens a from-scratch generation of the same conversation gives.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ArgumentError, commonPrefixLength, DisposedError, loadModel, type Model } from "../../src/index.ts";
import { createSyntheticModel } from "../../src/models/synthetic.ts";
import { fixture } from "../support/fixtures.ts";
import { runnerPreset } from "./runner_support.ts";

setDefaultTimeout(180_000);

const { device } = fixture();
const synthetic = createSyntheticModel(runnerPreset("llama"));
let model: Model;
beforeAll(async () => {
  model = await loadModel(synthetic.dir, { device, progress: false });
});
afterAll(() => {
  model.dispose();
  synthetic.dispose();
});

describe("chat session", () => {
  test("turn two prefills only its new tokens and matches a from-scratch generation", async () => {
    using chat = model.chat({ system: "Be brief." });
    const first = chat.send("Hello there", { maxTokens: 6 });
    await first.complete();
    expect(first.stats.cachedTokens).toBe(0);
    expect(chat.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
    expect(chat.messages[1]!.content).toBe(first.text);

    const firstPrompt = chat.render(chat.messages.slice(0, 1));
    // Watch the token counts of the forward passes the second turn runs.
    const passes: number[] = [];
    const decoder = model.decoder;
    const runAsync = decoder.runAsync;
    decoder.runAsync = (ids, cache, output) => {
      passes.push(ids.length);
      return runAsync.call(decoder, ids, cache, output);
    };
    const second = chat.send("Tell me more", { maxTokens: 6 });
    const { tokens } = await second.complete().finally(() => {
      decoder.runAsync = runAsync;
    });
    expect(passes[0]).toBe(second.stats.promptTokens - second.stats.cachedTokens);
    expect(passes.slice(1).every((n) => n === 1)).toBe(true);
    const secondPrompt = chat.render(chat.messages.slice(0, 3));
    expect(second.stats.promptTokens).toBe(secondPrompt.length);
    // The cache held turn one's prompt and the generated tokens fed back (all but the last, as
    // turn one ended at its token limit). The random model's reply is arbitrary bytes, which the
    // template renders through the tokenizer differently, so the reuse ends inside the reply;
    // it covers at least all of turn one's prompt.
    expect(first.stats.finishReason).toBe("length");
    const held = [...firstPrompt, ...first.tokens.slice(0, -1)];
    expect(second.stats.cachedTokens).toBe(commonPrefixLength(held, secondPrompt));
    expect(second.stats.cachedTokens).toBeGreaterThanOrEqual(firstPrompt.length);

    const fresh = await model.generate(chat.render(chat.messages.slice(0, 3)), { maxTokens: 6 }).complete();
    expect(tokens).toEqual(fresh.tokens);
  });

  test("respond() with an edited history reuses only the common prefix", async () => {
    using chat = model.chat();
    await chat.respond([{ role: "user", content: "One two three" }], { maxTokens: 4 }).complete();
    const edited = [{ role: "user", content: "One two four" }];
    const gen = chat.respond(edited, { maxTokens: 4 });
    const { tokens } = await gen.complete();
    const prompt = chat.render(edited);
    expect(gen.stats.cachedTokens).toBeLessThan(prompt.length);
    expect(tokens).toEqual((await model.generate(prompt, { maxTokens: 4 }).complete()).tokens);
  });

  test("the same conversation again reuses all but its last token", async () => {
    using chat = model.chat();
    const messages = [{ role: "user", content: "Repeat after me" }];
    await chat.respond(messages, { maxTokens: 3 }).complete();
    const again = chat.respond(messages, { maxTokens: 3 });
    await again.complete();
    expect(again.stats.cachedTokens).toBe(again.stats.promptTokens - 1);
  });

  test("template variables and tools reach the template", () => {
    using plain = model.chat();
    using withVars = model.chat({ templateVariables: { enable_thinking: false }, tools: [{ type: "function", function: { name: "f" } }] });
    const messages = [{ role: "user", content: "Hi" }];
    expect(withVars.render(messages)).toEqual(plain.render(messages)); // the synthetic template ignores both
  });

  test("bad input is an ArgumentError naming it; one turn at a time; disposal", async () => {
    using chat = model.chat();
    expect(() => chat.send("")).toThrow(ArgumentError);
    expect(() => chat.respond([])).toThrow("messages");
    expect(() => chat.respond([{ role: "user" } as never])).toThrow("messages[0]");
    expect(() => chat.send("x", { cache: model.newCache() } as never)).toThrow("options.cache");
    expect(() => model.chat({ sytem: "x" } as never)).toThrow("options.sytem");
    const gen = chat.send("Hi", { maxTokens: 2 });
    expect(() => chat.send("Again")).toThrow("still generating");
    await gen.complete();
    chat.dispose();
    expect(() => chat.send("Hi")).toThrow(DisposedError);
  });

  test("commonPrefixLength", () => {
    expect(commonPrefixLength([1, 2, 3], [1, 2, 4])).toBe(2);
    expect(commonPrefixLength([], [1])).toBe(0);
    expect(commonPrefixLength([1, 2], [1, 2, 3])).toBe(2);
  });
});
