/**
 * Row softmax (kernels/softmax.{h,metal}) over x [rows, cols], one threadgroup per row, with an
 * optional scale and causal mask. Max and sum in f32; each output rounded once. `out` may be `x`.
 */
import type { Buffer } from "../buffer.ts";
import type { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { KernelRegistry } from "../registry.ts";
import { argStruct } from "./args.ts";
import { access, checkThreadsPerRow, namesByDType, rowGroup } from "./common.ts";
import { checkBuffer, checkCounts, checkDType, checkInt, checkNumber, checkOptions, FLOAT_DTYPES, MAX_ELEMENTS } from "./validate.ts";

export interface CausalMask {
  /**
   * Queries per block of rows: row r is query `r % queries` (rows are [..., queries, cols], e.g.
   * [heads, queries, keys] of attention scores).
   */
  queries: number;
  /** Query q sees keys `j <= offset + q` (default `cols - queries`: the last query sees every key). */
  offset?: number;
}

export interface SoftmaxParams {
  rows: number;
  cols: number;
  /** Multiplies x before the softmax (default 1). */
  scale?: number;
  /** Masked entries are excluded and written as 0. */
  causal?: CausalMask;
  dtype: DType;
  /** Threads per row's threadgroup, a multiple of 32 up to 1024 (default: chosen per device). */
  threadsPerRow?: number;
}

const SoftmaxArgs = argStruct("SoftmaxArgs", { cols: "u32", scale: "f32", queries: "u32", key_offset: "u32" });
const PLAIN = namesByDType("softmax");
const CAUSAL = namesByDType("softmax_causal");
const SOFTMAX_ACCESS = access([0], [1]);

/**
 * `out[r, j] = exp(scale·x[r, j] - m) / Σ_k exp(scale·x[r, k] - m)` over the unmasked keys.
 *
 * @example
 * ops.softmax(enc, registry, scores, scores, { rows: heads * q, cols: kv, scale: 1 / Math.sqrt(128), causal: { queries: q }, dtype: DType.F32 });
 */
export function softmax(enc: CommandEncoder, registry: KernelRegistry, x: Buffer, out: Buffer, params: SoftmaxParams): void {
  checkOptions("params", params, ["rows", "cols", "scale", "causal", "dtype", "threadsPerRow"], ["rows", "cols", "dtype"]);
  const { rows, cols, dtype } = params;
  const scale = params.scale ?? 1;
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkCounts("params", params, ["rows", "cols"]);
  checkNumber("params.scale", scale);
  checkThreadsPerRow(enc, params.threadsPerRow);
  let queries = 1;
  let offset = 0;
  if (params.causal !== undefined) {
    checkOptions("params.causal", params.causal, ["queries", "offset"], ["queries"]);
    queries = params.causal.queries;
    checkInt("params.causal.queries", queries, 1, rows);
    if (rows % queries !== 0) throw new ArgumentError("params.causal.queries", `must divide rows = ${rows} (got ${queries})`);
    offset = params.causal.offset ?? Math.max(0, cols - queries);
    checkInt("params.causal.offset", offset, 0, MAX_ELEMENTS - 1);
  }
  const n = rows * cols;
  if (n > MAX_ELEMENTS) throw new ArgumentError("params", `rows·cols = ${n} exceeds the kernels' 32-bit element index`);
  checkBuffer("x", x, dtype, n);
  checkBuffer("out", out, dtype, n);
  const pipeline = registry.getPipeline((params.causal ? CAUSAL : PLAIN).get(dtype)!);
  const args = SoftmaxArgs.write({ cols, scale, queries, key_offset: offset });
  enc.dispatchThreadgroups(pipeline, [x, out, args], [rows, 1, 1], [rowGroup(enc, pipeline, cols, params.threadsPerRow), 1, 1], SOFTMAX_ACCESS);
}
