/**
 * Matrix products `y = x · Wᵀ` with W in PyTorch/MLX [out, in] layout: dense weights [n, k] of any
 * float type, or MLX affine-quantized weights (a `QuantizedTable`: 2–8 bits, groups of 32/64/128,
 * scales of any float type). x is [..., k] (its trailing dimensions multiply to k, its leading
 * ones to the m rows) and y [..., n] of x's type. Accumulation is in f32.
 *
 * Routing: on a GPU, up to `MATVEC_MAX_ROWS` rows of x (decode) go to the matrix-vector kernels
 * (kernels/matvec.h: a simdgroup's lanes split a few weight rows and meet in simd_sum; one pass
 * reads each weight row once for up to 4 rows of x), more rows (prefill) to the tiled kernels
 * (kernels/matmul.h: 64×64 tiles staged in threadgroup memory, quantized weights dequantized as
 * they are staged, simdgroup-matrix multiply-accumulate). On the cpu backend every product takes
 * the row kernels (kernels/matvec.h `matrows` and, for 2/4/8-bit codes, `matrow_lanes`: a thread
 * takes 4 weight rows against one row of x, or 2 against up to 8, no collective), because msl-cpu
 * runs each collective as a switch among 32 fibers: for 4-bit [2048, 2048] the fibers cost several
 * times the arithmetic, and the tiled kernels, whose 8×8 simdgroup-matrix operations are
 * collectives too, measured 2–5× slower than matrix-vector passes. `params.path` overrides the
 * choice.
 */
import { kernels } from "../../kernels/catalog.ts";
import type { Buffer } from "../buffer.ts";
import type { Binding, CommandEncoder, DispatchOptions } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { FunctionConstants, Pipeline } from "../registry.ts";
import { access } from "./common.ts";
import { BlockTable } from "./block_table.ts";
import { QuantizedTable } from "./quantized.ts";
import { MatmulArgs } from "./quantize.ts";
import { checkFloat, checkOneOf, checkOptions, checkSameDType, rowsOf, MAX_ELEMENTS } from "./validate.ts";

/** Rows of x up to which the matrix-vector kernels are used; above it, the tiled ones. */
export const MATVEC_MAX_ROWS = 8;

/** Geometry of the kernels (kernels/matvec.h and kernels/matmul.h). */
const MV_ROWS_PER_GROUP = 4; // = kernels/matvec.h: MV_SIMDGROUPS * MV_ROWS
const MV_X_ROWS_PER_PASS = 4; // = kernels/matvec.h: MV_MAX_X_ROWS
const MV_THREADS = 64; // = kernels/matvec.h: MV_SIMDGROUPS * 32
const MR_X_ROWS_PER_PASS = 8; // = kernels/matvec.h: MR_X_ROWS
const MR_W_ROWS_PER_THREAD = 2; // = kernels/matvec.h: MR_W_ROWS
const MR_ONE_W_ROWS_PER_THREAD = 4; // = kernels/matvec.h: MR_ONE_W_ROWS
const MR_THREADS = 32; // threads per threadgroup of the row kernels (any size works)
const MM_TILE = 64; // = kernels/matmul.h: MM_BM, MM_BN
const MM_THREADS = 128; // = kernels/matmul.h: MM_THREADS

/** The matrix-vector kernels' one-row fast path, on or off. */
const ONE_ROW: FunctionConstants = kernels.gemv.specialize({ mv_one_row: true });
const MANY_ROWS: FunctionConstants = kernels.gemv.specialize({ mv_one_row: false });
const DENSE_ACCESS = access([0, 1], [2]);
const AFFINE_ACCESS = access([0, 1, 2, 3], [4]);

/** The kernel shapes a product can run on: simdgroups over a few rows, tiles, a thread per row. */
export type MatmulPath = "matvec" | "tiled" | "rows";
const PATHS: readonly MatmulPath[] = ["matvec", "tiled", "rows"];

export interface MatmulParams {
  /** Kernel shape (default: by rows and backend, see the module comment). */
  path?: MatmulPath;
}

/** The path a product of `m` rows takes: `requested`, or the default for the device. */
function pathFor(enc: CommandEncoder, m: number, requested: MatmulPath | undefined): MatmulPath {
  if (requested !== undefined) {
    checkOneOf("params.path", requested, PATHS);
    return requested;
  }
  if (!enc.device.limits.lanesInHardware) return "rows";
  return m <= MATVEC_MAX_ROWS ? "matvec" : "tiled";
}

