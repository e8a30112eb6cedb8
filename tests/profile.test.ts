/** Profiler: per-command-buffer GPU time, per-label totals and the per-kernel table agree with the counters. */
import { expect, test } from "bun:test";
import {
  DType,
  Graph,
  Profiler,
  barrierCount,
  barrierTotalNs,
  cmdBufCount,
  dispatchCount,
  ops,
  resetCounters,
} from "../src/index.ts";
import { expectArgumentError } from "./support/errors.ts";
import { download, fixture, floatBuffer, addKernelName } from "./support/fixtures.ts";

const { device } = fixture();
const n = 64;
const a = floatBuffer(device, DType.F32, n, Array.from({ length: n }, (_, i) => i));
const t = floatBuffer(device, DType.F32, n);
const out = floatBuffer(device, DType.F32, n);
const h = floatBuffer(device, DType.F16, n);
const ADD = addKernelName();
const ADD_F16 = addKernelName(DType.F16);

test("totals agree with the counters; labels and kernels add up to the summary", () => {
  resetCounters();
  const prof = Profiler.start(device);
  try {
    for (let i = 0; i < 3; i++) {
      const enc = device.commandEncoder();
      ops.elementwiseAdd(enc, a, a, t);
      ops.elementwiseAdd(enc, t, a, out); // automatic barrier
      enc.commitLabeled("attn"); // asynchronous: measured once it completes
      enc.dispose();
    }
    for (let i = 0; i < 2; i++) {
      const enc = device.commandEncoder();
      ops.elementwiseAdd(enc, h, h, h);
      enc.commitAndWaitLabeled("ffn");
      enc.dispose();
    }
    const sess = device.encoderSession();
    ops.elementwiseAdd(sess.encoder, a, a, t);
    sess.fenceStage("stage");
    sess.resetForNextStage();
    ops.elementwiseAdd(sess.encoder, t, t, out);
    sess.commitAndWait(); // unlabeled
    sess.dispose();
    const discarded = device.commandEncoder(); // never committed: not a profiled command buffer
    ops.elementwiseAdd(discarded, a, a, t);
    discarded.dispose();
  } finally {
    prof.stop();
  }
  const after = device.commandEncoder(); // after stop: not followed
  after.commitAndWait();

  const s = prof.summary();
  expect(s.commandBuffers).toBe(3 + 2 + 2);
  expect(cmdBufCount()).toBe(s.commandBuffers + 1 + 1); // + the discarded one + the one after stop
  expect(s.completed).toBe(s.commandBuffers); // all were waited on, directly or through queue order
  expect(s.pending).toBe(0);
  expect(s.dispatches).toBe(dispatchCount() - 1); // minus the discarded dispatch
  expect(s.barriers).toBe(barrierCount());
  expect(s.barriers).toBe(3);

  const cbs = prof.commandBuffers();
  expect(cbs.map((c) => c.label)).toEqual(["attn", "attn", "attn", "ffn", "ffn", "stage", ""]);
  expect(cbs.map((c) => c.dispatches)).toEqual([2, 2, 2, 1, 1, 1, 1]);
  expect(cbs.every((c) => c.status === "completed" && typeof c.gpuNs === "number" && c.gpuNs >= 0)).toBe(true);
  const cbTotal = cbs.reduce((sum, c) => sum + c.gpuNs!, 0);
  expect(s.gpuNs).toBe(cbTotal);

  const labels = prof.labels();
  expect(labels.map((l) => [l.label, l.count]).sort()).toEqual([["(unlabeled)", 1], ["attn", 3], ["ffn", 2], ["stage", 1]]);
  expect(labels.reduce((sum, l) => sum + l.totalNs, 0)).toBe(cbTotal);
  for (const l of labels) {
    const own = cbs.filter((c) => (c.label || "(unlabeled)") === l.label).map((c) => c.gpuNs!);
    expect(l.totalNs).toBe(own.reduce((x, y) => x + y, 0));
    expect(l.minNs).toBe(Math.min(...own));
    expect(l.maxNs).toBe(Math.max(...own));
  }

  const kernels = prof.kernels();
  expect(kernels.map((k) => [k.kernel, k.dispatches, k.timedDispatches])).toEqual([
    [ADD, 8, 8],
    [ADD_F16, 2, 2],
  ]);
  expect(kernels.reduce((sum, k) => sum + k.dispatches, 0)).toBe(s.dispatches);
  // Every command buffer ran one kernel here, so all GPU time is attributed.
  expect(kernels.reduce((sum, k) => sum + k.gpuNs!, 0)).toBe(cbTotal);

  expect([...download(out, n)]).toEqual(Array.from({ length: n }, (_, i) => 4 * i));
});

