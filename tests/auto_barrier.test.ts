/**
 * Automatic barriers: the hazard rules, and an encoder that orders dependent ops without a single
 * manual barrier while leaving independent dispatches concurrent.
 *
 * On the cpu backend the dispatches of one concurrent group run last-encoded first, so a missing
 * barrier gives a deterministic wrong result: the tests show that each chain is wrong with
 * automatic barriers off and right with them on. Metal promises no order, so there the "off"
 * run may happen to be right and only the "on" result is checked.
 */
import { describe, expect, test } from "bun:test";
import {
  DType,
  Hazard,
  HazardTracker,
  autoBarrierConcurrentCount,
  autoBarrierCount,
  barrierCount,
  ops,
  resetCounters,
  withConfig,
  type Buffer,
  type CommandEncoder,
} from "../src/index.ts";
import { expectArgumentError } from "./support/errors.ts";
import { download, fixture, floatBuffer, addPipeline } from "./support/fixtures.ts";

const { device } = fixture();
const orderedGroups = device.backend === "cpu"; // concurrent groups run in reverse on cpu
const add = addPipeline(device);

/** Integer-valued floats, so f32 sums are exact and references need no tolerance. */
function ints(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s % 201) - 100;
  });
}

const sum = (a: number[], b: number[]) => a.map((x, i) => x + b[i]!);

/** Counter deltas over `fn`. */
function counting(fn: () => void): { barriers: number; auto: number; concurrent: number } {
  resetCounters();
  fn();
  return { barriers: barrierCount(), auto: autoBarrierCount(), concurrent: autoBarrierConcurrentCount() };
}

/** An encoder with automatic barriers on or off, whatever MLXN_AUTO_BARRIER says. */
function encoder(auto: boolean): CommandEncoder {
  const enc = device.commandEncoder();
  setAuto(enc, auto);
  return enc;
}

function setAuto(enc: CommandEncoder, auto: boolean): void {
  withConfig({ autoBarrier: false }, () => (enc.autoBarrier = auto));
}

describe("hazard rules (exact byte ranges of one allocation)", () => {
  const A = 0x1000;
  const B = 0x2000;
  type R = [alloc: number, start: number, end: number, write: boolean];
  /** Track one dispatch touching `ranges`; returns the Hazard outcome. */
  function track(t: HazardTracker, ...ranges: R[]): number {
    return t.track(
      ranges.length,
      Int32Array.from(ranges, (r) => r[0]),
      Float64Array.from(ranges, (r) => r[1]),
      Float64Array.from(ranges, (r) => r[2]),
      Uint8Array.from(ranges, (r) => (r[3] ? 1 : 0)),
    );
  }
  /** Does a dispatch touching `next` conflict with a group holding one touching `prev`? */
  function conflict(prev: R, next: R): boolean {
    const t = new HazardTracker();
    expect(track(t, prev)).toBe(Hazard.First);
    return track(t, next) === Hazard.Barrier;
  }
  test("read after read never conflicts; RAW, WAR and WAW do", () => {
    expect(conflict([A, 0, 64, false], [A, 0, 64, false])).toBe(false);
    expect(conflict([A, 0, 64, true], [A, 0, 64, false])).toBe(true);
    expect(conflict([A, 0, 64, false], [A, 0, 64, true])).toBe(true);
    expect(conflict([A, 0, 64, true], [A, 0, 64, true])).toBe(true);
  });
  test("different allocations, disjoint and adjacent ranges never conflict; any overlap does", () => {
    expect(conflict([A, 0, 64, true], [B, 0, 64, true])).toBe(false);
    expect(conflict([A, 0, 64, true], [A, 64, 128, true])).toBe(false); // adjacent
    expect(conflict([A, 64, 128, true], [A, 0, 64, false])).toBe(false);
    expect(conflict([A, 0, 64, true], [A, 63, 128, false])).toBe(true);
    expect(conflict([A, 10, 20, false], [A, 0, 1000, true])).toBe(true); // contained
  });
  test("a dispatch's own reads and writes do not conflict; a conflict starts a new group", () => {
    const t = new HazardTracker();
    expect(track(t, [A, 0, 64, false], [A, 0, 64, true])).toBe(Hazard.First); // in place
    expect(track(t, [B, 0, 64, false])).toBe(Hazard.Concurrent);
    expect(t.length).toBe(3);
    expect(track(t, [A, 0, 64, false])).toBe(Hazard.Barrier);
    expect(t.length).toBe(1); // the new group holds just the dispatch that needed the barrier
    expect(track(t, [A, 0, 64, false])).toBe(Hazard.Concurrent);
    t.reset(); // a manual barrier
    expect(track(t, [A, 0, 64, true])).toBe(Hazard.First);
    t.markOpaque(); // work the tracker did not see
    expect(track(t, [B, 0, 4, false])).toBe(Hazard.Barrier);
    expect([t.checks, t.conflictCount]).toEqual([6, 2]);
  });
  test("entries with allocation id 0 (inline bytes) are skipped", () => {
    const t = new HazardTracker();
    track(t, [0, 0, 64, true]);
    expect(t.length).toBe(0);
    expect(track(t, [0, 0, 64, true])).toBe(Hazard.First);
  });
  test("many independent allocations in one group, then a conflict with the first", () => {
    const t = new HazardTracker();
    for (let i = 0; i < 500; i++) expect(track(t, [0x10000 + i * 4096, 0, 4096, true])).toBe(i === 0 ? Hazard.First : Hazard.Concurrent);
    expect(track(t, [0x10000, 100, 101, false])).toBe(Hazard.Barrier);
  });
});

