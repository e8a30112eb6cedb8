/**
 * Decode benchmark on the demo model (Llama-shaped, about 20M parameters, MLX 4-bit): prefill and
 * decode tokens/s, command buffers per decoded token, peak device memory, per activation type and
 * KV-cache type. Decode figures are the mean of 32 greedy single-token steps (sampling on the
 * device, one command buffer each); prefill figures are the best of 3 forward passes of a prompt
 * into a fresh cache. Decode reads every weight once per token, so weight bytes / step time is the
 * bandwidth decode reaches, shown against the machine's memcpy bandwidth.
 *
 * bun run bench/decode.ts [--prompt N[,N...]] [--steps N]
 */
import { parseArgs } from "node:util";
import { cmdBufCount, createSyntheticModel, Device, loadModel, syntheticPreset, type FloatName } from "../src/index.ts";
import { memcpyGBps } from "./support.ts";

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { prompt: { type: "string" }, steps: { type: "string" } } });
const promptLengths = (values.prompt ?? "8,64").split(",").map(Number);
const steps = Number(values.steps ?? 32);

using dir = createSyntheticModel(syntheticPreset("demo"));
using device = Device.open();
console.log(`demo model: ${(dir.parameterCount / 1e6).toFixed(1)}M parameters, MLX 4-bit; ${device.backend} (${device.name})`);
console.log(`memcpy: ${memcpyGBps().toFixed(1)} GB/s\n`);

const configs: [FloatName, FloatName][] = [
  ["f32", "f32"],
  ["f32", "f16"],
  ["f16", "f16"],
  ["bf16", "bf16"],
];
const rows: string[][] = [["activations", "kv cache", ...promptLengths.map((n) => `prefill ${n} tok/s`), "decode tok/s", "ms/token", "weights GB/s", "CB/token", "peak MiB"]];
const vocab = dir.config.vocabSize;
const tokens = (n: number) => Array.from({ length: n }, (_, i) => (i * 131 + 7) % vocab);

for (const [act, kv] of configs) {
  using model = loadModel(dir.dir, { device, activationDType: act, kvCacheDType: kv, progress: false });
  // Warm up: compile (or load from the kernel cache) every pipeline both paths use.
  for (const n of promptLengths) model.forward(tokens(n));
  await model.generate(tokens(4), { maxTokens: 3, temperature: 0 }).complete();

  const prefill = promptLengths.map((n) => {
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      model.forward(tokens(n));
      best = Math.min(best, performance.now() - t0);
    }
    return (n / best) * 1000;
  });

  using cache = model.newCache();
  const decoder = model.decoder;
  let token = decoder.sample(tokens(8), cache, { temperature: 0, topK: 0, topP: 1, seed: 0, step: 0 }).token!;
  const cb0 = cmdBufCount();
  const t0 = performance.now();
  for (let s = 1; s <= steps; s++) token = decoder.sample([token], cache, { temperature: 0, topK: 0, topP: 1, seed: 0, step: s }).token!;
  const ms = (performance.now() - t0) / steps;
  const cbPerToken = (cmdBufCount() - cb0) / steps;
  const weightGBps = model.weights.byteLength / (ms * 1e6);
  rows.push([act, kv, ...prefill.map((v) => v.toFixed(1)), (1000 / ms).toFixed(1), ms.toFixed(1), `${weightGBps.toFixed(2)} (${((100 * weightGBps) / memcpyGBps()).toFixed(1)}%)`, cbPerToken.toFixed(2), (device.peakBytes / 2 ** 20).toFixed(1)]);
}

const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((v, c) => v.padStart(widths[c]!)).join("  "));
console.log("\npeak MiB: the device's peak so far (weights of every model loaded one after another, caches, scratch).");
