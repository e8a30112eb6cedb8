/**
 * Demo on an embedded default, needing no download: build a deterministic random model
 * (Llama-shaped, about 20M parameters, MLX 4-bit, with a small byte-level tokenizer) in a
 * temporary directory through the real safetensors writer, load it back through the real loader,
 * generate 32 tokens from a fixed prompt with a fixed seed, and print the text and the figures:
 * prefill and decode tokens/s, command buffers per decoded token, peak device memory.
 *
 * The model's weights are random, so its text is noise; the point is the whole path from model
 * directory to streamed tokens. The same seed prints the same text on every run.
 *
 * Then the seed scenario of the crate this library ports: five attention/FFN "layer pairs" of
 * elementwise adds, first with one command buffer per stage, then in one EncoderSession with a
 * fence between layers; it prints the counters that show the difference and checks the sums.
 */
import { createSyntheticModel, cmdBufCount, dispatchCount, barrierCount, syncCount, DType, loadModel, ops, resetCounters, syntheticPreset } from "../src/index.ts";

// ── 1. A generated model, end to end ──────────────────────────────────────────────────────────
let t0 = performance.now();
using modelDir = createSyntheticModel(syntheticPreset("demo"));
console.log(`demo model: ${(modelDir.parameterCount / 1e6).toFixed(1)}M parameters, MLX 4-bit, written in ${(performance.now() - t0).toFixed(0)} ms`);
t0 = performance.now();
using model = await loadModel(modelDir.dir);
const { device } = model;
console.log(`loaded in ${(performance.now() - t0).toFixed(0)} ms on ${device.backend} (${device.name})`);

const prompt = "Once upon a time";
const gen = model.generate(prompt, { maxTokens: 32, temperature: 0.8, topP: 0.95, seed: 42 });
process.stdout.write(`\n${prompt}`);
// Random weights produce arbitrary bytes: show control characters as visible symbols.
for await (const { text } of gen) process.stdout.write(text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "\uFFFD"));
const s = gen.stats;
console.log(`\n\nprefill: ${s.promptTokens} tokens at ${s.prefillTokensPerSecond.toFixed(1)} tokens/s`);
console.log(`decode: ${s.generatedTokens} tokens at ${s.decodeTokensPerSecond.toFixed(1)} tokens/s (${s.finishReason})`);
console.log(`command buffers per decoded token: ${s.commandBuffersPerToken.toFixed(2)}`);
console.log(`peak memory: ${(s.peakBytes / 2 ** 20).toFixed(1)} MiB\n`);

// ── 2. The seed counters ──────────────────────────────────────────────────────────────────────
const n = 4;
using a = device.allocBuffer(n * 4, DType.F32, [n]);
using b = device.allocBuffer(n * 4, DType.F32, [n]);
using out = device.allocBuffer(n * 4, DType.F32, [n]);
a.view(Float32Array).set([1, 2, 3, 4]);
b.view(Float32Array).set([10, 20, 30, 40]);

resetCounters();
for (let i = 0; i < 5; i++) {
  for (const stage of ["attn", "ffn"]) {
    const enc = device.commandEncoder();
    ops.elementwiseAdd(enc, a, b, out);
    enc.commitLabeled(`plain.${stage}.layer${i}`);
  }
}
const drain = device.commandEncoder();
drain.commitAndWait();
const plain = cmdBufCount() - 1;

out.view(Float32Array).fill(0);
resetCounters();
using sess = device.encoderSession();
for (let i = 0; i < 5; i++) {
  ops.elementwiseAdd(sess.encoder, a, b, out);
  sess.encoder.memoryBarrier();
  ops.elementwiseAdd(sess.encoder, a, b, out);
  sess.fenceStage(`session.layer${i}`);
  if (i < 4) sess.resetForNextStage();
}
sess.commandBuffer.waitUntilCompleted();

const sums = [...out.view(Float32Array)];
console.log(`cb_count_plain=${plain}`);
console.log(`cb_count_session=${cmdBufCount()}`);
console.log(`fence_value=${sess.fenceValue}`);
console.log(`wait_count=${sess.waitCount}`);
console.log(`dispatches=${dispatchCount()} barriers=${barrierCount()} syncs=${syncCount()}`);
console.log(`sums=[${sums.join(", ")}] ${sums.join() === "11,22,33,44" ? "(correct)" : "(WRONG)"}`);
if (sums.join() !== "11,22,33,44") process.exitCode = 1;
