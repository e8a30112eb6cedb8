/** Port of the crate's test_residency_set behaviour (spec §3): defer-and-flush bookkeeping. */
import { expect, test } from "bun:test";
import { DType, ops, residencyAddCount, residencyCommitCount, resetCounters } from "../src/index.ts";
import { fixture, floatBuffer } from "./support/fixtures.ts";

const { device } = fixture();

/** Commit whatever is staged, so each test starts clean. */
function settle(): void {
  const enc = device.commandEncoder();
  enc.commitAndWait();
}

test("100 allocations and 100 disposals cause exactly one commit, at the next command-buffer commit", () => {
  settle();
  resetCounters();
  const bufs = Array.from({ length: 100 }, () => floatBuffer(device, DType.F32, 16));
  for (const b of bufs) b.dispose();
  expect(residencyCommitCount()).toBe(0);
  settle();
  expect(residencyCommitCount()).toBe(1);
  settle();
  expect(residencyCommitCount()).toBe(1); // nothing staged: no commit
});

test("10 allocations register 10; disposing all returns to the baseline", () => {
  settle();
  const baseline = device.residency.size;
  resetCounters();
  const bufs = Array.from({ length: 10 }, () => floatBuffer(device, DType.F32, 4));
  expect(device.residency.size).toBe(baseline + 10);
  expect(residencyAddCount()).toBe(10);
  for (const b of bufs) b.dispose();
  expect(device.residency.size).toBe(baseline);
});

test("views share one registration, removed when the last view is disposed", () => {
  const baseline = device.residency.size;
  const buf = floatBuffer(device, DType.F32, 64);
  const views = Array.from({ length: 5 }, (_, i) => buf.slice(i * 16, 16));
  expect(device.residency.size).toBe(baseline + 1);
  for (const v of views) v.dispose();
  expect(device.residency.size).toBe(baseline + 1);
  buf.dispose();
  expect(device.residency.size).toBe(baseline);
});

test("a view keeps the allocation alive and readable after the original is disposed", () => {
  const buf = floatBuffer(device, DType.F32, 8, [1, 2, 3, 4, 5, 6, 7, 8]);
  const tail = buf.slice(16, 16);
  buf.dispose();
  expect([...tail.view(Float32Array)]).toEqual([5, 6, 7, 8]);
  const out = floatBuffer(device, DType.F32, 4);
  const enc = device.commandEncoder();
  ops.elementwiseAdd(enc, tail, tail, out);
  enc.commitAndWait();
  expect([...out.view(Float32Array)]).toEqual([10, 12, 14, 16]);
  const stale = tail.view(Float32Array);
  tail.dispose();
  expect(stale.length).toBe(0); // detached, not dangling
});
