/**
 * Attention (decode and prefill) against the float64 reference, for every head dim at several
 * cache lengths, every q × K/V dtype, grouped-query heads (including groups wider than one
 * threadgroup's 8 heads), sliding windows, additive masks, chunked prefill (queries at the end of
 * a longer cache) and a 32k-position decode. Prefill runs on both kernels: tiled, and the vector
 * (decode) kernel once per query. Decode lengths cross the 256-position split size, so
 * both the direct path and the split-and-reduce path run.
 *
 * Tolerance: scores are f32 dot products over headDim terms, the softmax runs in f32 with exp2,
 * and an output is a convex combination of V rows (|v| ≤ 1), so its error is bounded by the
 * relative error of the weights: γ_D·Σ|q·k|·scale (≤ 2e-5 here) plus the sums over kvLen terms
 * (γ_kvLen ≤ 2e-3 at 32k, ~1e-4 at the lengths used otherwise): atol = 1e-4 + kvLen·2^-24·4.
 * Outputs are then rounded to q's type: rtol = 2^-p.
 */
import { type Buffer, DType, ops } from "../../src/index.ts";
import { FLOATS } from "../../kernels/catalog.ts";
import { randomFloats, roundTo } from "../support/fixtures.ts";
import * as ref from "../support/reference/attention.ts";
import { type Case, type CaseContext, conformance, type Outcome, type Tolerance } from "./harness.ts";

const F = FLOATS; // every float type the catalog builds
const RTOL: Record<string, number> = { f32: 0, f16: 2 ** -11, bf16: 2 ** -8 };

function tolerance(dtype: DType, kvLen: number): Tolerance {
  return { atol: 1e-4 + kvLen * 2 ** -24 * 4, rtol: RTOL[dtype.name]! };
}

interface AttnParams {
  kv: DType;
  heads: number;
  kvHeads: number;
  window?: number;
  /** "shared": one mask for all heads; "heads": one per head. */
  mask?: "shared" | "heads";
  causal?: boolean;
  /** Prefill kernel. */
  path?: "tiled" | "vector";
}

function attnCase(op: "decode" | "prefill", dtype: DType, kv: DType, D: number, qLen: number, kvLen: number, extra: Partial<AttnParams> = {}): Case<AttnParams> {
  return { op: `attention_${op}`, dtype, shape: { D, qLen, kvLen }, params: { kv, heads: 4, kvHeads: 2, ...extra }, tolerance: tolerance(dtype, kvLen) };
}

const DIMS = [64, 80, 96, 128, 256] as const;
/** Head dims beyond the original five: small heads, non-multiples of 32, and 512 (vector prefill only). Few cases each, to keep compiles cheap. */
const NEW_DIMS = [16, 32, 48, 72, 512] as const;

const decode: Case<AttnParams>[] = [];
for (const D of DIMS) for (const kvLen of [1, 45, 300, 1100]) decode.push(attnCase("decode", DType.F32, DType.F16, D, 1, kvLen));
for (const dtype of F) for (const kv of F) decode.push(attnCase("decode", dtype, kv, 128, 1, 300));
decode.push(attnCase("decode", DType.F32, DType.F32, 64, 1, 600, { heads: 12, kvHeads: 1 }));
decode.push(attnCase("decode", DType.F32, DType.F16, 128, 1, 1100, { window: 300 }));
decode.push(attnCase("decode", DType.F32, DType.F32, 80, 1, 700, { mask: "heads" }));
decode.push(attnCase("decode", DType.BF16, DType.BF16, 96, 1, 200, { mask: "shared", window: 64 }));
decode.push(attnCase("decode", DType.F32, DType.F16, 64, 1, 32768, { heads: 2, kvHeads: 1 }));
for (const D of NEW_DIMS) for (const kvLen of [45, 300]) decode.push(attnCase("decode", DType.F32, DType.F16, D, 1, kvLen));
decode.push(attnCase("decode", DType.BF16, DType.BF16, 16, 1, 100, { window: 20 }));
decode.push(attnCase("decode", DType.F16, DType.F16, 512, 1, 70, { heads: 8, kvHeads: 1 }));

