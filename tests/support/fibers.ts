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
import { BackendError, CompileError, KernelRegistry } from "../../src/index.ts";
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
  cached ??= probe("fibers_probe", probeSource);
  return cached;
}

// The tiled matmul and prefill-attention kernels also multiply 8x8 simdgroup matrices.
const matrixProbeSource = `
#include <metal_stdlib>
#include <metal_simdgroup_matrix>
using namespace metal;
kernel void simdgroup_matrix_probe(device float* out [[buffer(0)]], uint tid [[thread_position_in_threadgroup]]) {
  threadgroup float tile[64];
  for (uint i = tid; i < 64; i += 32) tile[i] = float(i);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  simdgroup_float8x8 a;
  simdgroup_load(a, tile, 8);
  simdgroup_float8x8 c = make_filled_simdgroup_matrix<float, 8, 8>(1.0f);
  simdgroup_multiply_accumulate(c, a, a, c);
  simdgroup_store(c, out, 8);
}
`;

/** The reason printed by tests skipped because the backend lacks simdgroup matrices. */
export const MATRIX_REASON = "msl-cpu does not yet run simdgroup_matrix";

let matrixCached: boolean | undefined;

/** Whether the backend runs kernels with simdgroup_matrix as well as barriers and SIMD-group functions. */
export function supportsSimdgroupMatrix(): boolean {
  // Until msl-cpu declares the simdgroup_matrix types, the probe fails to compile with this error.
  matrixCached ??= supportsBarriers() && probe("simdgroup_matrix_probe", matrixProbeSource, /unknown type name 'simdgroup_float8x8'/);
  return matrixCached;
}

/** Compile `name` from `source`: false for msl-cpu's "not yet supported" refusals, throws otherwise. */
function probe(name: string, source: string, missing?: RegExp): boolean {
  const { device } = fixture();
  const registry = new KernelRegistry(device);
  try {
    registry.registerSource(name, source);
    registry.getPipeline(name);
    return true;
  } catch (e) {
    if (e instanceof BackendError && /not yet supported by msl-cpu/.test(e.message)) return false;
    if (missing && e instanceof CompileError && missing.test(e.message)) return false;
    throw e;
  } finally {
    registry.dispose();
  }
}
