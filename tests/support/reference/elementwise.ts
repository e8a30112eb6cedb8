/** Float64 references for the elementwise ops and the strided copies (cast, concat, transpose, KV cache). */

export type BinaryOp = "add" | "sub" | "mul" | "div";

const apply: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
};

/** out[i] = op(a[i], b[i]); with `rowLength`, b[i % rowLength]. */
export function binary(op: BinaryOp, a: ArrayLike<number>, b: ArrayLike<number>, rowLength?: number): Float64Array {
  const f = apply[op];
  return Float64Array.from({ length: a.length }, (_, i) => f(a[i]!, b[rowLength === undefined ? i : i % rowLength]!));
}

/** out[i] = a[i] * scale + shift, with scale and shift as the kernel receives them (f32). */
export function scalar(a: ArrayLike<number>, scale: number, shift: number): Float64Array {
  return Float64Array.from(a, (v) => v * Math.fround(scale) + Math.fround(shift));
}

/**
 * A strided walk over `shape` (outermost first): for every index, the source element at
 * srcOffset + Σ idx·srcStrides goes to dstOffset + Σ idx·dstStrides of a copy of `dst`.
 */
export function stridedCopy(src: ArrayLike<number>, dst: ArrayLike<number>, shape: readonly number[], srcOffset: number, srcStrides: readonly number[], dstOffset: number, dstStrides: readonly number[]): Float64Array {
  const out = Float64Array.from(dst);
  const idx = shape.map(() => 0);
  const total = shape.reduce((x, y) => x * y, 1);
  for (let n = 0; n < total; n++) {
    let rem = n;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = rem % shape[d]!;
      rem = Math.floor(rem / shape[d]!);
    }
    let s = srcOffset;
    let t = dstOffset;
    for (let d = 0; d < shape.length; d++) {
      s += idx[d]! * srcStrides[d]!;
      t += idx[d]! * dstStrides[d]!;
    }
    out[t] = src[s]!;
  }
  return out;
}

/** [rows, Σ cols_i] from [rows, cols_i] inputs. */
export function concat(inputs: readonly { values: ArrayLike<number>; cols: number }[], rows: number): Float64Array {
  const total = inputs.reduce((s, x) => s + x.cols, 0);
  const out = new Float64Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let at = 0;
    for (const { values, cols } of inputs) {
      for (let c = 0; c < cols; c++) out[r * total + at + c] = values[r * cols + c]!;
      at += cols;
    }
  }
  return out;
}

/** [batch, rows, cols] → [batch, cols, rows]. */
export function transpose(x: ArrayLike<number>, batch: number, rows: number, cols: number): Float64Array {
  const out = new Float64Array(batch * rows * cols);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[(b * cols + c) * rows + r] = x[(b * rows + r) * cols + c]!;
    }
  }
  return out;
}

/** Cache [heads, capacity, dim] after writing new rows [tokens, heads, dim] at `position`. */
export function kvAppend(cache: ArrayLike<number>, src: ArrayLike<number>, tokens: number, heads: number, dim: number, capacity: number, position: number): Float64Array {
  const out = Float64Array.from(cache);
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < heads; h++) {
      for (let d = 0; d < dim; d++) out[(h * capacity + position + t) * dim + d] = src[(t * heads + h) * dim + d]!;
    }
  }
  return out;
}
