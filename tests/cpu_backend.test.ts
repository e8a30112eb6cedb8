/**
 * Behaviour specific to the cpu backend. Dispatches between two barriers run last-encoded first
 * (Metal's concurrent dispatch promises no order), so a missing barrier gives a wrong result on
 * every run rather than only when a GPU happens to overlap the two dispatches.
 */
import { expect, test } from "bun:test";
import { DType, ops } from "../src/index.ts";
import { download, fixture, floatBuffer } from "./support/fixtures.ts";

const { device } = fixture();

test.skipIf(device.backend !== "cpu")("a dependent dispatch without a barrier reads stale data; with one it is correct", () => {
  const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
  const run = (barrier: boolean) => {
    const twice = floatBuffer(device, DType.F32, 4);
    const out = floatBuffer(device, DType.F32, 4);
    const enc = device.commandEncoder();
    enc.autoBarrier = false; // barriers by hand only: this test is about the missing one
    ops.elementwiseAdd(enc, a, a, twice);
    if (barrier) enc.memoryBarrier();
    ops.elementwiseAdd(enc, twice, a, out);
    enc.commitAndWait();
    return [...download(out, 4)];
  };
  expect(run(true)).toEqual([3, 6, 9, 12]);
  expect(run(false)).toEqual([1, 2, 3, 4]); // `twice` was still zero when `out` was computed
});

test.skipIf(device.backend !== "cpu")("separate command encoders are ordered without a barrier", () => {
  const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
  const twice = floatBuffer(device, DType.F32, 4);
  const out = floatBuffer(device, DType.F32, 4);
  const first = device.commandEncoder();
  ops.elementwiseAdd(first, a, a, twice);
  first.commit();
  const second = device.commandEncoder();
  ops.elementwiseAdd(second, twice, a, out);
  second.commitAndWait();
  expect([...download(out, 4)]).toEqual([3, 6, 9, 12]);
});
