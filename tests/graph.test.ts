/** Graph record/replay: same results as direct encoding, other buffers bound, checked once per replay. */
import { describe, expect, test } from "bun:test";
import {
  DisposedError,
  DType,
  Graph,
  barrierCount,
  dispatchCount,
  ops,
  resetCounters,
  withConfig,
  type Buffer,
  type CommandEncoder,
} from "../src/index.ts";
import { expectArgumentError } from "./support/errors.ts";
import { download, fixture, floatBuffer, randomFloats, roundTo, addPipeline, addKernelName } from "./support/fixtures.ts";

const { device } = fixture();
const n = 777; // not a multiple of the threadgroup size
const f32 = (xs: ArrayLike<number>) => Array.from(xs, (x) => roundTo(DType.F32, x));
const add = (a: number[], b: number[]) => a.map((x, i) => Math.fround(x + b[i]!));

/** The layer under test: t1 = x + w, t2 = t1 + w, t3 = t2 + t1, y = t3 + x. */
function layer(enc: CommandEncoder, x: Buffer, w: Buffer, t: Buffer[], y: Buffer): void {
  ops.elementwiseAdd(enc, x, w, t[0]!);
  ops.elementwiseAdd(enc, t[0]!, w, t[1]!);
  ops.elementwiseAdd(enc, t[1]!, t[0]!, t[2]!);
  ops.elementwiseAdd(enc, t[2]!, x, y);
}

function reference(xs: number[], ws: number[]): number[] {
  const t1 = add(xs, ws);
  const t2 = add(t1, ws);
  return add(add(t2, t1), xs);
}

const ws = f32(randomFloats(n, 99));
const w = floatBuffer(device, DType.F32, n, ws);
const scratch = [0, 1, 2].map(() => floatBuffer(device, DType.F32, n));

function recordLayer(x: Buffer, y: Buffer): Graph {
  const enc = device.commandEncoder();
  const graph = Graph.record(enc, { x, y }, (e) => layer(e, x, w, scratch, y));
  enc.dispose();
  return graph;
}

