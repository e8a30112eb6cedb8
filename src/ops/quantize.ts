/**
 * MLX affine quantization on the device (kernels/quantized.h; families quantize.metal and dequantize.metal): quantize a
 * float weight into packed codes, scales and biases exactly as MLX defines the format, and
 * dequantize it back. Scales and biases have the weight's float type, as MLX writes them.
 */
import type { Buffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { KernelRegistry } from "../registry.ts";
import { argStruct } from "./args.ts";
import { access, groupFor } from "./common.ts";
import { AFFINE_BITS, AFFINE_GROUP_SIZES, type AffineTable } from "./embedding.ts";
import { checkBuffer, checkCounts, checkDType, checkMultiple, checkOneOf, checkOptions, FLOAT_DTYPES, MAX_ELEMENTS } from "./validate.ts";

/** The argument struct of the matmul and quantized families (kernels/quantized.h). */
export const MatmulArgs = argStruct("MatmulArgs", { M: "u32", N: "u32", K: "u32", group_shift: "u32" });

/** `prefix_<dtype>_b<bits>` for every float dtype and bit width, looked up as `get(bits).get(dtype)`. */
function namesByBits(prefix: string): ReadonlyMap<number, ReadonlyMap<DType, string>> {
  return new Map(AFFINE_BITS.map((b) => [b, new Map(FLOAT_DTYPES.map((d) => [d, `${prefix}_${d.name}_b${b}`]))]));
}

const QUANTIZE = namesByBits("mlx_quantize");
const DEQUANTIZE = namesByBits("mlx_dequantize");
const QUANTIZE_ACCESS = access([0], [1, 2, 3]);
const DEQUANTIZE_ACCESS = access([0, 1, 2], [3]);

export interface QuantizeParams {
  /** Rows of the weight (output features). */
  rows: number;
  /** Columns of the weight (input features); a multiple of `groupSize`. */
  cols: number;
  /** 2, 3, 4, 5, 6 or 8. */
  bits: number;
  /** 32, 64 or 128. */
  groupSize: number;
  /** Type of the float weight, and of the scales and biases. */
  dtype: DType;
}

const PARAM_KEYS = ["rows", "cols", "bits", "groupSize", "dtype"] as const;

/** Validate the shared parameters and the quantized table; returns the number of groups. */
function checkAffine(name: string, params: QuantizeParams, table: AffineTable, tableName: string): number {
  checkOptions(name, params, PARAM_KEYS, PARAM_KEYS);
  checkOptions(tableName, table, ["weight", "scales", "biases"], ["weight", "scales", "biases"]);
  const { rows, cols, bits, groupSize, dtype } = params;
  checkCounts(name, { rows, cols }, ["rows", "cols"]);
  checkOneOf(`${name}.bits`, bits, AFFINE_BITS);
  checkOneOf(`${name}.groupSize`, groupSize, AFFINE_GROUP_SIZES);
  checkDType(`${name}.dtype`, dtype, FLOAT_DTYPES);
  checkMultiple(`${name}.cols`, cols, groupSize, `groupSize (${groupSize})`);
  if (rows * cols > MAX_ELEMENTS) throw new ArgumentError(name, `rows·cols = ${rows * cols} exceeds the kernels' 32-bit element index`);
  const groups = (rows * cols) / groupSize;
  checkBuffer(`${tableName}.weight`, table.weight, DType.U32, (rows * cols * bits) / 32);
  checkBuffer(`${tableName}.scales`, table.scales, dtype, groups);
  checkBuffer(`${tableName}.biases`, table.biases, dtype, groups);
  return groups;
}

function argsFor(p: QuantizeParams): Uint32Array {
  return MatmulArgs.write({ M: p.rows, N: 0, K: p.cols, group_shift: Math.log2(p.groupSize) });
}

/**
 * Quantize `w` [rows, cols] into `out` (packed U32 codes [rows, cols·bits/32], scales and biases
 * [rows, cols/groupSize] of `dtype`), as MLX's affine mode does.
 *
 * @example
 * ops.quantize(enc, registry, w, { weight, scales, biases }, { rows: 4096, cols: 4096, bits: 4, groupSize: 64, dtype: DType.BF16 });
 */
export function quantize(enc: CommandEncoder, registry: KernelRegistry, w: Buffer, out: AffineTable, params: QuantizeParams): void {
  const groups = checkAffine("params", params, out, "out");
  checkBuffer("w", w, params.dtype, params.rows * params.cols);
  const pipeline = registry.getPipeline(QUANTIZE.get(params.bits)!.get(params.dtype)!);
  const grid = [groups, 1, 1] as const;
  enc.dispatchThreads(pipeline, [w, out.weight, out.scales, out.biases, argsFor(params)], grid, groupFor(pipeline, grid), QUANTIZE_ACCESS);
}

/**
 * Dequantize `table` into `out` [rows, cols] of `dtype` (the scales' type): `w = scale · q + bias`
 * per group, computed in f32 and rounded once.
 *
 * @example
 * ops.dequantize(enc, registry, { weight, scales, biases }, w, { rows, cols, bits: 4, groupSize: 64, dtype: DType.BF16 });
 */
export function dequantize(enc: CommandEncoder, registry: KernelRegistry, table: AffineTable, out: Buffer, params: QuantizeParams): void {
  checkAffine("params", params, table, "table");
  checkBuffer("out", out, params.dtype, params.rows * params.cols);
  const pipeline = registry.getPipeline(DEQUANTIZE.get(params.bits)!.get(params.dtype)!);
  const grid = [(params.rows * params.cols) / 32, 1, 1] as const;
  enc.dispatchThreads(pipeline, [table.weight, table.scales, table.biases, out, argsFor(params)], grid, groupFor(pipeline, grid), DEQUANTIZE_ACCESS);
}
