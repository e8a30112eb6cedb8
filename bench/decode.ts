/**
 * Decode benchmark on the demo model (Llama-shaped, about 20M parameters, MLX 4-bit): prefill and
 * decode tokens/s, command buffers per decoded token, peak device memory, per activation type and
 * KV-cache type. Each round runs, per configuration, a forward pass of each prompt length into a
 * fresh cache, and `steps` greedy single-token steps (sampling on the device, one command buffer
 * each); the figures are the best round. Decode reads every weight once per token, so weight
 * bytes / step time is the bandwidth decode reaches, shown against the machine's memcpy bandwidth.
 *
 * bun run bench/decode.ts [--prompt N[,N...]] [--steps N] [--rounds N]
 */
import { parseArgs } from "node:util";
import { cmdBufCount, createSyntheticModel, loadModelSync, syntheticPreset, type FloatName } from "../src/index.ts";
import { memcpyGBps } from "./support.ts";

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { prompt: { type: "string" }, steps: { type: "string" }, rounds: { type: "string" } } });
const promptLengths = (values.prompt ?? "8,64").split(",").map(Number);
const steps = Number(values.steps ?? 16);
const rounds = Number(values.rounds ?? 3);

using dir = createSyntheticModel(syntheticPreset("demo"));
const configs: [FloatName, FloatName][] = [
  ["f32", "f32"],
  ["f32", "f16"],
  ["f16", "f16"],
  ["bf16", "bf16"],
];
// One device per configuration, so each peak is its own; all loaded at once so that rounds can
// interleave them (the best of interleaved rounds is the least disturbed by other load).
const models = configs.map(([act, kv]) => loadModelSync(dir.dir, { activationDType: act, kvCacheDType: kv, progress: false }));
const device = models[0]!.device;
console.log(`demo model: ${(dir.parameterCount / 1e6).toFixed(1)}M parameters, MLX 4-bit; ${device.backend} (${device.name})`);
console.log(`memcpy: ${memcpyGBps().toFixed(1)} GB/s\n`);

const vocab = dir.config.vocabSize;
const tokens = (n: number) => Array.from({ length: n }, (_, i) => (i * 131 + 7) % vocab);
const greedy = (step: number) => ({ temperature: 0, topK: 0, topP: 1, seed: 0, step });

for (const model of models) {
  // Warm up: compile (or load from the kernel cache) every pipeline both paths use.
  for (const n of promptLengths) model.forward(tokens(n));
  await model.generate(tokens(4), { maxTokens: 3, temperature: 0 }).complete();
}

const best = models.map(() => ({ prefillMs: promptLengths.map(() => Infinity), stepMs: Infinity, cbPerToken: 0 }));
for (let round = 0; round < rounds; round++) {
  models.forEach((model, i) => {
    const b = best[i]!;
    promptLengths.forEach((n, j) => {
      const t0 = performance.now();
      model.forward(tokens(n));
      b.prefillMs[j] = Math.min(b.prefillMs[j]!, performance.now() - t0);
    });
    using cache = model.newCache();
    let token = model.decoder.sample(tokens(8), cache, greedy(0)).token!;
    const cb0 = cmdBufCount();
    const t0 = performance.now();
    for (let s = 1; s <= steps; s++) token = model.decoder.sample([token], cache, greedy(s)).token!;
    b.stepMs = Math.min(b.stepMs, (performance.now() - t0) / steps);
    b.cbPerToken = (cmdBufCount() - cb0) / steps;
  });
}

const rows: string[][] = [["activations", "kv cache", ...promptLengths.map((n) => `prefill ${n} tok/s`), "decode tok/s", "ms/token", "weights GB/s", "CB/token", "peak MiB"]];
models.forEach((model, i) => {
  const b = best[i]!;
  const weightGBps = model.weights.byteLength / (b.stepMs * 1e6);
  rows.push([
    ...configs[i]!,
    ...b.prefillMs.map((ms, j) => ((promptLengths[j]! / ms) * 1000).toFixed(1)),
    (1000 / b.stepMs).toFixed(1),
    b.stepMs.toFixed(1),
    `${weightGBps.toFixed(2)} (${((100 * weightGBps) / memcpyGBps()).toFixed(1)}%)`,
    b.cbPerToken.toFixed(2),
    (model.device.peakBytes / 2 ** 20).toFixed(1),
  ]);
  model.dispose();
});
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((v, c) => v.padStart(widths[c]!)).join("  "));
console.log(`\nbest of ${rounds} interleaved rounds; decode: ${steps} greedy steps a round, sampling on the device.`);
