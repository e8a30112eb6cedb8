/** Port of the crate's encoder_session_lifecycle tests (spec §3). */
import { describe, expect, test } from "bun:test";
import { DType, EncoderSession, ops, syncCount } from "../src/index.ts";
import { download, fixture, floatBuffer } from "./support/fixtures.ts";

describe("encoder session lifecycle", () => {
  const { device } = fixture();

  test("the session API is always available; envEnabled is stable", () => {
    const sess = device.encoderSession();
    expect(sess.isDrained).toBe(false);
    expect(EncoderSession.envEnabled()).toBe(EncoderSession.envEnabled());
    sess.dispose();
  });

  test("begin → dispatch → commitStage drains, labels, and a second commit is a no-op", () => {
    const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
    const b = floatBuffer(device, DType.F32, 4, [10, 20, 30, 40]);
    const out = floatBuffer(device, DType.F32, 4);
    const sess = device.encoderSession();
    sess.beginStage("stage.lifecycle");
    ops.elementwiseAdd(sess.encoder, a, b, out);
    expect(sess.isDrained).toBe(false);
    sess.commitStage();
    expect(sess.isDrained).toBe(true);
    sess.commandBuffer.waitUntilCompleted();
    expect([...download(out, 4)]).toEqual([11, 22, 33, 44]);
    expect(sess.commandBuffer.label).toBe("stage.lifecycle");
    sess.commitStage(); // no-op
    expect(sess.isDrained).toBe(true);
    sess.dispose();
  });

  test("disposing a session with encoded, uncommitted work is safe and the device keeps working", () => {
    const a = floatBuffer(device, DType.F32, 2, [3, 4]);
    const b = floatBuffer(device, DType.F32, 2, [5, 6]);
    const out = floatBuffer(device, DType.F32, 2);
    const sess = device.encoderSession();
    ops.elementwiseAdd(sess.encoder, a, b, out);
    sess.dispose();
    sess.dispose(); // idempotent
    expect([...download(out, 2)]).toEqual([0, 0]); // never committed
    const enc = device.commandEncoder();
    ops.elementwiseAdd(enc, a, b, out);
    enc.commitAndWait();
    expect([...download(out, 2)]).toEqual([8, 10]);
  });

  test("commitAndWait drains, counts a sync, propagates the label; a second call is a no-op", () => {
    const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
    const out = floatBuffer(device, DType.F32, 4);
    const sess = device.encoderSession();
    sess.beginStage("stage.wait");
    ops.elementwiseAdd(sess.encoder, a, a, out);
    const before = syncCount();
    sess.commitAndWait();
    expect(syncCount()).toBeGreaterThanOrEqual(before + 1);
    expect([...download(out, 4)]).toEqual([2, 4, 6, 8]);
    expect(sess.commandBuffer.label).toBe("stage.wait");
    const after = syncCount();
    sess.commitAndWait();
    expect(syncCount()).toBe(after);
    sess.dispose();
  });

  test("encoding into a drained session throws until resetForNextStage", () => {
    const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
    const out = floatBuffer(device, DType.F32, 4);
    const sess = device.encoderSession();
    ops.elementwiseAdd(sess.encoder, a, a, out);
    sess.commitAndWait();
    expect(() => ops.elementwiseAdd(sess.encoder, a, a, out)).toThrow(/already committed/);
    sess.resetForNextStage();
    ops.elementwiseAdd(sess.encoder, out, a, out);
    sess.commitAndWait();
    expect([...download(out, 4)]).toEqual([3, 6, 9, 12]);
    sess.dispose();
  });
});
