/**
 * Whether the active backend runs kernels that use threadgroup memory, barriers and SIMD-group
 * functions. Metal always does; msl-cpu refuses such kernels at pipeline creation until its fiber
 * runtime is complete, with a "not yet supported by msl-cpu" error. The probe compiles one tiny
 * kernel using each feature the reduction kernels rely on, once per process, and returns false
 * only for that specific refusal (any other failure is a real error and is thrown).
 *
 * @example
 * const fibers = supportsBarriers();
 * test.skipIf(!fibers)("rmsNorm ...", () => { ... });
 */
import { BackendError, KernelRegistry } from "../../src/index.ts";
import { fixture } from "./fixtures.ts";

const probeSource = `
#include <metal_stdlib>
using namespace metal;
kernel void fibers_probe(device float* out [[buffer(0)]],
                         uint tid [[thread_position_in_threadgroup]],
                         uint lane [[thread_index_in_simdgroup]],
                         uint sg [[simdgroup_index_in_threadgroup]]) {
  threadgroup float partial[32];
  float v = simd_sum(float(tid)) + simd_max(float(lane)) + simd_min(float(lane));
  v += float(simd_prefix_exclusive_sum(1u)) + simd_shuffle_xor(v, 1u) * 0.0f;
  if (lane == 0) partial[sg] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (tid == 0) out[0] = partial[0] + partial[1];
}
`;

/** The reason printed by tests skipped because the backend lacks these features. */
export const FIBERS_REASON = "msl-cpu does not yet run barriers/SIMD-group functions/threadgroup memory";

let cached: boolean | undefined;

export function supportsBarriers(): boolean {
  if (cached !== undefined) return cached;
  const { device } = fixture();
  const registry = new KernelRegistry(device);
  try {
    registry.registerSource("fibers_probe", probeSource);
    registry.getPipeline("fibers_probe");
    cached = true;
  } catch (e) {
    if (e instanceof BackendError && /not yet supported by msl-cpu/.test(e.message)) cached = false;
    else throw e;
  } finally {
    registry.dispose();
  }
  return cached;
}
