/**
 * Elementwise ops (kernels/elementwise.{h,metal}) and the data movement built on the strided
 * copy kernel (kernels/copy.{h,metal}): cast, slice copies, concat, transpose.
 *
 * Every op validates all its arguments before encoding and declares which buffers it reads and
 * writes, so the encoder's automatic barriers order it after the dispatches it depends on.
 * Outputs may alias inputs of the same element (in place): each element is read before it is
 * written, by the same thread.
 */
import type { Buffer } from "../buffer.ts";
import type { DType } from "../dtype.ts";
import type { CommandEncoder, DispatchOptions, Size3 } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { KernelRegistry } from "../registry.ts";
import { argStruct } from "./args.ts";
import { access, BLOCK, dispatchBlocks, namesByDType, namesByDTypePair, pipelineFor } from "./common.ts";
import { checkBuffer, checkCount, checkCounts, checkDType, checkInt, checkNumber, checkOptions, checkStrided, FLOAT_DTYPES, MAX_ELEMENTS } from "./validate.ts";

export type BinaryOp = "add" | "sub" | "mul" | "div";

export interface BinaryOptions {
  /**
   * Broadcast `b` over rows: `b` holds one row of `rowLength` elements, applied to each of the
   * `n / rowLength` rows of `a` (n must be a multiple of it). Without it, `b` holds n elements.
   */
  rowLength?: number;
}

const BINARY_OPS: readonly BinaryOp[] = ["add", "sub", "mul", "div"];
const FLAT = new Map(BINARY_OPS.map((op) => [op, namesByDType(`elementwise_${op}`)]));
const ROW = new Map(BINARY_OPS.map((op) => [op, namesByDType(`elementwise_${op}_row`)]));
const nScratch = new Uint32Array(1);
const RowArgs = argStruct("RowArgs", { cols: "u32", rows: "u32" });
/** Bindings a, b read; out written. */
const BINARY_ACCESS = access([0, 1], [2]);

function binary(op: BinaryOp, enc: CommandEncoder, registry: KernelRegistry, a: Buffer, b: Buffer, out: Buffer, n: number, dtype: DType, options?: BinaryOptions): void {
  checkDType("dtype", dtype, FLOAT_DTYPES);
  checkCount("n", n);
  checkBuffer("a", a, dtype, n);
  checkBuffer("out", out, dtype, n);
  if (options === undefined) {
    checkBuffer("b", b, dtype, n);
    const pipeline = pipelineFor(registry, FLAT.get(op)!, dtype);
    nScratch[0] = n;
    enc.dispatchThreads(pipeline, [a, b, out, nScratch], [Math.ceil(n / BLOCK), 1, 1], [Math.min(256, pipeline.maxTotalThreadsPerThreadgroup), 1, 1], BINARY_ACCESS);
    return;
  }
  checkOptions("options", options, ["rowLength"], ["rowLength"]);
  const cols = options.rowLength!;
  checkInt("options.rowLength", cols, 1, n);
  if (n % cols !== 0) throw new ArgumentError("options.rowLength", `must divide n = ${n} (got ${cols})`);
  checkBuffer("b", b, dtype, cols);
  const rows = n / cols;
  dispatchBlocks(enc, pipelineFor(registry, ROW.get(op)!, dtype), [a, b, out, RowArgs.write({ cols, rows })], [cols, rows, 1], BINARY_ACCESS);
}

/**
 * `out[i] = a[i] + b[i]` for `i < n` (computed in f32, rounded once to `dtype`); with
 * `{ rowLength }`, `b` is one row added to every row of `a`.
 *
 * @example
 * ops.elementwiseAdd(enc, registry, a, b, out, n, DType.F32);
 * ops.elementwiseAdd(enc, registry, x, bias, x, rows * cols, DType.BF16, { rowLength: cols });
 */
export function elementwiseAdd(enc: CommandEncoder, registry: KernelRegistry, a: Buffer, b: Buffer, out: Buffer, n: number, dtype: DType, options?: BinaryOptions): void {
  binary("add", enc, registry, a, b, out, n, dtype, options);
}

/**
 * `out[i] = a[i] - b[i]`; see `elementwiseAdd` for broadcasting.
 *
 * @example
 * ops.elementwiseSub(enc, registry, a, b, out, n, DType.F16);
 */
export function elementwiseSub(enc: CommandEncoder, registry: KernelRegistry, a: Buffer, b: Buffer, out: Buffer, n: number, dtype: DType, options?: BinaryOptions): void {
  binary("sub", enc, registry, a, b, out, n, dtype, options);
}