describe("replay", () => {
  test("replays give the results of direct encoding, with other inputs and outputs bound", () => {
    const x0 = floatBuffer(device, DType.F32, n);
    const y0 = floatBuffer(device, DType.F32, n);
    resetCounters();
    const graph = recordLayer(x0, y0);
    expect(dispatchCount()).toBe(4); // recording counts dispatches, as encoding does
    expect(barrierCount()).toBe(0); // ... but nothing reached a command buffer
    expect([graph.dispatchCount, graph.barrierCount]).toEqual([4, 3]);
    expect(graph.params).toEqual(["x", "y"]);
    expect(graph.kernels).toEqual(new Array(4).fill(addKernelName()));
    expect(download(y0, n).every((v) => v === 0)).toBe(true);

    for (let seed = 1; seed <= 3; seed++) {
      const xs = f32(randomFloats(n, seed));
      const x = floatBuffer(device, DType.F32, n, xs);
      const yReplay = floatBuffer(device, DType.F32, n);
      const yDirect = floatBuffer(device, DType.F32, n);

      resetCounters();
      const enc = device.commandEncoder();
      const report = graph.replay(enc, { x, y: yReplay });
      enc.commitAndWait();
      expect(report).toEqual({ dispatches: 4, barriers: 3 });
      expect(dispatchCount()).toBe(0); // the graph reports replayed dispatches itself
      expect(barrierCount()).toBe(3);

      const direct = device.commandEncoder();
      layer(direct, x, w, scratch, yDirect);
      direct.commitAndWait();

      const replayed = [...download(yReplay, n)];
      expect(replayed).toEqual([...download(yDirect, n)]);
      expect(replayed).toEqual(reference(xs, ws));
      expect(download(y0, n).every((v) => v === 0)).toBe(true); // the placeholder was not touched
    }
  });

  test("parameters by position; unnamed parameters keep their recorded buffer", () => {
    const xs = f32(randomFloats(n, 7));
    const x = floatBuffer(device, DType.F32, n, xs);
    const y = floatBuffer(device, DType.F32, n);
    const graph = recordLayer(x, y);
    const x2s = f32(randomFloats(n, 8));
    const x2 = floatBuffer(device, DType.F32, n, x2s);
    const y2 = floatBuffer(device, DType.F32, n);
    let enc = device.commandEncoder();
    graph.replay(enc, [x2, y2]);
    enc.commitAndWait();
    expect([...download(y2, n)]).toEqual(reference(x2s, ws));
    enc = device.commandEncoder();
    graph.replay(enc, { y: y2 }); // x as recorded
    enc.commitAndWait();
    expect([...download(y2, n)]).toEqual(reference(xs, ws));
    enc = device.commandEncoder();
    graph.replay(enc); // everything as recorded
    enc.commitAndWait();
    expect([...download(y, n)]).toEqual(reference(xs, ws));
  });

  test("bindings inside a parameter keep their offset in the replacement", () => {
    const m = 128;
    const io = floatBuffer(device, DType.F32, 2 * m);
    const rec = device.commandEncoder();
    const graph = Graph.record(rec, { io }, (e) => {
      const lo = io.slice(0, m * 4);
      // hi = lo + lo, written into the second half through an offset binding
      e.dispatchThreads(addPipeline(device), [lo, lo, { buffer: io, offset: m * 4 }, new Uint32Array([m])], [m, 1, 1], [64, 1, 1], {
        reads: [0, 1],
        writes: [2],
      });
      lo.dispose();
    });
    rec.dispose();
    const vs = f32(randomFloats(m, 5));
    const big = floatBuffer(device, DType.F32, 3 * m);
    const view = big.slice(m * 4, 2 * m * 4); // the replacement is itself a view at an offset
    view.view(Float32Array).set(vs);
    const enc = device.commandEncoder();
    graph.replay(enc, { io: view });
    enc.commitAndWait();
    const all = [...download(big, 3 * m)];
    expect(all.slice(0, m)).toEqual(new Array(m).fill(0));
    expect(all.slice(m, 2 * m)).toEqual(vs);
    expect(all.slice(2 * m)).toEqual(add(vs, vs));
  });

  test("a replay is ordered after earlier work of the encoder and before later work", () => {
    const xs = f32(randomFloats(n, 11));
    const graph = recordLayer(floatBuffer(device, DType.F32, n), floatBuffer(device, DType.F32, n));
    const src = floatBuffer(device, DType.F32, n, xs);
    const x = floatBuffer(device, DType.F32, n);
    const y = floatBuffer(device, DType.F32, n);
    const z = floatBuffer(device, DType.F32, n);
    const enc = device.commandEncoder();
    ops.elementwiseAdd(enc, src, src, x); // x = 2 src, read by the replay
    const report = graph.replay(enc, { x, y });
    ops.elementwiseAdd(enc, y, y, z); // reads the replay's output
    enc.commitAndWait();
    expect(report).toEqual({ dispatches: 4, barriers: 4 }); // one more to separate it from the first add
    const ys = reference(add(xs, xs), ws);
    expect([...download(y, n)]).toEqual(ys);
    expect([...download(z, n)]).toEqual(add(ys, ys));
  });

  test("hand-placed barriers are recorded; redundant ones are dropped", () => {
    const as = f32(randomFloats(n, 12));
    const a = floatBuffer(device, DType.F32, n, as);
    const b = floatBuffer(device, DType.F32, n);
    const c = floatBuffer(device, DType.F32, n);
    const rec = device.commandEncoder();
    withConfig({ autoBarrier: false }, () => (rec.autoBarrier = false)); // whatever MLXN_AUTO_BARRIER says
    const graph = Graph.record(rec, { a, c }, (e) => {
      e.memoryBarrier(); // nothing to order yet
      ops.elementwiseAdd(e, a, a, b);
      e.memoryBarrier();
      e.memoryBarrier(); // same point
      ops.elementwiseAdd(e, b, a, c);
      e.memoryBarrier(); // trailing
    });
    rec.dispose();
    expect([graph.dispatchCount, graph.barrierCount]).toEqual([2, 1]);
    const enc = device.commandEncoder();
    withConfig({ autoBarrier: false }, () => (enc.autoBarrier = false));
    expect(graph.replay(enc)).toEqual({ dispatches: 2, barriers: 1 });
    enc.commitAndWait();
    expect([...download(c, n)]).toEqual(add(add(as, as), as));
  });
});

