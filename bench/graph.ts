/**
 * Host cost per dispatch: encoding a layer of ops directly (validation, packing, hazard check,
 * FFI) against replaying it from a recorded Graph (parameter substitution once per replay, then
 * one FFI call per dispatch or barrier). Encoding only: the GPU work is committed after the
 * timed loop.
 *
 * The layer is 8 elementwise adds over tiny buffers, half of them dependent on the previous one,
 * so it has both barriers and concurrent dispatches; a "model" is 32 layers (256 dispatches).
 *
 * usage: bun run bench/graph.ts [models=400] [rounds=10]
 */
import { Device, DType, Graph, ops, type Buffer, type CommandEncoder } from "../src/index.ts";

const models = Number(process.argv[2] ?? 400);
const rounds = Number(process.argv[3] ?? 10);
const LAYERS = 32;

const device = Device.open();
const n = 4;
const buf = () => device.allocBuffer(n * 4, DType.F32, [n]);
const x = buf();
const w = buf();
const scratch = Array.from({ length: 6 }, buf);
const y = buf();

/** One layer: a dependent chain with independent branches. */
function layer(enc: CommandEncoder, input: Buffer, output: Buffer): void {
  const [s0, s1, s2, s3, s4, s5] = scratch as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
  ops.elementwiseAdd(enc, input, w, s0);
  ops.elementwiseAdd(enc, input, input, s1); // independent of the first
  ops.elementwiseAdd(enc, s0, s1, s2);
  ops.elementwiseAdd(enc, s0, w, s3);
  ops.elementwiseAdd(enc, s2, s3, s4);
  ops.elementwiseAdd(enc, s1, w, s5);
  ops.elementwiseAdd(enc, s4, s5, s0);
  ops.elementwiseAdd(enc, s0, input, output);
}

function model(enc: CommandEncoder): void {
  for (let l = 0; l < LAYERS; l++) layer(enc, l === 0 ? x : y, y);
}

/** Best ns per dispatch over the rounds; each round encodes `models` models into one command buffer. */
function best(label: string, dispatchesPerModel: number, encodeModel: (enc: CommandEncoder) => void, autoBarrier = true): number {
  let bestNs = Infinity;
  for (let r = 0; r < rounds; r++) {
    const enc = device.commandEncoder();
    enc.autoBarrier = autoBarrier;
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < models; i++) encodeModel(enc);
    bestNs = Math.min(bestNs, (Bun.nanoseconds() - t0) / (models * dispatchesPerModel));
    enc.commitAndWait();
    enc.dispose();
  }
  console.log(`${label.padEnd(52)} ${bestNs.toFixed(1).padStart(8)} ns/dispatch`);
  return bestNs;
}

const recorder = device.commandEncoder();
const graph = Graph.record(recorder, { x, y }, model);
recorder.dispose();
const perModel = graph.dispatchCount;
const x2 = buf();
const y2 = buf();

console.log(`backend ${device.backend} (${device.name}); ${models} models x ${perModel} dispatches (${graph.barrierCount} barriers each), ${rounds} rounds, best round`);
const direct = best("direct: ops + automatic barriers", perModel, model);
best("direct: ops, automatic barriers off (no barriers)", perModel, model, false);
const replay = best("replay: graph.replay (same buffers)", perModel, (enc) => graph.replay(enc));
const replayNew = best("replay: graph.replay (x, y replaced)", perModel, (enc) => graph.replay(enc, { x: x2, y: y2 }));
console.log(`replay / direct: ${(replay / direct).toFixed(2)}x (same buffers), ${(replayNew / direct).toFixed(2)}x (replaced)`);
