/**
 * The random data synthetic models are made of, seeded per tensor name so that the same seed
 * always gives the same bytes.
 *
 * - `Random`: uniform floats (mulberry32), for float tensors and for weights that are then
 *   quantized in memory.
 * - `randomCodes` / `randomScales` / `randomBiases`: MLX affine-quantized tensors drawn directly,
 *   without float weights or a quantizer. Codes are uniform xorshift128 words (every code value
 *   equally likely); each group's scale is `std / sd(code)` with ±25 % jitter and its bias is
 *   `-mean(code) · scale`, so dequantized weights have mean about 0 and standard deviation about
 *   `std`. They are `TensorStream`s: made chunk by chunk as the file is written, so a model of
 *   many gigabytes never sits in memory, and fast enough (about a nanosecond per code word) to
 *   write an 8B-parameter model in seconds.
 *
 * @example
 * const codes = randomCodes(seed, "model.layers.0.mlp.up_proj.weight", [14336, 512]);
 * writeSafetensors(path, [["model.layers.0.mlp.up_proj.weight", codes]]);
 */
import type { DType } from "../dtype.ts";
import { encodeFloats } from "../io/floats.ts";
import { safetensorsDType, type TensorStream } from "../io/safetensors.ts";

/** Elements made per chunk of a streamed tensor (16 MiB of code words). */
const CHUNK_ELEMENTS = 1 << 22;

/** A 32-bit seed from a model seed and a tensor name (FNV-1a over the name). */
export function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Deterministic uniform floats in [-1, 1) (mulberry32), seeded per tensor. */
export class Random {
  #state: number;

  constructor(seed: number, name: string) {
    this.#state = tensorSeed(seed, name);
  }

  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 0x100000000) * 2 - 1;
  }

  /** n values center + spread * u, u uniform in [-1, 1). */
  fill(n: number, center: number, spread: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = center + spread * this.next();
    return out;
  }
}

/** Uniform 32-bit words (Marsaglia's xorshift128), seeded per tensor. */
class Words {
  #x: number;
  #y = 362436069;
  #z = 521288629;
  #w = 88675123;

  constructor(seed: number, name: string) {
    // A zero state would stay zero; the other three words never are.
    this.#x = tensorSeed(seed, name) | 1;
  }

  fill(out: Uint32Array): void {
    let x = this.#x;
    let y = this.#y;
    let z = this.#z;
    let w = this.#w;
    for (let i = 0; i < out.length; i++) {
      const t = x ^ (x << 11);
      x = y;
      y = z;
      z = w;
      w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
      out[i] = w;
    }
    this.#x = x;
    this.#y = y;
    this.#z = z;
    this.#w = w;
  }
}

/** The element count of a shape. */
function elementsOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** `n` elements made `CHUNK_ELEMENTS` at a time by `make(count)`. */
function* chunked(n: number, make: (count: number) => Uint8Array): Generator<Uint8Array> {
  for (let done = 0; done < n; done += CHUNK_ELEMENTS) yield make(Math.min(CHUNK_ELEMENTS, n - done));
}

/**
 * Uniform random packed codes: a U32 tensor of `shape` ([..., out, in · bits / 32]).
 *
 * @example
 * const codes = randomCodes(0, "lm_head.weight", [128256, 256]);
 */
export function randomCodes(seed: number, name: string, shape: readonly number[]): TensorStream {
  return {
    dtype: "U32",
    shape,
    *chunks() {
      const words = new Words(seed, name);
      const buffer = new Uint32Array(CHUNK_ELEMENTS);
      yield* chunked(elementsOf(shape), (count) => {
        const part = buffer.subarray(0, count);
        words.fill(part);
        return new Uint8Array(part.buffer, 0, count * 4);
      });
    },
  };
}

/** Per-group scales (or the matching biases, `-mean(code) · scale`) of a `bits`-bit module. */
function groupParams(seed: number, path: string, shape: readonly number[], dtype: DType, bits: number, std: number, biases: boolean): TensorStream {
  const levels = 2 ** bits;
  // A uniform code has mean (levels - 1) / 2 and variance (levels² - 1) / 12.
  const meanCode = (levels - 1) / 2;
  const baseScale = std / Math.sqrt((levels * levels - 1) / 12);
  const factor = biases ? -meanCode : 1;
  return {
    dtype: safetensorsDType(dtype),
    shape,
    *chunks() {
      // Both tensors draw the same jitter, from the scales' seed, so each bias matches its scale.
      const rng = new Random(seed, `${path}.scales`);
      const values = new Float32Array(CHUNK_ELEMENTS);
      yield* chunked(elementsOf(shape), (count) => {
        for (let i = 0; i < count; i++) values[i] = factor * baseScale * (1 + 0.25 * rng.next());
        return encodeFloats(values.subarray(0, count), dtype);
      });
    },
  };
}

/**
 * Scales of a module with random codes: [..., out, in / groupSize] of `dtype`.
 *
 * @example
 * const scales = randomScales(0, "lm_head", [128256, 32], DType.BF16, 4, 1 / Math.sqrt(2048));
 */
export function randomScales(seed: number, path: string, shape: readonly number[], dtype: DType, bits: number, std: number): TensorStream {
  return groupParams(seed, path, shape, dtype, bits, std, false);
}

/**
 * Biases matching `randomScales` of the same arguments, which center each group on 0.
 *
 * @example
 * const biases = randomBiases(0, "lm_head", [128256, 32], DType.BF16, 4, 1 / Math.sqrt(2048));
 */
export function randomBiases(seed: number, path: string, shape: readonly number[], dtype: DType, bits: number, std: number): TensorStream {
  return groupParams(seed, path, shape, dtype, bits, std, true);
}

/**
 * Floats `center + spread · u` (u uniform in [-1, 1), drawn by `Random(seed, name)`), streamed:
 * the same values `new Random(seed, name).fill(n, center, spread)` gives.
 *
 * @example
 * const norm = randomFloats(0, "model.norm", [4096], DType.BF16, 1, 0.2);
 */
export function randomFloats(seed: number, name: string, shape: readonly number[], dtype: DType, center: number, spread: number): TensorStream {
  return {
    dtype: safetensorsDType(dtype),
    shape,
    *chunks() {
      const rng = new Random(seed, name);
      yield* chunked(elementsOf(shape), (count) => encodeFloats(rng.fill(count, center, spread), dtype));
    },
  };
}
