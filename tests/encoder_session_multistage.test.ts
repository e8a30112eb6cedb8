/** Port of the crate's encoder_session_multistage tests (spec §3). */
import { describe, expect, test } from "bun:test";
import { DType, ops, residencyAddCount, residencyRemoveCount, resetCounters } from "../src/index.ts";
import { download, fixture, floatBuffer } from "./support/fixtures.ts";

describe("encoder session multistage", () => {
  const { device } = fixture();

  test("fence, reset, second stage: flags, fence value and labels", () => {
    const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
    const b = floatBuffer(device, DType.F32, 4, [10, 20, 30, 40]);
    const out1 = floatBuffer(device, DType.F32, 4);
    const out2 = floatBuffer(device, DType.F32, 4);
    const sess = device.encoderSession();
    expect(sess.hasEvent).toBe(false);
    expect(sess.fenceValue).toBe(0);
    ops.elementwiseAdd(sess.encoder, a, b, out1);
    sess.fenceStage("stage.one");
    expect(sess.isDrained).toBe(true);
    expect(sess.isFencePending).toBe(true);
    expect(sess.hasEvent).toBe(true);
    expect(sess.fenceValue).toBe(1);
    const firstCb = sess.commandBuffer;
    expect(firstCb.label).toBe("stage.one");
    sess.resetForNextStage();
    expect(sess.isDrained).toBe(false);
    expect(sess.isFencePending).toBe(false);
    expect(sess.fenceValue).toBe(1);
    expect(sess.commandBuffer).not.toBe(firstCb);
    // Stage two reads stage one's output: the wait on the fence orders them.
    sess.beginStage("stage.two");
    ops.elementwiseAdd(sess.encoder, out1, b, out2);
    sess.commitAndWait();
    expect([...download(out1, 4)]).toEqual([11, 22, 33, 44]);
    expect([...download(out2, 4)]).toEqual([21, 42, 63, 84]);
    expect(sess.commandBuffer.label).toBe("stage.two");
    sess.dispose();
  });

  test("a three-stage chain with unlabeled fences counts 1, 2, 3 and commitAndWait does not bump it", () => {
    const x = floatBuffer(device, DType.F32, 4, [1, 1, 1, 1]);
    const bufs = [floatBuffer(device, DType.F32, 4, [1, 1, 1, 1]), floatBuffer(device, DType.F32, 4), floatBuffer(device, DType.F32, 4), floatBuffer(device, DType.F32, 4)];
    const sess = device.encoderSession();
    for (let i = 0; i < 3; i++) {
      ops.elementwiseAdd(sess.encoder, bufs[i]!, x, bufs[i + 1]!);
      sess.fenceStage();
      expect(sess.fenceValue).toBe(i + 1);
      expect(sess.hasEvent).toBe(true);
      expect(sess.isFencePending).toBe(true);
      sess.resetForNextStage();
      expect(sess.isFencePending).toBe(false);
    }
    ops.elementwiseAdd(sess.encoder, bufs[3]!, x, bufs[3]!);
    sess.commitAndWait();
    expect(sess.fenceValue).toBe(3);
    expect([...download(bufs[3]!, 4)]).toEqual([5, 5, 5, 5]);
    sess.dispose();
  });

  test("residency bookkeeping follows allocations through a session", () => {
    resetCounters();
    const baseline = device.residency.size;
    const scratch = floatBuffer(device, DType.F32, 4);
    expect(device.residency.size).toBe(baseline + 1);
    expect(residencyAddCount()).toBe(1);
    scratch.dispose();
    expect(device.residency.size).toBe(baseline);
    expect(residencyRemoveCount()).toBe(1);
  });

  test("disposing a fenced session after waiting is safe", () => {
    const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
    const out = floatBuffer(device, DType.F32, 4);
    const sess = device.encoderSession();
    ops.elementwiseAdd(sess.encoder, a, a, out);
    sess.fenceStage("fenced");
    sess.commandBuffer.waitUntilCompleted();
    sess.dispose();
    expect([...download(out, 4)]).toEqual([2, 4, 6, 8]);
    const enc = device.commandEncoder();
    ops.elementwiseAdd(enc, out, a, out);
    enc.commitAndWait();
    expect([...download(out, 4)]).toEqual([3, 6, 9, 12]);
  });

  test("a scratch buffer disposed while its fenced stage is in flight stays valid for the GPU", () => {
    const baseline = device.residency.size;
    const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
    const out = floatBuffer(device, DType.F32, 4);
    const scratch = floatBuffer(device, DType.F32, 4);
    expect(device.residency.size).toBe(baseline + 3);
    const sess = device.encoderSession();
    ops.elementwiseAdd(sess.encoder, a, a, scratch);
    sess.fenceStage("scratch");
    scratch.dispose(); // the backend keeps it alive until the command buffer completes
    expect(device.residency.size).toBe(baseline + 2);
    sess.resetForNextStage();
    ops.elementwiseAdd(sess.encoder, a, a, out);
    sess.commitAndWait();
    expect([...download(out, 4)]).toEqual([2, 4, 6, 8]);
    expect(device.residency.size).toBe(baseline + 2);
    sess.dispose();
  });

  test("five fenced stages each followed by a reset: fence value 5, 5 waits", () => {
    const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
    const out = floatBuffer(device, DType.F32, 4);
    const sess = device.encoderSession();
    for (let i = 0; i < 5; i++) {
      ops.elementwiseAdd(sess.encoder, a, a, out);
      sess.fenceStage(`stage${i}`);
      sess.resetForNextStage();
    }
    ops.elementwiseAdd(sess.encoder, a, a, out);
    sess.commitAndWait();
    expect(sess.fenceValue).toBe(5);
    expect(sess.waitCount).toBe(5);
    expect(sess.waitValue).toBe(5);
    sess.dispose();
  });
});
