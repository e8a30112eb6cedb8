/**
 * Matrix products on the active backend.
 *   decode  (1 or 8 rows of x, matrix-vector kernels): GB/s of weight bytes read (packed codes
 *           plus scales and biases for quantized weights) and the ratio to this machine's memcpy;
 *   prefill (256 rows): GFLOP/s, 2·M·N·K per product, on the tiled kernels (the GPU route), on
 *           the simdgroup matrix-vector kernels and on the row kernels (the cpu backend's route).
 * Best of `rounds` command buffers of `dispatches` products each. Prints; asserts nothing.
 *
 * usage: bun run bench/matmul.ts [dispatches=4] [rounds=3] [filter]
 */
import { Device, DType, ops, QuantizedTable } from "../src/index.ts";
import { kernels } from "../kernels/catalog.ts";
import { benchBuffer, type FigureRow, memcpyGBps, printFigures, runsSimdKernels } from "./support.ts";

const dispatches = Number(process.argv[2] ?? 4);
const rounds = Number(process.argv[3] ?? 3);
const filter = process.argv[4];

const device = Device.open();
const F32 = DType.F32;

function dense(kind: FigureRow["kind"], m: number, n: number, k: number, weightDType: DType, path?: ops.MatmulPath): FigureRow {
  const [x, w, y] = [benchBuffer(device, F32, [m, k]), benchBuffer(device, weightDType, [n, k]), benchBuffer(device, F32, [m, n])];
  return {
    name: `matmul x f32, W ${weightDType.name} [${n}, ${k}], M=${m}${path ? `, ${path}` : ""}`,
    kind,
    amount: kind === "decode" ? n * k * weightDType.size : 2 * m * n * k,
    read: "weights",
    encode: (e) => ops.matmul(e, x, w, y, { path }),
    buffers: [x, w, y],
  };
}

function affine(kind: FigureRow["kind"], m: number, n: number, k: number, bits: number, groupSize: number, scaleDType: DType, path?: ops.MatmulPath): FigureRow {
  const groups = (n * k) / groupSize;
  const w = new QuantizedTable({ weight: benchBuffer(device, DType.U32, [n, (k * bits) / 32]), scales: benchBuffer(device, scaleDType, [n, k / groupSize]), biases: benchBuffer(device, scaleDType, [n, k / groupSize]), bits, groupSize });
  const [x, y] = [benchBuffer(device, F32, [m, k]), benchBuffer(device, F32, [m, n])];
  return {
    name: `matmul ${bits}-bit g${groupSize} ${scaleDType.name} scales [${n}, ${k}], M=${m}${path ? `, ${path}` : ""}`,
    kind,
    amount: kind === "decode" ? (n * k * bits) / 8 + 2 * groups * scaleDType.size : 2 * m * n * k,
    read: "weights",
    encode: (e) => ops.matmul(e, x, w, y, { path }),
    buffers: [x, y, w.weight, w.scales, w.biases],
  };
}

const N = 4096;
const K = 4096;
const rows: (() => FigureRow)[] = [
  () => dense("decode", 1, N, K, F32),
  () => dense("decode", 1, N, K, DType.F16),
  () => dense("decode", 1, N, K, DType.BF16),
  () => affine("decode", 1, N, K, 4, 64, DType.BF16),
  () => affine("decode", 1, N, K, 8, 64, DType.BF16),
  () => affine("decode", 1, N, K, 3, 64, DType.F16),
  () => affine("decode", 8, N, K, 4, 64, DType.BF16),
  () => dense("prefill", 256, 1024, 1024, DType.BF16, "tiled"),
  () => dense("prefill", 256, 1024, 1024, DType.BF16, "matvec"),
  () => affine("prefill", 256, 1024, 1024, 4, 64, DType.BF16, "tiled"),
  () => affine("prefill", 256, 1024, 1024, 4, 64, DType.BF16, "matvec"),
  () => dense("prefill", 256, 1024, 1024, DType.BF16, "rows"),
  () => affine("prefill", 256, 1024, 1024, 4, 64, DType.BF16, "rows"),
];

console.log(`backend ${device.backend} (${device.name}, ${device.limits.workerThreads} worker threads); memcpy ${memcpyGBps().toFixed(2)} GB/s`);
console.log(`${dispatches} products per command buffer, best of ${rounds}\n`);
if (runsSimdKernels(() => device.kernels.pipeline(kernels.qmv, { x: F32, scales: F32, bits: 4 }, kernels.qmv.specialize({ mv_one_row: true })))) printFigures(device, rows, { dispatches, rounds, filter });
device.dispose();
