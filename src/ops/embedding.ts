/**
 * Embedding lookups (kernels/embedding.{h,metal}): `out[t, :] = table[ids[t], :]` for token ids
 * in a U32 (or I32, read as unsigned) buffer, from a float table or an MLX affine-quantized one.
 * The ids live on the device, so they are not checked here: an id ≥ vocab yields a row of zeros.
 */
import type { Buffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { KernelRegistry } from "../registry.ts";
import { argStruct } from "./args.ts";
import { access, dispatchBlocks, namesByDTypePair } from "./common.ts";
import { checkBuffer, checkCounts, checkDType, checkMultiple, checkOneOf, checkOptions, FLOAT_DTYPES, MAX_ELEMENTS } from "./validate.ts";

const EmbeddingArgs = argStruct("EmbeddingArgs", { tokens: "u32", dim: "u32", vocab: "u32", group_shift: "u32" });
const DENSE = namesByDTypePair("embedding");
/** Bit widths and group sizes of MLX's affine quantization. */
export const AFFINE_BITS: readonly number[] = Object.freeze([2, 3, 4, 5, 6, 8]);
export const AFFINE_GROUP_SIZES: readonly number[] = Object.freeze([32, 64, 128]);
const AFFINE = new Map(AFFINE_BITS.map((bits) => [bits, namesByDTypePair(`embedding_q${bits}`)]));
const ID_TYPES: readonly DType[] = [DType.U32, DType.I32];
const DENSE_ACCESS = access([0, 1], [2]);
const AFFINE_ACCESS = access([0, 1, 2, 3], [4]);

export interface EmbeddingParams {
  tokens: number;
  /** Rows of the table. */
  vocab: number;
  /** Columns of the table (the embedding width). */
  dim: number;
  /** Type of the table. */
  dtype: DType;
  /** Type of `out` (default `dtype`). */
  outDType?: DType;
}

/** Token ids are U32 or I32 (read as unsigned); any other dtype is reported as "must hold u32". */
function checkIds(ids: Buffer, tokens: number): void {
  checkBuffer("ids", ids, ID_TYPES.includes(ids?.dtype) ? ids.dtype : DType.U32, tokens);
}

function checkShape(name: string, tokens: number, vocab: number, dim: number): void {
  checkCounts(name, { tokens, vocab, dim }, ["tokens", "vocab", "dim"]);
  if (vocab * dim > MAX_ELEMENTS || tokens * dim > MAX_ELEMENTS) throw new ArgumentError(name, "table or output exceeds the kernels' 32-bit element index");
}

/**
 * Gather rows of a float table [vocab, dim] into `out` [tokens, dim], converting to `outDType`.
 *
 * @example
 * ops.embedding(enc, registry, embedTokens, ids, hidden, { tokens, vocab: 151936, dim: 1024, dtype: DType.BF16, outDType: DType.F32 });
 */
export function embedding(enc: CommandEncoder, registry: KernelRegistry, table: Buffer, ids: Buffer, out: Buffer, params: EmbeddingParams): void {
  checkOptions("params", params, ["tokens", "vocab", "dim", "dtype", "outDType"], ["tokens", "vocab", "dim", "dtype"]);
  const { tokens, vocab, dim, dtype } = params;
  const outDType = params.outDType ?? dtype;
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkDType("params.outDType", outDType, FLOAT_DTYPES);
  checkShape("params", tokens, vocab, dim);
  checkBuffer("table", table, dtype, vocab * dim);
  checkIds(ids, tokens);
  checkBuffer("out", out, outDType, tokens * dim);
  const pipeline = registry.getPipeline(DENSE.get(dtype)!.get(outDType)!);
  dispatchBlocks(enc, pipeline, [table, ids, out, EmbeddingArgs.write({ tokens, dim, vocab, group_shift: 0 })], [dim, tokens, 1], DENSE_ACCESS);
}

/** An MLX affine-quantized table: packed codes and per-group scales and biases. */
export interface AffineTable {
  /** U32 words, [vocab, dim · bits / 32]. */
  weight: Buffer;
  /** [vocab, dim / groupSize], of `scaleDType`. */
  scales: Buffer;
  /** [vocab, dim / groupSize], of `scaleDType`. */
  biases: Buffer;
}

export interface AffineEmbeddingParams {
  tokens: number;
  vocab: number;
  dim: number;
  /** 2, 3, 4, 5, 6 or 8. */
  bits: number;
  /** 32, 64 or 128; must divide dim. */
  groupSize: number;
  /** Type of scales and biases (MLX stores them in the model's float type). */
  scaleDType: DType;
  /** Type of `out`. */
  outDType: DType;
}

/**
 * Gather and dequantize rows of an MLX affine-quantized table: `w = scale · q + bias` per group
 * (in f32, rounded once to `outDType`).
 *
 * @example
 * ops.embeddingAffine(enc, registry, { weight, scales, biases }, ids, hidden,
 *   { tokens, vocab, dim: 2048, bits: 4, groupSize: 64, scaleDType: DType.BF16, outDType: DType.F32 });
 */
export function embeddingAffine(enc: CommandEncoder, registry: KernelRegistry, table: AffineTable, ids: Buffer, out: Buffer, params: AffineEmbeddingParams): void {
  checkOptions("params", params, ["tokens", "vocab", "dim", "bits", "groupSize", "scaleDType", "outDType"], ["tokens", "vocab", "dim", "bits", "groupSize", "scaleDType", "outDType"]);
  checkOptions("table", table, ["weight", "scales", "biases"], ["weight", "scales", "biases"]);
  const { tokens, vocab, dim, bits, groupSize, scaleDType, outDType } = params;
  checkOneOf("params.bits", bits, AFFINE_BITS);
  checkOneOf("params.groupSize", groupSize, AFFINE_GROUP_SIZES);
  checkDType("params.scaleDType", scaleDType, FLOAT_DTYPES);
  checkDType("params.outDType", outDType, FLOAT_DTYPES);
  checkShape("params", tokens, vocab, dim);
  checkMultiple("params.dim", dim, groupSize, `groupSize (${groupSize})`);
  const groups = vocab * (dim / groupSize);
  checkBuffer("table.weight", table.weight, DType.U32, (vocab * dim * bits) / 32);
  checkBuffer("table.scales", table.scales, scaleDType, groups);
  checkBuffer("table.biases", table.biases, scaleDType, groups);
  checkIds(ids, tokens);
  checkBuffer("out", out, outDType, tokens * dim);
  const pipeline = registry.getPipeline(AFFINE.get(bits)!.get(scaleDType)!.get(outDType)!);
  const args = EmbeddingArgs.write({ tokens, dim, vocab, group_shift: Math.log2(groupSize) });
  dispatchBlocks(enc, pipeline, [table.weight, table.scales, table.biases, ids, out, args], [dim, tokens, 1], AFFINE_ACCESS);
}
