/**
 * Rotary position embedding (kernels/rope.h) over q or k laid out as [..., tokens, heads,
 * headDim] (the shape's last two dimensions are heads and headDim; the leading ones multiply to
 * the tokens). Token t has position `offset + t`.
 *
 * Layouts: NeoX (default; Llama, Qwen, Mistral in HF/MLX form) rotates the pairs
 * (i, i + rotaryDim/2); traditional (`traditional: true`, Meta's original and GPT-J) rotates the
 * pairs (2i, 2i + 1). Pair i turns by the angle `position · invFreq[i]`, where
 * `invFreq[i] = theta^(-2i / rotaryDim)`, adjusted by `scaling`:
 * - `linear`: every frequency divided by `factor` (positions interpolated);
 * - `llama3`: Llama 3.1's by-wavelength rule: with `lowWave = originalMaxPositions / lowFreqFactor`
 *   and `highWave = originalMaxPositions / highFreqFactor`, a frequency of wavelength 2π/f
 *   below `highWave` is kept, above `lowWave` divided by `factor`, and in between blended:
 *   `s = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor)`,
 *   `f' = (1 - s) · f / factor + s · f`.
 * Frequencies are computed here in float64, rounded to f32 and passed inline (cached per
 * setting); the kernel computes angles and the rotation in f32.
 *
 * Elements past `rotaryDim` (partial rotary) are copied unchanged. `out` has x's dtype and
 * element count and may be `x`. Apply it once to q and once to k (their head counts may differ).
 */
import { kernels } from "../../kernels/catalog.ts";
import type { Buffer } from "../buffer.ts";
import type { CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import { argStruct } from "./args.ts";
import { access, groupFor } from "./common.ts";
import { checkCount, checkElements, checkFloat, checkInt, checkMultiple, checkNumber, checkOneOf, checkOptions, checkRank, checkSameDType, MAX_ELEMENTS } from "./validate.ts";

export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface RopeParams {
  /** Leading elements of each head that rotate (even, ≤ headDim; default headDim). */
  rotaryDim?: number;
  /** Base of the frequencies (default 10000). */
  theta?: number;
  /** Position of the first token (default 0). */
  offset?: number;
  /** Adjacent pairs (2i, 2i+1) instead of NeoX halves (default false). */
  traditional?: boolean;
  scaling?: RopeScaling;
}

/** Positions are converted to f32 in the kernel, exact up to 2^24. */
export const MAX_ROPE_POSITION = 2 ** 24;
/** Frequencies travel as inline bytes (f32, under 4 KiB: MLXN_LIMIT_MAX_INLINE_BYTES): 1023 pairs. */
const MAX_PAIRS = 1023;

const RopeArgs = argStruct("RopeArgs", { tokens: "u32", heads: "u32", head_dim: "u32", rotary_dim: "u32", offset: "u32" });
const frequencyCache = new Map<string, Float32Array>();
const ROPE_ACCESS = access([0], [1]);

/**
 * The f32 frequencies `invFreq[i]` for i < rotaryDim / 2 (see the module comment).
 *
 * @example
 * ops.ropeFrequencies(128, 500000, { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
 */
export function ropeFrequencies(rotaryDim: number, theta: number, scaling?: RopeScaling): Float32Array {
  const key = scaling === undefined ? `${rotaryDim}|${theta}` : `${rotaryDim}|${theta}|${JSON.stringify(scaling)}`;
  const hit = frequencyCache.get(key);
  if (hit) return hit;
  const freqs = new Float32Array(rotaryDim / 2);
  for (let i = 0; i < freqs.length; i++) {
    let f = theta ** ((-2 * i) / rotaryDim);
    if (scaling?.type === "linear") f /= scaling.factor;
    else if (scaling?.type === "llama3") {
      const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions } = scaling;
      const wavelength = (2 * Math.PI) / f;
      if (wavelength > originalMaxPositions / lowFreqFactor) f /= factor;
      else if (wavelength >= originalMaxPositions / highFreqFactor) {
        const s = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        f = ((1 - s) * f) / factor + s * f;
      }
    }
    freqs[i] = f;
  }
  frequencyCache.set(key, freqs);
  return freqs;
}

function checkScaling(scaling: RopeScaling): void {
  checkOptions("params.scaling", scaling, ["type", "factor", "lowFreqFactor", "highFreqFactor", "originalMaxPositions"], ["type", "factor"]);
  checkOneOf("params.scaling.type", scaling.type, ["linear", "llama3"]);
  checkNumber("params.scaling.factor", scaling.factor, 0);
  if (scaling.type === "llama3") {
    checkOptions("params.scaling", scaling, ["type", "factor", "lowFreqFactor", "highFreqFactor", "originalMaxPositions"], ["lowFreqFactor", "highFreqFactor", "originalMaxPositions"]);
    checkNumber("params.scaling.lowFreqFactor", scaling.lowFreqFactor, 0);
    checkNumber("params.scaling.highFreqFactor", scaling.highFreqFactor, scaling.lowFreqFactor);
    checkNumber("params.scaling.originalMaxPositions", scaling.originalMaxPositions, 0);
  }
}

/**
 * Rotate `x` [..., tokens, heads, headDim] into `out` (same dtype and element count).
 *
 * @example
 * ops.rope(enc, q, q, { theta: 500000, offset: pos }); // q [tokens, 32, 128]
 */
export function rope(enc: CommandEncoder, x: Buffer, out: Buffer, params: RopeParams = {}): void {
  checkOptions("params", params, ["rotaryDim", "theta", "offset", "traditional", "scaling"]);
  const dtype = checkFloat("x", x);
  checkSameDType("out", out, dtype, "x");
  checkRank("x", x, 2, "[..., tokens, heads, headDim]");
  const s = x.shape;
  const headDim = s[s.length - 1]!;
  const heads = s[s.length - 2]!;
  const n = x.elementCount;
  checkCount("x.elementCount", n, MAX_ELEMENTS);
  checkElements("out", out, n, "as many as x");
  const tokens = n / (heads * headDim);
  const rotaryDim = params.rotaryDim ?? headDim;
  const theta = params.theta ?? 10000;
  const offset = params.offset ?? 0;
  checkMultiple("x", headDim, 2, "2 in its last dimension (headDim)");
  checkInt("params.rotaryDim", rotaryDim, 2, Math.min(headDim, 2 * MAX_PAIRS));
  checkMultiple("params.rotaryDim", rotaryDim, 2);
  checkNumber("params.theta", theta, 1);
  checkInt("params.offset", offset, 0, MAX_ROPE_POSITION - 1);
  if (offset + tokens > MAX_ROPE_POSITION) throw new ArgumentError("params.offset", `positions up to offset + tokens - 1 = ${offset + tokens - 1} must be below ${MAX_ROPE_POSITION}`);
  if (params.traditional !== undefined && typeof params.traditional !== "boolean") throw new ArgumentError("params.traditional", `must be a boolean (got ${typeof params.traditional})`);
  if (params.scaling !== undefined) checkScaling(params.scaling);
  const pipeline = enc.device.kernels.pipeline(kernels.rope, { traditional: params.traditional === true, dtype });
  const freqs = ropeFrequencies(rotaryDim, theta, params.scaling);
  const grid = [headDim / 2, tokens, 1] as const;
  enc.dispatchThreads(pipeline, [x, out, RopeArgs.write({ tokens, heads, head_dim: headDim, rotary_dim: rotaryDim, offset }), freqs], grid, groupFor(pipeline, grid), ROPE_ACCESS);
}
