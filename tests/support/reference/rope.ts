/**
 * Float64 reference for rotary position embedding over [tokens, heads, headDim], written from the
 * definitions (RoFormer; GPT-NeoX's half split; Llama 3.1's frequency rule), independently of
 * src/ops/rope.ts.
 */

export type Scaling =
  | { type: "linear"; factor: number }
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

/** Frequency of pair i: theta^(-2i/rotaryDim), then the scaling rule. */
export function frequencies(rotaryDim: number, theta: number, scaling?: Scaling): Float64Array {
  const out = new Float64Array(rotaryDim / 2);
  for (let i = 0; i < out.length; i++) {
    const base = 1 / theta ** ((2 * i) / rotaryDim);
    if (!scaling) out[i] = base;
    else if (scaling.type === "linear") out[i] = base / scaling.factor;
    else {
      const wave = (2 * Math.PI) / base;
      const lowWave = scaling.originalMaxPositions / scaling.lowFreqFactor;
      const highWave = scaling.originalMaxPositions / scaling.highFreqFactor;
      if (wave < highWave) out[i] = base;
      else if (wave > lowWave) out[i] = base / scaling.factor;
      else {
        const smooth = (scaling.originalMaxPositions / wave - scaling.lowFreqFactor) / (scaling.highFreqFactor - scaling.lowFreqFactor);
        out[i] = smooth * base + (1 - smooth) * (base / scaling.factor);
      }
    }
  }
  return out;
}

/**
 * Rotate x [tokens, heads, headDim] with frequencies `freqs` (one per pair): token t at position
 * offset + t; pairs (2i, 2i+1) when traditional, else (i, i + rotaryDim/2); the tail copied.
 */
export function rope(x: ArrayLike<number>, tokens: number, heads: number, headDim: number, rotaryDim: number, offset: number, traditional: boolean, freqs: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(x);
  const half = rotaryDim / 2;
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const a = traditional ? base + 2 * i : base + i;
        const b = traditional ? a + 1 : a + half;
        const angle = (offset + t) * freqs[i]!;
        const [c, s] = [Math.cos(angle), Math.sin(angle)];
        out[a] = x[a]! * c - x[b]! * s;
        out[b] = x[a]! * s + x[b]! * c;
      }
    }
  }
  return out;
}
