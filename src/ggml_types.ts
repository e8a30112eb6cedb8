/**
 * The ggml tensor types GGUF files carry: id, name, and block geometry (elements per block, bytes
 * per block), as ggml defines them. A row of `n` elements of a block type is `n / blockElements`
 * blocks stored back to back; rows are independent, so whole rows can be moved or sliced.
 *
 * Block layouts (all little-endian; `d`, `m`, `dmin` are f16):
 * - Q4_0 (32): d, qs[16]               x = (nibble - 8) * d; low nibbles are elements 0..15
 * - Q4_1 (32): d, m, qs[16]            x = nibble * d + m
 * - Q5_0 (32): d, qh[4], qs[16]        x = ((nibble | hbit << 4) - 16) * d
 * - Q5_1 (32): d, m, qh[4], qs[16]     x = (nibble | hbit << 4) * d + m
 * - Q8_0 (32): d, qs[32] (int8)        x = q * d
 * - Q2_K (256): scales[16], qs[64], d, dmin          16 sub-blocks of 16, 4-bit scale and min each
 * - Q3_K (256): hmask[32], qs[64], scales[12], d     16 sub-blocks of 16, 6-bit signed scales
 * - Q4_K (256): d, dmin, scales[12], qs[128]         8 sub-blocks of 32, 6-bit scale and min
 * - Q5_K (256): d, dmin, scales[12], qh[32], qs[128]
 * - Q6_K (256): ql[128], qh[64], scales[16] (int8), d
 *
 * @example
 * const t = ggmlType(12);                 // Q4_K
 * ggmlRowBytes(t, 4096);                  // 2304
 */
import { ArgumentError } from "./errors.ts";

export interface GgmlType {
  readonly id: number;
  readonly name: GgmlTypeName;
  /** Elements per block (1 for plain floats). */
  readonly blockElements: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

export type GgmlTypeName = "F32" | "F16" | "BF16" | "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q8_0" | "Q2_K" | "Q3_K" | "Q4_K" | "Q5_K" | "Q6_K";

/** Elements of a K-quant super-block. */
export const QK_K = 256;

function type(id: number, name: GgmlTypeName, blockElements: number, blockBytes: number): GgmlType {
  return Object.freeze({ id, name, blockElements, blockBytes });
}

/** The types this library reads, by name. */
export const GGML_TYPES: Readonly<Record<GgmlTypeName, GgmlType>> = Object.freeze({
  F32: type(0, "F32", 1, 4),
  F16: type(1, "F16", 1, 2),
  Q4_0: type(2, "Q4_0", 32, 18),
  Q4_1: type(3, "Q4_1", 32, 20),
  Q5_0: type(6, "Q5_0", 32, 22),
  Q5_1: type(7, "Q5_1", 32, 24),
  Q8_0: type(8, "Q8_0", 32, 34),
  Q2_K: type(10, "Q2_K", QK_K, 84),
  Q3_K: type(11, "Q3_K", QK_K, 110),
  Q4_K: type(12, "Q4_K", QK_K, 144),
  Q5_K: type(13, "Q5_K", QK_K, 176),
  Q6_K: type(14, "Q6_K", QK_K, 210),
  BF16: type(30, "BF16", 1, 2),
});

const BY_ID = new Map<number, GgmlType>(Object.values(GGML_TYPES).map((t) => [t.id, t]));

/**
 * Names of ggml type ids this library does not run, so errors can say what a file holds.
 * (4 and 5 were Q4_2/Q4_3, removed from ggml.)
 */
const UNSUPPORTED_NAMES: Readonly<Record<number, string>> = {
  9: "Q8_1",
  15: "Q8_K",
  16: "IQ2_XXS",
  17: "IQ2_XS",
  18: "IQ3_XXS",
  19: "IQ1_S",
  20: "IQ4_NL",
  21: "IQ3_S",
  22: "IQ2_S",
  23: "IQ4_XS",
  24: "I8",
  25: "I16",
  26: "I32",
  27: "I64",
  28: "F64",
  29: "IQ1_M",
  34: "TQ1_0",
  35: "TQ2_0",
  39: "MXFP4",
};

/** The type of a ggml type id, or undefined when this library does not support it. */
export function ggmlTypeById(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

/** A readable name for any type id ("IQ2_XS (id 17)", "unknown type id 99"). */
export function ggmlTypeIdText(id: number): string {
  const known = BY_ID.get(id)?.name ?? UNSUPPORTED_NAMES[id];
  return known === undefined ? `unknown type id ${id}` : `${known} (id ${id})`;
}

/** The type called `name`; an `ArgumentError` naming `argument` otherwise. */
export function ggmlType(name: GgmlTypeName | number, argument = "type"): GgmlType {
  const t = typeof name === "number" ? BY_ID.get(name) : Object.hasOwn(GGML_TYPES, name) ? GGML_TYPES[name] : undefined;
  if (!t) throw new ArgumentError(argument, `is not a supported ggml type (got ${JSON.stringify(name)}; supported: ${Object.keys(GGML_TYPES).join(", ")})`);
  return t;
}

/** True for the block-quantized types (not F32/F16/BF16). */
export function isBlockQuantized(t: GgmlType): boolean {
  return t.blockElements > 1;
}

/** Bytes of one row of `elements` elements; throws unless it is a whole number of blocks. */
export function ggmlRowBytes(t: GgmlType, elements: number): number {
  if (!Number.isSafeInteger(elements) || elements < 0 || elements % t.blockElements !== 0) {
    throw new ArgumentError("elements", `${elements} is not a whole number of ${t.name} blocks of ${t.blockElements}`);
  }
  return (elements / t.blockElements) * t.blockBytes;
}
