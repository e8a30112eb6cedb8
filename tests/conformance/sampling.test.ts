/**
 * Conformance of argmax, topK and sample against tests/support/reference/sampling.ts, plus the
 * sampler's reproducibility and its distribution.
 */
import { expect, test } from "bun:test";
import { DType, ops, FLOATS } from "../../src/index.ts";
import { FIBERS_REASON, supportsBarriers } from "../support/fibers.ts";
import { fixture, floatBuffer, randomFloats, roundTo } from "../support/fixtures.ts";
import * as ref from "../support/reference/sampling.ts";
import { type CaseContext, type Case, conformance } from "./harness.ts";

const F = FLOATS; // every float type the catalog builds
// Indices, and values copied exactly: no tolerance.
const EXACT = { atol: 0, rtol: 0 };

/** Inputs in [-4, 4); with `coarse`, rounded to quarters so that equal values (ties) abound. */
function logits(ctx: CaseContext, dtype: DType, rows: number, cols: number, seed: number, coarse: boolean) {
  const v = randomFloats(rows * cols, seed, -4, 4).map((x) => roundTo(dtype, coarse ? Math.round(x * 4) / 4 : x));
  return { buffer: ctx.floats(dtype, [rows, cols], v), values: v };
}

const u32s = (ctx: CaseContext, shape: readonly number[]) => ctx.keep(ctx.device.allocBuffer(4 * shape.reduce((a, b) => a * b, 1), DType.U32, shape));

interface ArgmaxParams {
  coarse: boolean;
  /** Forced threads per row: the multi-SIMD-group collectives run on every backend. */
  threadsPerRow?: number;
}
const argmaxCases: Case<ArgmaxParams>[] = F.flatMap((dtype) => [
  { op: "argmax", dtype, shape: { rows: 5, cols: 4099 }, params: { coarse: false }, tolerance: EXACT },
  { op: "argmax", dtype, shape: { rows: 6, cols: 300 }, params: { coarse: true }, tolerance: EXACT },
]);
argmaxCases.push({ op: "argmax", dtype: DType.F32, shape: { rows: 3, cols: 1 }, params: { coarse: false }, tolerance: EXACT });
argmaxCases.push({ op: "argmax", dtype: DType.BF16, shape: { rows: 4, cols: 4099 }, params: { coarse: true, threadsPerRow: 1024 }, tolerance: EXACT });

conformance(
  "argmax",
  argmaxCases,
  (c, ctx) => {
    const { rows, cols } = c.shape as { rows: number; cols: number };
    const x = logits(ctx, c.dtype, rows, cols, cols + rows, c.params.coarse);
    const out = u32s(ctx, [rows]);
    ctx.encode((enc) => ops.argmax(enc, x.buffer, out, { threadsPerRow: c.params.threadsPerRow }));
    return { got: [...out.view(Uint32Array)], want: ref.argmax(x.values, rows, cols) };
  },
  { needsFibers: true },
);

interface TopKCaseParams {
  k: number;
  coarse: boolean;
  threadsPerRow?: number;
}
const topKCases: Case<TopKCaseParams>[] = [
  ...F.map((dtype) => ({ op: "topK", dtype, shape: { rows: 3, cols: 4099 }, params: { k: 40, coarse: false }, tolerance: EXACT })),
  ...F.map((dtype) => ({ op: "topK", dtype, shape: { rows: 4, cols: 500 }, params: { k: 50, coarse: true }, tolerance: EXACT })),
  { op: "topK", dtype: DType.F32, shape: { rows: 2, cols: 2000 }, params: { k: 1, coarse: false }, tolerance: EXACT },
  { op: "topK", dtype: DType.F32, shape: { rows: 2, cols: 1500 }, params: { k: 1024, coarse: false }, tolerance: EXACT },
  { op: "topK", dtype: DType.BF16, shape: { rows: 2, cols: 37 }, params: { k: 37, coarse: true }, tolerance: EXACT },
  { op: "topK", dtype: DType.F32, shape: { rows: 3, cols: 4099 }, params: { k: 100, coarse: true, threadsPerRow: 1024 }, tolerance: EXACT },
  { op: "topK", dtype: DType.F16, shape: { rows: 3, cols: 2000 }, params: { k: 300, coarse: false, threadsPerRow: 96 }, tolerance: EXACT },
];

conformance(
  "topK",
  topKCases,
  (c, ctx) => {
    const { rows, cols } = c.shape as { rows: number; cols: number };
    const { k } = c.params;
    const x = logits(ctx, c.dtype, rows, cols, 3 * cols + k, c.params.coarse);
    const values = ctx.floats(c.dtype, [rows, k]);
    const indices = u32s(ctx, [rows, k]);
    ctx.encode((enc) => ops.topK(enc, x.buffer, values, indices, { threadsPerRow: c.params.threadsPerRow }));
    const want = ref.topK(x.values, rows, cols, k);
    return { got: [...ctx.read(values, rows * k), ...indices.view(Uint32Array)], want: [...want.values, ...want.indices] };
  },
  { needsFibers: true },
);

