/**
 * msl-cpu conformance: function constants (bool, int, uint, float, is_function_constant_defined,
 * constants derived from them, optional buffer parameters) specialised per pipeline.
 */
import { describe, expect, test } from "bun:test";
import { kernel, run } from "./support.ts";

const source = `
#include <metal_stdlib>
using namespace metal;
constant bool use_bias [[function_constant(0)]];
constant int scale [[function_constant(1)]];
constant uint repeats [[function_constant(2)]];
constant float offset [[function_constant(3)]];
constant bool has_offset = is_function_constant_defined(offset);
constant int scale_or_one = is_function_constant_defined(scale) ? scale : 1;
kernel void fc_ops(device float* out [[buffer(0)]], uint i [[thread_position_in_grid]]) {
  float v = float(i) * float(scale_or_one);
  if (use_bias) v += 100.0f;
  if (has_offset) v += offset;
  for (uint k = 0; k < repeats; ++k) v += 0.5f;  // a uint constant as a loop bound
  out[i] = v;
}
`;

const optionalSource = `
#include <metal_stdlib>
using namespace metal;
constant bool has_bias [[function_constant(0)]];
kernel void fc_optional(device float* out [[buffer(0)]],
                        device const float* bias [[buffer(1), function_constant(has_bias)]],
                        uint i [[thread_position_in_grid]]) {
  out[i] = float(i) + (has_bias ? bias[i] : 0.0f);
}
`;

describe("function constants", () => {
  test("a buffer parameter with [[function_constant(c)]] is bound only when c is true", () => {
    const bias = new Float32Array([10, 20, 30, 40]);
    const without = run("fc_optional", optionalSource, { grid: [4, 1, 1], group: [4, 1, 1], out: new Float32Array(4), constants: { bools: [[0, false]] } });
    expect([...without]).toEqual([0, 1, 2, 3]);
    const withBias = run("fc_optional", optionalSource, { grid: [4, 1, 1], group: [4, 1, 1], out: new Float32Array(4), inputs: [bias], constants: { bools: [[0, true]] } });
    expect([...withBias]).toEqual([10, 21, 32, 43]);
  });

  test("each specialisation is its own pipeline with its own values", () => {
    const cases = [
      { c: { bools: [[0, true]], ints: [[1, -3]], uints: [[2, 4]], floats: [[3, 0.25]] }, f: (i: number) => i * -3 + 100 + 0.25 + 2 },
      { c: { bools: [[0, false]], uints: [[2, 0]] }, f: (i: number) => i },
      { c: { bools: [[0, true]], ints: [[1, 7]], uints: [[2, 1]] }, f: (i: number) => i * 7 + 100 + 0.5 },
    ] as const;
    const registry = kernel("fc_ops", source);
    const pipelines = new Set<unknown>();
    for (const { c, f } of cases) {
      pipelines.add(registry.getPipeline("fc_ops", c));
      const out = run("fc_ops", source, { grid: [16, 1, 1], group: [16, 1, 1], out: new Float32Array(16), constants: c });
      expect([...out]).toEqual(Array.from({ length: 16 }, (_, i) => Math.fround(f(i))));
    }
    expect(pipelines.size).toBe(3);
  });
});
