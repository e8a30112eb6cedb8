/**
 * Elementwise ops (kernels/elementwise.h) and the data movement built on the strided copy kernel
 * (kernels/copy.h): cast, slice copies, concat, transpose. Dtypes and shapes come from the
 * buffers; a copy converts to the destination's dtype.
 *
 * Every op validates all its arguments before encoding and declares which buffers it reads and
 * writes, so the encoder's automatic barriers order it after the dispatches it depends on.
 * Outputs may alias inputs of the same element (in place): each element is read before it is
 * written, by the same thread.
 */
import { kernels, type BinaryOp } from "../../kernels/catalog.ts";
import type { Buffer } from "../buffer.ts";
import type { CommandEncoder, DispatchOptions, Size3 } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import { argStruct } from "./args.ts";
import { access, BLOCK, dispatchBlocks } from "./common.ts";
import { checkCount, checkElements, checkFloat, checkInt, checkNumber, checkOptions, checkSameDType, checkStrided, lastDim, MAX_ELEMENTS, rowsOf } from "./validate.ts";

export type { BinaryOp };

const nScratch = new Uint32Array(1);
const RowArgs = argStruct("RowArgs", { cols: "u32", rows: "u32" });
/** Bindings a, b read; out written. */
const BINARY_ACCESS = access([0, 1], [2]);

function binary(op: BinaryOp, enc: CommandEncoder, a: Buffer, b: Buffer, out: Buffer): void {
  const dtype = checkFloat("a", a);
  checkSameDType("b", b, dtype, "a");
  checkSameDType("out", out, dtype, "a");
  const n = a.elementCount;
  checkCount("a.elementCount", n, MAX_ELEMENTS);
  checkElements("out", out, n, "as many as a");
  const bn = b.elementCount;
  if (bn === n) {
    const pipeline = enc.device.kernels.pipeline(kernels.elementwiseBinary, { op, dtype });
    nScratch[0] = n;
    enc.dispatchThreads(pipeline, [a, b, out, nScratch], [Math.ceil(n / BLOCK), 1, 1], [Math.min(256, pipeline.maxTotalThreadsPerThreadgroup), 1, 1], BINARY_ACCESS);
    return;
  }
  // b broadcast over the rows of a: b is one row, a's trailing dimensions.
  const rows = rowsOf("b", a, bn, `b must hold as many elements as a (${n}) or one row of a's trailing dimensions, got ${bn}`);
  dispatchBlocks(enc, enc.device.kernels.pipeline(kernels.elementwiseBinaryRow, { op, dtype }), [a, b, out, RowArgs.write({ cols: bn, rows })], [bn, rows, 1], BINARY_ACCESS);
}

/**
 * `out = a + b` elementwise (computed in f32, rounded once to the dtype). `b` holds as many
 * elements as `a`, or one row that is added to every row of `a` (b's elements are a's trailing
 * dimensions: a [tokens, n] + bias [n]). All three have one dtype; `out` has a's element count.
 *
 * @example
 * ops.elementwiseAdd(enc, a, b, out);
 * ops.elementwiseAdd(enc, x, bias, x); // x [rows, cols], bias [cols]
 */
export function elementwiseAdd(enc: CommandEncoder, a: Buffer, b: Buffer, out: Buffer): void {
  binary("add", enc, a, b, out);
}

/**
 * `out = a - b`; see `elementwiseAdd` for broadcasting.
 *
 * @example
 * ops.elementwiseSub(enc, a, b, out);
 */
export function elementwiseSub(enc: CommandEncoder, a: Buffer, b: Buffer, out: Buffer): void {
  binary("sub", enc, a, b, out);
}

/**
 * `out = a * b`; see `elementwiseAdd` for broadcasting.
 *
 * @example
 * ops.elementwiseMul(enc, x, gamma, out); // x [rows, cols], gamma [cols]
 */
export function elementwiseMul(enc: CommandEncoder, a: Buffer, b: Buffer, out: Buffer): void {
  binary("mul", enc, a, b, out);
}

/**
 * `out = a / b` (IEEE division: x / 0 is ±inf or NaN); see `elementwiseAdd` for broadcasting.
 *
 * @example
 * ops.elementwiseDiv(enc, a, b, out);
 */
export function elementwiseDiv(enc: CommandEncoder, a: Buffer, b: Buffer, out: Buffer): void {
  binary("div", enc, a, b, out);
}

