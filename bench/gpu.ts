/**
 * GPU kernel figures at the decode and prefill shapes of a 1B and an 8B Llama, beside the card's
 * measured limits. Meant for the cuda backend on an H100 (it runs on any backend, but the shapes
 * are sized for a GPU). The limits come from `bench/gpu_peer.py` (PyTorch on the same card):
 * pass them as `--copy-gbps` (device-to-device copy, bytes read + written) and `--peer-tflops`
 * (torch.matmul bf16), and every row prints its ratio to the limit.
 *
 *   memory-bound rows: GB/s of bytes the kernel must move (weights, K/V, operands), / copy GB/s
 *   compute-bound rows: TFLOP/s (2·M·N·K), / torch.matmul bf16 TFLOP/s
 *   launch row: host cost per encoded dispatch (TS) and GPU time per tiny dispatch
 *
 * Best of `--rounds` command buffers of `--dispatches` calls each, timed by the command buffer's
 * GPU start/end. Prints; asserts nothing.
 *
 *   bun run bench/gpu.ts [--copy-gbps X] [--peer-tflops Y] [--rounds 5] [--dispatches 20] [--filter RE]
 */
import { parseArgs } from "node:util";
import { Device, DType, ops, QuantizedTable, type Buffer, type CommandEncoder } from "../src/index.ts";
import { benchBuffer, launchCost, secondsPerDispatch } from "./support.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    "copy-gbps": { type: "string" },
    "peer-tflops": { type: "string" },
    rounds: { type: "string", default: "5" },
    dispatches: { type: "string", default: "20" },
    filter: { type: "string" },
  },
});
const copyGBps = values["copy-gbps"] ? Number(values["copy-gbps"]) : undefined;
const peerTflops = values["peer-tflops"] ? Number(values["peer-tflops"]) : undefined;
const rounds = Number(values.rounds);
const dispatches = Number(values.dispatches);
const filter = values.filter ? new RegExp(values.filter) : undefined;

const device = Device.open();
console.log(`backend ${device.backend} (${device.name})`);
const BF16 = DType.BF16;

interface Row {
  name: string;
  /** Bytes moved (memory-bound) or flops (compute-bound) per call. */
  amount: number;
  kind: "bytes" | "flops";
  /** Target fraction of the limit, from the issue. */
  target?: number;
  encode: (enc: CommandEncoder) => void;
  buffers: Buffer[];
}

function elementwise(n: number): Row {
  const [a, b, out] = [benchBuffer(device, DType.F32, [n]), benchBuffer(device, DType.F32, [n]), benchBuffer(device, DType.F32, [n])];
  return { name: `elementwise add f32, ${n / 2 ** 20}M elements`, amount: 3 * 4 * n, kind: "bytes", target: 0.8, encode: (e) => ops.elementwiseAdd(e, a, b, out), buffers: [a, b, out] };
}

function qmv(model: string, n: number, k: number): Row {
  const g = 64;
  const weight = benchBuffer(device, DType.U32, [n, k / 8]);
  const scales = benchBuffer(device, BF16, [n, k / g]);
  const biases = benchBuffer(device, BF16, [n, k / g]);
  const table = new QuantizedTable({ weight, scales, biases, bits: 4, groupSize: g });
  const [x, y] = [benchBuffer(device, BF16, [1, k]), benchBuffer(device, BF16, [1, n])];
  const bytes = (n * k) / 2 + 2 * 2 * ((n * k) / g) + 2 * (k + n);
  return { name: `qmv 4-bit g64, ${model} [${n}, ${k}], M=1 bf16`, amount: bytes, kind: "bytes", target: 0.8, encode: (e) => ops.matmul(e, x, table, y), buffers: [weight, scales, biases, x, y] };
}

