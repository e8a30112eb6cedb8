/**
 * Embedding lookups (kernels/embedding.h): `out[t, :] = table[ids[t], :]` for the token ids in a
 * U32 (or I32, read as unsigned) buffer, from a float table [vocab, dim] or an MLX
 * affine-quantized `QuantizedTable`, converted to out's dtype. The ids live on the device, so
 * they are not checked here: an id ≥ vocab yields a row of zeros.
 */
import { kernels } from "../../kernels/catalog.ts";
import { type Buffer, checkLiveBuffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import { argStruct } from "./args.ts";
import { access, dispatchBlocks } from "./common.ts";
import { QuantizedTable } from "./quantized.ts";
import { checkCount, checkElements, checkFloat, lastDim, MAX_ELEMENTS } from "./validate.ts";

const EmbeddingArgs = argStruct("EmbeddingArgs", { tokens: "u32", dim: "u32", vocab: "u32", group_shift: "u32" });
const DENSE_ACCESS = access([0, 1], [2]);
const AFFINE_ACCESS = access([0, 1, 2, 3], [4]);

/**
 * Gather rows of `table` (float [vocab, dim], or a QuantizedTable [vocab, dim]) for `ids`
 * [tokens] into `out` [tokens, dim] of any float dtype. A quantized row is dequantized as
 * `scale · code + bias` per group (in f32, rounded once to out's dtype).
 *
 * @example
 * ops.embedding(enc, embedTokens, ids, hidden); // [151936, 1024] bf16, ids [T] u32 → hidden [T, 1024] f32
 */
export function embedding(enc: CommandEncoder, table: Buffer | QuantizedTable, ids: Buffer, out: Buffer): void {
  checkLiveBuffer("ids", ids);
  if (ids.dtype !== DType.U32 && ids.dtype !== DType.I32) throw new ArgumentError("ids", `must hold u32 or i32 token ids (got ${ids.dtype.name})`);
  const tokens = ids.elementCount;
  checkCount("ids.elementCount", tokens, MAX_ELEMENTS);
  const outDType = checkFloat("out", out);
  if (table instanceof QuantizedTable) {
    table.checkLive("table");
    const { rows: vocab, cols: dim } = table;
    checkShape(tokens, vocab, dim);
    checkElements("out", out, tokens * dim, `[tokens = ${tokens}, dim = ${dim}]`);
    const pipeline = enc.device.kernels.pipeline(kernels.embeddingAffine, { bits: table.bits, scales: table.scaleDType, out: outDType });
    const args = EmbeddingArgs.write({ tokens, dim, vocab, group_shift: Math.log2(table.groupSize) });
    dispatchBlocks(enc, pipeline, [table.weight, table.scales, table.biases, ids, out, args], [dim, tokens, 1], AFFINE_ACCESS);
    return;
  }
  const dtype = checkFloat("table", table);
  const dim = lastDim(table);
  const vocab = table.elementCount / dim;
  checkShape(tokens, vocab, dim);
  checkElements("out", out, tokens * dim, `[tokens = ${tokens}, dim = ${dim}]`);
  const pipeline = enc.device.kernels.pipeline(kernels.embedding, { table: dtype, out: outDType });
  dispatchBlocks(enc, pipeline, [table, ids, out, EmbeddingArgs.write({ tokens, dim, vocab, group_shift: 0 })], [dim, tokens, 1], DENSE_ACCESS);
}

function checkShape(tokens: number, vocab: number, dim: number): void {
  if (vocab === 0 || dim === 0) throw new ArgumentError("table", "must not be empty");
  if (vocab * dim > MAX_ELEMENTS || tokens * dim > MAX_ELEMENTS) throw new ArgumentError("table", "table or output exceeds the kernels' 32-bit element index");
}
