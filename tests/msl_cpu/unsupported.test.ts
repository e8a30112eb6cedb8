/**
 * msl-cpu refuses MSL outside the portable subset at compile time, with a message that says so,
 * rather than running a kernel with wrong results.
 */
import { describe, expect, test } from "bun:test";
import { CompileError } from "../../src/index.ts";
import { kernel } from "./support.ts";
import { MSL_CPU_ONLY, NO_RUNTIME_COMPILER, testUnless } from "../support/backend.ts";

const header = "#include <metal_stdlib>\nusing namespace metal;\n";

const cases: [string, string, string][] = [
  ["a texture parameter", "kernel void k(texture2d<float, access::read> t [[texture(0)]], device float* o [[buffer(0)]]) { o[0] = 0; }", "[[texture]] is not supported"],
  ["a texture type", "inline float f(texture2d<float> t) { return 0; }\nkernel void k(device float* o [[buffer(0)]]) { texture2d<float>* t = nullptr; o[0] = f(*t); }", "textures are outside the portable subset"],
  ["[[stage_in]]", "struct In { float x; };\nkernel void k(In in [[stage_in]], device float* o [[buffer(0)]]) { o[0] = in.x; }", "[[stage_in]] is not supported"],
  ["double", "kernel void k(device float* o [[buffer(0)]]) { double d = 1.0; o[0] = float(d); }", "Metal_has_no_double_type"],
  ["a vertex function", "vertex float4 v(uint id [[vertex_id]]) { return float4(0); }\nkernel void k(device float* o [[buffer(0)]]) { o[0] = 0; }", "vertex functions are outside the portable subset"],
  ["simd_shuffle_and_fill_down", "kernel void k(device float* o [[buffer(0)]], uint i [[thread_position_in_grid]]) { o[i] = simd_shuffle_and_fill_down(o[i], 0.0f, ushort(1)); }", "simd_shuffle_and_fill_down is not implemented"],
  ["a parameter without an attribute", "kernel void k(device float* o) { o[0] = 0; }", "has no attribute"],
  ["private arrays larger than a kernel thread's stack", "kernel void k(device float* o [[buffer(0)]], uint i [[thread_position_in_grid]]) { float big[20000]; for (uint k = 0; k < 20000; ++k) big[k] = o[k]; o[i] = big[i * 7 % 20000]; }", "exceeds limit"],
  ["a threadgroup variable with an initializer", "kernel void k(device float* o [[buffer(0)]]) { threadgroup float t = 1.0f; o[0] = t; }", "cannot have an initializer"],
];

describe("features outside the subset fail to compile with a clear message", () => {
  cases.forEach(([what, body, message], i) => {
    // The pre-pass refuses some features itself; the others are the compiler's errors (the
    // prelude's declarations), and the stack limit is msl-cpu's.
    const reason = /exceeds limit/.test(message) ? MSL_CPU_ONLY : /subset|double|not implemented/.test(message) ? NO_RUNTIME_COMPILER : "";
    testUnless(reason)(what, () => {
      const name = `unsupported_${i}`;
      let error: unknown;
      try {
        kernel(name, header + body.replace("void k(", `void ${name}(`)).getPipeline(name);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CompileError);
      expect((error as Error).message).toContain(message);
    });
  });
});
