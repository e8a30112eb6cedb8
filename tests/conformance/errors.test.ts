/**
 * Bad op arguments get an ArgumentError naming the argument, before anything is encoded: wrong
 * dtypes, mismatched shapes, out-of-range positions, too-small outputs, misspelled options.
 * Each row is one call; the encoder must hold no dispatch afterwards.
 */
import { describe, expect, test } from "bun:test";
import { ArgumentError, type CommandEncoder, DType, dispatchCount, type KernelRegistry, ops } from "../../src/index.ts";
import { fixture, floatBuffer } from "../support/fixtures.ts";

const { device, registry } = fixture();
const f32 = (n: number) => floatBuffer(device, DType.F32, n);
const f16 = (n: number) => floatBuffer(device, DType.F16, n);
const u32 = (n: number) => device.allocBuffer(4 * n, DType.U32, [n]);

const a = f32(64);
const b = f32(64);
const small = f32(8);
const h = f16(64);
const ids = u32(4);
const words = u32(64);
const big = f32(ops.attentionDecodeScratchBytes(2, 64) / 4);

type Call = (enc: CommandEncoder, r: KernelRegistry) => void;

/** [description, call, argument the error must name] */
const rows: [string, Call, string][] = [
  // elementwise
  ["binary: integer dtype", (e, r) => ops.elementwiseMul(e, r, a, b, a, 16, DType.U32), "dtype"],
  ["binary: b of another dtype", (e, r) => ops.elementwiseSub(e, r, a, h, a, 16, DType.F32), "b"],
  ["binary: out too small", (e, r) => ops.elementwiseDiv(e, r, a, b, small, 16, DType.F32), "out"],
  ["binary: n zero", (e, r) => ops.elementwiseAdd(e, r, a, b, a, 0, DType.F32), "n"],
  ["binary: rowLength not dividing n", (e, r) => ops.elementwiseAdd(e, r, a, b, a, 30, DType.F32, { rowLength: 7 }), "options.rowLength"],
  ["binary: broadcast row too short", (e, r) => ops.elementwiseAdd(e, r, a, small, a, 64, DType.F32, { rowLength: 16 }), "b"],
  ["binary: misspelled option", (e, r) => ops.elementwiseAdd(e, r, a, b, a, 16, DType.F32, { rowlength: 4 } as never), "options.rowlength"],
  ["scalar: NaN value", (e, r) => ops.scalarMul(e, r, a, a, 16, DType.F32, Number.NaN), "value"],
  ["cast: dst of the wrong dtype", (e, r) => ops.cast(e, r, a, b, 16, DType.F32, DType.F16), "dst"],
  ["cast: src too small", (e, r) => ops.cast(e, r, small, h, 16, DType.F32, DType.F16), "src"],
  ["copy: slice past the source", (e, r) => ops.copy(e, r, a, b, 16, DType.F32, { srcOffset: 60 }), "src"],
  ["copy: negative offset", (e, r) => ops.copy(e, r, a, b, 16, DType.F32, { dstOffset: -1 }), "options.dstOffset"],
  ["copyStrided: strides of the wrong rank", (e, r) => ops.copyStrided(e, r, a, b, { shape: [4, 4], srcStrides: [4], dstStrides: [4, 1], dtype: DType.F32 }), "params.srcStrides"],
  ["copyStrided: walk past dst", (e, r) => ops.copyStrided(e, r, a, small, { shape: [4, 4], srcStrides: [4, 1], dstStrides: [4, 1], dtype: DType.F32 }), "dst"],
  ["concat: no inputs", (e, r) => ops.concat(e, r, [], a, 2, DType.F32), "inputs"],
  ["concat: out too small", (e, r) => ops.concat(e, r, [{ buffer: a, cols: 8 }, { buffer: b, cols: 8 }], small, 4, DType.F32), "out"],
  ["transpose: dst too small", (e, r) => ops.transpose(e, r, a, small, { rows: 4, cols: 4, dtype: DType.F32 }), "dst"],
  // activations
  ["silu: out of another dtype", (e, r) => ops.silu(e, r, a, h, 16, DType.F32), "out"],
  ["gelu: unknown approximation", (e, r) => ops.gelu(e, r, a, a, 16, DType.F32, "sigmoid" as never), "approximation"],
  ["softcap: cap not positive", (e, r) => ops.softcap(e, r, a, a, 16, DType.F32, 0), "cap"],
  ["swiglu: up too small", (e, r) => ops.swiglu(e, r, a, small, a, 16, DType.F32), "up"],
  // rope
  ["rope: odd headDim", (e, r) => ops.rope(e, r, a, a, { tokens: 1, heads: 1, headDim: 7, dtype: DType.F32 }), "params.headDim"],
  ["rope: rotaryDim past headDim", (e, r) => ops.rope(e, r, a, a, { tokens: 1, heads: 1, headDim: 16, rotaryDim: 32, dtype: DType.F32 }), "params.rotaryDim"],
  ["rope: position past 2^24", (e, r) => ops.rope(e, r, a, a, { tokens: 2, heads: 1, headDim: 16, offset: 2 ** 24 - 1, dtype: DType.F32 }), "params.offset"],
  ["rope: x too small", (e, r) => ops.rope(e, r, small, a, { tokens: 2, heads: 2, headDim: 16, dtype: DType.F32 }), "x"],
  ["rope: misspelled option", (e, r) => ops.rope(e, r, a, a, { tokens: 1, heads: 1, headDim: 16, dtype: DType.F32, thetta: 1 } as never), "params.thetta"],
  ["rope: llama3 scaling without its factors", (e, r) => ops.rope(e, r, a, a, { tokens: 1, heads: 1, headDim: 16, dtype: DType.F32, scaling: { type: "llama3", factor: 8 } as never }), "params.scaling.lowFreqFactor"],
  // embedding
  ["embedding: float ids", (e, r) => ops.embedding(e, r, a, b, a, { tokens: 4, vocab: 4, dim: 4, dtype: DType.F32 }), "ids"],
  ["embedding: table too small", (e, r) => ops.embedding(e, r, small, ids, a, { tokens: 4, vocab: 4, dim: 4, dtype: DType.F32 }), "table"],
  ["embedding: out too small", (e, r) => ops.embedding(e, r, a, ids, small, { tokens: 4, vocab: 4, dim: 4, dtype: DType.F32 }), "out"],
  ["embeddingAffine: 7 bits", (e, r) => ops.embeddingAffine(e, r, { weight: words, scales: a, biases: a }, ids, a, { tokens: 1, vocab: 1, dim: 32, bits: 7, groupSize: 32, scaleDType: DType.F32, outDType: DType.F32 }), "params.bits"],
  ["embeddingAffine: dim not a multiple of the group", (e, r) => ops.embeddingAffine(e, r, { weight: words, scales: a, biases: a }, ids, a, { tokens: 1, vocab: 1, dim: 48, bits: 4, groupSize: 32, scaleDType: DType.F32, outDType: DType.F32 }), "params.dim"],
  ["embeddingAffine: weight not U32", (e, r) => ops.embeddingAffine(e, r, { weight: a, scales: a, biases: a }, ids, a, { tokens: 1, vocab: 1, dim: 32, bits: 4, groupSize: 32, scaleDType: DType.F32, outDType: DType.F32 }), "table.weight"],
  ["embeddingAffine: scales of another dtype", (e, r) => ops.embeddingAffine(e, r, { weight: words, scales: h, biases: a }, ids, a, { tokens: 1, vocab: 1, dim: 32, bits: 4, groupSize: 32, scaleDType: DType.F32, outDType: DType.F32 }), "table.scales"],
  // kv cache
  ["kvCacheAppend: rows past the capacity", (e, r) => ops.kvCacheAppend(e, r, a, b, { tokens: 2, heads: 1, headDim: 8, capacity: 8, position: 7, dtype: DType.F32 }), "params.position"],
  ["kvCacheAppend: negative position", (e, r) => ops.kvCacheAppend(e, r, a, b, { tokens: 1, heads: 1, headDim: 8, capacity: 8, position: -1, dtype: DType.F32 }), "params.position"],
  ["kvCacheAppend: cache too small", (e, r) => ops.kvCacheAppend(e, r, a, small, { tokens: 1, heads: 1, headDim: 8, capacity: 8, position: 0, dtype: DType.F32 }), "cache"],
  ["kvCacheAppend: src of another dtype", (e, r) => ops.kvCacheAppend(e, r, h, b, { tokens: 1, heads: 1, headDim: 8, capacity: 8, position: 0, dtype: DType.F32 }), "src"],
  ["kvCacheCopy: window past the source", (e, r) => ops.kvCacheCopy(e, r, a, b, { heads: 1, headDim: 8, tokens: 4, srcCapacity: 8, dstCapacity: 8, srcPosition: 5, dtype: DType.F32 }), "params.srcPosition"],
  // norms
  ["rmsNorm: weight too short", (e, r) => ops.rmsNorm(e, r, a, small, b, { rows: 4, cols: 16, dtype: DType.F32 }), "weight"],
  ["rmsNorm: negative eps", (e, r) => ops.rmsNorm(e, r, a, null, b, { rows: 4, cols: 16, eps: -1, dtype: DType.F32 }), "params.eps"],
  ["rmsNorm: x of another dtype", (e, r) => ops.rmsNorm(e, r, h, null, b, { rows: 4, cols: 16, dtype: DType.F32 }), "x"],
  ["addRmsNorm: out is sum", (e, r) => ops.addRmsNorm(e, r, a, b, null, b, b, { rows: 4, cols: 16, dtype: DType.F32 }), "out"],
  ["addRmsNorm: residual too small", (e, r) => ops.addRmsNorm(e, r, a, small, null, b, a, { rows: 4, cols: 16, dtype: DType.F32 }), "residual"],
  ["layerNorm: bias without weight", (e, r) => ops.layerNorm(e, r, a, null, b, a, { rows: 4, cols: 16, dtype: DType.F32 }), "bias"],
  ["l2Norm: rows zero", (e, r) => ops.l2Norm(e, r, a, a, { rows: 0, cols: 16, dtype: DType.F32 }), "params.rows"],
  // softmax and selection
  ["softmax: causal queries not dividing rows", (e, r) => ops.softmax(e, r, a, a, { rows: 4, cols: 16, causal: { queries: 3 }, dtype: DType.F32 }), "params.causal.queries"],
  ["softmax: out too small", (e, r) => ops.softmax(e, r, a, small, { rows: 4, cols: 16, dtype: DType.F32 }), "out"],
  ["argmax: out not U32", (e, r) => ops.argmax(e, r, a, b, { rows: 4, cols: 16, dtype: DType.F32 }), "out"],
  ["topK: k past cols", (e, r) => ops.topK(e, r, a, b, words, { rows: 4, cols: 16, k: 17, dtype: DType.F32 }), "params.k"],
  ["topK: values too small", (e, r) => ops.topK(e, r, a, small, words, { rows: 4, cols: 16, k: 4, dtype: DType.F32 }), "values"],
  ["sample: negative temperature", (e, r) => ops.sample(e, r, a, ids, { rows: 4, cols: 16, dtype: DType.F32, temperature: -1, seed: 0, step: 0 }), "params.temperature"],
  ["sample: topP above 1", (e, r) => ops.sample(e, r, a, ids, { rows: 4, cols: 16, dtype: DType.F32, temperature: 1, topP: 1.5, seed: 0, step: 0 }), "params.topP"],
  ["sample: seed past u32", (e, r) => ops.sample(e, r, a, ids, { rows: 4, cols: 16, dtype: DType.F32, temperature: 1, seed: 2 ** 32, step: 0 }), "params.seed"],
  ["softmax: threadsPerRow not a multiple of 32", (e, r) => ops.softmax(e, r, a, a, { rows: 4, cols: 16, dtype: DType.F32, threadsPerRow: 48 }), "params.threadsPerRow"],
  ["sample: out too small", (e, r) => ops.sample(e, r, a, ids, { rows: 8, cols: 8, dtype: DType.F32, temperature: 1, seed: 0, step: 0 }), "out"],
  // quantize, matmul, attention
  ["quantize: 7 bits", (e, r) => ops.quantize(e, r, a, { weight: words, scales: a, biases: a }, { rows: 2, cols: 32, bits: 7, groupSize: 32, dtype: DType.F32 }), "params.bits"],
  ["quantize: group of 48", (e, r) => ops.quantize(e, r, a, { weight: words, scales: a, biases: a }, { rows: 2, cols: 32, bits: 4, groupSize: 48, dtype: DType.F32 }), "params.groupSize"],
  ["quantize: cols not a multiple of the group", (e, r) => ops.quantize(e, r, a, { weight: words, scales: a, biases: a }, { rows: 1, cols: 48, bits: 4, groupSize: 32, dtype: DType.F32 }), "params.cols"],
  ["quantize: integer dtype", (e, r) => ops.quantize(e, r, words, { weight: words, scales: words, biases: words }, { rows: 2, cols: 32, bits: 4, groupSize: 32, dtype: DType.U32 }), "params.dtype"],
  ["quantize: packed weight not U32", (e, r) => ops.quantize(e, r, a, { weight: b, scales: a, biases: a }, { rows: 2, cols: 32, bits: 4, groupSize: 32, dtype: DType.F32 }), "out.weight"],
  ["dequantize: scales of another dtype", (e, r) => ops.dequantize(e, r, { weight: words, scales: h, biases: a }, a, { rows: 2, cols: 32, bits: 4, groupSize: 32, dtype: DType.F32 }), "table.scales"],
  ["dequantize: out too small", (e, r) => ops.dequantize(e, r, { weight: words, scales: a, biases: a }, small, { rows: 2, cols: 32, bits: 4, groupSize: 32, dtype: DType.F32 }), "out"],
  ["matmul: weight of another dtype", (e, r) => ops.matmul(e, r, a, h, b, { m: 4, n: 4, k: 16, dtype: DType.F32 }), "w"],
  ["matmul: y too small", (e, r) => ops.matmul(e, r, a, b, small, { m: 4, n: 4, k: 16, dtype: DType.F32 }), "y"],
  ["matmul: m zero", (e, r) => ops.matmul(e, r, a, b, a, { m: 0, n: 4, k: 16, dtype: DType.F32 }), "params.m"],
  ["matmul: misspelled option", (e, r) => ops.matmul(e, r, a, b, a, { m: 4, n: 4, k: 16, dtype: DType.F32, weightDtype: DType.F32 } as never), "params.weightDtype"],
  ["quantizedMatmul: 7 bits", (e, r) => ops.quantizedMatmul(e, r, a, { weight: words, scales: a, biases: a }, a, { m: 1, n: 2, k: 32, bits: 7, groupSize: 32, dtype: DType.F32 }), "params.bits"],
  ["quantizedMatmul: k not a multiple of the group", (e, r) => ops.quantizedMatmul(e, r, a, { weight: words, scales: a, biases: a }, a, { m: 1, n: 1, k: 48, bits: 4, groupSize: 32, dtype: DType.F32 }), "params.k"],
  ["quantizedMatmul: no biases", (e, r) => ops.quantizedMatmul(e, r, a, { weight: words, scales: a } as never, a, { m: 1, n: 2, k: 32, bits: 4, groupSize: 32, dtype: DType.F32 }), "w.biases"],
  ["quantizedMatmul: scales too small", (e, r) => ops.quantizedMatmul(e, r, a, { weight: words, scales: small, biases: a }, a, { m: 1, n: 16, k: 32, bits: 4, groupSize: 32, dtype: DType.F32 }), "w.scales"],
  ["quantizedMatmul: scale dtype u32", (e, r) => ops.quantizedMatmul(e, r, a, { weight: words, scales: words, biases: words }, a, { m: 1, n: 2, k: 32, bits: 4, groupSize: 32, dtype: DType.F32, scaleDType: DType.U32 }), "params.scaleDType"],
  ["attentionDecode: head dim 100", (e, r) => ops.attentionDecode(e, r, big, big, big, big, big, { heads: 2, kvHeads: 1, headDim: 100, kvLen: 4, capacity: 4, dtype: DType.F32 }), "params.headDim"],
  ["attentionDecode: kvHeads not dividing heads", (e, r) => ops.attentionDecode(e, r, big, big, big, big, big, { heads: 3, kvHeads: 2, headDim: 64, kvLen: 4, capacity: 4, dtype: DType.F32 }), "params.kvHeads"],
  ["attentionDecode: kvLen past the capacity", (e, r) => ops.attentionDecode(e, r, big, big, big, big, big, { heads: 2, kvHeads: 1, headDim: 64, kvLen: 5, capacity: 4, dtype: DType.F32 }), "params.kvLen"],
  ["attentionDecode: scratch too small", (e, r) => ops.attentionDecode(e, r, big, big, big, big, small, { heads: 2, kvHeads: 1, headDim: 64, kvLen: 4, capacity: 4, dtype: DType.F32 }), "scratch"],
  ["attentionDecode: cache of another dtype", (e, r) => ops.attentionDecode(e, r, big, h, big, big, big, { heads: 1, kvHeads: 1, headDim: 64, kvLen: 1, capacity: 1, dtype: DType.F32 }), "k"],
  ["attentionDecode: mask too short", (e, r) => ops.attentionDecode(e, r, big, big, big, big, big, { heads: 2, kvHeads: 1, headDim: 64, kvLen: 16, capacity: 16, dtype: DType.F32, mask: { buffer: small } }), "params.mask.buffer"],
  ["attentionPrefill: more queries than cache rows", (e, r) => ops.attentionPrefill(e, r, big, big, big, big, { qLen: 5, heads: 2, kvHeads: 1, headDim: 64, kvLen: 4, capacity: 4, dtype: DType.F32 }), "params.qLen"],
  ["attentionPrefill: causal not a boolean", (e, r) => ops.attentionPrefill(e, r, big, big, big, big, { qLen: 4, heads: 2, kvHeads: 1, headDim: 64, kvLen: 4, capacity: 4, dtype: DType.F32, causal: 1 as never }), "params.causal"],
  ["attentionPrefill: out too small", (e, r) => ops.attentionPrefill(e, r, big, big, big, a, { qLen: 4, heads: 2, kvHeads: 1, headDim: 64, kvLen: 4, capacity: 4, dtype: DType.F32 }), "out"],
];

describe("op argument errors", () => {
  for (const [what, call, argument] of rows) {
    test(`${what} → [${argument}]`, () => {
      const enc = device.commandEncoder();
      const before = dispatchCount();
      let error: unknown;
      try {
        call(enc, registry);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ArgumentError);
      expect((error as ArgumentError).argument).toBe(argument);
      expect(dispatchCount()).toBe(before);
      enc.dispose();
    });
  }
});
