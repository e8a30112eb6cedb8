/**
 * msl-cpu conformance: every thread, threadgroup, grid and SIMD-group position and size builtin,
 * for dispatchThreads (partial edge threadgroups in x, y and z) and dispatchThreadgroups, on both
 * executors (a plain loop, and fibers when the kernel has a barrier).
 */
import { describe, expect, test } from "bun:test";
import { run } from "./support.ts";

const W = 24; // words per thread

// `barrier` adds a threadgroup_barrier, which makes msl-cpu run the kernel's threads as fibers.
const source = (name: string, barrier: boolean) => `
#include <metal_stdlib>
using namespace metal;
kernel void ${name}(device uint* out [[buffer(0)]],
                    constant uint3& grid_size [[buffer(1)]],
                    uint3 tpig [[thread_position_in_grid]],
                    ushort3 tpitg [[thread_position_in_threadgroup]],
                    uint3 tgpig [[threadgroup_position_in_grid]],
                    uint3 tptg [[threads_per_threadgroup]],
                    uint3 tgpg [[threadgroups_per_grid]],
                    uint3 tpg [[threads_per_grid]],
                    uint3 dtptg [[dispatch_threads_per_threadgroup]],
                    uint tiitg [[thread_index_in_threadgroup]],
                    ushort lane [[thread_index_in_simdgroup]],
                    uint sg [[simdgroup_index_in_threadgroup]],
                    uint tpsg [[threads_per_simdgroup]],
                    uint sgptg [[simdgroups_per_threadgroup]],
                    uint dsgptg [[dispatch_simdgroups_per_threadgroup]],
                    uint width [[thread_execution_width]],
                    uint qlane [[thread_index_in_quadgroup]],
                    uint qg [[quadgroup_index_in_threadgroup]],
                    uint qgptg [[quadgroups_per_threadgroup]],
                    uint dqgptg [[dispatch_quadgroups_per_threadgroup]],
                    uint3 gsize [[grid_size]],
                    uint3 gorigin [[grid_origin]],
                    uint2 tpig2 [[thread_position_in_grid]]) {
  ${barrier ? "threadgroup_barrier(mem_flags::mem_none);" : ""}
  if (any(tpig >= grid_size)) return;
  device uint* o = out + ((tpig.z * grid_size.y + tpig.y) * grid_size.x + tpig.x) * ${W};
  o[0] = tpitg.x; o[1] = tpitg.y; o[2] = tpitg.z;
  o[3] = tgpig.x; o[4] = tgpig.y; o[5] = tgpig.z;
  o[6] = tptg.x * 10000 + tptg.y * 100 + tptg.z;
  o[7] = tgpg.x * 10000 + tgpg.y * 100 + tgpg.z;
  o[8] = tpg.x * 10000 + tpg.y * 100 + tpg.z;
  o[9] = dtptg.x * 10000 + dtptg.y * 100 + dtptg.z;
  o[10] = tiitg; o[11] = lane; o[12] = sg; o[13] = tpsg; o[14] = sgptg; o[15] = dsgptg;
  o[16] = width; o[17] = qlane; o[18] = qg;
  o[19] = tpig2.x * 1000 + tpig2.y;
  o[20] = qgptg; o[21] = dqgptg;
  o[22] = gsize.x * 10000 + gsize.y * 100 + gsize.z;
  o[23] = gorigin.x + gorigin.y + gorigin.z + 1;
}
`;

type Dims = [number, number, number];

function expected(grid: Dims, group: Dims, threadgroups: boolean, size: Dims) {
  const groups: Dims = threadgroups ? grid : [0, 1, 2].map((d) => Math.ceil(grid[d]! / group[d]!)) as Dims;
  const tpg: Dims = threadgroups ? [0, 1, 2].map((d) => grid[d]! * group[d]!) as Dims : grid;
  const out = new Map<string, number[]>();
  for (let z = 0; z < size[2]; z++)
    for (let y = 0; y < size[1]; y++)
      for (let x = 0; x < size[0]; x++) {
        const pos = [x, y, z];
        const gp = pos.map((p, d) => Math.floor(p / group[d]!));
        const lp = pos.map((p, d) => p % group[d]!);
        const actual = gp.map((g, d) => (threadgroups ? group[d]! : Math.min(group[d]!, tpg[d]! - g * group[d]!)));
        const ntg = actual[0]! * actual[1]! * actual[2]!;
        const tiitg = (lp[2]! * actual[1]! + lp[1]!) * actual[0]! + lp[0]!;
        const pack = (v: number[]) => v[0]! * 10000 + v[1]! * 100 + v[2]!;
        out.set(`${x},${y},${z}`, [
          ...lp, ...gp, pack(actual), pack(groups), pack(tpg), pack(group),
          tiitg, tiitg % 32, Math.floor(tiitg / 32), 32, Math.ceil(ntg / 32),
          Math.ceil((group[0]! * group[1]! * group[2]!) / 32), 32, tiitg % 4, Math.floor(tiitg / 4),
          x * 1000 + y, Math.ceil(ntg / 4), Math.ceil((group[0]! * group[1]! * group[2]!) / 4), pack(tpg), 1,
        ]);
      }
  return out;
}

function check(name: string, barrier: boolean, grid: Dims, group: Dims, threadgroups: boolean) {
  const size: Dims = threadgroups ? [0, 1, 2].map((d) => grid[d]! * group[d]!) as Dims : grid;
  const n = size[0] * size[1] * size[2];
  const out = run(name, source(name, barrier), {
    grid,
    group,
    threadgroups,
    out: new Uint32Array(n * W),
    inputs: [new Uint32Array([...size, 0])],
  });
  for (const [key, want] of expected(grid, group, threadgroups, size)) {
    const [x, y, z] = key.split(",").map(Number) as Dims;
    const at = ((z * size[1] + y) * size[0] + x) * W;
    expect(`${key}: ${[...out.subarray(at, at + want.length)]}`).toBe(`${key}: ${want}`);
  }
}

describe("position and size builtins", () => {
  for (const [name, barrier] of [["builtins_plain", false], ["builtins_fibers", true]] as const) {
    test(`${name}: dispatchThreads with partial edge groups in x, y and z`, () => check(name, barrier, [13, 7, 3], [5, 3, 2], false));
    test(`${name}: dispatchThreads, 1-D, groups of 100 (a partial SIMD-group of 4)`, () => check(name, barrier, [250, 1, 1], [100, 1, 1], false));
    test(`${name}: dispatchThreadgroups`, () => check(name, barrier, [3, 2, 2], [8, 4, 2], true));
  }
});