interface SampleCaseParams extends ref.SampleSpec {
  seed: number;
  step: number;
  coarse: boolean;
  threadsPerRow?: number;
}
const spec = (temperature: number, topK: number, topP: number, coarse = false, threadsPerRow?: number): SampleCaseParams => ({ temperature, topK, topP, seed: 1234, step: 7, coarse, threadsPerRow });
const sampleCases: Case<SampleCaseParams>[] = [
  ...F.map((dtype) => ({ op: "sample", dtype, shape: { rows: 48, cols: 1000 }, params: spec(1, 0, 1), tolerance: EXACT })),
  { op: "sample", dtype: DType.F32, shape: { rows: 48, cols: 1000 }, params: spec(0, 0, 1), tolerance: EXACT },
  { op: "sample", dtype: DType.F32, shape: { rows: 48, cols: 1000 }, params: spec(0.7, 40, 1), tolerance: EXACT },
  { op: "sample", dtype: DType.F32, shape: { rows: 48, cols: 1000 }, params: spec(0.8, 0, 0.9), tolerance: EXACT },
  { op: "sample", dtype: DType.BF16, shape: { rows: 48, cols: 3001 }, params: spec(1.3, 50, 0.8), tolerance: EXACT },
  { op: "sample", dtype: DType.F16, shape: { rows: 32, cols: 700 }, params: spec(1, 20, 0.5, true), tolerance: EXACT },
  { op: "sample", dtype: DType.F32, shape: { rows: 16, cols: 3001 }, params: spec(0.9, 30, 0.9, false, 1024), tolerance: EXACT },
  { op: "sample", dtype: DType.BF16, shape: { rows: 16, cols: 1000 }, params: spec(1, 0, 0.7, false, 96), tolerance: EXACT },
];

conformance(
  "sample",
  sampleCases,
  (c, ctx) => {
    const { rows, cols } = c.shape as { rows: number; cols: number };
    const p = c.params;
    const x = logits(ctx, c.dtype, rows, cols, cols + 5, p.coarse);
    const out = u32s(ctx, [rows]);
    ctx.encode((enc) => ops.sample(enc, x.buffer, out, { temperature: p.temperature, topK: p.topK, topP: p.topP, seed: p.seed, step: p.step, threadsPerRow: p.threadsPerRow }));
    const want = Array.from({ length: rows }, (_, r) => ref.sampleRow(x.values.subarray(r * cols, (r + 1) * cols), p, ref.uniform(p.seed, p.step, r)));
    return { got: [...out.view(Uint32Array)], want };
  },
  { needsFibers: true },
);

const fibers = supportsBarriers();

/** Tokens drawn for `rows` copies of one row of logits. */
function drawMany(row: number[], rows: number, spec: { temperature: number; topK?: number; topP?: number; seed: number; step: number }): number[] {
  const { device } = fixture();
  const x = floatBuffer(device, DType.F32, [rows, row.length], Array.from({ length: rows * row.length }, (_, i) => row[i % row.length]!));
  const out = device.allocBuffer(4 * rows, DType.U32, [rows]);
  const enc = device.commandEncoder();
  ops.sample(enc, x, out, spec);
  enc.commitAndWait();
  const tokens = [...out.view(Uint32Array)];
  x.dispose();
  out.dispose();
  return tokens;
}

test.skipIf(!fibers)(`sample: the same seed and step draw the same tokens; another step draws others${fibers ? "" : ` [skipped: ${FIBERS_REASON}]`}`, () => {
  const row = Array.from(randomFloats(64, 99, -1, 1));
  const a = drawMany(row, 256, { temperature: 1, seed: 42, step: 3 });
  expect(drawMany(row, 256, { temperature: 1, seed: 42, step: 3 })).toEqual(a);
  const b = drawMany(row, 256, { temperature: 1, seed: 42, step: 4 });
  expect(b.filter((t, i) => t !== a[i]).length).toBeGreaterThan(128);
}, 180_000);

test.skipIf(!fibers)(`sample: frequencies follow softmax, restricted by top-k and top-p${fibers ? "" : ` [skipped: ${FIBERS_REASON}]`}`, () => {
  const row = [2, 1, 0.5, 0, -1, 3, 1.5, -0.5];
  const draws = 4000;
  for (const s of [
    { temperature: 1, topK: 0, topP: 1 },
    { temperature: 0.5, topK: 3, topP: 1 },
    { temperature: 1, topK: 0, topP: 0.8 },
  ]) {
    const tokens = drawMany(row, draws, { ...s, seed: 7, step: 0 });
    const w = ref.keptWeights(row, s);
    const total = w.reduce((a, b) => a + b, 0);
    const counts = new Array(row.length).fill(0);
    for (const t of tokens) counts[t]++;
    // Pearson's chi-square over the kept tokens (at most 7 degrees of freedom; 30 is far past
    // the 0.1% point of 24.3), and no token outside the kept set.
    let chi2 = 0;
    for (let i = 0; i < row.length; i++) {
      const expected = (draws * w[i]!) / total;
      if (expected === 0) expect(counts[i]).toBe(0);
      else chi2 += (counts[i] - expected) ** 2 / expected;
    }
    expect(chi2).toBeLessThan(30);
  }
}, 180_000);