function qmm(m: number, n: number, k: number): Row {
  const g = 64;
  const weight = benchBuffer(device, DType.U32, [n, k / 8]);
  const scales = benchBuffer(device, BF16, [n, k / g]);
  const biases = benchBuffer(device, BF16, [n, k / g]);
  const table = new QuantizedTable({ weight, scales, biases, bits: 4, groupSize: g });
  const [x, y] = [benchBuffer(device, BF16, [m, k]), benchBuffer(device, BF16, [m, n])];
  return { name: `qmm 4-bit g64 [${n}, ${k}], M=${m} bf16 (tiled)`, amount: 2 * m * n * k, kind: "flops", encode: (e) => ops.matmul(e, x, table, y, { path: "tiled" }), buffers: [weight, scales, biases, x, y] };
}

function gemm(m: number, n: number, k: number): Row {
  const [x, w, y] = [benchBuffer(device, BF16, [m, k]), benchBuffer(device, BF16, [n, k]), benchBuffer(device, BF16, [m, n])];
  return { name: `gemm bf16 ${m}×${n}×${k} (tiled)`, amount: 2 * m * n * k, kind: "flops", encode: (e) => ops.matmul(e, x, w, y, { path: "tiled" }), buffers: [x, w, y] };
}

function decodeAttention(kvLen: number): Row {
  const [heads, kvHeads, d] = [32, 8, 128];
  const q = benchBuffer(device, BF16, [1, heads, d]);
  const out = benchBuffer(device, BF16, [1, heads, d]);
  const k = benchBuffer(device, BF16, [kvHeads, kvLen, d]);
  const v = benchBuffer(device, BF16, [kvHeads, kvLen, d]);
  const scratchWords = ops.attentionDecodeScratchBytes(heads, d) / 4;
  const scratch = device.allocBuffer(scratchWords * 4, DType.F32, [scratchWords]);
  return { name: `decode attention 8B (32/8 heads × 128, bf16), ${kvLen / 1024}k positions`, amount: 2 * kvHeads * kvLen * d * 2, kind: "bytes", target: 0.6, encode: (e) => ops.attentionDecode(e, q, k, v, out, scratch, { kvLen }), buffers: [q, out, k, v, scratch] };
}

const rows: (() => Row)[] = [
  () => elementwise(64 * 2 ** 20),
  () => qmv("1B q/o", 2048, 2048),
  () => qmv("1B gate/up", 8192, 2048),
  () => qmv("1B down", 2048, 8192),
  () => qmv("1B lm_head", 128256, 2048),
  () => qmv("8B q/o", 4096, 4096),
  () => qmv("8B gate/up", 14336, 4096),
  () => qmv("8B down", 4096, 14336),
  () => decodeAttention(4096),
  () => decodeAttention(32768),
  () => qmm(512, 4096, 4096),
  () => qmm(2048, 14336, 4096),
  () => gemm(4096, 4096, 4096),
];

console.log(["row", "figure", "limit", "ratio", "target"].join(" | "));
for (const make of rows) {
  const row = make();
  if (filter && !filter.test(row.name)) {
    for (const b of row.buffers) b.dispose();
    continue;
  }
  try {
    const seconds = secondsPerDispatch(device, row.encode, dispatches, rounds);
    const figure = row.kind === "bytes" ? row.amount / seconds / 1e9 : row.amount / seconds / 1e12;
    const limit = row.kind === "bytes" ? copyGBps : peerTflops;
    const unit = row.kind === "bytes" ? "GB/s" : "TFLOP/s";
    const ratio = limit ? `${((100 * figure) / limit).toFixed(1)} %` : "-";
    console.log(`${row.name} | ${figure.toFixed(row.kind === "bytes" ? 0 : 1)} ${unit} (${(seconds * 1e6).toFixed(1)} µs) | ${limit ?? "-"} | ${ratio} | ${row.target ? `≥ ${row.target * 100} %` : "-"}`);
  } catch (e) {
    console.log(`${row.name} | failed: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    for (const b of row.buffers) b.dispose();
  }
}

// Launch cost: host time to encode one tiny dispatch, and GPU time per dispatch in a long chain.
{
  const { hostNs, gpuNs } = launchCost(device, rounds);
  console.log(`launch: TS encode ${hostNs.toFixed(0)} ns per dispatch (ops.elementwiseAdd, automatic barriers); GPU ${(gpuNs / 1000).toFixed(2)} µs per dependent tiny dispatch`);
}
device.dispose();
