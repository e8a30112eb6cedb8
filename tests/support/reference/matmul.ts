/**
 * Float64 references for the matrix products: `y = x · Wᵀ` with W in [out, in] layout, dense or
 * MLX affine-quantized (dequantized with src/quant.ts's definition first). Written from the math,
 * independent of the kernels' tiling and accumulation order.
 */
import { dequantize, type Quantized } from "../../../src/quant.ts";

/** y[m, n] = Σ_k x[m, k] · w[n, k]. */
export function matmul(x: ArrayLike<number>, w: ArrayLike<number>, m: number, n: number, k: number): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += x[i * k + t]! * w[j * k + t]!;
      y[i * n + j] = s;
    }
  }
  return y;
}

/** y = x · dequantize(q)ᵀ, with the scales and biases as stored. */
export function quantizedMatmul(x: ArrayLike<number>, q: Quantized, m: number): Float64Array {
  return matmul(x, dequantize(q), m, q.rows, q.cols);
}