describe("encoder", () => {
  const n = 1000; // several threadgroups

  /** x → t1 = x + w → t2 = t1 + w → t3 = t2 + t1 → y = t3 + x, with no manual barrier. */
  function chain(auto: boolean) {
    const xs = ints(n, 1);
    const ws = ints(n, 2);
    const [x, w] = [floatBuffer(device, DType.F32, n, xs), floatBuffer(device, DType.F32, n, ws)];
    const [t1, t2, t3, y] = [0, 1, 2, 3].map(() => floatBuffer(device, DType.F32, n)) as [Buffer, Buffer, Buffer, Buffer];
    const enc = encoder(auto);
    const counts = counting(() => {
      ops.elementwiseAdd(enc, x, w, t1);
      ops.elementwiseAdd(enc, t1, w, t2);
      ops.elementwiseAdd(enc, t2, t1, t3);
      ops.elementwiseAdd(enc, t3, x, y);
    });
    enc.commitAndWait();
    const e1 = sum(xs, ws);
    const e2 = sum(e1, ws);
    const expected = sum(sum(e2, e1), xs);
    const result = [...download(y, n)];
    for (const b of [x, w, t1, t2, t3, y]) b.dispose();
    return { result, expected, counts };
  }

  test("a chain of dependent ops is correct with automatic barriers and no manual ones", () => {
    const on = chain(true);
    expect(on.result).toEqual(on.expected);
    expect(on.counts).toEqual({ barriers: 3, auto: 3, concurrent: 0 });
  });

  test.skipIf(!orderedGroups)("the same chain without automatic barriers is wrong (cpu: groups run in reverse)", () => {
    const off = chain(false);
    expect(off.result).not.toEqual(off.expected);
    expect(off.counts).toEqual({ barriers: 0, auto: 0, concurrent: 0 });
  });

  test("independent dispatches get no barrier and run as one concurrent group", () => {
    const as = ints(n, 3);
    const bs = ints(n, 4);
    const a = floatBuffer(device, DType.F32, n, as);
    const b = floatBuffer(device, DType.F32, n, bs);
    const outs = [0, 1, 2, 3].map(() => floatBuffer(device, DType.F32, n));
    const enc = encoder(true);
    const counts = counting(() => {
      ops.elementwiseAdd(enc, a, b, outs[0]!);
      ops.elementwiseAdd(enc, b, a, outs[1]!);
      ops.elementwiseAdd(enc, a, a, outs[2]!);
      ops.elementwiseAdd(enc, b, b, outs[3]!);
    });
    enc.commitAndWait();
    expect(counts).toEqual({ barriers: 0, auto: 0, concurrent: 3 });
    expect([...download(outs[0]!, n)]).toEqual(sum(as, bs));
    expect([...download(outs[1]!, n)]).toEqual(sum(bs, as));
    expect([...download(outs[2]!, n)]).toEqual(sum(as, as));
    expect([...download(outs[3]!, n)]).toEqual(sum(bs, bs));
  });

  /** WAR: d1 reads x into y; d2 overwrites x. WAW: d3 and d4 both write z; the later must win. */
  function warWaw(auto: boolean) {
    const xs = ints(n, 5);
    const x = floatBuffer(device, DType.F32, n, xs);
    const y = floatBuffer(device, DType.F32, n);
    const z = floatBuffer(device, DType.F32, n);
    const one = floatBuffer(device, DType.F32, n, new Array(n).fill(1));
    const enc = encoder(auto);
    const counts = counting(() => {
      ops.elementwiseAdd(enc, x, x, y); // y = 2x
      ops.elementwiseAdd(enc, one, one, x); // x = 2 (WAR on x)
      ops.elementwiseAdd(enc, one, one, z); // z = 2
      ops.elementwiseAdd(enc, y, one, z); // z = 2x + 1 (WAW on z)
    });
    enc.commitAndWait();
    const result = { y: [...download(y, n)], x: [...download(x, n)], z: [...download(z, n)] };
    const expected = { y: sum(xs, xs), x: new Array(n).fill(2), z: sum(sum(xs, xs), new Array(n).fill(1)) };
    return { result, expected, counts };
  }

  test("write-after-read and write-after-write get barriers", () => {
    const on = warWaw(true);
    expect(on.result).toEqual(on.expected);
    // d2 (WAR) needs one; d3 joins d2's group; d4 reads y written by d1 (already ordered) but
    // rewrites z that d3 wrote: one more.
    expect(on.counts).toEqual({ barriers: 2, auto: 2, concurrent: 1 });
  });

  test.skipIf(!orderedGroups)("without automatic barriers the WAR/WAW sequence is wrong (cpu)", () => {
    const off = warWaw(false);
    expect(off.result).not.toEqual(off.expected);
  });

  test("disjoint slices of one allocation are independent; a read across them is not", () => {
    const m = 256;
    const as = ints(2 * m, 6);
    const a = floatBuffer(device, DType.F32, 2 * m, as);
    const out = floatBuffer(device, DType.F32, 2 * m);
    const total = floatBuffer(device, DType.F32, 2 * m);
    const halves = [out.slice(0, m * 4), out.slice(m * 4, m * 4)];
    const count = new Uint32Array([m]);
    const rw = { reads: [0, 1], writes: [2] };
    const enc = encoder(true);
    const counts = counting(() => {
      enc.dispatchThreads(add, [{ buffer: a, offset: 0, length: m * 4 }, a, halves[0]!, count], [m, 1, 1], [64, 1, 1], rw);
      enc.dispatchThreads(add, [{ buffer: a, offset: m * 4 }, { buffer: a, offset: m * 4 }, halves[1]!, count], [m, 1, 1], [64, 1, 1], rw);
      // Reads all of `out`: ordered after both halves.
      enc.dispatchThreads(add, [out, out, total, new Uint32Array([2 * m])], [2 * m, 1, 1], [64, 1, 1], rw);
    });
    enc.commitAndWait();
    expect(counts).toEqual({ barriers: 1, auto: 1, concurrent: 1 });
    const lo = as.slice(0, m);
    const hi = as.slice(m);
    const expectedOut = [...sum(lo, lo), ...sum(hi, hi)];
    expect([...download(out, 2 * m)]).toEqual(expectedOut);
    expect([...download(total, 2 * m)]).toEqual(sum(expectedOut, expectedOut));
  });

  test("declared byte ranges narrower than the binding", () => {
    const m = 64;
    const as = ints(m, 7);
    const a = floatBuffer(device, DType.F32, m, as);
    const buf = floatBuffer(device, DType.F32, 2 * m);
    const count = new Uint32Array([m]);
    const enc = encoder(true);
    const counts = counting(() => {
      // Writes only the first m floats of `buf`, though all of it is bound.
      enc.dispatchThreads(add, [a, a, buf, count], [m, 1, 1], [64, 1, 1], { reads: [0, 1], writes: [{ binding: 2, length: m * 4 }] });
      // Reads the second half: no overlap, no barrier.
      enc.dispatchThreads(add, [{ buffer: buf, offset: m * 4 }, a, a, count], [m, 1, 1], [64, 1, 1], { reads: [0, 1], writes: [2] });
    });
    // The second dispatch writes `a`, which the first reads: that one is a WAR barrier.
    expect(counts).toEqual({ barriers: 1, auto: 1, concurrent: 0 });
    // Reads only the first half of `buf` (written before the last barrier), though all of it is
    // bound, and writes a fresh buffer: it joins the group.
    const c = floatBuffer(device, DType.F32, m);
    const counts2 = counting(() => {
      const firstHalf = { binding: 0, length: m * 4 };
      enc.dispatchThreads(add, [buf, buf, c, count], [m, 1, 1], [64, 1, 1], { reads: [firstHalf, { ...firstHalf, binding: 1 }], writes: [2] });
    });
    expect(counts2).toEqual({ barriers: 0, auto: 0, concurrent: 1 });
    enc.commitAndWait();
    expect([...download(buf, m)]).toEqual(sum(as, as));
    expect([...download(a, m)]).toEqual(as); // second half of buf was zero
    expect([...download(c, m)]).toEqual(sum(sum(as, as), sum(as, as)));
  });

  test("a dispatch that declares nothing counts as reading and writing every buffer it binds", () => {
    const as = ints(16, 8);
    const a = floatBuffer(device, DType.F32, 16, as);
    const o1 = floatBuffer(device, DType.F32, 16);
    const o2 = floatBuffer(device, DType.F32, 16);
    const count = new Uint32Array([16]);
    const enc = encoder(true);
    const counts = counting(() => {
      enc.dispatchThreads(add, [a, a, o1, count], [16, 1, 1], [16, 1, 1]);
      enc.dispatchThreads(add, [a, a, o2, count], [16, 1, 1], [16, 1, 1]); // shares only `a`: still ordered
    });
    enc.commitAndWait();
    expect(counts).toEqual({ barriers: 1, auto: 1, concurrent: 0 });
    expect([...download(o1, 16)]).toEqual(sum(as, as));
    expect([...download(o2, 16)]).toEqual(sum(as, as));
  });

  test("a manual barrier starts a new group; turning tracking off stops all of it", () => {
    const a = floatBuffer(device, DType.F32, 16, ints(16, 9));
    const o = floatBuffer(device, DType.F32, 16);
    const enc = encoder(true);
    const counts = counting(() => {
      ops.elementwiseAdd(enc, a, a, o);
      enc.memoryBarrier();
      ops.elementwiseAdd(enc, o, a, o);
    });
    expect(counts).toEqual({ barriers: 1, auto: 0, concurrent: 0 });
    setAuto(enc, false);
    const off = counting(() => ops.elementwiseAdd(enc, o, a, o));
    expect(off).toEqual({ barriers: 0, auto: 0, concurrent: 0 });
    setAuto(enc, true); // work encoded while off is unknown: the next dispatch is ordered after it
    const back = counting(() => ops.elementwiseAdd(enc, a, a, a));
    expect(back).toEqual({ barriers: 1, auto: 1, concurrent: 0 });
    enc.commitAndWait();
  });

  test("MLXN_AUTO_BARRIER=1 forces tracking on in every encoder", () => {
    withConfig({ autoBarrier: true }, () => {
      const enc = device.commandEncoder();
      enc.autoBarrier = false;
      expect(enc.autoBarrier).toBe(true);
      enc.dispose();
    });
    withConfig({ autoBarrier: false }, () => {
      const enc = device.commandEncoder();
      expect(enc.autoBarrier).toBe(true); // the default
      enc.autoBarrier = false;
      expect(enc.autoBarrier).toBe(false);
      enc.dispose();
    });
  });

  test("stages of an encoder session chain ops without manual barriers", () => {
    const xs = ints(n, 10);
    const x = floatBuffer(device, DType.F32, n, xs);
    const t = floatBuffer(device, DType.F32, n);
    const y = floatBuffer(device, DType.F32, n);
    const sess = device.encoderSession();
    ops.elementwiseAdd(sess.encoder, x, x, t);
    ops.elementwiseAdd(sess.encoder, t, x, y);
    sess.fenceStage("stage0");
    sess.resetForNextStage();
    ops.elementwiseAdd(sess.encoder, y, t, t); // reads the last stage's output
    ops.elementwiseAdd(sess.encoder, t, t, y);
    sess.commitAndWait();
    const t0 = sum(xs, xs);
    const y0 = sum(t0, xs);
    const t1 = sum(y0, t0);
    expect([...download(y, n)]).toEqual(sum(t1, t1));
    sess.dispose();
  });
});

