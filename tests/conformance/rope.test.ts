/** Conformance of rope against tests/support/reference/rope.ts. */
import { DType, ops, FLOATS } from "../../src/index.ts";
import * as ref from "../support/reference/rope.ts";
import { type Case, conformance, type Tolerance } from "./harness.ts";

const F = FLOATS; // every float type the catalog builds

/**
 * The kernel rounds each frequency to f32 and forms the angle position · frequency in f32: the
 * angle is off by up to |angle| · 2^-23, so the absolute error grows with the largest position
 * (inputs are in [-1, 1]; the largest frequency is 1). 16-bit outputs add one rounding.
 */
function tolerance(dtype: DType, maxPosition: number): Tolerance {
  const angle = 2 * maxPosition * 2 ** -23 + 1e-6;
  if (dtype === DType.F32) return { atol: angle, rtol: 2 ** -22 };
  if (dtype === DType.F16) return { atol: angle + 2 ** -25, rtol: 2 ** -11 + 2 ** -22 };
  return { atol: angle, rtol: 2 ** -8 + 2 ** -22 };
}

interface RopeCaseParams {
  rotaryDim: number;
  theta: number;
  offset: number;
  traditional: boolean;
  scaling?: ref.Scaling;
  inPlace?: boolean;
}

function rc(dtype: DType, tokens: number, heads: number, headDim: number, params: RopeCaseParams): Case<RopeCaseParams> {
  return { op: "rope", dtype, shape: { tokens, heads, headDim }, params, tolerance: tolerance(dtype, params.offset + tokens - 1) };
}

const llama3: ref.Scaling = { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 };
const cases: Case<RopeCaseParams>[] = [
  ...F.map((d) => rc(d, 5, 3, 64, { rotaryDim: 64, theta: 10000, offset: 7, traditional: false })),
  ...F.map((d) => rc(d, 5, 3, 64, { rotaryDim: 64, theta: 10000, offset: 7, traditional: true })),
  rc(DType.F32, 3, 5, 80, { rotaryDim: 32, theta: 1e6, offset: 0, traditional: false }),
  rc(DType.BF16, 3, 5, 96, { rotaryDim: 64, theta: 1e6, offset: 0, traditional: true }),
  rc(DType.F32, 4, 2, 128, { rotaryDim: 128, theta: 10000, offset: 30, traditional: false, scaling: { type: "linear", factor: 4 } }),
  rc(DType.F32, 4, 2, 128, { rotaryDim: 128, theta: 500000, offset: 1000, traditional: false, scaling: llama3 }),
  rc(DType.F16, 7, 4, 64, { rotaryDim: 64, theta: 10000, offset: 3, traditional: false, inPlace: true }),
];

conformance("rope", cases, (c, ctx) => {
  const { tokens, heads, headDim } = c.shape as { tokens: number; heads: number; headDim: number };
  const p = c.params;
  const n = tokens * heads * headDim;
  const x = ctx.random(c.dtype, [tokens, heads, headDim], 3 + headDim);
  const out = p.inPlace ? x.buffer : ctx.floats(c.dtype, [tokens, heads, headDim]);
  ctx.encode((enc) => ops.rope(enc, x.buffer, out, { rotaryDim: p.rotaryDim, theta: p.theta, offset: p.offset, traditional: p.traditional, scaling: p.scaling }));
  const want = ref.rope(x.values, tokens, heads, headDim, p.rotaryDim, p.offset, p.traditional, ref.frequencies(p.rotaryDim, p.theta, p.scaling));
  return { got: ctx.read(out, n), want };
});
