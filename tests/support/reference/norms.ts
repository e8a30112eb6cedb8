/** Float64 references for the row normalizations over x [rows, cols]. */

function perRow(x: ArrayLike<number>, rows: number, cols: number, f: (row: Float64Array) => Float64Array): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(f(Float64Array.from({ length: cols }, (_, c) => x[r * cols + c]!)), r * cols);
  return out;
}

/** x / sqrt(mean(x²) + eps) · w. */
export function rmsNorm(x: ArrayLike<number>, w: ArrayLike<number> | null, rows: number, cols: number, eps: number): Float64Array {
  return perRow(x, rows, cols, (v) => {
    const ms = v.reduce((s, a) => s + a * a, 0) / cols;
    const inv = 1 / Math.sqrt(ms + eps);
    return v.map((a, c) => a * inv * (w ? w[c]! : 1));
  });
}

/** x / sqrt(Σx² + eps). */
export function l2Norm(x: ArrayLike<number>, rows: number, cols: number, eps: number): Float64Array {
  return perRow(x, rows, cols, (v) => {
    const inv = 1 / Math.sqrt(v.reduce((s, a) => s + a * a, 0) + eps);
    return v.map((a) => a * inv);
  });
}

/** (x - mean) / sqrt(var + eps) · w + b, with the biased variance. */
export function layerNorm(x: ArrayLike<number>, w: ArrayLike<number> | null, b: ArrayLike<number> | null, rows: number, cols: number, eps: number): Float64Array {
  return perRow(x, rows, cols, (v) => {
    const mean = v.reduce((s, a) => s + a, 0) / cols;
    const variance = v.reduce((s, a) => s + (a - mean) ** 2, 0) / cols;
    const inv = 1 / Math.sqrt(variance + eps);
    return v.map((a, c) => (a - mean) * inv * (w ? w[c]! : 1) + (b ? b[c]! : 0));
  });
}
