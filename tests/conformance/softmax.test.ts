/** Conformance of the row softmax against tests/support/reference/sampling.ts. */
import { DType, ops, FLOATS } from "../../src/index.ts";
import * as ref from "../support/reference/sampling.ts";
import { type Case, conformance, type DTypeTolerances } from "./harness.ts";

const F = FLOATS; // every float type the catalog builds

// f32 exp and a sum of up to a few thousand terms: a few 1e-7 relative; 16-bit outputs add one
// rounding (and f16 subnormals below 2^-14).
const TOL: DTypeTolerances = {
  f32: { atol: 1e-9, rtol: 1e-5 },
  f16: { atol: 2 ** -25, rtol: 2 ** -11 + 1e-5 },
  bf16: { atol: 1e-9, rtol: 2 ** -8 + 1e-5 },
};

interface SoftmaxCaseParams {
  scale: number;
  queries?: number;
  offset?: number;
  /** Every third input is -inf. */
  negInf?: boolean;
  /** Forced threads per row: the multi-SIMD-group collectives run on every backend. */
  threadsPerRow?: number;
}

const cases: Case<SoftmaxCaseParams>[] = [];
for (const dtype of F) {
  cases.push({ op: "softmax", dtype, shape: { rows: 7, cols: 257 }, params: { scale: 1 }, tolerance: TOL[dtype.name as "f32"] });
  cases.push({ op: "softmax", dtype, shape: { rows: 3, cols: 4099 }, params: { scale: 0.125 }, tolerance: TOL[dtype.name as "f32"] });
  // [heads 2, queries 5, keys 13]: the last query sees every key
  cases.push({ op: "softmax", dtype, shape: { rows: 10, cols: 13 }, params: { scale: 0.5, queries: 5 }, tolerance: TOL[dtype.name as "f32"] });
}
cases.push({ op: "softmax", dtype: DType.F32, shape: { rows: 18, cols: 40 }, params: { scale: 1, queries: 9, offset: 0 }, tolerance: TOL.f32 });
cases.push({ op: "softmax", dtype: DType.F32, shape: { rows: 4, cols: 100 }, params: { scale: 2, negInf: true }, tolerance: TOL.f32 });
cases.push({ op: "softmax", dtype: DType.BF16, shape: { rows: 3, cols: 4099 }, params: { scale: 1, threadsPerRow: 1024 }, tolerance: TOL.bf16 });
cases.push({ op: "softmax", dtype: DType.F32, shape: { rows: 10, cols: 300 }, params: { scale: 1, queries: 5, threadsPerRow: 96 }, tolerance: TOL.f32 });

conformance(
  "softmax",
  cases,
  (c, ctx) => {
    const { rows, cols } = c.shape as { rows: number; cols: number };
    const p = c.params;
    const n = rows * cols;
    const x = ctx.random(c.dtype, [rows, cols], cols, -8, 8);
    const values = p.negInf ? x.values.map((v, i) => (i % 3 === 1 ? -Infinity : v)) : x.values;
    const input = p.negInf ? ctx.floats(c.dtype, [rows, cols], values) : x.buffer;
    const out = ctx.floats(c.dtype, [rows, cols]);
    const causal = p.queries === undefined ? undefined : { queries: p.queries, offset: p.offset ?? Math.max(0, cols - p.queries) };
    ctx.encode((enc) => ops.softmax(enc, input, out, { scale: p.scale, causal: p.queries === undefined ? undefined : { queries: p.queries, offset: p.offset }, threadsPerRow: p.threadsPerRow }));
    return { got: ctx.read(out, n), want: ref.softmax(values, rows, cols, p.scale, causal) };
  },
  { needsFibers: true },
);
