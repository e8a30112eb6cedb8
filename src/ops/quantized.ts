/**
 * `QuantizedTable`: an MLX affine-quantized matrix as one value — packed codes, per-group scales
 * and biases, bit width and group size — checked once when made, so the ops that read it
 * (matmul, embedding, quantize, dequantize) take its shape and types from it.
 *
 * Layout (MLX's): a [rows, cols] matrix cut along each row into groups of `groupSize`; `weight`
 * is U32 [rows, cols · bits / 32] (codes packed little-endian per row), `scales` and `biases` are
 * [rows, cols / groupSize] of one float dtype; an element is `scale · code + bias`.
 *
 * @example
 * const w = new QuantizedTable({ weight, scales, biases, bits: 4, groupSize: 64 });
 * ops.matmul(enc, x, w, y); // x [m, w.cols] → y [m, w.rows]
 */
import { AFFINE_BITS, AFFINE_GROUP_SIZES } from "../../kernels/catalog.ts";
import { type Buffer, checkLiveBuffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import { ArgumentError } from "../errors.ts";
import { checkElements, checkFloat, checkOneOf, checkOptions, checkSameDType } from "./validate.ts";

export interface QuantizedTableParts {
  /** U32 [rows, cols · bits / 32]. */
  weight: Buffer;
  /** [rows, cols / groupSize] of a float dtype. */
  scales: Buffer;
  /** Like `scales`. */
  biases: Buffer;
  /** 2, 3, 4, 5, 6 or 8. */
  bits: number;
  /** 32, 64 or 128. */
  groupSize: number;
}

export class QuantizedTable {
  readonly weight: Buffer;
  readonly scales: Buffer;
  readonly biases: Buffer;
  readonly bits: number;
  readonly groupSize: number;
  /** Rows of the matrix (output features of a linear layer, vocabulary of an embedding). */
  readonly rows: number;
  /** Columns of the matrix (input features, embedding width). */
  readonly cols: number;

  /** Checks the parts agree (typed errors name the part), keeping references (not ownership). */
  constructor(parts: QuantizedTableParts) {
    checkOptions("table", parts, ["weight", "scales", "biases", "bits", "groupSize"], ["weight", "scales", "biases", "bits", "groupSize"]);
    const { weight, scales, biases, bits, groupSize } = parts;
    checkOneOf("table.bits", bits, AFFINE_BITS);
    checkOneOf("table.groupSize", groupSize, AFFINE_GROUP_SIZES);
    checkSameDType("table.weight", weight, DType.U32, "packed codes (u32)");
    if (weight.shape.length !== 2) throw new ArgumentError("table.weight", `must be 2-D [rows, cols · bits / 32] (got shape [${weight.shape.join(", ")}])`);
    const [rows, words] = weight.shape as [number, number];
    const cols = (words * 32) / bits;
    if (rows === 0 || words === 0 || !Number.isInteger(cols) || cols % groupSize !== 0) {
      throw new ArgumentError("table.weight", `shape [${rows}, ${words}] is not [rows, cols · ${bits} / 32] for a positive cols that is a multiple of groupSize ${groupSize}`);
    }
    const scaleDType = checkFloat("table.scales", scales);
    checkSameDType("table.biases", biases, scaleDType, "table.scales");
    const groups = rows * (cols / groupSize);
    checkElements("table.scales", scales, groups, `[rows = ${rows}, cols / groupSize = ${cols / groupSize}]`);
    checkElements("table.biases", biases, groups, `[rows = ${rows}, cols / groupSize = ${cols / groupSize}]`);
    this.weight = weight;
    this.scales = scales;
    this.biases = biases;
    this.bits = bits;
    this.groupSize = groupSize;
    this.rows = rows;
    this.cols = cols;
    Object.freeze(this);
  }

  /** Type of the scales and biases (MLX stores them in the model's float type). */
  get scaleDType(): DType {
    return this.scales.dtype;
  }

  /** @internal Throws unless all three buffers are still alive (ops call it before encoding). */
  checkLive(name: string): void {
    if (!(this instanceof QuantizedTable)) throw new ArgumentError(name, "must be a QuantizedTable");
    checkLiveBuffer(`${name}.weight`, this.weight);
    checkLiveBuffer(`${name}.scales`, this.scales);
    checkLiveBuffer(`${name}.biases`, this.biases);
  }
}
