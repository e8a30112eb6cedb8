// Elementwise kernels over flat arrays. One template per operation; dtype is a template
// parameter and elementwise.metal instantiates it. Arithmetic is done in float so f16 and bf16
// inputs round once, on the store.
#pragma once
#include <metal_stdlib>
using namespace metal;

// out[i] = a[i] + b[i] for i < n. Grid: n threads (dispatchThreads), any threadgroup size.
template <typename T>
kernel void elementwise_add(device const T* a [[buffer(0)]],
                            device const T* b [[buffer(1)]],
                            device T* out [[buffer(2)]],
                            constant uint& n [[buffer(3)]],
                            uint gid [[thread_position_in_grid]]) {
  if (gid >= n) return;
  out[gid] = static_cast<T>(float(a[gid]) + float(b[gid]));
}
