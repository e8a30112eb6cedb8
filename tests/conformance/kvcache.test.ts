/**
 * Conformance of the KV-cache writes against tests/support/reference/elementwise.ts. Caches are
 * [heads, capacity, headDim]; rows outside the written range must keep their old contents.
 */
import { DType, ops } from "../../src/index.ts";
import { roundTo } from "../support/fixtures.ts";
import * as ref from "../support/reference/elementwise.ts";
import { type Case, conformance } from "./harness.ts";

// Copies convert once from an exact value; the reference rounds the same way.
const EXACT = { atol: 0, rtol: 0 };

interface AppendParams {
  capacity: number;
  position: number;
  srcDType: DType;
}
const appendCases: Case<AppendParams>[] = [
  { op: "kvCacheAppend", dtype: DType.F32, shape: { tokens: 1, heads: 3, headDim: 40 }, params: { capacity: 17, position: 16, srcDType: DType.F32 }, tolerance: EXACT },
  { op: "kvCacheAppend", dtype: DType.F16, shape: { tokens: 5, heads: 3, headDim: 40 }, params: { capacity: 17, position: 4, srcDType: DType.F32 }, tolerance: EXACT },
  { op: "kvCacheAppend", dtype: DType.BF16, shape: { tokens: 6, heads: 2, headDim: 72 }, params: { capacity: 9, position: 0, srcDType: DType.BF16 }, tolerance: EXACT },
];

conformance("kvCacheAppend", appendCases, (c, ctx) => {
  const { tokens, heads, headDim } = c.shape as { tokens: number; heads: number; headDim: number };
  const { capacity, position, srcDType } = c.params;
  const src = ctx.random(srcDType, [tokens, heads, headDim], 12);
  const old = ctx.random(c.dtype, [heads, capacity, headDim], 13);
  ctx.encode((enc) => ops.kvCacheAppend(enc, src.buffer, old.buffer, { position }));
  const want = ref.kvAppend(old.values, src.values.map((v) => roundTo(c.dtype, v)), tokens, heads, headDim, capacity, position);
  return { got: ctx.read(old.buffer, want.length), want };
});

interface CopyParams {
  srcCapacity: number;
  dstCapacity: number;
  srcPosition: number;
  dstPosition: number;
  dstDType: DType;
}
const copyCases: Case<CopyParams>[] = [
  // grow a cache: its first rows into a larger one
  { op: "kvCacheCopy", dtype: DType.F16, shape: { heads: 3, headDim: 40, tokens: 6 }, params: { srcCapacity: 8, dstCapacity: 20, srcPosition: 0, dstPosition: 0, dstDType: DType.F16 }, tolerance: EXACT },
  // a window of rows to another position, converting
  { op: "kvCacheCopy", dtype: DType.F32, shape: { heads: 2, headDim: 33, tokens: 5 }, params: { srcCapacity: 11, dstCapacity: 7, srcPosition: 6, dstPosition: 2, dstDType: DType.BF16 }, tolerance: EXACT },
];

conformance("kvCacheCopy", copyCases, (c, ctx) => {
  const { heads, headDim, tokens } = c.shape as { heads: number; headDim: number; tokens: number };
  const p = c.params;
  const src = ctx.random(c.dtype, [heads, p.srcCapacity, headDim], 2);
  const dst = ctx.random(p.dstDType, [heads, p.dstCapacity, headDim], 3);
  ctx.encode((enc) => ops.kvCacheCopy(enc, src.buffer, dst.buffer, { tokens, srcPosition: p.srcPosition, dstPosition: p.dstPosition }));
  const want = ref
    .stridedCopy(src.values, dst.values, [heads, tokens, headDim], p.srcPosition * headDim, [p.srcCapacity * headDim, headDim, 1], p.dstPosition * headDim, [p.dstCapacity * headDim, headDim, 1])
    .map((v) => roundTo(p.dstDType, v));
  return { got: ctx.read(dst.buffer, want.length), want };
});
