/** MLX affine quantization (src/quant.ts) and float encodings (src/io/floats.ts), checked by hand. */
import { describe, expect, test } from "bun:test";
import { DType, FLOATS } from "../../src/index.ts";
import { decodeFloats, encodeFloats, roundToDType } from "../../src/io/floats.ts";
import { code, dequantize, MLX_BITS, MLX_GROUP_SIZES, pack, quantize } from "../../src/quant.ts";
import { randomFloats } from "../support/fixtures.ts";

describe("packing", () => {
  test("3-bit codes form one little-endian bit stream across words", () => {
    const codes = Array.from({ length: 32 }, (_, i) => i % 8);
    const words = pack(codes, 1, 32, 3);
    expect(words.length).toBe(3);
    let stream = 0n;
    codes.forEach((c, i) => (stream |= BigInt(c) << BigInt(3 * i)));
    expect([...words]).toEqual([0, 1, 2].map((w) => Number((stream >> BigInt(32 * w)) & 0xffffffffn)));
    // Code 10 straddles words 0 and 1: bits 30..32.
    const q = { rows: 1, cols: 32, bits: 3, groupSize: 32, packed: words, scales: new Float64Array(1), biases: new Float64Array(1), scaleDType: DType.F32 };
    expect(Array.from({ length: 32 }, (_, i) => code(q, 0, i))).toEqual(codes);
  });
});

describe("quantize / dequantize", () => {
  // Half a step inside the range; refining the scale so that the edge is exact can shorten the
  // range by less than one step at the far end, where values clip: error < scale * (n + 1) / n.
  test("every bit width and group size: error bounded by the step", () => {
    const rows = 3;
    const cols = 256;
    const w = randomFloats(rows * cols, 7, -2, 2);
    for (const bits of MLX_BITS) {
      for (const groupSize of MLX_GROUP_SIZES) {
        const q = quantize(w, rows, cols, bits, groupSize);
        expect(q.packed.length).toBe((rows * cols * bits) / 32);
        const back = dequantize(q);
        for (let i = 0; i < w.length; i++) {
          const scale = Math.abs(q.scales[Math.floor(i / groupSize)]!);
          const n = 2 ** bits - 1;
          expect(Math.abs(back[i]! - w[i]!)).toBeLessThanOrEqual((scale * (n + 1)) / n + 1e-6);
        }
      }
    }
  });

  test("the larger-magnitude endpoint is exact; the scale is negative when it is the maximum", () => {
    const group = Float64Array.from({ length: 32 }, (_, i) => i / 31); // 0..1: max is the edge
    const q = quantize(group, 1, 32, 4, 32);
    expect(q.scales[0]).toBeLessThan(0);
    expect(q.biases[0]).toBe(1);
    const back = dequantize(q);
    expect(back.reduce((m, v) => Math.max(m, v), -Infinity)).toBe(1);
    const neg = quantize(group.map((v) => -v), 1, 32, 4, 32);
    expect(neg.scales[0]).toBeGreaterThan(0);
    expect(neg.biases[0]).toBe(-1);
  });

  test("scales and biases are rounded to their storage dtype", () => {
    const q = quantize(randomFloats(64, 3), 1, 64, 4, 32, DType.BF16);
    for (const s of q.scales) expect(roundToDType(DType.BF16, s)).toBe(s);
    expect(() => quantize(new Float64Array(48), 1, 48, 4, 32)).toThrow(/multiple of groupSize/);
  });
});

describe("float encodings", () => {
  test("f32, f16, bf16 round trip, decoded from unaligned bytes", () => {
    const values = [0, 1, -2.5, 0.1, 65504, 1e-3];
    for (const dtype of FLOATS) {
      const bytes = encodeFloats(values, dtype);
      expect(bytes.byteLength).toBe(values.length * dtype.size);
      const shifted = new Uint8Array(bytes.byteLength + 1);
      shifted.set(bytes, 1);
      expect([...decodeFloats(shifted.subarray(1), dtype)]).toEqual(values.map((v) => roundToDType(dtype, v)));
    }
    expect([...encodeFloats([1, -2], DType.BF16)]).toEqual([0x80, 0x3f, 0x00, 0xc0]);
    expect(() => decodeFloats(new Uint8Array(3), DType.F16)).toThrow(/not a whole number/);
    expect(() => encodeFloats([1], DType.U32)).toThrow(/must be f32, f16 or bf16/);
  });
});
