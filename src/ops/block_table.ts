/**
 * `BlockTable`: a GGUF block-quantized matrix as one value — the blocks exactly as the file holds
 * them and their format — checked once when made, so `matmul` and `embedding` take its shape from
 * it. `weight` is U8 [rows, rowBytes]: each row is cols / QK blocks of the format's bytes
 * (kernels/gguf_blocks.h decodes them; src/ggml_types.ts lists the layouts). No dequantized copy
 * exists: the kernels decode 32-element chunks as they read them.
 *
 * @example
 * const w = new BlockTable({ weight, type: "Q4_K" });
 * ops.matmul(enc, x, w, y); // x [m, w.cols] → y [m, w.rows]
 */
import { GGUF_BLOCKS } from "../../kernels/catalog.ts";
import { type Buffer, checkLiveBuffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import { ArgumentError } from "../errors.ts";
import { GGML_TYPES, type GgmlType, type GgmlTypeName } from "../ggml_types.ts";
import { checkOptions, checkSameDType } from "./validate.ts";

export interface BlockTableParts {
  /** U8 [rows, rowBytes]: whole blocks of `type` per row. */
  weight: Buffer;
  /** A block format: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K or Q6_K. */
  type: GgmlType | GgmlTypeName;
}

export class BlockTable {
  readonly weight: Buffer;
  readonly type: GgmlType;
  /** Rows of the matrix (output features, or the vocabulary of an embedding). */
  readonly rows: number;
  /** Columns (input features, or the embedding width): a multiple of the block size. */
  readonly cols: number;

  /** Checks the weight holds whole blocks of `type` (typed errors name the part), keeping a reference. */
  constructor(parts: BlockTableParts) {
    checkOptions("table", parts, ["weight", "type"], ["weight", "type"]);
    const name = typeof parts.type === "string" ? parts.type : parts.type?.name;
    if (!GGUF_BLOCKS.includes(name as GgmlTypeName)) throw new ArgumentError("table.type", `must be a GGUF block format (${GGUF_BLOCKS.join(", ")}; got ${JSON.stringify(name ?? parts.type)})`);
    const type = GGML_TYPES[name as GgmlTypeName];
    const { weight } = parts;
    checkSameDType("table.weight", weight, DType.U8, "blocks (u8)");
    if (weight.shape.length !== 2) throw new ArgumentError("table.weight", `must be 2-D [rows, rowBytes] (got shape [${weight.shape.join(", ")}])`);
    const [rows, rowBytes] = weight.shape as [number, number];
    if (rows === 0 || rowBytes === 0 || rowBytes % type.blockBytes !== 0) {
      throw new ArgumentError("table.weight", `shape [${rows}, ${rowBytes}] is not [rows, a positive whole number of ${type.blockBytes}-byte ${type.name} blocks]`);
    }
    if (weight.byteLength < rows * rowBytes) throw new ArgumentError("table.weight", `holds ${weight.byteLength} bytes, its shape needs ${rows * rowBytes}`);
    this.weight = weight;
    this.type = type;
    this.rows = rows;
    this.cols = (rowBytes / type.blockBytes) * type.blockElements;
    Object.freeze(this);
  }

  /** @internal Throws unless the weight buffer is still alive (ops call it before encoding). */
  checkLive(name: string): void {
    if (!(this instanceof BlockTable)) throw new ArgumentError(name, "must be a BlockTable");
    checkLiveBuffer(`${name}.weight`, this.weight);
  }
}
