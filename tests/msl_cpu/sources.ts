/**
 * MSL sources shared by the msl-cpu conformance tests and bench/msl_cpu.ts.
 */

/** One sum per threadgroup: simd_sum, a block-scope threadgroup array and a barrier. Bindings:
 * 0 `out` (float per group), 1 `in` (float), 2 `n` (uint). */
export const reduceSource = `
#include <metal_stdlib>
using namespace metal;
// One sum per threadgroup: simd_sum, a block-scope threadgroup array and a barrier.
kernel void tg_reduce(device float* out [[buffer(0)]],
                      device const float* in [[buffer(1)]],
                      constant uint& n [[buffer(2)]],
                      uint gid [[thread_position_in_grid]],
                      uint group [[threadgroup_position_in_grid]],
                      uint lane [[thread_index_in_simdgroup]],
                      uint sg [[simdgroup_index_in_threadgroup]],
                      uint nsg [[simdgroups_per_threadgroup]]) {
  threadgroup float partial[32];
  float v = gid < n ? in[gid] : 0.0f;
  v = simd_sum(v);
  if (lane == 0) partial[sg] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (sg == 0) {
    float p = lane < nsg ? partial[lane] : 0.0f;
    p = simd_sum(p);
    if (lane == 0) out[group] = p;
  }
}
`;
