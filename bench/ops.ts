/**
 * Bandwidth of the memory-bound ops on the active backend, against this machine's memcpy.
 * For each op: GB/s = bytes the op must read and write (each tensor counted once) / time, with
 * `dispatches` dispatches of the op in one command buffer, best of `rounds` command buffers,
 * timed by the command buffer's GPU start/end times (wall clock around commitAndWait where the
 * backend reports none). Prints a table; asserts nothing.
 *
 * usage: bun run bench/ops.ts [dispatches=8] [rounds=5] [filter]
 *
 * Sizes are chosen well past the caches (tens of MB per dispatch). Top-k and sampling make
 * dozens of passes over a row by design (threshold search), so their figure is the logical
 * bytes over the time, not a bandwidth the hardware sees.
 */
import { type Buffer, type CommandEncoder, Device, DType, ops, QuantizedTable } from "../src/index.ts";
import { benchBuffer, memcpyGBps, secondsPerDispatch } from "./support.ts";

const dispatches = Number(process.argv[2] ?? 8);
const rounds = Number(process.argv[3] ?? 5);
const filter = process.argv[4];

const device = Device.open();
const owned: Buffer[] = [];

/** A buffer of `dtype` and `shape` with small varied values; U32 buffers hold token ids below 1024. */
function buf(dtype: DType, ...shape: number[]): Buffer {
  const b = benchBuffer(device, dtype, shape);
  if (dtype === DType.U32) b.view(Uint32Array).forEach((_, i, a) => (a[i] = (i * 7919) % 1024));
  owned.push(b);
  return b;
}

interface Bench {
  name: string;
  /** Bytes read plus bytes written by one dispatch. */
  bytes: number;
  encode: (enc: CommandEncoder) => void;
}

