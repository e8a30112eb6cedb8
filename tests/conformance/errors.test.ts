/**
 * Bad op arguments get an ArgumentError naming the argument, before anything is encoded: wrong
 * dtypes, shapes that disagree between buffers, out-of-range positions, disposed buffers,
 * malformed quantized tables, misspelled options.
 * Each row is one call; the encoder must hold no dispatch afterwards.
 */
import { describe, expect, test } from "bun:test";
import { ArgumentError, type Buffer, type CommandEncoder, DType, dispatchCount, ops, QuantizedTable } from "../../src/index.ts";
import { fixture, floatBuffer } from "../support/fixtures.ts";

const { device } = fixture();
const f32 = (...shape: number[]) => floatBuffer(device, DType.F32, shape);
const f16 = (...shape: number[]) => floatBuffer(device, DType.F16, shape);
const u32 = (...shape: number[]) => device.allocBuffer(4 * shape.reduce((x, y) => x * y, 1), DType.U32, shape);

const a = f32(4, 16);
const b = f32(4, 16);
const small = f32(8);
const h = f16(4, 16);
const ids = u32(4);
const words = u32(2, 4); // 2 rows of 32 4-bit codes
const groups = f32(2, 1);
const table = new QuantizedTable({ weight: words, scales: groups, biases: groups, bits: 4, groupSize: 32 });
const q = f32(1, 2, 64);
const q4 = f32(4, 2, 64);
const cache = f32(1, 4, 64);
const cacheF16 = f16(1, 4, 64);
const scratch = f32(ops.attentionDecodeScratchBytes(2, 64) / 4);

/** A QuantizedTable made from `parts` (its constructor checks them). */
const table4 = (parts: { weight: Buffer; scales: Buffer; biases: Buffer; bits?: number; groupSize?: number }) => new QuantizedTable({ bits: 4, groupSize: 32, ...parts });

type Call = (enc: CommandEncoder) => void;

