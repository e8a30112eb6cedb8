/**
 * msl-cpu conformance: threadgroup memory (block scope and [[threadgroup(n)]]), threadgroup
 * barriers, and barrier misuse reported as a command-buffer error.
 */
import { describe, expect, test } from "bun:test";
import { randomFloats } from "../support/fixtures.ts";
import { reduceSource } from "./sources.ts";
import { commandBufferError, kernel, lineOf, run } from "./support.ts";
import { MSL_CPU_ONLY, testUnless } from "../support/backend.ts";


const scanSource = `
#include <metal_stdlib>
using namespace metal;
// Inclusive scan within each threadgroup (Hillis-Steele) in a [[threadgroup(0)]] buffer.
kernel void tg_scan(device float* out [[buffer(0)]],
                    device const float* in [[buffer(1)]],
                    threadgroup float* buf [[threadgroup(0)]],
                    uint gid [[thread_position_in_grid]],
                    uint tid [[thread_index_in_threadgroup]],
                    uint size [[threads_per_threadgroup]]) {
  buf[tid] = in[gid];
  for (uint off = 1; off < size; off *= 2) {
    threadgroup_barrier(mem_flags::mem_threadgroup);
    float add = tid >= off ? buf[tid - off] : 0.0f;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    buf[tid] += add;
  }
  out[gid] = buf[tid];
}
`;

const sharedSource = `
#include <metal_stdlib>
using namespace metal;
struct Pair { int a; int b; };
// Two block-scope variables (one in a helper template) and a [[threadgroup(1)]] buffer: each
// thread writes one slot of each, then reads its mirror image after a barrier.
template <typename T>
T mirror(T v, uint tid, uint n) {
  threadgroup T slots[64];
  slots[tid] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  return slots[n - 1 - tid];
}
kernel void tg_shared(device int* out [[buffer(0)]],
                      threadgroup int* dyn [[threadgroup(1)]],
                      uint tid [[thread_index_in_threadgroup]],
                      uint n [[threads_per_threadgroup]],
                      uint group [[threadgroup_position_in_grid]]) {
  threadgroup Pair pairs[64];
  threadgroup Pair* mine = &pairs[tid];  // a pointer to threadgroup memory: each thread's own
  mine->a = int(tid);
  mine->b = int(group);
  dyn[tid] = int(tid * 10);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  uint m = n - 1 - tid;
  int base = int((group * n + tid) * 4);
  out[base + 0] = pairs[m].a;
  out[base + 1] = pairs[m].b;
  out[base + 2] = dyn[m];
  out[base + 3] = mirror(int(tid) + 1000 * int(group), tid, n);
}
`;

describe("threadgroup memory and barriers", () => {
  for (const size of [32, 256, 1000]) {
    for (const threadgroups of [false, true]) {
      test(`simd_sum + threadgroup array + barrier: groups of ${size}, ${threadgroups ? "dispatchThreadgroups" : "dispatchThreads"}`, () => {
        const n = 50_000;
        const input = Float32Array.from(randomFloats(n, size));
        const groups = Math.ceil(n / size);
        const out = run("tg_reduce", reduceSource, {
          grid: threadgroups ? [groups, 1, 1] : [n, 1, 1],
          group: [size, 1, 1],
          threadgroups,
          out: new Float32Array(groups),
          inputs: [input, new Uint32Array([n])],
        });
        for (let g = 0; g < groups; g++) {
          let want = 0;
          for (let i = g * size; i < Math.min(n, (g + 1) * size); i++) want += input[i]!;
          expect(Math.abs(out[g]! - want)).toBeLessThan(1e-4 * size);
        }
      });
    }
  }

  test("a [[threadgroup(0)]] buffer shared across barriers in a loop, with a partial edge group", () => {
    const n = 250;
    const input = Float32Array.from({ length: n }, (_, i) => (i * 7) % 13);
    const out = run("tg_scan", scanSource, {
      grid: [n, 1, 1],
      group: [100, 1, 1],
      out: new Float32Array(n),
      inputs: [input],
      threadgroupMemory: [100 * 4],
    });
    const want = new Float32Array(n);
    for (let i = 0; i < n; i++) want[i] = (i % 100 === 0 ? 0 : want[i - 1]!) + input[i]!;
    expect([...out]).toEqual([...want]);
  });

  test("block-scope variables (in a kernel and in a helper template) and [[threadgroup(n)]] are per group", () => {
    const n = 64;
    const groups = 40;
    const out = run("tg_shared", sharedSource, {
      grid: [groups, 1, 1],
      group: [n, 1, 1],
      threadgroups: true,
      out: new Int32Array(groups * n * 4),
      threadgroupMemory: [0, n * 4],
    });
    for (let g = 0; g < groups; g++) {
      for (let t = 0; t < n; t++) {
        const m = n - 1 - t;
        const at = (g * n + t) * 4;
        expect([out[at], out[at + 1], out[at + 2], out[at + 3]]).toEqual([m, g, m * 10, m + 1000 * g]);
      }
    }
  });

  test("the pipeline reports its block-scope threadgroup storage as static threadgroup memory", () => {
    const p = kernel("tg_reduce", reduceSource).getPipeline("tg_reduce");
    expect(p.staticThreadgroupMemoryLength).toBe(32 * 4);
  });
});

const divergentReturn = `
#include <metal_stdlib>
using namespace metal;
kernel void early_return(device float* out [[buffer(0)]], uint tid [[thread_index_in_threadgroup]]) {
  if (tid >= 4) return;
  threadgroup_barrier(mem_flags::mem_device); // BARRIER
  out[tid] = 1.0f;
}
`;

const divergentSites = `
#include <metal_stdlib>
using namespace metal;
kernel void two_barriers(device float* out [[buffer(0)]], uint tid [[thread_index_in_threadgroup]]) {
  if (tid % 2 == 0) {
    threadgroup_barrier(mem_flags::mem_device); // EVEN
  } else {
    threadgroup_barrier(mem_flags::mem_device); // ODD
  }
  out[tid] = 1.0f;
}
`;

describe("barrier misuse fails the command buffer", () => {
  const mslCpuTest = testUnless(MSL_CPU_ONLY);
  mslCpuTest("threads that return before a barrier others wait at", () => {
    const msg = commandBufferError(() =>
      run("early_return", divergentReturn, { grid: [64, 1, 1], group: [64, 1, 1], out: new Float32Array(64) }),
    );
    expect(msg).toContain("early_return");
    expect(msg).toContain("divergent threadgroup_barrier");
    expect(msg).toContain(`registered:early_return:${lineOf(divergentReturn, "// BARRIER")}`);
  });

  mslCpuTest("threads waiting at different barriers", () => {
    const msg = commandBufferError(() =>
      run("two_barriers", divergentSites, { grid: [8, 1, 1], group: [8, 1, 1], out: new Float32Array(8) }),
    );
    expect(msg).toContain("two_barriers");
    expect(msg).toContain(`:${lineOf(divergentSites, "// EVEN")}`);
    expect(msg).toContain(`:${lineOf(divergentSites, "// ODD")}`);
  });

  test("the device keeps working after a faulted dispatch", () => {
    const out = run("tg_scan", scanSource, {
      grid: [4, 1, 1],
      group: [4, 1, 1],
      out: new Float32Array(4),
      inputs: [new Float32Array([1, 2, 3, 4])],
      threadgroupMemory: [16],
    });
    expect([...out]).toEqual([1, 3, 6, 10]);
  });
});