/** Encode one product on a matrix-vector or a tiled pipeline. */
function encode(enc: CommandEncoder, pipeline: Pipeline, bindings: readonly Binding[], path: MatmulPath, m: number, n: number, accesses: DispatchOptions): void {
  if (path === "matvec") enc.dispatchThreadgroups(pipeline, bindings, [Math.ceil(n / MV_ROWS_PER_GROUP), Math.ceil(m / MV_X_ROWS_PER_PASS), 1], [MV_THREADS, 1, 1], accesses);
  else if (path === "rows") {
    // Weight rows a thread takes: more with one row of x (kernels/matvec.h: mr_w_rows).
    const threads = Math.ceil(n / (m === 1 ? MR_ONE_W_ROWS_PER_THREAD : MR_W_ROWS_PER_THREAD));
    enc.dispatchThreads(pipeline, bindings, [threads, Math.ceil(m / MR_X_ROWS_PER_PASS), 1], [Math.min(MR_THREADS, threads), 1, 1], accesses);
  }
  else enc.dispatchThreadgroups(pipeline, bindings, [Math.ceil(n / MM_TILE), Math.ceil(m / MM_TILE), 1], [MM_THREADS, 1, 1], accesses);
}

/**
 * `y[m, n] = Σ_k x[m, k] · w[n, k]` for a dense weight `w` [n, k] of any float type, an MLX
 * affine-quantized `QuantizedTable` or a GGUF `BlockTable` (blocks read as stored), with n rows
 * and k columns.
 *
 * @example
 * ops.matmul(enc, x, wq, q);                         // x [T, 4096] f32, wq [4096, 4096] bf16
 * ops.matmul(enc, x, new QuantizedTable({ weight, scales, biases, bits: 4, groupSize: 64 }), y);
 */
export function matmul(enc: CommandEncoder, x: Buffer, w: Buffer | QuantizedTable | BlockTable, y: Buffer, params: MatmulParams = {}): void {
  checkOptions("params", params, ["path"]);
  const dtype = checkFloat("x", x);
  checkSameDType("y", y, dtype, "x");
  let n: number;
  let k: number;
  if (w instanceof QuantizedTable || w instanceof BlockTable) {
    w.checkLive("w");
    n = w.rows;
    k = w.cols;
  } else {
    checkFloat("w", w);
    if (w.shape.length !== 2) throw new ArgumentError("w", `must be 2-D [n, k] (got shape [${w.shape.join(", ")}])`);
    [n, k] = w.shape as [number, number];
  }
  const m = rowsOf("x", x, k, `[m, k = ${k}]: k is w's columns`);
  const ym = rowsOf("y", y, n, `[m, n = ${n}]: n is w's rows`);
  if (ym !== m) throw new ArgumentError("y", `shape mismatch: must have x's ${m} rows (got shape [${y.shape.join(", ")}])`);
  if (m === 0 || n === 0 || k === 0) throw new ArgumentError("x", "empty products are not supported");
  for (const [what, v] of [["m·k", m * k], ["n·k", n * k], ["m·n", m * n]] as const) {
    if (v > MAX_ELEMENTS) throw new ArgumentError("x", `${what} = ${v} exceeds the kernels' 32-bit element index`);
  }
  const path = pathFor(enc, m, params.path);
  const reg = enc.device.kernels;
  const constants = path === "tiled" ? undefined : m === 1 ? ONE_ROW : MANY_ROWS;
  if (w instanceof BlockTable) {
    const variant = { x: dtype, block: w.type.name };
    const pipeline = path === "matvec" ? reg.pipeline(kernels.ggufMatvec, variant, constants) : path === "rows" ? reg.pipeline(kernels.ggufMatvecRows, variant, constants) : reg.pipeline(kernels.ggufMatmul, variant);
    encode(enc, pipeline, [x, w.weight, y, MatmulArgs.write({ M: m, N: n, K: k, group_shift: 0 })], path, m, n, DENSE_ACCESS);
  } else if (w instanceof QuantizedTable) {
    const variant = { x: dtype, scales: w.scaleDType, bits: w.bits };
    const pipeline = path === "matvec" ? reg.pipeline(kernels.qmv, variant, constants) : path === "rows" ? reg.pipeline(kernels.qmvRows, variant, constants) : reg.pipeline(kernels.qmm, variant);
    const args = MatmulArgs.write({ M: m, N: n, K: k, group_shift: Math.log2(w.groupSize) });
    encode(enc, pipeline, [x, w.weight, w.scales, w.biases, y, args], path, m, n, AFFINE_ACCESS);
  } else {
    const variant = { x: dtype, w: w.dtype };
    const pipeline = path === "matvec" ? reg.pipeline(kernels.gemv, variant, constants) : path === "rows" ? reg.pipeline(kernels.gemvRows, variant, constants) : reg.pipeline(kernels.gemm, variant);
    encode(enc, pipeline, [x, w, y, MatmulArgs.write({ M: m, N: n, K: k, group_shift: 0 })], path, m, n, DENSE_ACCESS);
  }
}
