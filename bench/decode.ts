/**
 * Decode benchmark on the demo model (Llama-shaped, about 20M parameters, MLX 4-bit): prefill and
 * decode tokens/s, command buffers per decoded token, peak device memory, per activation type and
 * KV-cache type; then, in f32, a Gemma 3 of the same shape (sliding window 512 on 5 of 6 layers,
 * head_dim 64) and a Qwen3-MoE of the same attention shape (16 experts of 384, top 4). Each round runs, per configuration, a forward pass of each prompt length into a
 * fresh cache, and `steps` greedy single-token steps (sampling on the device, one command buffer
 * each); the figures are the best round. Decode reads every weight once per token, so weight
 * bytes / step time is the bandwidth decode reaches, shown against the machine's memcpy bandwidth
 * (for the MoE model, the bytes a token reads: everything but the unselected experts).
 *
 * bun run bench/decode.ts [--prompt N[,N...]] [--steps N] [--rounds N]
 */
import { parseArgs } from "node:util";
import { cmdBufCount, createSyntheticModel, loadModelSync, syntheticPreset, type Model } from "../src/index.ts";
import type { FloatName } from "../src/models/decoder.ts";
import { memcpyGBps } from "./support.ts";

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { prompt: { type: "string" }, steps: { type: "string" }, rounds: { type: "string" } } });
const promptLengths = (values.prompt ?? "8,64").split(",").map(Number);
const steps = Number(values.steps ?? 16);
const rounds = Number(values.rounds ?? 3);

using dir = createSyntheticModel(syntheticPreset("demo"));
const demoShape = { vocabSize: 1024, hiddenSize: 512, intermediateSize: 1536, numLayers: 6, numHeads: 8, numKvHeads: 4, headDim: 64, quantizationOverrides: {} } as const;
using gemmaDir = createSyntheticModel(syntheticPreset("gemma3", { ...demoShape, quantization: { bits: 4, groupSize: 64 }, slidingWindow: 512, slidingWindowPattern: 6, queryPreAttnScalar: 64 }));
using moeDir = createSyntheticModel(
  syntheticPreset("qwen3_moe", { ...demoShape, quantization: { bits: 4, groupSize: 64 }, numExperts: 16, expertsPerToken: 4, moeIntermediateSize: 384, mlpOnlyLayers: [] }),
);
const configs: [string, string, FloatName, FloatName][] = [
  ["demo", dir.dir, "f32", "f32"],
  ["demo", dir.dir, "f32", "f16"],
  ["demo", dir.dir, "f16", "f16"],
  ["demo", dir.dir, "bf16", "bf16"],
  ["gemma3", gemmaDir.dir, "f32", "f32"],
  ["qwen3_moe", moeDir.dir, "f32", "f32"],
];
// One device per configuration, so each peak is its own; all loaded at once so that rounds can
// interleave them (the best of interleaved rounds is the least disturbed by other load).
const models = configs.map(([, path, act, kv]) => loadModelSync(path, { activationDType: act, kvCacheDType: kv, progress: false }));

/** Weight bytes one decoded token reads: all of them, less the experts it does not select. */
function bytesPerToken(model: Model): number {
  const moe = model.config.moe;
  let bytes = model.weights.byteLength;
  if (!moe) return bytes;
  for (const l of model.weights.layers) {
    if (!l.moe) continue;
    for (const e of [l.moe.gate, l.moe.up, l.moe.down]) {
      const expertBytes = [e.weight, e.scales, e.biases].reduce((n, b) => n + (b?.byteLength ?? 0), 0);
      bytes -= expertBytes * (1 - moe.expertsPerToken / moe.numExperts);
    }
  }
  return bytes;
}
const device = models[0]!.device;
console.log(`demo model: ${(dir.parameterCount / 1e6).toFixed(1)}M parameters, MLX 4-bit; ${device.backend} (${device.name})`);
console.log(`gemma3: ${(gemmaDir.parameterCount / 1e6).toFixed(1)}M parameters; qwen3_moe: ${(moeDir.parameterCount / 1e6).toFixed(1)}M parameters, 16 experts, top 4`);
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

const rows: string[][] = [["model", "activations", "kv cache", ...promptLengths.map((n) => `prefill ${n} tok/s`), "decode tok/s", "ms/token", "weights GB/s", "CB/token", "peak MiB"]];
models.forEach((model, i) => {
  const b = best[i]!;
  const weightGBps = bytesPerToken(model) / (b.stepMs * 1e6);
  const [name, , act, kv] = configs[i]!;
  rows.push([
    name,
    act,
    kv,
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