test("a kernel is credited with GPU time only from command buffers that ran nothing else", () => {
  using prof = Profiler.start(device);
  const mixed = device.commandEncoder();
  ops.elementwiseAdd(mixed, a, a, t);
  ops.elementwiseAdd(mixed, h, h, h);
  mixed.commitAndWait();
  const single = device.commandEncoder();
  ops.elementwiseAdd(single, a, a, t);
  single.commitAndWait();
  const [cbMixed, cbSingle] = prof.commandBuffers();
  const byName = new Map(prof.kernels().map((k) => [k.kernel, k]));
  expect(byName.get(ADD)).toEqual({ kernel: ADD, dispatches: 2, timedDispatches: 1, gpuNs: cbSingle!.gpuNs! });
  expect(byName.get(ADD_F16)).toEqual({ kernel: ADD_F16, dispatches: 1, timedDispatches: 0, gpuNs: undefined });
  expect(cbMixed!.kernels).toEqual(new Map([[ADD, 1], [ADD_F16, 1]]));
  const table = prof.toTable();
  expect(table).toContain("2 command buffers (2 completed, 0 pending)");
  expect(table).toMatch(new RegExp(`${ADD_F16}\\s+1\\s+0\\s+n/a\\s+n/a`));
  expect(table).toContain("(unlabeled)");
});

test("graph replays count in the kernel table; counters count the recording", () => {
  const x = floatBuffer(device, DType.F32, n);
  const y = floatBuffer(device, DType.F32, n);
  const rec = device.commandEncoder();
  const graph = Graph.record(rec, { x, y }, (e) => {
    ops.elementwiseAdd(e, x, a, t);
    ops.elementwiseAdd(e, t, a, y);
  });
  rec.dispose();
  resetCounters();
  using prof = Profiler.start(device);
  const enc = device.commandEncoder();
  const report = graph.replay(enc, { x: a, y: out });
  ops.elementwiseAdd(enc, out, out, t);
  enc.commitAndWaitLabeled("replay");
  const s = prof.summary();
  expect(s.dispatches).toBe(dispatchCount() + report.dispatches);
  expect(s.barriers).toBe(barrierCount());
  expect(s.barriers).toBe(report.barriers + 1); // the add after the replay is ordered after it
  expect(prof.kernels()).toEqual([{ kernel: ADD, dispatches: 3, timedDispatches: 3, gpuNs: s.gpuNs }]);
  expect([...download(t, n)]).toEqual(Array.from({ length: n }, (_, i) => 6 * i));
});

test("barrier encode time is measured only while barrier profiling is on", () => {
  resetCounters();
  const run = () => {
    const enc = device.commandEncoder();
    ops.elementwiseAdd(enc, a, a, t);
    ops.elementwiseAdd(enc, t, t, out);
    enc.memoryBarrier();
    ops.elementwiseAdd(enc, out, t, out);
    enc.commitAndWait();
  };
  {
    using prof = Profiler.start(device);
    run();
    expect(prof.summary().barriers).toBe(2);
    expect(prof.summary().barrierNs).toBe(0);
  }
  expect(barrierTotalNs()).toBe(0);
  using prof = Profiler.start(device, { barriers: true });
  run();
  const s = prof.summary();
  expect(s.barriers).toBe(2);
  expect(s.barrierNs).toBe(barrierTotalNs()); // whatever was measured is what the counter holds
  expect(prof.toTable()).toContain("barrier encoding");
  expect([...download(out, n)]).toEqual(Array.from({ length: n }, (_, i) => 6 * i));
});

test("an encoder disposed while its command buffer runs is still measured", () => {
  using prof = Profiler.start(device);
  const enc = device.commandEncoder();
  ops.elementwiseAdd(enc, a, a, t);
  enc.commit();
  enc.dispose(); // may be before completion: the profiler keeps the command buffer to read its time
  const later = device.commandEncoder();
  later.commitAndWait(); // queue order: the first one has completed too
  const cbs = prof.commandBuffers();
  expect(cbs.map((c) => c.status)).toEqual(["completed", "completed"]);
  expect(prof.summary().pending).toBe(0);
});

test("misuse", () => {
  using prof = Profiler.start(device);
  expectArgumentError(() => Profiler.start(device), "device", "already has a running Profiler");
  prof.stop();
  prof.stop(); // idempotent
  expect(prof.running).toBe(false);
  expectArgumentError(() => Profiler.start(device, { barrier: true } as never), "options", 'unknown option "barrier"');
  Profiler.start(device).stop(); // the device is free again
  prof.reset();
  expect(prof.summary().commandBuffers).toBe(0);
});