/**
 * `out[i] = a[i] * b[i]`; see `elementwiseAdd` for broadcasting.
 *
 * @example
 * ops.elementwiseMul(enc, registry, x, gamma, out, rows * cols, DType.F32, { rowLength: cols });
 */
export function elementwiseMul(enc: CommandEncoder, registry: KernelRegistry, a: Buffer, b: Buffer, out: Buffer, n: number, dtype: DType, options?: BinaryOptions): void {
  binary("mul", enc, registry, a, b, out, n, dtype, options);
}

/**
 * `out[i] = a[i] / b[i]` (IEEE division: x / 0 is ±inf or NaN); see `elementwiseAdd` for
 * broadcasting.
 *
 * @example
 * ops.elementwiseDiv(enc, registry, a, b, out, n, DType.F32);
 */
export function elementwiseDiv(enc: CommandEncoder, registry: KernelRegistry, a: Buffer, b: Buffer, out: Buffer, n: number, dtype: DType, options?: BinaryOptions): void {
  binary("div", enc, registry, a, b, out, n, dtype, options);
}

const SCALAR = namesByDType("elementwise_scalar");
const ScalarArgs = argStruct("ScalarArgs", { n: "u32", scale: "f32", shift: "f32" });
const SCALAR_ACCESS = access([0], [1]);

function scalar(enc: CommandEncoder, registry: KernelRegistry, a: Buffer, out: Buffer, n: number, dtype: DType, scale: number, shift: number): void {
  checkDType("dtype", dtype, FLOAT_DTYPES);
  checkCount("n", n);
  checkBuffer("a", a, dtype, n);
  checkBuffer("out", out, dtype, n);
  dispatchBlocks(enc, pipelineFor(registry, SCALAR, dtype), [a, out, ScalarArgs.write({ n, scale, shift })], [n, 1, 1], SCALAR_ACCESS);
}

/**
 * `out[i] = a[i] + value` (value rounded to f32; the sum in f32, rounded once to `dtype`).
 *
 * @example
 * ops.scalarAdd(enc, registry, x, out, n, DType.F32, 1);
 */
export function scalarAdd(enc: CommandEncoder, registry: KernelRegistry, a: Buffer, out: Buffer, n: number, dtype: DType, value: number): void {
  checkNumber("value", value);
  scalar(enc, registry, a, out, n, dtype, 1, value);
}

/**
 * `out[i] = a[i] * value` (value rounded to f32; the product in f32, rounded once to `dtype`).
 *
 * @example
 * ops.scalarMul(enc, registry, scores, scores, n, DType.F16, 1 / Math.sqrt(headDim));
 */
export function scalarMul(enc: CommandEncoder, registry: KernelRegistry, a: Buffer, out: Buffer, n: number, dtype: DType, value: number): void {
  checkNumber("value", value);
  scalar(enc, registry, a, out, n, dtype, value, 0);
}

// ───────────── strided copies ─────────────

const COPY = namesByDTypePair("copy");
const COPY_FLAT = namesByDTypePair("copy_flat");
const CopyArgs = argStruct("CopyArgs", {
  size0: "u32",
  size1: "u32",
  size2: "u32",
  src_offset: "u32",
  src_stride0: "u32",
  src_stride1: "u32",
  src_stride2: "u32",
  dst_offset: "u32",
  dst_stride0: "u32",
  dst_stride1: "u32",
  dst_stride2: "u32",
});

/** The byte range `[first, last]` element a strided walk touches, as a declared access of `binding`. */
function span(binding: number, size: number, extent: Size3, offset: number, strides: Size3): { binding: number; offset: number; length: number } {
  const last = offset + (extent[0] - 1) * strides[0] + (extent[1] - 1) * strides[1] + (extent[2] - 1) * strides[2];
  return { binding, offset: offset * size, length: (last - offset + 1) * size };
}

/**
 * Encode the strided copy kernel over `size` (x fastest), with strides in elements. Arguments
 * are already validated by the caller. The accesses declared are the spans the walk touches, so
 * copies into disjoint slices of one buffer need no barrier between them.
 * @internal Shared with kvcache.ts.
 */
