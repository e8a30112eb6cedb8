/** Port of the crate's encoder_session_wait_event_smoke test (spec §3). */
import { expect, test } from "bun:test";
import { DType, ops } from "../src/index.ts";
import { fixture, floatBuffer } from "./support/fixtures.ts";

test("waits track fences: after reset i, waitCount == waitValue == i + 1", () => {
  const { device } = fixture();
  const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
  const out = floatBuffer(device, DType.F32, 4);
  const sess = device.encoderSession();
  expect(sess.fenceValue).toBe(0);
  expect(sess.waitCount).toBe(0);
  expect(sess.waitValue).toBe(0);
  expect(sess.hasEvent).toBe(false);
  for (let i = 0; i < 5; i++) {
    ops.elementwiseAdd(sess.encoder, a, a, out);
    sess.fenceStage(`wait.stage${i}`);
    if (i < 4) {
      sess.resetForNextStage();
      expect(sess.waitCount).toBe(i + 1);
      expect(sess.waitValue).toBe(i + 1);
      expect(sess.isDrained).toBe(false);
      expect(sess.isFencePending).toBe(false);
    }
  }
  expect(sess.fenceValue).toBe(5);
  expect(sess.waitCount).toBe(4);
  expect(sess.waitValue).toBe(4);
  sess.commandBuffer.waitUntilCompleted();
  expect(sess.fenceValue).toBe(5);
  expect(sess.waitCount).toBe(4);
  expect(sess.waitValue).toBe(4);
  expect(sess.signaledValue).toBe(5);
  sess.dispose();
});
