/** Port of the crate's test_barrier_counter (spec §3). */
import { expect, test } from "bun:test";
import { DType, barrierCount, barrierTotalNs, ops, resetCounters } from "../src/index.ts";
import { download, fixture, floatBuffer } from "./support/fixtures.ts";

test("barriers count only once a compute encoder is open", () => {
  const { device } = fixture();
  resetCounters();
  expect(barrierTotalNs()).toBe(0);
  const enc = device.commandEncoder();
  enc.memoryBarrier(); // nothing to order yet
  expect(barrierCount()).toBe(0);
  const a = floatBuffer(device, DType.F32, 8, [1, 2, 3, 4, 5, 6, 7, 8]);
  const out = floatBuffer(device, DType.F32, 8);
  ops.elementwiseAdd(enc, a, a, out);
  enc.memoryBarrier();
  enc.memoryBarrier();
  enc.memoryBarrier();
  expect(barrierCount()).toBe(3);
  ops.elementwiseAdd(enc, out, a, out);
  enc.commitAndWait();
  expect([...download(out, 8)]).toEqual([3, 6, 9, 12, 15, 18, 21, 24]);
});
