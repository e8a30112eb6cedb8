/** KernelRegistry: catalog variants, one library per compile unit, pipeline cache keyed by constants. */
import { describe, expect, test } from "bun:test";
import { Device, DType, KernelNotFoundError, KernelRegistry, kernels, pipelineKey } from "../src/index.ts";
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
    const f32 = r.pipeline(kernels.elementwiseBinary, { op: "add", dtype: DType.F32 });
    expect(r.pipeline(kernels.elementwiseBinary, { op: "add", dtype: DType.F32 })).toBe(f32);
    // The same variant by its catalog name.
    expect(r.getPipeline(kernels.elementwiseBinary.name({ op: "add", dtype: DType.F32 }))).toBe(f32);
    r.pipeline(kernels.elementwiseBinary, { op: "add", dtype: DType.F16 });
    r.pipeline(kernels.elementwiseBinaryRow, { op: "mul", dtype: DType.BF16 });
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
    const name = kernels.elementwiseBinary.name({ op: "add", dtype: DType.F32 });
    const cached = r.getPipeline(name);
    const fresh = r.compilePipeline(name);
    expect(fresh).not.toBe(cached);
    r.releasePipeline(fresh);
    r.releasePipeline(fresh);
    r.releasePipeline(cached); // owned by the cache: left alone
    expect(r.getPipeline(name)).toBe(cached);
    r.dispose();
  });

  test("a variant the catalog does not build is a KernelNotFoundError naming it", () => {
    const r = new KernelRegistry(device);
    expect(() => r.pipeline(kernels.qmv, { x: DType.F32, scales: DType.F32, bits: 7 })).toThrow(KernelNotFoundError);
    expect(() => r.pipeline(kernels.elementwiseScalar, { dtype: DType.U32 })).toThrow(/elementwise for dtype=u32/);
    expect(r.libraryCount).toBe(0);
    r.dispose();
  });

  test("device.kernels is made on first use and disposed with its device", () => {
    const d = Device.open();
    const reg = d.kernels;
    expect(d.kernels).toBe(reg);
    reg.pipeline(kernels.elementwiseScalar, { dtype: DType.F32 });
    d.dispose();
    expect(() => reg.pipeline(kernels.elementwiseScalar, { dtype: DType.F16 })).toThrow(/dispose/);
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
