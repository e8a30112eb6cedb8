/**
 * Dispatch semantics a real GPU exercises and a CPU backend only emulates: grids of more than
 * 65 535 threadgroups in any dimension (CUDA's y and z grid limit), Metal's non-uniform edge
 * threadgroups (their real size, thread indices and SIMD lanes, with barriers and SIMD-group
 * reductions inside them), and dispatches that are ordered only by memory barriers. Runs on every
 * backend: the expectations are Metal's.
 */
import { expect, test } from "bun:test";
import { DType } from "../src/index.ts";
import { fixture } from "./support/fixtures.ts";

const { device, registry } = fixture();
const TIMEOUT = 180_000;

const source = `
#include <metal_stdlib>
using namespace metal;

kernel void gpu_group_ids(device uint* seen [[buffer(0)]],
                          uint3 tg [[threadgroup_position_in_grid]],
                          uint3 groups [[threadgroups_per_grid]],
                          uint t [[thread_index_in_threadgroup]]) {
  uint g = tg.x + groups.x * (tg.y + groups.y * tg.z);
  if (t == 0) seen[g] += g + 1;
}

kernel void gpu_edge_groups(device uint4* out [[buffer(0)]],
                            constant uint4& grid [[buffer(1)]],
                            uint3 pos [[thread_position_in_grid]],
                            uint3 size [[threads_per_threadgroup]],
                            uint idx [[thread_index_in_threadgroup]],
                            uint lane [[thread_index_in_simdgroup]],
                            uint sg [[simdgroup_index_in_threadgroup]]) {
  threadgroup uint per_simdgroup[32];
  uint active = simd_sum(1u);
  if (lane == 0) per_simdgroup[sg] = active;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  uint count = 0;
  for (uint i = 0; i < (size.x * size.y * size.z + 31) / 32; i++) count += per_simdgroup[i];
  out[pos.x + grid.x * (pos.y + grid.y * pos.z)] = uint4(size.x | size.y << 8 | size.z << 16, idx, lane | active << 8, count);
}

kernel void gpu_add_one(device uint* x [[buffer(0)]], uint i [[thread_position_in_grid]]) {
  x[i] += 1u;
}
`;

for (const name of ["gpu_group_ids", "gpu_edge_groups", "gpu_add_one"]) registry.registerSource(name, source);

test("a grid of more than 65 535 threadgroups in x, y or z runs every group once", () => {
  for (const groups of [[70_001, 1, 1], [3, 70_001, 1], [2, 2, 66_000]] as const) {
    const n = groups[0] * groups[1] * groups[2];
    const seen = device.allocBuffer(n * 4, DType.U32, [n]);
    try {
      const enc = device.commandEncoder();
      enc.dispatchThreadgroups(registry.getPipeline("gpu_group_ids"), [seen], [...groups], [32, 1, 1], { writes: [0] });
      enc.commitAndWait();
      enc.dispose();
      const got = seen.view(Uint32Array);
      let wrong = -1;
      for (let g = 0; g < n && wrong < 0; g++) if (got[g] !== g + 1) wrong = g;
      expect(wrong === -1 ? "every group once" : `group ${wrong} wrote ${got[wrong]}`).toBe("every group once");
    } finally {
      seen.dispose();
    }
  }
}, TIMEOUT);

test("non-uniform edge threadgroups have their real size, thread indices and SIMD lanes", () => {
  const cases: [number[], number[]][] = [
    [[100, 37, 3], [16, 8, 2]],
    [[1000, 1, 1], [96, 1, 1]],
    [[45, 45, 1], [32, 32, 1]],
  ];
  for (const [grid, group] of cases) {
    const n = grid[0]! * grid[1]! * grid[2]!;
    const out = device.allocBuffer(n * 16, DType.U32, [n * 4]);
    try {
      const enc = device.commandEncoder();
      enc.dispatchThreads(registry.getPipeline("gpu_edge_groups"), [out, new Uint32Array([grid[0]!, grid[1]!, grid[2]!, 0])], [grid[0]!, grid[1]!, grid[2]!], [group[0]!, group[1]!, group[2]!], { writes: [0] });
      enc.commitAndWait();
      enc.dispose();
      const got = out.view(Uint32Array);
      const problems: string[] = [];
      for (let z = 0; z < grid[2]! && problems.length < 3; z++)
        for (let y = 0; y < grid[1]! && problems.length < 3; y++)
          for (let x = 0; x < grid[0]! && problems.length < 3; x++) {
            const pos = [x, y, z];
            const local = pos.map((p, d) => p % group[d]!);
            const size = pos.map((p, d) => Math.min(group[d]!, grid[d]! - (p - local[d]!)));
            const count = size[0]! * size[1]! * size[2]!;
            const idx = local[0]! + size[0]! * (local[1]! + size[1]! * local[2]!);
            const lane = idx % 32;
            const active = Math.min(32, count - (idx - lane));
            const want = [size[0]! | (size[1]! << 8) | (size[2]! << 16), idx, lane | (active << 8), count];
            const at = 4 * (x + grid[0]! * (y + grid[1]! * z));
            const have = [got[at]!, got[at + 1]!, got[at + 2]!, got[at + 3]!];
            if (!Bun.deepEquals(have, want)) problems.push(`grid ${grid} group ${group} thread (${pos}): got ${have}, want ${want}`);
          }
      expect(problems).toEqual([]);
    } finally {
      out.dispose();
    }
  }
}, TIMEOUT);

test("dispatches on one buffer ordered only by memory barriers see each other's writes", () => {
  const n = 4099;
  const steps = 40;
  const x = device.allocBuffer(n * 4, DType.U32, [n]);
  try {
    const enc = device.commandEncoder();
    enc.autoBarrier = false; // the barriers below are the only ordering
    const p = registry.getPipeline("gpu_add_one");
    for (let s = 0; s < steps; s++) {
      enc.dispatchThreads(p, [x], [n, 1, 1], [128, 1, 1], { reads: [0], writes: [0] });
      enc.memoryBarrier();
    }
    enc.commitAndWait();
    enc.dispose();
    expect(new Set(x.view(Uint32Array))).toEqual(new Set([steps]));
  } finally {
    x.dispose();
  }
}, TIMEOUT);
