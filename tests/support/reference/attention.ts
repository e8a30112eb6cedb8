/**
 * Float64 reference of scaled dot-product attention over a KV cache, with grouped-query heads,
 * causal and sliding-window limits and an additive mask. Written from the definition: for each
 * query, the softmax of scale · q·k + mask over the attended keys, times v. Independent of the
 * kernels (no online softmax, no splitting, no base-2 exponentials).
 *
 * Layouts: q and out [qLen, heads, headDim]; k and v [kvHeads, capacity, headDim]; query i sits at
 * position kvLen − qLen + i; the mask element (h, i, j) is at h·headStride + i·rowStride + j.
 */
export interface AttentionShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  qLen: number;
  kvLen: number;
  capacity: number;
  scale: number;
  causal: boolean;
  /** 0: no sliding window. */
  window: number;
  mask?: { values: ArrayLike<number>; headStride: number; rowStride: number };
}

export function attention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, s: AttentionShape): Float64Array {
  const { heads, kvHeads, headDim: d, qLen, kvLen, capacity } = s;
  const out = new Float64Array(qLen * heads * d);
  const group = heads / kvHeads;
  for (let i = 0; i < qLen; i++) {
    const pos = kvLen - qLen + i;
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      const qOff = (i * heads + h) * d;
      const scores: number[] = [];
      const keys: number[] = [];
      for (let j = 0; j < kvLen; j++) {
        if (s.causal && j > pos) continue;
        if (s.window > 0 && j <= pos - s.window) continue;
        let dot = 0;
        for (let t = 0; t < d; t++) dot += q[qOff + t]! * k[(kvh * capacity + j) * d + t]!;
        let x = dot * s.scale;
        if (s.mask) x += s.mask.values[h * s.mask.headStride + i * s.mask.rowStride + j]!;
        if (x === -Infinity) continue;
        scores.push(x);
        keys.push(j);
      }
      if (keys.length === 0) continue; // no attended key: zeros
      const mx = Math.max(...scores);
      const w = scores.map((x) => Math.exp(x - mx));
      const sum = w.reduce((a, b) => a + b, 0);
      for (let t = 0; t < d; t++) {
        let acc = 0;
        for (let n = 0; n < keys.length; n++) acc += w[n]! * v[(kvh * capacity + keys[n]!) * d + t]!;
        out[qOff + t] = acc / sum;
      }
    }
  }
  return out;
}
