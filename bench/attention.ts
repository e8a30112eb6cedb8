/**
 * Attention on the active backend, Llama-3-8B-like heads (32 query heads, 8 KV heads, head dim
 * 128, f16 cache, f32 activations).
 *   decode  (one token against kvLen cached positions): GB/s of K and V read (2 · kvHeads ·
 *           kvLen · headDim · 2 bytes) and the ratio to this machine's memcpy;
 *   prefill (qLen = kvLen new tokens, causal): GFLOP/s, 4 · headDim flops per attended
 *           (query, key) pair and head (q·k and p·v), on the tiled and on the vector kernel.
 * Best of `rounds` command buffers of `dispatches` calls each. Prints; asserts nothing.
 *
 * usage: bun run bench/attention.ts [dispatches=4] [rounds=3] [filter]
 */
import { Device, DType, kernels, ops } from "../src/index.ts";
import { benchBuffer, type FigureRow, memcpyGBps, printFigures, runsSimdKernels } from "./support.ts";

const dispatches = Number(process.argv[2] ?? 4);
const rounds = Number(process.argv[3] ?? 3);
const filter = process.argv[4];

const device = Device.open();

const HEADS = 32;
const KV_HEADS = 8;
const D = 128;
const Q = DType.F32;
const KV = DType.F16;

function decode(kvLen: number): FigureRow {
  const [q, out, scratch] = [benchBuffer(device, Q, [1, HEADS, D]), benchBuffer(device, Q, [1, HEADS, D]), benchBuffer(device, DType.F32, ops.attentionDecodeScratchBytes(HEADS, D) / 4)];
  const [k, v] = [benchBuffer(device, KV, [KV_HEADS, kvLen, D]), benchBuffer(device, KV, [KV_HEADS, kvLen, D])];
  const params = { kvLen };
  return {
    name: `attentionDecode kvLen=${kvLen}`,
    kind: "decode",
    amount: 2 * KV_HEADS * kvLen * D * KV.size,
    read: "K/V",
    encode: (e) => ops.attentionDecode(e, q, k, v, out, scratch, params),
    buffers: [q, out, scratch, k, v],
  };
}

function prefill(len: number, path: "tiled" | "vector"): FigureRow {
  const [q, out] = [benchBuffer(device, Q, [len, HEADS, D]), benchBuffer(device, Q, [len, HEADS, D])];
  const [k, v] = [benchBuffer(device, KV, [KV_HEADS, len, D]), benchBuffer(device, KV, [KV_HEADS, len, D])];
  const params = { kvLen: len, path };
  const pairs = (len * (len + 1)) / 2; // causal
  return {
    name: `attentionPrefill qLen=kvLen=${len}, causal, ${path}`,
    kind: "prefill",
    amount: 4 * D * pairs * HEADS,
    encode: (e) => ops.attentionPrefill(e, q, k, v, out, params),
    buffers: [q, out, k, v],
  };
}

const rows: (() => FigureRow)[] = [
  () => decode(512),
  () => decode(2048),
  () => decode(8192),
  () => decode(32768),
  () => prefill(256, "tiled"),
  () => prefill(256, "vector"),
  () => prefill(1024, "tiled"),
  () => prefill(1024, "vector"),
];

console.log(`backend ${device.backend} (${device.name}, ${device.limits.workerThreads} worker threads); memcpy ${memcpyGBps().toFixed(2)} GB/s`);
console.log(`heads ${HEADS}, kv heads ${KV_HEADS}, head dim ${D}, q ${Q.name}, cache ${KV.name}; ${dispatches} calls per command buffer, best of ${rounds}\n`);
if (runsSimdKernels(() => device.kernels.pipeline(kernels.sdpaDecode, { q: Q, kv: KV, headDim: D }))) printFigures(device, rows, { dispatches, rounds, filter });
device.dispose();