const ScalarArgs = argStruct("ScalarArgs", { n: "u32", scale: "f32", shift: "f32" });
const SCALAR_ACCESS = access([0], [1]);

function scalar(enc: CommandEncoder, a: Buffer, out: Buffer, scale: number, shift: number): void {
  const dtype = checkFloat("a", a);
  checkSameDType("out", out, dtype, "a");
  const n = a.elementCount;
  checkCount("a.elementCount", n, MAX_ELEMENTS);
  checkElements("out", out, n, "as many as a");
  dispatchBlocks(enc, enc.device.kernels.pipeline(kernels.elementwiseScalar, { dtype }), [a, out, ScalarArgs.write({ n, scale, shift })], [n, 1, 1], SCALAR_ACCESS);
}

/**
 * `out = a + value` (value rounded to f32; the sum in f32, rounded once to the dtype).
 *
 * @example
 * ops.scalarAdd(enc, x, out, 1);
 */
export function scalarAdd(enc: CommandEncoder, a: Buffer, out: Buffer, value: number): void {
  checkNumber("value", value);
  scalar(enc, a, out, 1, value);
}

/**
 * `out = a * value` (value rounded to f32; the product in f32, rounded once to the dtype).
 *
 * @example
 * ops.scalarMul(enc, scores, scores, 1 / Math.sqrt(headDim));
 */
export function scalarMul(enc: CommandEncoder, a: Buffer, out: Buffer, value: number): void {
  checkNumber("value", value);
  scalar(enc, a, out, value, 0);
}

