/**
 * Generation never blocks the event loop: the async loader, callbacks running between tokens,
 * an AbortSignal that stops within one token and leaves the model and its cache usable, two
 * generations interleaved on one model, and disposal while a pass is in flight.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { DisposedError, loadModel, type Model } from "../../src/index.ts";
import { createSyntheticModel } from "../../src/models/synthetic.ts";
import { fixture } from "../support/fixtures.ts";
import { runnerPreset } from "./runner_support.ts";

setDefaultTimeout(180_000);

const { device } = fixture();
const synthetic = createSyntheticModel(runnerPreset("llama"));
const PROMPT = "Hello world";
let model: Model;
/** The greedy tokens of PROMPT, uninterrupted. */
let reference: number[];

beforeAll(async () => {
  model = await loadModel(synthetic.dir, { device, progress: false });
  reference = (await model.generate(PROMPT, { maxTokens: 12 }).complete()).tokens;
});
afterAll(() => {
  model.dispose();
  synthetic.dispose();
});

/** Counts turns of the event loop (a callback re-queued with setImmediate) until stopped. */
function loopTicker(): { readonly count: number; stop(): void } {
  let count = 0;
  let running = true;
  const tick = () => {
    if (!running) return;
    count++;
    setImmediate(tick);
  };
  setImmediate(tick);
  return {
    get count() {
      return count;
    },
    stop() {
      running = false;
    },
  };
}

describe("event loop", () => {
  test("loadModel returns a promise and the event loop runs while it reads", async () => {
    const ticker = loopTicker();
    const pending = loadModel(synthetic.dir, { device, progress: false });
    expect(pending).toBeInstanceOf(Promise);
    const before = ticker.count;
    await using loaded = await pending;
    ticker.stop();
    expect(ticker.count).toBeGreaterThan(before);
    expect(loaded.config.numHiddenLayers).toBe(model.config.numHiddenLayers);
  });

  test("other callbacks run between every two tokens, and a timer fires during generation", async () => {
    const ticker = loopTicker();
    let timerFired = 0;
    const interval = setInterval(() => timerFired++, 1);
    const ticksAtToken: number[] = [];
    const t0 = performance.now();
    for await (const _ of model.generate(PROMPT, { maxTokens: 12 })) ticksAtToken.push(ticker.count);
    const elapsed = performance.now() - t0;
    ticker.stop();
    clearInterval(interval);
    expect(ticksAtToken.length).toBe(12);
    // The last token comes without a forward pass (the limit is reached), so check the others.
    for (let i = 1; i < ticksAtToken.length - 1; i++) expect(ticksAtToken[i]!).toBeGreaterThan(ticksAtToken[i - 1]!);
    // A 1 ms interval can only fire if generation took longer than that; it always does here
    // (a dozen forward passes), but the expectation follows what was observed, not a clock.
    if (elapsed > 20) expect(timerFired).toBeGreaterThan(0);
  });
});

describe("abort", () => {
  test("an aborted signal before the start yields nothing", async () => {
    const gen = model.generate(PROMPT, { maxTokens: 8, signal: AbortSignal.abort() });
    const { tokens, stats } = await gen.complete();
    expect(tokens).toEqual([]);
    expect(stats.finishReason).toBe("abort");
  });

  test("abort stops within one token; the cache continues to the uninterrupted tokens", async () => {
    const controller = new AbortController();
    using cache = model.newCache();
    const first: number[] = [];
    const gen = model.generate(PROMPT, { maxTokens: 12, cache, signal: controller.signal });
    for await (const { token } of gen) {
      first.push(token);
      if (first.length === 4) controller.abort();
    }
    expect(gen.stats.finishReason).toBe("abort");
    expect(first.length).toBe(5);
    expect(first).toEqual(reference.slice(0, 5));
    // The cache holds the prompt and every yielded token but the last: feed that one back.
    expect(cache.position).toBe(model.promptTokens(PROMPT).length + first.length - 1);
    const rest = await model.generate([first.at(-1)!], { maxTokens: 12 - first.length, cache }).complete();
    expect([...first, ...rest.tokens]).toEqual(reference);
  });

  test("abort from a timer while a pass is in flight", async () => {
    const controller = new AbortController();
    const gen = model.generate(PROMPT, { maxTokens: 200, signal: controller.signal });
    const tokens: number[] = [];
    for await (const { token } of gen) {
      // The timer fires while the next pass is awaited, not between two iterations.
      if (tokens.push(token) === 2) setTimeout(() => controller.abort(), 1);
    }
    expect(gen.stats.finishReason).toBe("abort");
    expect(tokens.length).toBeLessThan(200);
    expect(tokens.slice(0, 12)).toEqual(reference.slice(0, Math.min(12, tokens.length)));
    // The model still generates the same tokens afterwards.
    expect((await model.generate(PROMPT, { maxTokens: 12 }).complete()).tokens).toEqual(reference);
  });

  test("a signal that is not an AbortSignal is an ArgumentError naming it", () => {
    expect(() => model.generate(PROMPT, { signal: {} as AbortSignal })).toThrow("options.signal");
  });
});

describe("sharing a model", () => {
  test("two generations interleaved on one model give each one's own tokens", async () => {
    const a = model.generate(PROMPT, { maxTokens: 12 });
    const b = model.generate(PROMPT, { maxTokens: 12, temperature: 0.9, seed: 7 });
    const alone = (await model.generate(PROMPT, { maxTokens: 12, temperature: 0.9, seed: 7 }).complete()).tokens;
    const [ra, rb] = await Promise.all([a.complete(), b.complete()]);
    expect(ra.tokens).toEqual(reference);
    expect(rb.tokens).toEqual(alone);
  });

  test("a blocking forward pass while an async one is queued is refused, not corrupted", async () => {
    const pending = model.forwardAsync(model.promptTokens(PROMPT));
    expect(() => model.forward(model.promptTokens(PROMPT))).toThrow("in flight");
    const logits = await pending;
    expect(logits.length).toBe(model.config.vocabSize);
  });

  test("disposing a model mid-generation frees it after the pass in flight; the generation ends with DisposedError", async () => {
    const own = await loadModel(synthetic.dir, { device, progress: false });
    const gen = own.generate(PROMPT, { maxTokens: 50 });
    expect((await gen.next()).done).toBe(false);
    const inFlight = gen.next(); // its pass is queued before the dispose below
    own.dispose();
    expect(own.weights.disposed).toBe(false);
    expect((await inFlight).done).toBe(false);
    await expect(gen.next()).rejects.toBeInstanceOf(DisposedError);
    await own.decoder.idle();
    expect(own.weights.disposed).toBe(true);
  });
});