export function encodeCopy(enc: CommandEncoder, registry: KernelRegistry, src: Buffer, dst: Buffer, srcDType: DType, dstDType: DType, size: Size3, srcOffset: number, srcStrides: Size3, dstOffset: number, dstStrides: Size3): void {
  const flat = size[1] === 1 && size[2] === 1 && srcStrides[0] === 1 && dstStrides[0] === 1;
  const pipeline = registry.getPipeline((flat ? COPY_FLAT : COPY).get(srcDType)!.get(dstDType)!);
  const args = CopyArgs.write({
    size0: size[0],
    size1: size[1],
    size2: size[2],
    src_offset: srcOffset,
    src_stride0: srcStrides[0],
    src_stride1: srcStrides[1],
    src_stride2: srcStrides[2],
    dst_offset: dstOffset,
    dst_stride0: dstStrides[0],
    dst_stride1: dstStrides[1],
    dst_stride2: dstStrides[2],
  });
  const accesses: DispatchOptions = { reads: [span(0, srcDType.size, size, srcOffset, srcStrides)], writes: [span(1, dstDType.size, size, dstOffset, dstStrides)] };
  dispatchBlocks(enc, pipeline, [src, dst, args], size, accesses);
}

/**
 * `dst[i] = src[i]` for `i < n`, converted from `srcDType` to `dstDType` (through f32, rounded
 * once, round to nearest even).
 *
 * @example
 * ops.cast(enc, registry, logitsBf16, logitsF32, vocab, DType.BF16, DType.F32);
 */
export function cast(enc: CommandEncoder, registry: KernelRegistry, src: Buffer, dst: Buffer, n: number, srcDType: DType, dstDType: DType): void {
  checkDType("srcDType", srcDType, FLOAT_DTYPES);
  checkDType("dstDType", dstDType, FLOAT_DTYPES);
  checkCount("n", n);
  checkBuffer("src", src, srcDType, n);
  checkBuffer("dst", dst, dstDType, n);
  encodeCopy(enc, registry, src, dst, srcDType, dstDType, [n, 1, 1], 0, [1, 0, 0], 0, [1, 0, 0]);
}

export interface CopyOptions {
  /** First source element (default 0). */
  srcOffset?: number;
  /** First destination element (default 0). */
  dstOffset?: number;
}

/**
 * `dst[dstOffset + i] = src[srcOffset + i]` for `i < n`: a slice copy. Offsets are in elements.
 *
 * @example
 * ops.copy(enc, registry, hidden, lastRow, dim, DType.F32, { srcOffset: (tokens - 1) * dim });
 */
export function copy(enc: CommandEncoder, registry: KernelRegistry, src: Buffer, dst: Buffer, n: number, dtype: DType, options: CopyOptions = {}): void {
  checkDType("dtype", dtype, FLOAT_DTYPES);
  checkCount("n", n);
  checkOptions("options", options, ["srcOffset", "dstOffset"]);
  const srcOffset = options.srcOffset ?? 0;
  const dstOffset = options.dstOffset ?? 0;
  checkInt("options.srcOffset", srcOffset, 0, MAX_ELEMENTS - 1);
  checkInt("options.dstOffset", dstOffset, 0, MAX_ELEMENTS - 1);
  checkStrided("src", src, dtype, srcOffset, [n], [1]);
  checkStrided("dst", dst, dtype, dstOffset, [n], [1]);
  encodeCopy(enc, registry, src, dst, dtype, dtype, [n, 1, 1], srcOffset, [1, 0, 0], dstOffset, [1, 0, 0]);
}

export interface StridedCopyParams {
  /** Extent of the copy, outermost first, 1 to 3 dimensions. */
  shape: readonly number[];
  /** Source strides in elements, one per dimension of `shape`. */
  srcStrides: readonly number[];
  /** Destination strides in elements, one per dimension of `shape`. */
  dstStrides: readonly number[];
  srcOffset?: number;
  dstOffset?: number;
  /** Type of `src`. */
  dtype: DType;
  /** Type of `dst` (default `dtype`): the copy converts. */
  dstDType?: DType;
}

/**
 * `dst[dstOffset + Σ idx·dstStrides] = src[srcOffset + Σ idx·srcStrides]` for every index
 * `idx` of `shape`: any 1-3 dimensional strided view copied (and converted) into another.
 *
 * @example
 * // column block [rows, 64] at column 128 of a [rows, 512] matrix, into a dense [rows, 64]
 * ops.copyStrided(enc, registry, m, block, { shape: [rows, 64], srcStrides: [512, 1], dstStrides: [64, 1], srcOffset: 128, dtype: DType.F32 });
 */