describe("bad input gets typed errors", () => {
  const x = floatBuffer(device, DType.F32, n);
  const y = floatBuffer(device, DType.F32, n);
  const graph = recordLayer(x, y);

  test("a replacement of the wrong size, unknown names, too many buffers, a disposed buffer", () => {
    const enc = device.commandEncoder();
    const small = floatBuffer(device, DType.F32, n - 1);
    expectArgumentError(() => graph.replay(enc, { x: small }), "buffers.x", `${n * 4} bytes`);
    expectArgumentError(() => graph.replay(enc, { x: floatBuffer(device, DType.F32, n + 1) }), "buffers.x");
    expectArgumentError(() => graph.replay(enc, { z: x }), "buffers.z", "parameters: x, y");
    expectArgumentError(() => graph.replay(enc, [x, y, x]), "buffers");
    expectArgumentError(() => graph.replay(enc, { x: {} as Buffer }), "buffers.x");
    const gone = floatBuffer(device, DType.F32, n);
    gone.dispose();
    expectArgumentError(() => graph.replay(enc, { y: gone }), "buffers.y", "disposed");
    expectArgumentError(() => graph.replay({} as CommandEncoder), "encoder");
    enc.commitAndWait(); // nothing was encoded by the failed replays
  });

  test("replacements that would alias each other or a fixed buffer", () => {
    const enc = device.commandEncoder();
    const both = floatBuffer(device, DType.F32, n);
    expectArgumentError(() => graph.replay(enc, { x: both, y: both }), "buffers.y", "overlaps buffers.x");
    expectArgumentError(() => graph.replay(enc, { y: w }), "buffers.y", "binds as recorded");
    expectArgumentError(() => graph.replay(enc, { x: scratch[1]! }), "buffers.x", "binds as recorded");
    const wide = floatBuffer(device, DType.F32, 2 * n);
    const [lo, hi] = [wide.slice(0, n * 4), wide.slice(n * 4, n * 4)];
    graph.replay(enc, { x: lo, y: hi }); // two disjoint views of one allocation are fine
    const y2 = floatBuffer(device, DType.F32, n);
    graph.replay(enc, { x: w, y: y2 }); // x is only read, like w: sharing is fine
    enc.commitAndWait();
    expect([...download(y2, n)]).toEqual(reference(ws, ws));
  });

  test("a fixed buffer disposed after recording", () => {
    const tmp = floatBuffer(device, DType.F32, n);
    const rec = device.commandEncoder();
    const g = Graph.record(rec, { x, y }, (e) => {
      ops.elementwiseAdd(e, x, x, tmp);
      ops.elementwiseAdd(e, tmp, x, y);
    });
    rec.dispose();
    tmp.dispose();
    const enc = device.commandEncoder();
    expect(() => g.replay(enc)).toThrow(DisposedError);
    enc.dispose();
  });

  test("recording misuse", () => {
    const enc = device.commandEncoder();
    const big = floatBuffer(device, DType.F32, 2 * n);
    const part = big.slice(0, n * 4);
    expectArgumentError(() => Graph.record(enc, { big, part }, () => {}), "params.part", "overlaps params.big");
    expectArgumentError(() => Graph.record(enc, { x: "x" as never }, () => {}), "params.x");
    expectArgumentError(() => Graph.record(enc, [x] as never, () => {}), "params");
    // A binding that straddles the edge of a parameter.
    expectArgumentError(
      () => Graph.record(enc, { part }, (e) => ops.elementwiseAdd(e, { buffer: big, offset: 4 } as never, x, y)),
      "a",
    );
    const pipeline = addPipeline(device);
    expectArgumentError(
      () => Graph.record(enc, { part }, (e) => e.dispatchThreads(pipeline, [{ buffer: big, offset: 4, length: n * 4 }, x, y, new Uint32Array([n])], [n, 1, 1], [64, 1, 1])),
      "params.part",
      "straddle",
    );
    expectArgumentError(() => Graph.record(enc, {}, (e) => e.commit()), "encoder", "recording");
    expectArgumentError(() => Graph.record(enc, {}, (e) => graph.replay(e)), "encoder", "recording");
    expectArgumentError(() => Graph.record(enc, {}, (async () => {}) as never), "fn");
    expectArgumentError(() => Graph.record(enc, {}, (e) => Graph.record(e, {}, () => {})), "encoder", "already recording");
    // After all of that the encoder works normally again.
    ops.elementwiseAdd(enc, x, x, y);
    enc.commitAndWait();
  });
});