/** [description, call, argument the error must name] */
const rows: [string, Call, string][] = [
  // elementwise
  ["binary: integer dtype", (e) => ops.elementwiseMul(e, ids, ids, ids), "a.dtype"],
  ["binary: b of another dtype", (e) => ops.elementwiseSub(e, a, h, a), "b"],
  ["binary: out too small", (e) => ops.elementwiseDiv(e, a, b, small), "out"],
  ["binary: b neither a's size nor a row", (e) => ops.elementwiseAdd(e, a, f32(7), a), "b"],
  ["binary: disposed input", (e) => { const d = f32(4, 16); d.dispose(); ops.elementwiseAdd(e, a, d, a); }, "b"],
  ["scalar: NaN value", (e) => ops.scalarMul(e, a, a, Number.NaN), "value"],
  ["cast: dst of another size", (e) => ops.cast(e, a, small), "dst"],
  ["cast: integer src", (e) => ops.cast(e, ids, h), "src.dtype"],
  ["copy: slice past the source", (e) => ops.copy(e, a, b, { srcOffset: 60, count: 16 }), "src"],
  ["copy: negative offset", (e) => ops.copy(e, a, b, { dstOffset: -1 }), "options.dstOffset"],
  ["copy: dst of another dtype", (e) => ops.copy(e, a, h), "dst"],
  ["copy: misspelled option", (e) => ops.copy(e, a, b, { srcoffset: 1 } as never), "options.srcoffset"],
  ["copyStrided: strides of the wrong rank", (e) => ops.copyStrided(e, a, b, { shape: [4, 4], srcStrides: [4], dstStrides: [4, 1] }), "params.srcStrides"],
  ["copyStrided: walk past dst", (e) => ops.copyStrided(e, a, small, { shape: [4, 4], srcStrides: [4, 1], dstStrides: [4, 1] }), "dst"],
  ["concat: no inputs", (e) => ops.concat(e, [], a), "inputs"],
  ["concat: columns not summing to out's", (e) => ops.concat(e, [a, b], a), "out"],
  ["concat: input of other rows", (e) => ops.concat(e, [f32(3, 8), f32(4, 8)], a), "inputs[0]"],
  ["transpose: dst not the swapped shape", (e) => ops.transpose(e, a, b), "dst"],
  ["transpose: 1-D src", (e) => ops.transpose(e, small, small), "src"],
  // activations
  ["silu: out of another dtype", (e) => ops.silu(e, a, h), "out"],
  ["gelu: unknown approximation", (e) => ops.gelu(e, a, a, { approximation: "sigmoid" as never }), "params.approximation"],
  ["softcap: cap not positive", (e) => ops.softcap(e, a, a, { cap: 0 }), "params.cap"],
  ["swiglu: up of another size", (e) => ops.swiglu(e, a, small, a), "up"],
  // rope
  ["rope: odd headDim", (e) => ops.rope(e, f32(1, 1, 7), f32(1, 1, 7)), "x"],
  ["rope: rotaryDim past headDim", (e) => ops.rope(e, a, a, { rotaryDim: 32 }), "params.rotaryDim"],
  ["rope: position past 2^24", (e) => ops.rope(e, f32(2, 1, 16), f32(2, 1, 16), { offset: 2 ** 24 - 1 }), "params.offset"],
  ["rope: out of another size", (e) => ops.rope(e, a, small), "out"],
  ["rope: 1-D x", (e) => ops.rope(e, small, small), "x"],
  ["rope: misspelled option", (e) => ops.rope(e, a, a, { thetta: 1 } as never), "params.thetta"],
  ["rope: llama3 scaling without its factors", (e) => ops.rope(e, a, a, { scaling: { type: "llama3", factor: 8 } as never }), "params.scaling.lowFreqFactor"],
  // embedding and quantized tables
  ["embedding: float ids", (e) => ops.embedding(e, a, b, a), "ids"],
  ["embedding: out of another size", (e) => ops.embedding(e, a, ids, small), "out"],
  ["embedding: integer table", (e) => ops.embedding(e, words, ids, a), "table.dtype"],
  ["QuantizedTable: 7 bits", () => table4({ weight: words, scales: groups, biases: groups, bits: 7 }), "table.bits"],
  ["QuantizedTable: group of 48", () => table4({ weight: words, scales: groups, biases: groups, groupSize: 48 }), "table.groupSize"],
  ["QuantizedTable: cols not a multiple of the group", () => table4({ weight: u32(2, 6), scales: groups, biases: groups }), "table.weight"],
  ["QuantizedTable: weight not U32", () => table4({ weight: b, scales: groups, biases: groups }), "table.weight"],
  ["QuantizedTable: 1-D weight", () => table4({ weight: u32(8), scales: groups, biases: groups }), "table.weight"],
  ["QuantizedTable: scales of another dtype than biases", () => table4({ weight: words, scales: f16(2, 1), biases: groups }), "table.biases"],
  ["QuantizedTable: scales of the wrong size", () => table4({ weight: words, scales: small, biases: groups }), "table.scales"],
  ["QuantizedTable: integer scales", () => table4({ weight: words, scales: u32(2, 1), biases: u32(2, 1) }), "table.scales.dtype"],
  ["QuantizedTable: no biases", () => new QuantizedTable({ weight: words, scales: groups, bits: 4, groupSize: 32 } as never), "table.biases"],
  // kv cache
  ["kvCacheAppend: rows past the capacity", (e) => ops.kvCacheAppend(e, f32(2, 1, 64), cache, { position: 3 }), "params.position"],
  ["kvCacheAppend: negative position", (e) => ops.kvCacheAppend(e, f32(1, 1, 64), cache, { position: -1 }), "params.position"],
  ["kvCacheAppend: 2-D cache", (e) => ops.kvCacheAppend(e, a, b, { position: 0 }), "cache"],
  ["kvCacheAppend: src rows of another width", (e) => ops.kvCacheAppend(e, f32(1, 1, 32), cache, { position: 0 }), "src"],
  ["kvCacheCopy: window past the source", (e) => ops.kvCacheCopy(e, cache, cache, { tokens: 2, srcPosition: 3 }), "params.srcPosition"],
  ["kvCacheCopy: caches of other heads", (e) => ops.kvCacheCopy(e, cache, f32(2, 4, 64), { tokens: 1 }), "dst"],
  // norms
  ["rmsNorm: weight too short", (e) => ops.rmsNorm(e, a, small, b), "weight"],
  ["rmsNorm: negative eps", (e) => ops.rmsNorm(e, a, null, b, { eps: -1 }), "params.eps"],
  ["rmsNorm: out of another dtype", (e) => ops.rmsNorm(e, a, null, h), "out"],
  ["addRmsNorm: out is sum", (e) => ops.addRmsNorm(e, a, b, null, b, b), "out"],
  ["addRmsNorm: residual of another size", (e) => ops.addRmsNorm(e, a, small, null, b, a), "residual"],
  ["layerNorm: bias without weight", (e) => ops.layerNorm(e, a, null, b, a), "bias"],
  ["l2Norm: misspelled option", (e) => ops.l2Norm(e, a, a, { epsilon: 1 } as never), "params.epsilon"],
  // softmax and selection
  ["softmax: causal queries not dividing rows", (e) => ops.softmax(e, a, a, { causal: { queries: 3 } }), "params.causal.queries"],
  ["softmax: out of another size", (e) => ops.softmax(e, a, small), "out"],
  ["softmax: threadsPerRow not a multiple of 32", (e) => ops.softmax(e, a, a, { threadsPerRow: 48 }), "params.threadsPerRow"],
  ["argmax: out not U32", (e) => ops.argmax(e, a, f32(4)), "out"],
  ["argmax: one index short", (e) => ops.argmax(e, a, u32(3)), "out"],
  ["topK: k past cols", (e) => ops.topK(e, a, f32(4, 17), u32(4, 17)), "values (last dimension: k)"],
  ["topK: values of another dtype", (e) => ops.topK(e, a, f16(4, 4), u32(4, 4)), "values"],
  ["topK: indices of another size", (e) => ops.topK(e, a, f32(4, 4), u32(4, 3)), "indices"],
  ["sample: negative temperature", (e) => ops.sample(e, a, ids, { temperature: -1, seed: 0, step: 0 }), "params.temperature"],
  ["sample: topP above 1", (e) => ops.sample(e, a, ids, { temperature: 1, topP: 1.5, seed: 0, step: 0 }), "params.topP"],
  ["sample: seed past u32", (e) => ops.sample(e, a, ids, { temperature: 1, seed: 2 ** 32, step: 0 }), "params.seed"],
  ["sample: out of another size", (e) => ops.sample(e, f32(8, 8), ids, { temperature: 1, seed: 0, step: 0 }), "out"],
  // quantize, matmul, attention
  ["quantize: w of the wrong size", (e) => ops.quantize(e, f32(3, 16), table), "w"],
  ["quantize: w of another dtype than the scales", (e) => ops.quantize(e, f16(2, 32), table), "w"],
  ["quantize: out not a QuantizedTable", (e) => ops.quantize(e, f32(2, 32), { weight: words, scales: groups, biases: groups } as never), "out"],
  ["dequantize: out of the wrong size", (e) => ops.dequantize(e, table, small), "out"],
  ["matmul: x columns not w's", (e) => ops.matmul(e, a, f32(4, 8), b), "x"],
  ["matmul: y of other columns", (e) => ops.matmul(e, a, b, a), "y"],
  ["matmul: y of other rows", (e) => ops.matmul(e, a, b, f32(3, 4)), "y"],
  ["matmul: 1-D weight", (e) => ops.matmul(e, a, small, b), "w"],
  ["matmul: y of another dtype", (e) => ops.matmul(e, a, b, f16(4, 4)), "y"],
  ["matmul: misspelled option", (e) => ops.matmul(e, a, b, f32(4, 4), { pth: "tiled" } as never), "params.pth"],
  ["matmul: unknown path", (e) => ops.matmul(e, a, b, f32(4, 4), { path: "fast" as never }), "params.path"],
  ["matmul: quantized x columns not the table's", (e) => ops.matmul(e, a, table, f32(4, 2)), "x"],
  ["matmul: disposed table", (e) => { const w = u32(2, 4); const t = table4({ weight: w, scales: groups, biases: groups }); w.dispose(); ops.matmul(e, f32(1, 32), t, f32(1, 2)); }, "w.weight"],
  ["attentionDecode: head dim 100", (e) => ops.attentionDecode(e, f32(1, 2, 100), f32(1, 4, 100), f32(1, 4, 100), f32(1, 2, 100), scratch, { kvLen: 4 }), "k (last dimension: headDim)"],
  ["attentionDecode: kvHeads not dividing heads", (e) => ops.attentionDecode(e, q, f32(3, 4, 64), f32(3, 4, 64), q, scratch, { kvLen: 4 }), "k"],
  ["attentionDecode: kvLen past the capacity", (e) => ops.attentionDecode(e, q, cache, cache, q, scratch, { kvLen: 5 }), "params.kvLen"],
  ["attentionDecode: scratch too small", (e) => ops.attentionDecode(e, q, cache, cache, q, small, { kvLen: 4 }), "scratch"],
  ["attentionDecode: v of another dtype than k", (e) => ops.attentionDecode(e, q, cache, cacheF16, q, scratch, { kvLen: 1 }), "v"],
  ["attentionDecode: two tokens", (e) => ops.attentionDecode(e, f32(2, 2, 64), cache, cache, f32(2, 2, 64), scratch, { kvLen: 4 }), "q"],
  ["attentionDecode: q of another head dim", (e) => ops.attentionDecode(e, f32(1, 2, 80), cache, cache, f32(1, 2, 80), scratch, { kvLen: 4 }), "q"],
  ["attentionDecode: mask too short", (e) => ops.attentionDecode(e, q, cache, cache, q, scratch, { kvLen: 4, mask: { buffer: f32(3) } }), "params.mask.buffer"],
  ["attentionPrefill: more queries than cache rows", (e) => ops.attentionPrefill(e, q4, cache, cache, q4, { kvLen: 3 }), "params.kvLen"],
  ["attentionPrefill: causal not a boolean", (e) => ops.attentionPrefill(e, q4, cache, cache, q4, { kvLen: 4, causal: 1 as never }), "params.causal"],
  ["attentionPrefill: out of another size", (e) => ops.attentionPrefill(e, q4, cache, cache, q, { kvLen: 4 }), "out"],
  ["attentionPrefill: kvLen missing", (e) => ops.attentionPrefill(e, q4, cache, cache, q4, {} as never), "params.kvLen"],
];

describe("op argument errors", () => {
  for (const [what, call, argument] of rows) {
    test(`${what} → [${argument}]`, () => {
      const enc = device.commandEncoder();
      const before = dispatchCount();
      let error: unknown;
      try {
        call(enc);
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