describe("declaration errors name the argument", () => {
  const a = floatBuffer(device, DType.F32, 16);
  const count = new Uint32Array([16]);
  test("bad indices, inline bindings, undeclared buffers and ranges past the binding", () => {
    const enc = encoder(true);
    const go = (o: object) => () => enc.dispatchThreads(add, [a, a, a, count], [16, 1, 1], [16, 1, 1], o);
    expectArgumentError(go({ reads: [0, 1], writes: [3] }), "writes[0]"); // inline bytes
    expectArgumentError(go({ reads: [0, 7], writes: [2] }), "reads[1]");
    expectArgumentError(go({ reads: [0.5], writes: [1, 2] }), "reads[0]");
    expectArgumentError(go({ reads: ["0"], writes: [1, 2] }), "reads[0]");
    expectArgumentError(go({ reads: [0], writes: [2] }), "reads"); // binding 1 undeclared
    expectArgumentError(go({ reads: [0, 1], writes: [{ binding: 2, offset: 32, length: 64 }] }), "writes[0]");
    expectArgumentError(go({ reads: [0, 1], writes: [{ binding: 2, length: 0 }] }), "writes[0]");
    expectArgumentError(go({ reads: 0, writes: [1, 2] }), "reads");
    // Nothing was encoded or recorded by the failed calls.
    const ok = counting(go({ reads: [0, 1], writes: [2] }));
    expect(ok).toEqual({ barriers: 0, auto: 0, concurrent: 0 });
    enc.commitAndWait();
  });
});
