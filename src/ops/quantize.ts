/**
 * MLX affine quantization on the device (kernels/quantized.h): quantize a float weight into a
 * `QuantizedTable` (packed codes, scales and biases) exactly as MLX defines the format, and
 * dequantize it back. Scales and biases have the weight's float type, as MLX writes them.
 */
import { kernels } from "../../kernels/catalog.ts";
import type { Buffer } from "../buffer.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import { argStruct } from "./args.ts";
import { access, groupFor } from "./common.ts";
import { QuantizedTable } from "./quantized.ts";
import { checkElements, checkSameDType, MAX_ELEMENTS } from "./validate.ts";

/** The argument struct of the matmul and quantized families (kernels/quantized.h). */
export const MatmulArgs = argStruct("MatmulArgs", { M: "u32", N: "u32", K: "u32", group_shift: "u32" });

const QUANTIZE_ACCESS = access([0], [1, 2, 3]);
const DEQUANTIZE_ACCESS = access([0, 1, 2], [3]);

/** `dense` (named `name`) is [table.rows, table.cols] of the table's scale type. */
function checkDense(name: string, dense: Buffer, table: QuantizedTable, tableName: string): void {
  if (!(table instanceof QuantizedTable)) throw new ArgumentError(tableName, "must be a QuantizedTable");
  table.checkLive(tableName);
  checkSameDType(name, dense, table.scaleDType, `${tableName}.scales`);
  checkElements(name, dense, table.rows * table.cols, `[${table.rows}, ${table.cols}] like ${tableName}`);
  if (table.rows * table.cols > MAX_ELEMENTS) throw new ArgumentError(tableName, `rows·cols = ${table.rows * table.cols} exceeds the kernels' 32-bit element index`);
}

function argsFor(t: QuantizedTable): Uint32Array {
  return MatmulArgs.write({ M: t.rows, N: 0, K: t.cols, group_shift: Math.log2(t.groupSize) });
}

/**
 * Quantize `w` [rows, cols] into `out` (a QuantizedTable of the same rows and cols whose scales
 * have w's dtype), as MLX's affine mode does, with out's bits and group size.
 *
 * @example
 * ops.quantize(enc, w, new QuantizedTable({ weight, scales, biases, bits: 4, groupSize: 64 }));
 */
export function quantize(enc: CommandEncoder, w: Buffer, out: QuantizedTable): void {
  checkDense("w", w, out, "out");
  const pipeline = enc.device.kernels.pipeline(kernels.quantize, { dtype: w.dtype, bits: out.bits });
  const grid = [(out.rows * out.cols) / out.groupSize, 1, 1] as const;
  enc.dispatchThreads(pipeline, [w, out.weight, out.scales, out.biases, argsFor(out)], grid, groupFor(pipeline, grid), QUANTIZE_ACCESS);
}

/**
 * Dequantize `table` into `out` [rows, cols] of the scales' type: `w = scale · q + bias` per
 * group, computed in f32 and rounded once.
 *
 * @example
 * ops.dequantize(enc, table, w);
 */
export function dequantize(enc: CommandEncoder, table: QuantizedTable, out: Buffer): void {
  checkDense("out", out, table, "table");
  const pipeline = enc.device.kernels.pipeline(kernels.dequantize, { dtype: out.dtype, bits: table.bits });
  const grid = [(table.rows * table.cols) / 32, 1, 1] as const;
  enc.dispatchThreads(pipeline, [table.weight, table.scales, table.biases, out, argsFor(table)], grid, groupFor(pipeline, grid), DEQUANTIZE_ACCESS);
}