const F32 = DType.F32;
const BF16 = DType.BF16;
const F16 = DType.F16;
const N = 1 << 22; // 4M elements
const ROWS = 1024;
const COLS = 4096;
const benches: (() => Bench)[] = [
  () => {
    const [a, b, o] = [buf(F32, N), buf(F32, N), buf(F32, N)];
    return { name: "elementwiseAdd f32", bytes: 12 * N, encode: (e) => ops.elementwiseAdd(e, a, b, o) };
  },
  () => {
    const [a, b, o] = [buf(BF16, ROWS, COLS), buf(BF16, COLS), buf(BF16, ROWS, COLS)];
    return { name: "elementwiseMul bf16, row broadcast", bytes: 4 * N, encode: (e) => ops.elementwiseMul(e, a, b, o) };
  },
  () => {
    const [a, o] = [buf(F32, N), buf(F32, N)];
    return { name: "scalarMul f32", bytes: 8 * N, encode: (e) => ops.scalarMul(e, a, o, 0.5) };
  },
  () => {
    const [a, o] = [buf(F32, N), buf(BF16, N)];
    return { name: "cast f32 -> bf16", bytes: 6 * N, encode: (e) => ops.cast(e, a, o) };
  },
  () => {
    const [a, o] = [buf(F32, N + 1000), buf(F32, N)];
    return { name: "copy f32 (slice at +1000)", bytes: 8 * N, encode: (e) => ops.copy(e, a, o, { srcOffset: 1000 }) };
  },
  () => {
    const [a, o] = [buf(F32, 2048, 2048), buf(F32, 2048, 2048)];
    return { name: "transpose f32 2048x2048", bytes: 8 * N, encode: (e) => ops.transpose(e, a, o) };
  },
  () => {
    const [a, b, o] = [buf(F32, ROWS, COLS / 2), buf(F32, ROWS, COLS / 2), buf(F32, ROWS, COLS)];
    return { name: "concat f32 2 x [1024, 2048]", bytes: 8 * N, encode: (e) => ops.concat(e, [a, b], o) };
  },
  () => {
    const [x, o] = [buf(F32, N), buf(F32, N)];
    return { name: "silu f32", bytes: 8 * N, encode: (e) => ops.silu(e, x, o) };
  },
  () => {
    const [x, o] = [buf(F32, N), buf(F32, N)];
    return { name: "gelu f32 (erf)", bytes: 8 * N, encode: (e) => ops.gelu(e, x, o, { approximation: "erf" }) };
  },
  () => {
    const [x, o] = [buf(F32, N), buf(F32, N)];
    return { name: "softcap f32", bytes: 8 * N, encode: (e) => ops.softcap(e, x, o, { cap: 30 }) };
  },
  () => {
    const [g, u, o] = [buf(BF16, N), buf(BF16, N), buf(BF16, N)];
    return { name: "swiglu bf16", bytes: 6 * N, encode: (e) => ops.swiglu(e, g, u, o) };
  },
  () => {
    const [x, o] = [buf(F32, 1024, 32, 128), buf(F32, 1024, 32, 128)];
    return { name: "rope f32 [1024, 32, 128] neox", bytes: 8 * N, encode: (e) => ops.rope(e, x, o, { theta: 500000, offset: 100 }) };
  },
  () => {
    const [t, ids, o] = [buf(BF16, 32000, COLS), buf(DType.U32, ROWS), buf(F32, ROWS, COLS)];
    return { name: "embedding bf16 -> f32 [1024 of 32000, 4096]", bytes: 6 * ROWS * COLS + 4 * ROWS, encode: (e) => ops.embedding(e, t, ids, o) };
  },
  () => {
    const vocab = 32000;
    const table = new QuantizedTable({ weight: buf(DType.U32, vocab, COLS / 8), scales: buf(BF16, vocab, COLS / 64), biases: buf(BF16, vocab, COLS / 64), bits: 4, groupSize: 64 });
    const [ids, o] = [buf(DType.U32, ROWS), buf(BF16, ROWS, COLS)];
    const bytes = ROWS * (COLS / 2 + (4 * COLS) / 64 + 2 * COLS) + 4 * ROWS;
    return { name: "embedding 4-bit g64 -> bf16", bytes, encode: (e) => ops.embedding(e, table, ids, o) };
  },
  () => {
    const [k, cache] = [buf(F32, 512, 8, 128), buf(F16, 8, 4096, 128)];
    return { name: "kvCacheAppend f32 -> f16 [512, 8, 128]", bytes: 6 * 512 * 8 * 128, encode: (e) => ops.kvCacheAppend(e, k, cache, { position: 1000 }) };
  },
  () => {
    const [x, w, o] = [buf(F32, ROWS, COLS), buf(F32, COLS), buf(F32, ROWS, COLS)];
    return { name: "rmsNorm f32 [1024, 4096]", bytes: 8 * N, encode: (e) => ops.rmsNorm(e, x, w, o) };
  },
  () => {
    const [x, r, w, o] = [buf(BF16, ROWS, COLS), buf(BF16, ROWS, COLS), buf(BF16, COLS), buf(BF16, ROWS, COLS)];
    return { name: "addRmsNorm bf16 [1024, 4096]", bytes: 8 * N, encode: (e) => ops.addRmsNorm(e, x, r, w, r, o) };
  },
  () => {
    const [x, w, b, o] = [buf(F32, ROWS, COLS), buf(F32, COLS), buf(F32, COLS), buf(F32, ROWS, COLS)];
    return { name: "layerNorm f32 [1024, 4096]", bytes: 8 * N, encode: (e) => ops.layerNorm(e, x, w, b, o) };
  },
  () => {
    const [x, o] = [buf(F32, ROWS, COLS), buf(F32, ROWS, COLS)];
    return { name: "softmax f32 [1024, 4096]", bytes: 8 * N, encode: (e) => ops.softmax(e, x, o, { scale: 0.125 }) };
  },
  () => {
    const [x, o] = [buf(F32, 32, 128000), buf(DType.U32, 32)];
    return { name: "argmax f32 [32, 128000]", bytes: 4 * 32 * 128000, encode: (e) => ops.argmax(e, x, o) };
  },
  () => {
    const [x, v, i] = [buf(F32, 4, 128000), buf(F32, 4, 50), buf(DType.U32, 4, 50)];
    return { name: "topK f32 [4, 128000] k=50 (multi-pass)", bytes: 4 * 4 * 128000, encode: (e) => ops.topK(e, x, v, i) };
  },
  () => {
    const [x, o] = [buf(F32, 4, 128000), buf(DType.U32, 4)];
    return { name: "sample f32 [4, 128000] k=50 p=0.9 (multi-pass)", bytes: 4 * 4 * 128000, encode: (e) => ops.sample(e, x, o, { temperature: 0.8, topK: 50, topP: 0.9, seed: 1, step: 0 }) };
  },
];

const memcpy = memcpyGBps();
console.log(`backend ${device.backend} (${device.name}, ${device.limits.workerThreads} worker threads); memcpy ${memcpy.toFixed(2)} GB/s`);
console.log(`${dispatches} dispatches per command buffer, best of ${rounds}\n`);
console.log(`${"op".padEnd(48)} ${"MB".padStart(7)} ${"ms".padStart(8)} ${"GB/s".padStart(7)} ${"x memcpy".padStart(9)}`);
for (const make of benches) {
  const b = make();
  if (filter && !b.name.includes(filter)) continue;
  const s = secondsPerDispatch(device, b.encode, dispatches, rounds);
  const gbps = b.bytes / s / 1e9;
  console.log(`${b.name.padEnd(48)} ${(b.bytes / 1e6).toFixed(1).padStart(7)} ${(s * 1e3).toFixed(2).padStart(8)} ${gbps.toFixed(2).padStart(7)} ${(gbps / memcpy).toFixed(2).padStart(9)}`);
  for (const buffer of owned.splice(0)) buffer.dispose();
}
device.dispose();
