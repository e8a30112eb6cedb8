/** elementwiseAdd against a float64 reference, for every float dtype, on sizes that leave partial threadgroups. */
import { describe, expect, test } from "bun:test";
import { DType, FLOATS, ops } from "../src/index.ts";
import { download, fixture, floatBuffer, maxAbsDiff, randomFloats, roundTo } from "./support/fixtures.ts";

// The kernel adds in f32 and rounds once to the output type, so the error is at most half an ulp
// of the result in that type (plus f32 rounding of the sum, negligible at these magnitudes).
const tolerance = { f32: 1e-6, f16: 2 ** -11 * 4, bf16: 2 ** -8 * 4 } as const;

describe("elementwiseAdd", () => {
  const { device } = fixture();
  for (const dtype of FLOATS) {
    for (const n of [1, 255, 257, 1000, 4099]) {
      test(`${dtype.name} n=${n}`, () => {
        const x = randomFloats(n, n, -2, 2).map((v) => roundTo(dtype, v));
        const y = randomFloats(n, n + 7, -2, 2).map((v) => roundTo(dtype, v));
        const a = floatBuffer(device, dtype, n, x);
        const b = floatBuffer(device, dtype, n, y);
        const out = floatBuffer(device, dtype, n, new Array(n + 1).fill(123), 1);
        const enc = device.commandEncoder();
        ops.elementwiseAdd(enc, a, b, out);
        enc.commitAndWait();
        const expected = x.map((v, i) => v + y[i]!);
        const got = download(out, n + 1);
        expect(maxAbsDiff(got.subarray(0, n), expected)).toBeLessThanOrEqual(tolerance[dtype.name as keyof typeof tolerance]);
        expect(got[n]).toBe(123); // nothing written past n
        for (const buf of [a, b, out]) buf.dispose();
      });
    }
  }

  test("offset views bind at their offset", () => {
    const n = 6;
    const base = floatBuffer(device, DType.F32, 16, Array.from({ length: 16 }, (_, i) => i));
    const lo = base.slice(0, n * 4);
    const hi = base.slice(8 * 4, n * 4);
    const out = floatBuffer(device, DType.F32, n);
    const enc = device.commandEncoder();
    ops.elementwiseAdd(enc, lo, hi, out);
    enc.commitAndWait();
    expect([...download(out, n)]).toEqual([8, 10, 12, 14, 16, 18]);
  });
});
