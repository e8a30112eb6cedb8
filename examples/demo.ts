/**
 * Demo on an embedded default: the seed scenario. Five attention/FFN "layer pairs" of
 * elementwise adds, first with one command buffer per stage, then in one EncoderSession with a
 * barrier inside each layer and a fence between layers; prints the counters that show the
 * difference, and checks the sums.
 *
 * (A later version runs a generated 4-bit model end to end.)
 */
import { Device, DType, KernelRegistry, cmdBufCount, dispatchCount, barrierCount, syncCount, ops, resetCounters } from "../src/index.ts";

const t0 = performance.now();
const device = Device.open();
const registry = new KernelRegistry(device);
console.log(`device: ${device.name} (backend ${device.backend})`);

const n = 4;
const a = device.allocBuffer(n * 4, DType.F32, [n]);
const b = device.allocBuffer(n * 4, DType.F32, [n]);
const out = device.allocBuffer(n * 4, DType.F32, [n]);
a.view(Float32Array).set([1, 2, 3, 4]);
b.view(Float32Array).set([10, 20, 30, 40]);
registry.getPipeline("elementwise_add_f32"); // compile (or load from cache) before timing
console.log(`kernels ready in ${(performance.now() - t0).toFixed(0)} ms`);

resetCounters();
for (let i = 0; i < 5; i++) {
  for (const stage of ["attn", "ffn"]) {
    const enc = device.commandEncoder();
    ops.elementwiseAdd(enc, registry, a, b, out, n, DType.F32);
    enc.commitLabeled(`plain.${stage}.layer${i}`);
  }
}
const drain = device.commandEncoder();
drain.commitAndWait();
const plain = cmdBufCount() - 1;

out.view(Float32Array).fill(0);
resetCounters();
const sess = device.encoderSession();
for (let i = 0; i < 5; i++) {
  ops.elementwiseAdd(sess.encoder, registry, a, b, out, n, DType.F32);
  sess.encoder.memoryBarrier();
  ops.elementwiseAdd(sess.encoder, registry, a, b, out, n, DType.F32);
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
sess.dispose();
if (sums.join() !== "11,22,33,44") process.exit(1);