export function copyStrided(enc: CommandEncoder, registry: KernelRegistry, src: Buffer, dst: Buffer, params: StridedCopyParams): void {
  checkOptions("params", params, ["shape", "srcStrides", "dstStrides", "srcOffset", "dstOffset", "dtype", "dstDType"], ["shape", "srcStrides", "dstStrides", "dtype"]);
  const { shape, srcStrides, dstStrides } = params;
  const dstDType = params.dstDType ?? params.dtype;
  checkDType("params.dtype", params.dtype, FLOAT_DTYPES);
  checkDType("params.dstDType", dstDType, FLOAT_DTYPES);
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 3) throw new ArgumentError("params.shape", `must list 1 to 3 dimensions (got ${JSON.stringify(shape)})`);
  shape.forEach((d, i) => checkCount(`params.shape[${i}]`, d));
  for (const [name, strides] of [["params.srcStrides", srcStrides], ["params.dstStrides", dstStrides]] as const) {
    if (!Array.isArray(strides) || strides.length !== shape.length) throw new ArgumentError(name, `must have one stride per dimension of shape (${shape.length}; got ${JSON.stringify(strides)})`);
    strides.forEach((s, i) => checkInt(`${name}[${i}]`, s, 0, MAX_ELEMENTS - 1));
  }
  const srcOffset = params.srcOffset ?? 0;
  const dstOffset = params.dstOffset ?? 0;
  checkInt("params.srcOffset", srcOffset, 0, MAX_ELEMENTS - 1);
  checkInt("params.dstOffset", dstOffset, 0, MAX_ELEMENTS - 1);
  checkStrided("src", src, params.dtype, srcOffset, shape, srcStrides);
  checkStrided("dst", dst, dstDType, dstOffset, shape, dstStrides);
  // The kernel's x is the innermost dimension.
  const rev = (v: readonly number[], fill: number): Size3 => [v[v.length - 1]!, v.length > 1 ? v[v.length - 2]! : fill, v.length > 2 ? v[0]! : fill];
  encodeCopy(enc, registry, src, dst, params.dtype, dstDType, rev(shape, 1), srcOffset, rev(srcStrides, 0), dstOffset, rev(dstStrides, 0));
}

export interface ConcatInput {
  buffer: Buffer;
  /** Columns of this input: it is [rows, cols]. */
  cols: number;
}

/**
 * Concatenate [rows, cols_i] inputs along the last axis into `out` [rows, Σ cols_i]. One
 * dispatch per input; the writes are disjoint, so they need no barrier between them.
 *
 * @example
 * ops.concat(enc, registry, [{ buffer: q, cols: 128 }, { buffer: k, cols: 64 }], qk, tokens, DType.BF16);
 */
export function concat(enc: CommandEncoder, registry: KernelRegistry, inputs: readonly ConcatInput[], out: Buffer, rows: number, dtype: DType): void {
  checkDType("dtype", dtype, FLOAT_DTYPES);
  checkCount("rows", rows);
  if (!Array.isArray(inputs) || inputs.length === 0) throw new ArgumentError("inputs", "must be a non-empty array of { buffer, cols }");
  let total = 0;
  inputs.forEach((input, i) => {
    checkOptions(`inputs[${i}]`, input, ["buffer", "cols"], ["buffer", "cols"]);
    checkCount(`inputs[${i}].cols`, input.cols);
    checkBuffer(`inputs[${i}].buffer`, input.buffer, dtype, rows * input.cols);
    total += input.cols;
  });
  checkStrided("out", out, dtype, 0, [rows, total], [total, 1]);
  let at = 0;
  for (const { buffer, cols } of inputs) {
    encodeCopy(enc, registry, buffer, out, dtype, dtype, [cols, rows, 1], 0, [1, cols, 0], at, [1, total, 0]);
    at += cols;
  }
}

export interface TransposeParams {
  /** Leading dimension (default 1). */
  batch?: number;
  rows: number;
  cols: number;
  dtype: DType;
}

/**
 * Swap the last two axes: `src` [batch, rows, cols] → `dst` [batch, cols, rows].
 *
 * @example
 * ops.transpose(enc, registry, kHeadsFirst, kT, { batch: heads, rows: tokens, cols: headDim, dtype: DType.F32 });
 */
export function transpose(enc: CommandEncoder, registry: KernelRegistry, src: Buffer, dst: Buffer, params: TransposeParams): void {
  checkOptions("params", params, ["batch", "rows", "cols", "dtype"], ["rows", "cols", "dtype"]);
  const { rows, cols, dtype } = params;
  const batch = params.batch ?? 1;
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkCounts("params", { batch, rows, cols }, ["batch", "rows", "cols"]);
  const n = batch * rows * cols;
  if (n > MAX_ELEMENTS) throw new ArgumentError("params", `batch·rows·cols = ${n} exceeds the kernels' 32-bit element index`);
  checkBuffer("src", src, dtype, n);
  checkBuffer("dst", dst, dtype, n);
  // x walks dst's contiguous axis (src rows), so writes are contiguous.
  encodeCopy(enc, registry, src, dst, dtype, dtype, [rows, cols, batch], 0, [cols, 1, rows * cols], 0, [1, rows, rows * cols]);
}
