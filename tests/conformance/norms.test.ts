/** Conformance of the row normalizations against tests/support/reference/norms.ts. */
import { DType, ops, FLOATS } from "../../src/index.ts";
import { roundTo } from "../support/fixtures.ts";
import * as ref from "../support/reference/norms.ts";
import { type Case, conformance, type DTypeTolerances } from "./harness.ts";

const F = FLOATS; // every float type the catalog builds

// Sums of up to a few thousand f32 terms and an rsqrt: a few 1e-7 relative; 16-bit outputs add
// one rounding. The absolute term covers outputs near 0 (LayerNorm's (x - mean) and + bias).
const TOL: DTypeTolerances = {
  f32: { atol: 2e-6, rtol: 1e-5 },
  f16: { atol: 2e-6, rtol: 2 ** -11 + 1e-5 },
  bf16: { atol: 2e-6, rtol: 2 ** -8 + 1e-5 },
};

type Variant = "rmsNorm" | "rmsNorm[no weight]" | "addRmsNorm" | "addRmsNorm[no weight]" | "l2Norm" | "layerNorm" | "layerNorm[no bias]" | "layerNorm[no affine]";
interface NormCaseParams {
  eps: number;
  /** Forced threads per row: the multi-SIMD-group collectives run on every backend. */
  threadsPerRow?: number;
}

// Rows of 257 and 4099 leave partial SIMD groups and several elements per thread (groups of up
// to 1024 threads); one element per row and 33 cover the small end.
const SHAPES = [
  { rows: 7, cols: 257 },
  { rows: 3, cols: 4099 },
];
const cases: Case<NormCaseParams>[] = [];
for (const op of ["rmsNorm", "rmsNorm[no weight]", "addRmsNorm", "addRmsNorm[no weight]", "l2Norm", "layerNorm", "layerNorm[no bias]", "layerNorm[no affine]"] as Variant[]) {
  for (const dtype of F) {
    for (const shape of SHAPES) cases.push({ op, dtype, shape, params: { eps: 1e-5 }, tolerance: TOL[dtype.name as "f32"] });
  }
}
cases.push({ op: "rmsNorm", dtype: DType.F32, shape: { rows: 5, cols: 1 }, params: { eps: 1e-6 }, tolerance: TOL.f32 });
cases.push({ op: "layerNorm", dtype: DType.BF16, shape: { rows: 2, cols: 33 }, params: { eps: 1e-6 }, tolerance: TOL.bf16 });
for (const threadsPerRow of [96, 1024]) {
  cases.push({ op: "addRmsNorm", dtype: DType.F32, shape: { rows: 3, cols: 4099 }, params: { eps: 1e-5, threadsPerRow }, tolerance: TOL.f32 });
  cases.push({ op: "layerNorm", dtype: DType.F16, shape: { rows: 3, cols: 1000 }, params: { eps: 1e-5, threadsPerRow }, tolerance: TOL.f16 });
}

conformance(
  "norms",
  cases,
  (c, ctx) => {
    const { rows, cols } = c.shape as { rows: number; cols: number };
    const { eps } = c.params;
    const op = c.op as Variant;
    const n = rows * cols;
    const params = { eps, threadsPerRow: c.params.threadsPerRow };
    const x = ctx.random(c.dtype, [rows, cols], cols + rows, -2, 2);
    const withWeight = !op.includes("no weight") && !op.includes("no affine") && op !== "l2Norm";
    const w = ctx.random(c.dtype, cols, 77, 0.5, 1.5);
    const b = ctx.random(c.dtype, cols, 78, -0.5, 0.5);
    const out = ctx.floats(c.dtype, [rows, cols]);
    if (op.startsWith("addRmsNorm")) {
      const residual = ctx.random(c.dtype, [rows, cols], 91, -2, 2);
      // The residual stream is updated in place: sum is the residual buffer.
      ctx.encode((enc) => ops.addRmsNorm(enc, x.buffer, residual.buffer, withWeight ? w.buffer : null, residual.buffer, out, params));
      const h = x.values.map((v, i) => roundTo(c.dtype, v + residual.values[i]!));
      const want = [...ref.rmsNorm(h, withWeight ? w.values : null, rows, cols, eps), ...h];
      return { got: [...ctx.read(out, n), ...ctx.read(residual.buffer, n)], want };
    }
    ctx.encode((enc) => {
      if (op.startsWith("rmsNorm")) ops.rmsNorm(enc, x.buffer, withWeight ? w.buffer : null, out, params);
      else if (op === "l2Norm") ops.l2Norm(enc, x.buffer, out, params);
      else ops.layerNorm(enc, x.buffer, withWeight ? w.buffer : null, op === "layerNorm" ? b.buffer : null, out, params);
    });
    const want = op.startsWith("rmsNorm")
      ? ref.rmsNorm(x.values, withWeight ? w.values : null, rows, cols, eps)
      : op === "l2Norm"
        ? ref.l2Norm(x.values, rows, cols, eps)
        : ref.layerNorm(x.values, withWeight ? w.values : null, op === "layerNorm" ? b.values : null, rows, cols, eps);
    return { got: ctx.read(out, n), want };
  },
  { needsFibers: true },
);
