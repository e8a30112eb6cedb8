/**
 * Logit processing (penalties, biases, min-p) and the chosen token's log-probability against a
 * float64 reference written from the semantics in src/ops/logits.ts, per float dtype.
 */
import { describe, expect, test } from "bun:test";
import { ArgumentError, DType, ops, type Buffer } from "../../src/index.ts";
import { download, fixture, floatBuffer, randomFloats, roundTo } from "../support/fixtures.ts";

const { device } = fixture();
const COLS = 300;

function u32(values: readonly number[]): Buffer {
  const b = device.allocBuffer(4 * Math.max(values.length, 1), DType.U32, [Math.max(values.length, 1)]);
  b.view(Uint32Array).set(values);
  return b;
}

function f32(values: readonly number[]): Buffer {
  const b = device.allocBuffer(4 * Math.max(values.length, 1), DType.F32, [Math.max(values.length, 1)]);
  b.view(Float32Array).set(values);
  return b;
}

/** The semantics of processLogits in float64. */
function reference(x: readonly number[], history: readonly [number, number][], biases: readonly [number, number][], p: { repetition: number; presence: number; frequency: number; minP: number; temperature: number }): number[] {
  const y = [...x];
  for (const [t, c] of history) {
    let v = y[t]!;
    if (p.repetition !== 1) v = v > 0 ? v / p.repetition : v * p.repetition;
    y[t] = v - p.presence - p.frequency * c;
  }
  for (const [t, b] of biases) y[t] = y[t]! + b;
  if (p.minP > 0) {
    const floor = Math.max(...y) + p.temperature * Math.log(p.minP);
    for (let i = 0; i < y.length; i++) if (y[i]! < floor) y[i] = -Infinity;
  }
  return y;
}

describe("processLogits", () => {
  for (const dtype of [DType.F32, DType.F16, DType.BF16]) {
    test(`penalties, biases and min-p (${dtype.name})`, () => {
      const x = [...randomFloats(COLS, 7, -4, 4)].map((v) => roundTo(dtype, v));
      const history: [number, number][] = [[3, 1], [17, 4], [250, 2], [299, 1]];
      const biases: [number, number][] = [[17, 0.5], [42, 6], [100, -100]];
      const p = { repetition: 1.3, presence: 0.25, frequency: 0.125, minP: 0.05, temperature: 0.8 };
      using xb = floatBuffer(device, dtype, COLS, x);
      using ht = u32(history.map((h) => h[0]));
      using hc = u32(history.map((h) => h[1]));
      using bt = u32(biases.map((b) => b[0]));
      using bv = f32(biases.map((b) => b[1]));
      const enc = device.commandEncoder();
      ops.processLogits(enc, xb, { historyTokens: ht, historyCounts: hc, biasTokens: bt, biasValues: bv }, {
        history: history.length,
        biases: biases.length,
        repetitionPenalty: p.repetition,
        presencePenalty: p.presence,
        frequencyPenalty: p.frequency,
        minP: p.minP,
        temperature: p.temperature,
      });
      enc.commitAndWait();
      enc.dispose();
      const got = [...download(xb, COLS)];
      // The kernel rounds each step to the dtype; compare against the reference of the kept set
      // with a tolerance of a few units in the last place of the values involved.
      const want = reference(x, history, biases, p);
      const tolerance = dtype === DType.F32 ? 1e-5 : dtype === DType.F16 ? 2e-2 : 1.6e-1;
      let kept = 0;
      for (let i = 0; i < COLS; i++) {
        if (want[i] === -Infinity) {
          // Values near the min-p floor may fall either side after rounding.
          if (got[i] !== -Infinity) expect(Math.abs(got[i]! - (Math.max(...want) + p.temperature * Math.log(p.minP)))).toBeLessThan(tolerance * 8);
          continue;
        }
        kept++;
        expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(want[i]!)));
      }
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThan(COLS);
    });
  }

  test("no lists and no min-p leave the logits as they were", () => {
    const x = [...randomFloats(COLS, 3)].map((v) => Math.fround(v));
    using xb = floatBuffer(device, DType.F32, COLS, x);
    using none = u32([]);
    using noneF = f32([]);
    const enc = device.commandEncoder();
    ops.processLogits(enc, xb, { historyTokens: none, historyCounts: none, biasTokens: none, biasValues: noneF });
    enc.commitAndWait();
    enc.dispose();
    expect([...download(xb, COLS)]).toEqual(x);
  });

  test("bad input is an ArgumentError naming it", () => {
    using xb = floatBuffer(device, DType.F32, COLS);
    using ids = u32([COLS]);
    using vals = f32([1]);
    const lists = { historyTokens: ids, historyCounts: ids, biasTokens: ids, biasValues: vals };
    const enc = device.commandEncoder();
    try {
      expect(() => ops.processLogits(enc, xb, lists, { biases: 1 })).toThrow("lists.biasTokens[0]");
      expect(() => ops.processLogits(enc, xb, lists, { minP: 1 })).toThrow(ArgumentError);
      expect(() => ops.processLogits(enc, xb, lists, { repetitionPenalty: 0 })).toThrow("params.repetitionPenalty");
    } finally {
      enc.dispose();
    }
  });
});

describe("logprobChosen", () => {
  for (const dtype of [DType.F32, DType.F16]) {
    test(`logsumexp and the chosen token's log-probability (${dtype.name})`, () => {
      const x = [...randomFloats(COLS, 11, -6, 6)].map((v) => roundTo(dtype, v));
      using xb = floatBuffer(device, dtype, COLS, x);
      using token = u32([123]);
      using out = f32([0, 0]);
      const enc = device.commandEncoder();
      ops.logprobChosen(enc, xb, token, out);
      enc.commitAndWait();
      enc.dispose();
      const m = Math.max(...x);
      const lse = m + Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0));
      const [gotLse, gotChosen] = out.view(Float32Array);
      expect(Math.abs(gotLse! - lse)).toBeLessThan(1e-4);
      expect(Math.abs(gotChosen! - (x[123]! - lse))).toBeLessThan(1e-4);
    });
  }
});
