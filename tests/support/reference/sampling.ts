/**
 * Float64 references for row softmax and the selection ops (argmax, top-k, sampling), written
 * from the semantics documented in src/ops/softmax.ts and src/ops/sampling.ts.
 */

/** Softmax of scale·x over each row; with `causal`, row r (query r % queries) sees keys j ≤ offset + r % queries, others 0. */
export function softmax(x: ArrayLike<number>, rows: number, cols: number, scale: number, causal?: { queries: number; offset: number }): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const limit = causal ? Math.min(cols, causal.offset + (r % causal.queries) + 1) : cols;
    let m = -Infinity;
    for (let j = 0; j < limit; j++) m = Math.max(m, scale * x[r * cols + j]!);
    let s = 0;
    for (let j = 0; j < limit; j++) s += Math.exp(scale * x[r * cols + j]! - m);
    for (let j = 0; j < limit; j++) out[r * cols + j] = Math.exp(scale * x[r * cols + j]! - m) / s;
  }
  return out;
}

/** Index of the largest value of each row (smallest index among equals). */
export function argmax(x: ArrayLike<number>, rows: number, cols: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let j = 1; j < cols; j++) if (x[r * cols + j]! > x[r * cols + best]!) best = j;
    return best;
  });
}

/** The k largest of each row, largest first, equal values by smaller index: [values, indices]. */
export function topK(x: ArrayLike<number>, rows: number, cols: number, k: number): { values: number[]; indices: number[] } {
  const values: number[] = [];
  const indices: number[] = [];
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: cols }, (_, j) => j).sort((a, b) => x[r * cols + b]! - x[r * cols + a]! || a - b);
    for (const j of order.slice(0, k)) {
      values.push(x[r * cols + j]!);
      indices.push(j);
    }
  }
  return { values, indices };
}

const mix = (v: number): number => {
  v = (v ^ (v >>> 16)) >>> 0;
  v = Math.imul(v, 0x7feb352d) >>> 0;
  v = (v ^ (v >>> 15)) >>> 0;
  v = Math.imul(v, 0x846ca68b) >>> 0;
  return (v ^ (v >>> 16)) >>> 0;
};

/** The sampler's uniform draw for (seed, step, row), in [0, 1). */
export function uniform(seed: number, step: number, row: number): number {
  return (mix((mix((mix(seed) ^ step) >>> 0) ^ row) >>> 0) >>> 8) / 2 ** 24;
}

export interface SampleSpec {
  temperature: number;
  topK: number;
  topP: number;
}

/**
 * The kept set and the weights of one row: w_i = exp(x_i/T - max/T) for kept i, 0 otherwise,
 * with top-k then top-p applied by value thresholds (ties kept).
 */
export function keptWeights(row: ArrayLike<number>, spec: SampleSpec): Float64Array {
  const n = row.length;
  const sorted = Array.from(row).sort((a, b) => b - a);
  const kthValue = spec.topK > 0 && spec.topK < n ? sorted[spec.topK - 1]! : -Infinity;
  const max = sorted[0]!;
  const w = Float64Array.from(row, (v) => (v >= kthValue ? Math.exp(v / spec.temperature - max / spec.temperature) : 0));
  if (spec.topP < 1) {
    const total = w.reduce((s, a) => s + a, 0);
    // distinct kept values, largest first: the first v whose mass of values >= v reaches topP
    const values = [...new Set(sorted.filter((v) => v >= kthValue))];
    let threshold = values[values.length - 1]!;
    for (const v of values) {
      let mass = 0;
      for (let i = 0; i < n; i++) if (row[i]! >= v) mass += w[i]!;
      if (mass >= spec.topP * total) {
        threshold = v;
        break;
      }
    }
    for (let i = 0; i < n; i++) if (row[i]! < threshold) w[i] = 0;
  }
  return w;
}

/** The token the sampler draws from `row` with uniform u (inverse CDF in index order). */
export function sampleRow(row: ArrayLike<number>, spec: SampleSpec, u: number): number {
  if (spec.temperature === 0) return argmax(row, 1, row.length)[0]!;
  const w = keptWeights(row, spec);
  const target = u * w.reduce((s, a) => s + a, 0);
  let acc = 0;
  let last = 0;
  for (let i = 0; i < w.length; i++) {
    if (w[i] === 0) continue;
    acc += w[i]!;
    last = i;
    if (acc > target) return i;
  }
  return last;
}
