/**
 * Row softmax (kernels/softmax.h) over x [..., cols] (rows of the last dimension), one
 * threadgroup per row, with an optional scale and causal mask. Max and sum in f32; each output
 * rounded once. `out` has x's dtype and element count and may be `x`.
 */
import { kernels } from "../../kernels/catalog.ts";
import type { Buffer } from "../buffer.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import { argStruct } from "./args.ts";
import { access, checkThreadsPerRow, rowGroup } from "./common.ts";
import { checkCount, checkElements, checkFloat, checkInt, checkNumber, checkOptions, checkSameDType, lastDim, MAX_ELEMENTS } from "./validate.ts";

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
  /** Multiplies x before the softmax (default 1). */
  scale?: number;
  /** Masked entries are excluded and written as 0. */
  causal?: CausalMask;
  /** Threads per row's threadgroup, a multiple of 32 up to 1024 (default: chosen per device). */
  threadsPerRow?: number;
}

const SoftmaxArgs = argStruct("SoftmaxArgs", { cols: "u32", scale: "f32", queries: "u32", key_offset: "u32" });
const SOFTMAX_ACCESS = access([0], [1]);

/**
 * `out[r, j] = exp(scale·x[r, j] - m) / Σ_k exp(scale·x[r, k] - m)` over the unmasked keys.
 *
 * @example
 * ops.softmax(enc, scores, scores, { scale: 1 / Math.sqrt(128), causal: { queries: q } }); // scores [heads, q, kv]
 */
export function softmax(enc: CommandEncoder, x: Buffer, out: Buffer, params: SoftmaxParams = {}): void {
  checkOptions("params", params, ["scale", "causal", "threadsPerRow"]);
  const dtype = checkFloat("x", x);
  checkSameDType("out", out, dtype, "x");
  const n = x.elementCount;
  checkCount("x.elementCount", n, MAX_ELEMENTS);
  checkElements("out", out, n, "as many as x");
  const cols = lastDim(x);
  const rows = n / cols;
  const scale = params.scale ?? 1;
  checkNumber("params.scale", scale);
  checkThreadsPerRow(enc, params.threadsPerRow);
  let queries = 1;
  let offset = 0;
  if (params.causal !== undefined) {
    checkOptions("params.causal", params.causal, ["queries", "offset"], ["queries"]);
    queries = params.causal.queries;
    checkInt("params.causal.queries", queries, 1, rows);
    if (rows % queries !== 0) throw new ArgumentError("params.causal.queries", `must divide the rows of x (${rows}) (got ${queries})`);
    offset = params.causal.offset ?? Math.max(0, cols - queries);
    checkInt("params.causal.offset", offset, 0, MAX_ELEMENTS - 1);
  }
  const pipeline = enc.device.kernels.pipeline(kernels.softmax, { causal: params.causal !== undefined, dtype });
  const args = SoftmaxArgs.write({ cols, scale, queries, key_offset: offset });
  enc.dispatchThreadgroups(pipeline, [x, out, args], [rows, 1, 1], [rowGroup(enc, pipeline, cols, params.threadsPerRow), 1, 1], SOFTMAX_ACCESS);
}
