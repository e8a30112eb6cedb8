/**
 * The TypeScript block quantizers and exact dequantizers (tests/support/ggml_quants.ts) that the
 * GGUF kernel and model tests rest on: block sizes, hand-checked blocks, round-trip error bounds
 * and the ordering of the formats' accuracy.
 */
import { expect, test } from "bun:test";
import { GGML_TYPES, type GgmlTypeName } from "../../src/ggml_types.ts";
import { randomFloats } from "../support/fixtures.ts";
import { dequantizeRows, quantizeRows, roundTripBound } from "../support/ggml_quants.ts";

const TYPES = Object.keys(GGML_TYPES) as GgmlTypeName[];

test("every type: row bytes as ggml defines them, round trip within its bound", () => {
  const rows = 3;
  const cols = 512;
  const values = randomFloats(rows * cols, 5, -2, 2);
  for (const type of TYPES) {
    const t = GGML_TYPES[type];
    const bytes = quantizeRows(type, values, rows, cols);
    expect(bytes.byteLength).toBe((rows * cols * t.blockBytes) / t.blockElements);
    const back = dequantizeRows(type, bytes, rows, cols);
    let worst = 0;
    for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(back[i]! - values[i]!));
    expect(worst).toBeLessThanOrEqual(roundTripBound(type, 2));
  }
});

test("more bits, less error: Q2_K > Q3_K > Q4_K > Q5_K > Q6_K > Q8_0, and Q4_0 > Q5_0", () => {
  const values = randomFloats(8 * 256, 9, -1, 1);
  const rms = (type: GgmlTypeName) => {
    const back = dequantizeRows(type, quantizeRows(type, values, 8, 256), 8, 256);
    return Math.sqrt(back.reduce((a, v, i) => a + (v - values[i]!) ** 2, 0) / values.length);
  };
  const order = (["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0"] as const).map(rms);
  for (let i = 1; i < order.length; i++) expect(order[i]!).toBeLessThan(order[i - 1]!);
  expect(rms("Q5_0")).toBeLessThan(rms("Q4_0"));
  expect(rms("Q5_1")).toBeLessThan(rms("Q4_1"));
});

test("hand-checked blocks: Q4_0, Q8_0, Q4_1 layouts", () => {
  // Q4_0: the value of largest magnitude is -4, so d = -4 / -8 = 0.5 and x = (q - 8) * 0.5 is exact
  // for multiples of 0.5 in [-4, 3.5]; element j is the low nibble of byte 2 + j, j + 16 the high.
  const x = Array.from({ length: 32 }, (_, j) => ((j % 16) - 8) * 0.5);
  const q40 = quantizeRows("Q4_0", x, 1, 32);
  expect(new DataView(q40.buffer).getFloat16(0, true)).toBe(0.5);
  expect(q40[2]).toBe(0x00); // elements 0 and 16: q = 0
  expect(q40[2 + 15]).toBe(0xff); // elements 15 and 31: q = 15
  expect([...dequantizeRows("Q4_0", q40, 1, 32)]).toEqual(x);
  // Q8_0: d = max |x| / 127.
  const y = Array.from({ length: 32 }, (_, j) => j - 16);
  const q80 = quantizeRows("Q8_0", y, 1, 32);
  const d = new DataView(q80.buffer).getFloat16(0, true);
  expect(d).toBeCloseTo(16 / 127, 3);
  expect(new Int8Array(q80.buffer, 2, 32)[0]).toBe(-127);
  // Q4_1: min and (max - min) / 15 as d and m.
  const z = Array.from({ length: 32 }, (_, j) => 1 + (j % 16));
  const q41 = quantizeRows("Q4_1", z, 1, 32);
  expect([new DataView(q41.buffer).getFloat16(0, true), new DataView(q41.buffer).getFloat16(2, true)]).toEqual([1, 1]);
  expect([...dequantizeRows("Q4_1", q41, 1, 32)]).toEqual(z);
});

test("all-zero blocks stay zero in every format", () => {
  for (const type of TYPES) {
    const back = dequantizeRows(type, quantizeRows(type, new Float64Array(256), 1, 256), 1, 256);
    expect(back.every((v) => v === 0)).toBe(true);
  }
});
