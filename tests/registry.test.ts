/** KernelRegistry: derived names, one library per family, pipeline cache keyed by constants. */
import { describe, expect, test } from "bun:test";
import { DType, KernelRegistry, pipelineKey } from "../src/index.ts";
import { download, fixture, floatBuffer } from "./support/fixtures.ts";

const constantsKernel = `
#include <metal_stdlib>
using namespace metal;
constant bool add_one [[function_constant(0)]];
constant int scale [[function_constant(1)]];
kernel void fc_kernel(device float* out [[buffer(0)]], uint i [[thread_position_in_grid]]) {
  float v = float(i) * float(scale);
  if (add_one) v += 1.0f;
  out[i] = v;
}
`;

describe("KernelRegistry", () => {
  const { device } = fixture();

  test("pipeline keys list bools then ints in caller order", () => {
    expect(pipelineKey("k")).toBe("k");
    expect(pipelineKey("k", { bools: [[300, true], [301, false]], ints: [[100, 7]] })).toBe("k|300:b1|301:b0|100:i7");
  });

  test("every dtype of a family comes from one compiled library, and pipelines are cached", () => {
    const r = new KernelRegistry(device);
    const f32 = r.getPipeline("elementwise_add_f32");
    expect(r.getPipeline("elementwise_add_f32")).toBe(f32);
    r.getPipeline("elementwise_add_f16");
    r.getPipeline("elementwise_add_bf16");
    expect(r.libraryCount).toBe(1);
    expect(r.cachedCount).toBe(3);
    expect(f32.threadExecutionWidth).toBe(32);
    expect(f32.maxTotalThreadsPerThreadgroup).toBeGreaterThan(0);
    r.dispose();
  });

  test("function constants specialise distinct cached pipelines", () => {
    const r = new KernelRegistry(device);
    r.registerSource("fc_kernel", constantsKernel);
    const results: number[][] = [];
    for (const [addOne, scale] of [[false, 2], [true, 2], [true, 3]] as const) {
      const p = r.getPipeline("fc_kernel", { bools: [[0, addOne]], ints: [[1, scale]] });
      expect(p.key).toBe(`fc_kernel|0:b${addOne ? 1 : 0}|1:i${scale}`);
      const out = floatBuffer(device, DType.F32, 4);
      const enc = device.commandEncoder();
      enc.dispatchThreads(p, [out], [4, 1, 1], [4, 1, 1]);
      enc.commitAndWait();
      results.push([...download(out, 4)]);
    }
    expect(results).toEqual([
      [0, 2, 4, 6],
      [1, 3, 5, 7],
      [1, 4, 7, 10],
    ]);
    expect(r.isCached("fc_kernel", { bools: [[0, true]], ints: [[1, 3]] })).toBe(true);
    expect(r.cachedCount).toBe(3);
    r.dispose();
  });

  test("compilePipeline gives a fresh pipeline; releasing it twice, or a cached one, is safe", () => {
    const r = new KernelRegistry(device);
    const cached = r.getPipeline("elementwise_add_f32");
    const fresh = r.compilePipeline("elementwise_add_f32");
    expect(fresh).not.toBe(cached);
    r.releasePipeline(fresh);
    r.releasePipeline(fresh);
    r.releasePipeline(cached); // owned by the cache: left alone
    expect(r.getPipeline("elementwise_add_f32")).toBe(cached);
    r.dispose();
  });

  test("registerSource replaces a kernel and drops its cached pipelines", () => {
    const r = new KernelRegistry(device);
    const src = (v: number) => `#include <metal_stdlib>\nusing namespace metal;\nkernel void swap_me(device float* out [[buffer(0)]], uint i [[thread_position_in_grid]]) { out[i] = ${v}.0f; }\n`;
    const run = () => {
      const out = floatBuffer(device, DType.F32, 2);
      const enc = device.commandEncoder();
      enc.dispatchThreads(r.getPipeline("swap_me"), [out], [2, 1, 1], [2, 1, 1]);
      enc.commitAndWait();
      return [...download(out, 2)];
    };
    r.registerSource("swap_me", src(1));
    expect(run()).toEqual([1, 1]);
    r.registerSource("swap_me", src(2));
    expect(run()).toEqual([2, 2]);
    r.dispose();
  });
});
