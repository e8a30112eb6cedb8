/**
 * Port of the seed (the crate's encoder_session_cb_count_smoke): five attention/FFN layer pairs
 * cost 10 command buffers when each stage commits its own, and 5 in one EncoderSession where the
 * FFN follows attention after a memory barrier and each layer ends with a fence.
 *
 * Unlike the seed it always runs: the session API is always available; MLXN_ENCODER_SESSION only
 * tells higher layers whether to use sessions by default.
 */
import { expect, test } from "bun:test";
import { DType, EncoderSession, cmdBufCount, ops, resetCounters } from "../src/index.ts";
import { download, fixture } from "./support/fixtures.ts";

test("encoder session halves the command buffers of 5 layer pairs", () => {
  const { device } = fixture();
  const n = 4;
  const a = device.allocBuffer(n * 4, DType.F32, [n]);
  const b = device.allocBuffer(n * 4, DType.F32, [n]);
  const out = device.allocBuffer(n * 4, DType.F32, [n]);
  a.view(Float32Array).set([1, 2, 3, 4]);
  b.view(Float32Array).set([10, 20, 30, 40]);

  // Path A, plain: one command buffer per stage.
  resetCounters();
  const cbBeforePlain = cmdBufCount();
  for (let i = 0; i < 5; i++) {
    const attn = device.commandEncoder();
    ops.elementwiseAdd(attn, a, b, out);
    attn.commitLabeled(`plain.attn.layer${i}`);
    const ffn = device.commandEncoder();
    ops.elementwiseAdd(ffn, a, b, out);
    ffn.commitLabeled(`plain.ffn.layer${i}`);
  }
  const drain = device.commandEncoder();
  ops.elementwiseAdd(drain, a, b, out);
  drain.commitAndWait();
  const cbCountPlain = cmdBufCount() - cbBeforePlain - 1; // minus the drain
  expect([...download(out, n)]).toEqual([11, 22, 33, 44]);

  // Path B, sessioned: FFN joins attention's command buffer behind a barrier; a fence ends the layer.
  out.view(Float32Array).fill(0);
  resetCounters();
  const cbBeforeSession = cmdBufCount();
  const sess = device.encoderSession();
  for (let i = 0; i < 5; i++) {
    ops.elementwiseAdd(sess.encoder, a, b, out);
    sess.encoder.memoryBarrier();
    ops.elementwiseAdd(sess.encoder, a, b, out);
    sess.fenceStage(`session.attn.layer${i}`);
    if (i < 4) sess.resetForNextStage();
  }
  const fenceValue = sess.fenceValue;
  const waitCount = sess.waitCount;
  sess.commandBuffer.waitUntilCompleted();
  const cbCountSession = cmdBufCount() - cbBeforeSession;

  console.error(`fence_value=${fenceValue}`);
  console.error(`cb_count_plain=${cbCountPlain}`);
  console.error(`cb_count_session=${cbCountSession}`);
  console.error(`wait_count=${waitCount}`);
  console.error(`encoder_session_env=${EncoderSession.envEnabled()}`);

  expect(fenceValue).toBe(5);
  expect(cbCountPlain).toBe(10);
  expect(cbCountSession).toBe(5);
  expect(cbCountSession * 2).toBeLessThanOrEqual(cbCountPlain);
  expect(waitCount).toBe(4);
  expect([...download(out, n)]).toEqual([11, 22, 33, 44]);
  expect(sess.signaledValue).toBe(5);
  sess.dispose();
  for (const buf of [a, b, out]) buf.dispose();
});
