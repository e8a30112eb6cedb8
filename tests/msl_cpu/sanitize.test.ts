/**
 * msl-cpu sanitize builds (MLXN_MSL_CPU_SANITIZE=1, here a device opened with the option):
 * out-of-bounds accesses through device, constant and threadgroup pointers fail the command
 * buffer with the binding and the .metal line, never a crash; in-bounds kernels give the same
 * results as a normal build (the whole suite also passes with MLXN_MSL_CPU_SANITIZE=1).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { CommandBufferError, Device, DType, KernelRegistry, withConfig } from "../../src/index.ts";
import { lineOf } from "./support.ts";
import { MSL_CPU_ONLY, testUnless } from "../support/backend.ts";

const device = withConfig({ mslCpuSanitize: true }, () => Device.open());
const registry = new KernelRegistry(device);
afterAll(() => {
  registry.dispose();
  device.dispose();
});

const source = `
#include <metal_stdlib>
using namespace metal;
struct Params { uint n; uint mode; };
float load_at(device const float* p, uint i) {
  return p[i];                                   // HELPER
}
kernel void sanitized(device float* out [[buffer(0)]],
                      device const float* in [[buffer(1)]],
                      constant Params& params [[buffer(2)]],
                      threadgroup float* scratch [[threadgroup(0)]],
                      uint gid [[thread_position_in_grid]],
                      uint tid [[thread_index_in_threadgroup]]) {
  const uint n = params.n;
  threadgroup float local[64];
  local[tid] = 2.0f;
  scratch[tid] = 1.0f;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  float v = in[gid] + scratch[tid];
  if (params.mode == 1 && gid == 5) v += in[n];                              // INDEX
  if (params.mode == 2 && gid == 5) { device const float* q = in + n + 3; v += *q; }  // MOVED
  if (params.mode == 3 && gid == 5) v += load_at(in, n * 2);
  if (params.mode == 4 && gid == 5) v += ((device const float4*)in)[n / 4].x;  // CAST
  if (params.mode == 5 && gid == 5) v += reinterpret_cast<device const float2*>(in)[n].y;  // REINTERPRET
  if (params.mode == 6 && tid == 3) v += scratch[64];                        // THREADGROUP
  if (params.mode == 7 && gid == 5) out[n + 1] = 0.0f;                       // WRITE
  if (params.mode == 8 && tid == 3) v += local[tid + 64];                    // ARRAY
  if (params.mode == 9 && gid == 5) v += in[gid + &in[n] - &in[gid] + 1];    // ADDRESS
  out[gid] = v;
}
`;

function run(mode: number, options: { n?: number; paramsBytes?: number; offset?: number } = {}): Float32Array {
  const n = options.n ?? 64;
  if (!(registry as unknown as { sanitizedRegistered?: boolean }).sanitizedRegistered) {
    registry.registerSource("sanitized", source);
    (registry as unknown as { sanitizedRegistered?: boolean }).sanitizedRegistered = true;
  }
  const pipeline = registry.getPipeline("sanitized");
  const offset = options.offset ?? 0;
  const input = device.allocBuffer((n + offset) * 4, DType.F32, [n + offset]);
  input.view(Float32Array).set(Array.from({ length: n + offset }, (_, i) => i));
  const out = device.allocBuffer(n * 4, DType.F32, [n]);
  const params = new Uint32Array([n, mode]).subarray(0, (options.paramsBytes ?? 8) / 4);
  try {
    const enc = device.commandEncoder();
    enc.dispatchThreads(pipeline, [out, { buffer: input, offset: offset * 4 }, params], [n, 1, 1], [64, 1, 1], { threadgroupMemory: [64 * 4] });
    enc.commitAndWait();
    return Float32Array.from(out.view(Float32Array));
  } finally {
    input.dispose();
    out.dispose();
  }
}

function failure(mode: number, options?: Parameters<typeof run>[1]): string {
  try {
    run(mode, options);
  } catch (e) {
    if (e instanceof CommandBufferError) return e.message;
    throw e;
  }
  throw new Error(`mode ${mode}: expected an out-of-bounds failure`);
}

describe("sanitize builds", () => {
  const test = testUnless(MSL_CPU_ONLY);
  test("in-bounds accesses give the normal results, also for a binding at an offset", () => {
    expect([...run(0)]).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
    expect([...run(0, { offset: 8 })]).toEqual(Array.from({ length: 64 }, (_, i) => i + 9));
  });

  const at = (marker: string) => `registered:sanitized:${lineOf(source, marker)}`;
  for (const [mode, marker, binding, what] of [
    [1, "// INDEX", "[[buffer(1)]]", "an index one past the end"],
    [2, "// MOVED", "[[buffer(1)]]", "a pointer moved past the end, then dereferenced"],
    [3, "// HELPER", "[[buffer(1)]]", "an index in a helper function"],
    [4, "// CAST", "[[buffer(1)]]", "a C-style cast to a wider type"],
    [5, "// REINTERPRET", "[[buffer(1)]]", "reinterpret_cast"],
    [6, "// THREADGROUP", "[[threadgroup(0)]]", "a [[threadgroup(n)]] buffer"],
    [7, "// WRITE", "[[buffer(0)]]", "a write"],
    [8, "// ARRAY", "threadgroup array 'local'", "a block-scope threadgroup array"],
    [9, "// ADDRESS", "[[buffer(1)]]", "an index computed from addresses of elements"],
  ] as const) {
    test(`out of bounds: ${what} fails the command buffer with the line`, () => {
      const msg = failure(mode);
      expect(msg).toContain("sanitized");
      expect(msg).toContain("out-of-bounds");
      expect(msg).toContain(binding);
      expect(msg).toContain(at(marker));
    });
  }

  test("a binding at an offset is checked from its offset", () => {
    expect(failure(1, { offset: 8 })).toContain(at("// INDEX"));
  });

  test("a constant& argument larger than its binding", () => {
    const msg = failure(0, { paramsBytes: 4 });
    expect(msg).toContain("[[buffer(2)]]");
    expect(msg).toContain("holds 4 bytes");
  });

  test("the device keeps working after a fault", () => {
    expect(run(0)[3]).toBe(4);
  });
});