// ───────────── strided copies ─────────────

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
export function encodeCopy(enc: CommandEncoder, src: Buffer, dst: Buffer, size: Size3, srcOffset: number, srcStrides: Size3, dstOffset: number, dstStrides: Size3): void {
  const flat = size[1] === 1 && size[2] === 1 && srcStrides[0] === 1 && dstStrides[0] === 1;
  const srcDType = src.dtype;
  const dstDType = dst.dtype;
  const pipeline = enc.device.kernels.pipeline(flat ? kernels.copyFlat : kernels.copy, { src: srcDType, dst: dstDType });
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
 * `dst = src` converted to dst's dtype (through f32, rounded once, round to nearest even). Both
 * hold the same number of elements.
 *
 * @example
 * ops.cast(enc, logitsBf16, logitsF32);
 */
export function cast(enc: CommandEncoder, src: Buffer, dst: Buffer): void {
  checkFloat("src", src);
  checkFloat("dst", dst);
  const n = src.elementCount;
  checkCount("src.elementCount", n, MAX_ELEMENTS);
  checkElements("dst", dst, n, "as many as src");
  encodeCopy(enc, src, dst, [n, 1, 1], 0, [1, 0, 0], 0, [1, 0, 0]);
}

export interface CopyOptions {
  /** First source element (default 0). */
  srcOffset?: number;
  /** First destination element (default 0). */
  dstOffset?: number;
  /** Elements copied (default: the rest of src from srcOffset). */
  count?: number;
}

/**
 * `dst[dstOffset + i] = src[srcOffset + i]` for `i < count`: a slice copy between buffers of one
 * dtype. Offsets and count are in elements and must stay inside both shapes.
 *
 * @example
 * ops.copy(enc, hidden, lastRow, { srcOffset: (tokens - 1) * dim, count: dim });
 */
export function copy(enc: CommandEncoder, src: Buffer, dst: Buffer, options: CopyOptions = {}): void {
  const dtype = checkFloat("src", src);
  checkSameDType("dst", dst, dtype, "src");
  checkOptions("options", options, ["srcOffset", "dstOffset", "count"]);
  const srcOffset = options.srcOffset ?? 0;
  const dstOffset = options.dstOffset ?? 0;
  checkInt("options.srcOffset", srcOffset, 0, src.elementCount - 1);
  checkInt("options.dstOffset", dstOffset, 0, dst.elementCount - 1);
  const n = options.count ?? src.elementCount - srcOffset;
  checkCount("options.count", n, MAX_ELEMENTS);
  checkStrided("src", src, dtype, srcOffset, [n], [1]);
  checkStrided("dst", dst, dtype, dstOffset, [n], [1]);
  encodeCopy(enc, src, dst, [n, 1, 1], srcOffset, [1, 0, 0], dstOffset, [1, 0, 0]);
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
}

/**
 * `dst[dstOffset + Σ idx·dstStrides] = src[srcOffset + Σ idx·srcStrides]` for every index
 * `idx` of `shape`: any 1-3 dimensional strided view copied (and converted to dst's dtype) into
 * another.
 *
 * @example
 * // column block [rows, 64] at column 128 of a [rows, 512] matrix, into a dense [rows, 64]
 * ops.copyStrided(enc, m, block, { shape: [rows, 64], srcStrides: [512, 1], dstStrides: [64, 1], srcOffset: 128 });
 */
export function copyStrided(enc: CommandEncoder, src: Buffer, dst: Buffer, params: StridedCopyParams): void {
  checkOptions("params", params, ["shape", "srcStrides", "dstStrides", "srcOffset", "dstOffset"], ["shape", "srcStrides", "dstStrides"]);
  const { shape, srcStrides, dstStrides } = params;
  checkFloat("src", src);
  checkFloat("dst", dst);
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
  checkStrided("src", src, src.dtype, srcOffset, shape, srcStrides);
  checkStrided("dst", dst, dst.dtype, dstOffset, shape, dstStrides);
  // The kernel's x is the innermost dimension.
  const rev = (v: readonly number[], fill: number): Size3 => [v[v.length - 1]!, v.length > 1 ? v[v.length - 2]! : fill, v.length > 2 ? v[0]! : fill];
  encodeCopy(enc, src, dst, rev(shape, 1), srcOffset, rev(srcStrides, 0), dstOffset, rev(dstStrides, 0));
}

/**
 * Concatenate inputs [rows, cols_i] along the last axis into `out` [rows, Σ cols_i]; every input
 * has out's dtype and rows. One dispatch per input; the writes are disjoint, so they need no
 * barrier between them.
 *
 * @example
 * ops.concat(enc, [q, k], qk); // q [tokens, 128], k [tokens, 64] → qk [tokens, 192]
 */
export function concat(enc: CommandEncoder, inputs: readonly Buffer[], out: Buffer): void {
  const dtype = checkFloat("out", out);
  if (!Array.isArray(inputs) || inputs.length === 0) throw new ArgumentError("inputs", "must be a non-empty array of buffers");
  const total = lastDim(out);
  const rows = rowsOf("out", out, total, "[rows, Σ cols]");
  let at = 0;
  const cols = inputs.map((input, i) => {
    checkSameDType(`inputs[${i}]`, input, dtype, "out");
    const c = lastDim(input);
    checkElements(`inputs[${i}]`, input, rows * c, `[rows = ${rows}, cols] like out`);
    return c;
  });
  const sum = cols.reduce((x, y) => x + y, 0);
  if (sum !== total) throw new ArgumentError("out", `shape mismatch: its last dimension must be the inputs' columns summed (${sum}; got shape [${out.shape.join(", ")}])`);
  inputs.forEach((input, i) => {
    encodeCopy(enc, input, out, [cols[i]!, rows, 1], 0, [1, cols[i]!, 0], at, [1, total, 0]);
    at += cols[i]!;
  });
}

/**
 * Swap the last two axes: `src` [..., rows, cols] → `dst` [..., cols, rows] (one dtype; the
 * leading dimensions are a batch).
 *
 * @example
 * ops.transpose(enc, kHeadsFirst, kT); // [heads, tokens, headDim] → [heads, headDim, tokens]
 */
export function transpose(enc: CommandEncoder, src: Buffer, dst: Buffer): void {
  const dtype = checkFloat("src", src);
  checkSameDType("dst", dst, dtype, "src");
  if (src.shape.length < 2) throw new ArgumentError("src", `must have at least 2 dimensions [..., rows, cols] (got shape [${src.shape.join(", ")}])`);
  const s = src.shape;
  const rows = s[s.length - 2]!;
  const cols = s[s.length - 1]!;
  const n = src.elementCount;
  checkCount("src.elementCount", n, MAX_ELEMENTS);
  const batch = n / (rows * cols);
  const want = [...s.slice(0, -2), cols, rows];
  if (dst.shape.length !== want.length || dst.shape.some((d, i) => d !== want[i])) throw new ArgumentError("dst", `shape mismatch: must be [${want.join(", ")}] (src transposed; got [${dst.shape.join(", ")}])`);
  // x walks dst's contiguous axis (src rows), so writes are contiguous.
  encodeCopy(enc, src, dst, [rows, cols, batch], 0, [cols, 1, rows * cols], 0, [1, rows, rows * cols]);
}