const prefill: Case<AttnParams>[] = [];
for (const D of DIMS) {
  for (const [qLen, kvLen] of [
    [1, 1],
    [33, 33],
    [70, 100],
  ] as const) {
    prefill.push(attnCase("prefill", DType.F32, DType.F32, D, qLen, kvLen));
  }
}
for (const dtype of F) for (const kv of F) prefill.push(attnCase("prefill", dtype, kv, 64, 33, 50));
prefill.push(attnCase("prefill", DType.F32, DType.F16, 128, 70, 70, { window: 16 }));
prefill.push(attnCase("prefill", DType.F32, DType.F32, 96, 40, 75, { mask: "shared" }));
prefill.push(attnCase("prefill", DType.F16, DType.F16, 80, 20, 20, { mask: "heads", window: 7 }));
prefill.push(attnCase("prefill", DType.F32, DType.F32, 64, 20, 40, { causal: false }));
prefill.push(attnCase("prefill", DType.F32, DType.BF16, 128, 65, 65, { heads: 8, kvHeads: 1 }));
for (const D of NEW_DIMS) prefill.push(attnCase("prefill", DType.F32, DType.F16, D, 33, 40, D === 48 ? { window: 9 } : {}));

/** Random mask values with some −inf, never masking the diagonal (so no row is empty by chance). */
function maskValues(dtype: DType, n: number, seed: number): Float64Array {
  return randomFloats(n, seed, -2, 1).map((v, i) => (v < -1.6 && i % 7 !== 0 ? -Infinity : roundTo(dtype, v)));
}

/** Fill `count` elements of a float buffer with NaN, from element `start`. */
function poison(buf: Buffer, start: number, count: number): void {
  if (buf.dtype === DType.F32) buf.view(Float32Array).fill(NaN, start, start + count);
  else buf.view(Uint16Array).fill(buf.dtype === DType.F16 ? 0x7e00 : 0x7fc0, start, start + count);
}

function run(c: Case<AttnParams>, ctx: CaseContext): Outcome {
  const { D, qLen, kvLen } = c.shape as { D: number; qLen: number; kvLen: number };
  const { kv, heads, kvHeads, window = 0, causal = true, path } = c.params;
  const capacity = kvLen + 3; // rows past kvLen hold garbage the kernels must not read
  const q = ctx.random(c.dtype, [qLen, heads, D], D + qLen + kvLen);
  const k = ctx.random(kv, [kvHeads, capacity, D], kvLen * 3 + 1);
  const v = ctx.random(kv, [kvHeads, capacity, D], kvLen * 5 + 2);
  // NaN in the rows past kvLen: a read of any of them would poison the output.
  for (const t of [k.buffer, v.buffer]) for (let h = 0; h < kvHeads; h++) poison(t, (h * capacity + kvLen) * D, (capacity - kvLen) * D);
  const maskKind = c.params.mask;
  const headStride = maskKind === "heads" ? qLen * kvLen : 0;
  const maskVals = maskKind ? maskValues(c.dtype, (maskKind === "heads" ? heads : 1) * qLen * kvLen, kvLen + 99) : undefined;
  const mask = maskVals ? { buffer: ctx.floats(c.dtype, maskVals.length, maskVals), headStride, rowStride: kvLen } : undefined;
  const out = ctx.floats(c.dtype, [qLen, heads, D], new Array(qLen * heads * D + 1).fill(3), 1);
  const params = { kvLen, window, mask };
  if (c.op === "attention_decode") {
    const scratch = ctx.floats(DType.F32, ops.attentionDecodeScratchBytes(heads, D) / 4);
    ctx.encode((enc) => ops.attentionDecode(enc, q.buffer, k.buffer, v.buffer, out, scratch, params));
  } else {
    ctx.encode((enc) => ops.attentionPrefill(enc, q.buffer, k.buffer, v.buffer, out, { ...params, causal, path }));
  }
  const want = ref.attention(q.values, k.values, v.values, {
    heads,
    kvHeads,
    headDim: D,
    qLen,
    kvLen,
    capacity,
    scale: 1 / Math.sqrt(D),
    causal,
    window,
    mask: maskVals ? { values: maskVals, headStride, rowStride: kvLen } : undefined,
  });
  const got = ctx.read(out, qLen * heads * D + 1);
  return { got: got.subarray(0, qLen * heads * D), want, exact: { "nothing written past out": [got[qLen * heads * D], 3] } };
}

// The same prefill cases on the vector kernel (the cpu backend's choice), once per query.
const prefillVector = prefill.map((c) => ({ ...c, params: { ...c.params, path: "vector" as const } }));
for (const c of prefill) c.params.path = "tiled";
// The tiled kernel is built up to head dim 256.
const prefillTiled = prefill.filter((c) => (c.shape as { D: number }).D <= 256);

conformance("attention decode", decode, run, { needsFibers: true });
conformance("attention prefill (tiled)", prefillTiled, run, { needsSimdgroupMatrix: true });
conformance("attention prefill (vector)", prefillVector, run, { needsFibers: true });
