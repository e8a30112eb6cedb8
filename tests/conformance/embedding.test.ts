/**
 * Conformance of the embedding lookups against tests/support/reference/embedding.ts, with MLX
 * affine-quantized tables made and dequantized by tests/support/mlx_quant.ts. Each case looks
 * up ids that include repeats, the last row and two ids past the table (which give zeros). For
 * embeddingAffine the case dtype is the type of the scales and biases.
 */
import { DType, ops } from "../../src/index.ts";
import { randomFloats, roundTo } from "../support/fixtures.ts";
import { dequantize, quantize, uploadQuantized } from "../support/mlx_quant.ts";
import * as ref from "../support/reference/embedding.ts";
import { type Case, conformance, type DTypeTolerances } from "./harness.ts";

// A gather copies (converted once: exact); a dequantized value is one fused multiply-add in f32
// (rounded once) and one rounding to the output type.
const EXACT = { atol: 0, rtol: 0 };
const DEQUANT: DTypeTolerances = {
  f32: { atol: 0, rtol: 2 ** -24 },
  f16: { atol: 2 ** -25, rtol: 2 ** -11 + 2 ** -24 },
  bf16: { atol: 0, rtol: 2 ** -8 + 2 ** -24 },
};

const ids = (vocab: number, tokens: number) => Array.from({ length: tokens }, (_, t) => (t === 1 ? vocab + 3 : t === 4 ? 0xffffffff : t === 2 ? vocab - 1 : (t * 7919) % vocab));

interface DenseParams {
  outDType: DType;
}
const denseCases: Case<DenseParams>[] = (
  [
    [DType.F32, DType.F32],
    [DType.BF16, DType.F32],
    [DType.F16, DType.F16],
    [DType.BF16, DType.BF16],
    [DType.F32, DType.BF16],
  ] as const
).map(([dtype, outDType]) => ({ op: "embedding", dtype, shape: { vocab: 50, dim: 300, tokens: 7 }, params: { outDType }, tolerance: EXACT }));

conformance("embedding", denseCases, (c, ctx) => {
  const { vocab, dim, tokens } = c.shape as { vocab: number; dim: number; tokens: number };
  const table = ctx.random(c.dtype, [vocab, dim], 5, -3, 3);
  const idList = ids(vocab, tokens);
  const out = ctx.floats(c.params.outDType, [tokens, dim], new Array(tokens * dim).fill(7));
  ctx.encode((enc) => ops.embedding(enc, table.buffer, ctx.u32(idList), out));
  const want = ref.gather(table.values, idList, vocab, dim).map((v) => roundTo(c.params.outDType, v));
  return { got: ctx.read(out, tokens * dim), want };
});

interface AffineParams {
  bits: number;
  groupSize: number;
  outDType: DType;
}
const affine = (bits: number, groupSize: number, scaleDType: DType, outDType: DType): Case<AffineParams> => ({
  op: "embeddingAffine",
  dtype: scaleDType,
  shape: { vocab: 40, dim: 3 * groupSize, tokens: 9 },
  params: { bits, groupSize, outDType },
  tolerance: DEQUANT[outDType.name as "f32"],
});
// Every bit width and group size, every scale type and every output type, without the full grid.
const affineCases: Case<AffineParams>[] = [
  affine(2, 32, DType.F16, DType.F32),
  affine(3, 64, DType.BF16, DType.BF16),
  affine(3, 128, DType.F32, DType.F32),
  affine(4, 64, DType.BF16, DType.F32),
  affine(4, 128, DType.F32, DType.F16),
  affine(5, 32, DType.F32, DType.F32),
  affine(6, 64, DType.F16, DType.F16),
  affine(6, 128, DType.BF16, DType.F32),
  affine(8, 32, DType.BF16, DType.BF16),
  affine(8, 128, DType.F16, DType.F32),
];

conformance("embeddingAffine", affineCases, (c, ctx) => {
  const { vocab, dim, tokens } = c.shape as { vocab: number; dim: number; tokens: number };
  const { bits, groupSize, outDType } = c.params;
  const q = quantize(randomFloats(vocab * dim, bits * 31 + groupSize, -0.2, 0.2), vocab, dim, bits, groupSize, c.dtype);
  const table = uploadQuantized(ctx.device, q, (b) => ctx.keep(b));
  const idList = ids(vocab, tokens);
  const out = ctx.floats(outDType, [tokens, dim]);
  ctx.encode((enc) => ops.embedding(enc, table, ctx.u32(idList), out));
  return { got: ctx.read(out, tokens * dim), want: ref.gather(dequantize(q), idList, vocab, dim) };
});
