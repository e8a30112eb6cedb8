/**
 * Matrix products `y = x · Wᵀ` with W in PyTorch/MLX [out, in] layout: dense weights of any float
 * type, or MLX affine-quantized weights (2–8 bits, groups of 32/64/128, scales of any float
 * type). Accumulation is in f32; y has x's type.
 *
 * Routing: up to `MATVEC_MAX_ROWS` rows of x (decode) go to the matrix-vector kernels
 * (kernels/matvec.h: one pass reads each weight row once for up to 4 rows of x, lanes reduce with
 * simd_sum); more rows (prefill) go to the tiled kernels (kernels/matmul.h: 64×64 tiles staged
 * in threadgroup memory, quantized weights dequantized as they are staged, simdgroup-matrix
 * multiply-accumulate). On the cpu backend every product takes the matrix-vector path: msl-cpu
 * runs each 8×8 simdgroup-matrix operation as a SIMD-group collective, and there the tiled
 * kernels measured 2–5× slower than matrix-vector passes (M = 256, N = K = 1024, dense bf16 and
 * 4-bit). `params.path` overrides the choice.
 */
import type { Buffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { Binding, CommandEncoder, DispatchOptions } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { FunctionConstants, KernelRegistry } from "../registry.ts";
import { access } from "./common.ts";
import { AFFINE_BITS, AFFINE_GROUP_SIZES, type AffineTable } from "./embedding.ts";
import { MatmulArgs } from "./quantize.ts";
import { checkBuffer, checkCounts, checkDType, checkMultiple, checkOneOf, checkOptions, FLOAT_DTYPES, MAX_ELEMENTS } from "./validate.ts";

/** Rows of x up to which the matrix-vector kernels are used; above it, the tiled ones. */
export const MATVEC_MAX_ROWS = 8;

/** Geometry of the kernels (kernels/matvec.h and kernels/matmul.h). */
const MV_ROWS_PER_GROUP = 8; // MV_SIMDGROUPS · MV_ROWS weight rows per threadgroup
const MV_X_ROWS_PER_PASS = 4; // MV_MAX_X_ROWS
const MV_THREADS = 64;
const MM_TILE = 64; // MM_BM = MM_BN
const MM_THREADS = 128;

/** Function constant 100 (`mv_one_row`) of the matrix-vector kernels. */
const ONE_ROW: FunctionConstants = { bools: [[100, true]] };
const MANY_ROWS: FunctionConstants = { bools: [[100, false]] };

type Names = ReadonlyMap<DType, ReadonlyMap<DType, string>>;

/** `prefix_<x dtype>_<second dtype><suffix>` for every pair of float dtypes. */
function names(prefix: string, suffix = ""): Names {
  return new Map(FLOAT_DTYPES.map((a) => [a, new Map(FLOAT_DTYPES.map((b) => [b, `${prefix}_${a.name}_${b.name}${suffix}`]))]));
}

const GEMV = names("gemv");
const GEMM = names("gemm");
const QMV = new Map(AFFINE_BITS.map((b) => [b, names("qmv", `_b${b}`)]));
const QMM = new Map(AFFINE_BITS.map((b) => [b, names("qmm", `_b${b}`)]));
const DENSE_ACCESS = access([0, 1], [2]);
const AFFINE_ACCESS = access([0, 1, 2, 3], [4]);

/** The two kernel shapes a product can run on. */
export type MatmulPath = "matvec" | "tiled";
const PATHS: readonly MatmulPath[] = ["matvec", "tiled"];

export interface MatmulParams {
  /** Rows of x and y. */
  m: number;
  /** Rows of W (output features), columns of y. */
  n: number;
  /** Columns of x and W (input features). */
  k: number;
  /** Type of x and y. */
  dtype: DType;
  /** Type of W (default `dtype`). */
  weightDType?: DType;
  /** Kernel shape (default: by rows and backend, see the module comment). */
  path?: MatmulPath;
}

export interface QuantizedMatmulParams {
  m: number;
  n: number;
  /** A multiple of `groupSize`. */
  k: number;
  /** 2, 3, 4, 5, 6 or 8. */
  bits: number;
  /** 32, 64 or 128. */
  groupSize: number;
  /** Type of x and y. */
  dtype: DType;
  /** Type of the scales and biases (default `dtype`). */
  scaleDType?: DType;
  /** Kernel shape (default: by rows and backend, see the module comment). */
  path?: MatmulPath;
}

function checkShape(m: number, n: number, k: number): void {
  checkCounts("params", { m, n, k }, ["m", "n", "k"]);
  for (const [what, v] of [["m·k", m * k], ["n·k", n * k], ["m·n", m * n]] as const) {
    if (v > MAX_ELEMENTS) throw new ArgumentError("params", `${what} = ${v} exceeds the kernels' 32-bit element index`);
  }
}

/** The path a product of `m` rows takes: `requested`, or the default for the device. */
function pathFor(enc: CommandEncoder, m: number, requested: MatmulPath | undefined): MatmulPath {
  if (requested !== undefined) {
    checkOneOf("params.path", requested, PATHS);
    return requested;
  }
  return m <= MATVEC_MAX_ROWS || !enc.device.limits.lanesInHardware ? "matvec" : "tiled";
}

/** Encode one product on the matrix-vector or the tiled kernel `name`. */
function encode(enc: CommandEncoder, registry: KernelRegistry, name: string, bindings: readonly Binding[], path: MatmulPath, m: number, n: number, accesses: DispatchOptions): void {
  if (path === "matvec") {
    const pipeline = registry.getPipeline(name, m === 1 ? ONE_ROW : MANY_ROWS);
    enc.dispatchThreadgroups(pipeline, bindings, [Math.ceil(n / MV_ROWS_PER_GROUP), Math.ceil(m / MV_X_ROWS_PER_PASS), 1], [MV_THREADS, 1, 1], accesses);
  } else {
    const pipeline = registry.getPipeline(name);
    enc.dispatchThreadgroups(pipeline, bindings, [Math.ceil(n / MM_TILE), Math.ceil(m / MM_TILE), 1], [MM_THREADS, 1, 1], accesses);
  }
}

/**
 * `y[m, n] = Σ_k x[m, k] · w[n, k]` for a dense weight `w` [n, k].
 *
 * @example
 * ops.matmul(enc, registry, x, wq, q, { m: tokens, n: 4096, k: 4096, dtype: DType.F32, weightDType: DType.BF16 });
 */
export function matmul(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, w: Buffer, y: Buffer, params: MatmulParams): void {
  checkOptions("params", params, ["m", "n", "k", "dtype", "weightDType", "path"], ["m", "n", "k", "dtype"]);
  const { m, n, k, dtype } = params;
  const weightDType = params.weightDType ?? dtype;
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkDType("params.weightDType", weightDType, FLOAT_DTYPES);
  checkShape(m, n, k);
  checkBuffer("x", x, dtype, m * k);
  checkBuffer("w", w, weightDType, n * k);
  checkBuffer("y", y, dtype, m * n);
  const path = pathFor(enc, m, params.path);
  const name = (path === "matvec" ? GEMV : GEMM).get(dtype)!.get(weightDType)!;
  encode(enc, registry, name, [x, w, y, MatmulArgs.write({ M: m, N: n, K: k, group_shift: 0 })], path, m, n, DENSE_ACCESS);
}

/**
 * `y[m, n] = Σ_k x[m, k] · W[n, k]` for an MLX affine-quantized weight `w` (packed U32 codes
 * [n, k·bits/32], scales and biases [n, k/groupSize]).
 *
 * @example
 * ops.quantizedMatmul(enc, registry, x, { weight, scales, biases }, y,
 *   { m: 1, n: 4096, k: 4096, bits: 4, groupSize: 64, dtype: DType.F32, scaleDType: DType.BF16 });
 */
export function quantizedMatmul(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, w: AffineTable, y: Buffer, params: QuantizedMatmulParams): void {
  checkOptions("params", params, ["m", "n", "k", "bits", "groupSize", "dtype", "scaleDType", "path"], ["m", "n", "k", "bits", "groupSize", "dtype"]);
  checkOptions("w", w, ["weight", "scales", "biases"], ["weight", "scales", "biases"]);
  const { m, n, k, bits, groupSize, dtype } = params;
  const scaleDType = params.scaleDType ?? dtype;
  checkOneOf("params.bits", bits, AFFINE_BITS);
  checkOneOf("params.groupSize", groupSize, AFFINE_GROUP_SIZES);
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkDType("params.scaleDType", scaleDType, FLOAT_DTYPES);
  checkShape(m, n, k);
  checkMultiple("params.k", k, groupSize, `groupSize (${groupSize})`);
  checkBuffer("x", x, dtype, m * k);
  checkBuffer("w.weight", w.weight, DType.U32, (n * k * bits) / 32);
  checkBuffer("w.scales", w.scales, scaleDType, (n * k) / groupSize);
  checkBuffer("w.biases", w.biases, scaleDType, (n * k) / groupSize);
  checkBuffer("y", y, dtype, m * n);
  const path = pathFor(enc, m, params.path);
  const name = (path === "matvec" ? QMV : QMM).get(bits)!.get(dtype)!.get(scaleDType)!;
  const args = MatmulArgs.write({ M: m, N: n, K: k, group_shift: Math.log2(groupSize) });
  encode(enc, registry, name, [x, w.weight, w.scales, w.biases, y, args], path, m, n, AFFINE_ACCESS);
}
