/**
 * What waiting without blocking costs: decode tokens/s of the demo model (f32) with the blocking
 * wait (`decoder.sample`, the peer) against the event-loop wait (`decoder.sampleAsync`, what
 * `generate` uses), interleaved, best of the rounds. The limit is the blocking figure: the
 * non-blocking one should come within a few percent of it. Also prints how many times a 1 ms
 * interval timer fired during each, the point of the exercise (the blocking wait starves it).
 *
 * bun run bench/async_decode.ts [--steps N] [--rounds N]
 */
import { parseArgs } from "node:util";
import { createSyntheticModel, loadModel, syntheticPreset } from "../src/index.ts";

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { steps: { type: "string" }, rounds: { type: "string" } } });
const steps = Number(values.steps ?? 32);
const rounds = Number(values.rounds ?? 5);

using dir = createSyntheticModel(syntheticPreset("demo"));
await using model = await loadModel(dir.dir, { progress: false });
const { decoder } = model;
console.log(`demo model: ${(dir.parameterCount / 1e6).toFixed(1)}M parameters, MLX 4-bit; ${model.device.backend} (${model.device.name}); ${steps} decode steps, best of ${rounds}\n`);
const greedy = (step: number) => ({ temperature: 0, topK: 0, topP: 1, seed: 0, step });

async function round(mode: "blocking" | "event loop"): Promise<{ tokensPerSecond: number; timerFired: number }> {
  using cache = model.newCache({ maxLength: steps + 8 });
  await decoder.sampleAsync([1, 2, 3, 4], cache, greedy(0));
  let fired = 0;
  const timer = setInterval(() => fired++, 1);
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    if (mode === "blocking") decoder.sample([5], cache, greedy(i + 1));
    else await decoder.sampleAsync([5], cache, greedy(i + 1));
  }
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  return { tokensPerSecond: steps / seconds, timerFired: fired };
}

await round("event loop"); // warm-up: kernels compiled or loaded from the cache
const best = { blocking: { tokensPerSecond: 0, timerFired: 0 }, "event loop": { tokensPerSecond: 0, timerFired: 0 } };
for (let r = 0; r < rounds; r++) {
  for (const mode of ["blocking", "event loop"] as const) {
    const result = await round(mode);
    if (result.tokensPerSecond > best[mode].tokensPerSecond) best[mode] = result;
  }
}
const peer = best.blocking.tokensPerSecond;
for (const [mode, b] of Object.entries(best)) {
  console.log(`${mode.padEnd(10)}  ${b.tokensPerSecond.toFixed(1).padStart(7)} tokens/s  (${((b.tokensPerSecond / peer) * 100).toFixed(1)}% of blocking)  1 ms timer fired ${b.timerFired} times`);
}
