/**
 * Element types of device buffers. MLX packed quantized weights are carried as U32, as in the
 * crate we port; U8 holds raw bytes.
 */
export interface DType {
  readonly name: "f32" | "f16" | "bf16" | "u8" | "u16" | "u32" | "i32";
  /** Bytes per element. */
  readonly size: number;
  /** True for the float types kernels compute on (f32, f16, bf16). */
  readonly isFloat: boolean;
}

function dtype(name: DType["name"], size: number, isFloat: boolean): DType {
  return Object.freeze({ name, size, isFloat, toString: () => name });
}

/**
 * @example
 * const buf = device.allocBuffer(4 * n, DType.F32, [n]);
 */
export const DType = Object.freeze({
  F32: dtype("f32", 4, true),
  F16: dtype("f16", 2, true),
  BF16: dtype("bf16", 2, true),
  U8: dtype("u8", 1, false),
  U16: dtype("u16", 2, false),
  U32: dtype("u32", 4, false),
  I32: dtype("i32", 4, false),
});

const all: readonly DType[] = Object.values(DType);

/** True when `v` is one of the `DType` values. */
export function isDType(v: unknown): v is DType {
  return all.includes(v as DType);
}
