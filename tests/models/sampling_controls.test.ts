/**
 * Sampling controls through `generate`: logit bias, presence penalty, min-p, log-probabilities
 * of the chosen and the top-N tokens (checked against the host softmax of the model's logits),
 * and their argument errors.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { loadModel, type Model } from "../../src/index.ts";
import { createSyntheticModel } from "../../src/models/synthetic.ts";
import { fixture } from "../support/fixtures.ts";
import { runnerPreset } from "./runner_support.ts";

setDefaultTimeout(180_000);

const synthetic = createSyntheticModel(runnerPreset("llama"));
const PROMPT = "Hello world";
let model: Model;
let greedy: number[];
beforeAll(async () => {
  model = await loadModel(synthetic.dir, { device: fixture().device, progress: false });
  greedy = (await model.generate(PROMPT, { maxTokens: 8 }).complete()).tokens;
});
afterAll(() => {
  model.dispose();
  synthetic.dispose();
});

describe("sampling controls", () => {
  test("a large logit bias forces a token", async () => {
    const forced = greedy[0] === 65 ? 66 : 65;
    const { tokens } = await model.generate(PROMPT, { maxTokens: 6, logitBias: { [forced]: 100 } }).complete();
    expect(tokens).toEqual(Array(6).fill(forced));
  });

  test("a large presence penalty never repeats a token of the window", async () => {
    const prompt = model.promptTokens(PROMPT);
    const { tokens } = await model.generate(prompt, { maxTokens: 12, presencePenalty: 100 }).complete();
    const seen = new Set(prompt);
    for (const t of tokens) {
      expect(seen.has(t)).toBe(false);
      seen.add(t);
    }
  });

  test("min-p close to 1 keeps only the most likely token: sampling equals greedy", async () => {
    const { tokens } = await model.generate(PROMPT, { maxTokens: 8, temperature: 1, seed: 5, minP: 0.9999 }).complete();
    expect(tokens).toEqual(greedy);
  });

  test("log-probabilities of the chosen and top tokens match the host softmax of the logits", async () => {
    const gen = model.generate(PROMPT, { maxTokens: 3, logprobs: 4 });
    const chunks = [];
    for await (const c of gen) chunks.push(c);
    expect(chunks.map((c) => c.token)).toEqual(greedy.slice(0, 3));
    const logits = await model.forwardAsync(model.promptTokens(PROMPT));
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((s, v) => s + Math.exp(v - m), 0));
    const first = chunks[0]!;
    expect(Math.abs(first.logprob! - (logits[first.token]! - lse))).toBeLessThan(1e-3);
    const top = first.topLogprobs!;
    expect(top.length).toBe(4);
    expect(top[0]!.token).toBe(first.token);
    for (let i = 1; i < top.length; i++) expect(top[i]!.logprob).toBeLessThanOrEqual(top[i - 1]!.logprob);
    for (const t of top) expect(Math.abs(t.logprob - (logits[t.token]! - lse))).toBeLessThan(1e-3);
    for (const c of chunks) expect(c.logprob!).toBeLessThanOrEqual(0);
  });

  test("without the options, chunks carry no log-probabilities", async () => {
    const first = await model.generate(PROMPT, { maxTokens: 1 }).next();
    expect(first.done).toBe(false);
    expect(first.value!.logprob).toBeUndefined();
  });

  test("bad values are ArgumentErrors naming the option", () => {
    expect(() => model.generate(PROMPT, { minP: 1 })).toThrow("options.minP");
    expect(() => model.generate(PROMPT, { repetitionPenalty: 0 })).toThrow("options.repetitionPenalty");
    expect(() => model.generate(PROMPT, { presencePenalty: Number.NaN })).toThrow("options.presencePenalty");
    expect(() => model.generate(PROMPT, { logprobs: 21 })).toThrow("options.logprobs");
    expect(() => model.generate(PROMPT, { logitBias: { [model.config.vocabSize]: 1 } })).toThrow(`options.logitBias[${model.config.vocabSize}]`);
    expect(() => model.generate(PROMPT, { penaltyWindow: 0 })).toThrow("options.penaltyWindow");
  });
});
