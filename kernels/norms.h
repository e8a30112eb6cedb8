// Row normalizations, one threadgroup per row: RMSNorm (optionally fused with a residual add),
// L2 norm and LayerNorm. Statistics accumulate in float; each output is rounded once.
// Variants are template parameters: with or without weight (and bias), with or without the
// residual add. Bindings a variant does not use are still bound (the host binds x there) and
// never read.
#pragma once
#include <metal_stdlib>
#include "block.h"
#include "reduce.h"
using namespace metal;

struct NormArgs {
  uint cols;
  float eps;
  // RMSNorm: 1 / cols (mean of squares); L2 norm: 1 (sum of squares).
  float inv_count;
};

// out = x * rsqrt(inv_count * sum(x^2) + eps) [* w]. With RESIDUAL, x is first replaced by
// h = x + residual, rounded to T and stored to `sum` (so the fused op equals an add followed by
// the norm); `sum` may be the residual buffer itself. Each element is read and written by one
// thread, so `out` may alias x.
// Grid: rows threadgroups (dispatchThreadgroups) of a multiple of 32 threads.
template <typename T, bool HAS_W, bool RESIDUAL>
kernel void rms_norm(device const T* x [[buffer(0)]],
                     device const T* residual [[buffer(1)]],
                     device const T* w [[buffer(2)]],
                     device T* out [[buffer(3)]],
                     device T* sum [[buffer(4)]],
                     constant NormArgs& args [[buffer(5)]],
                     uint row [[threadgroup_position_in_grid]],
                     uint tid [[thread_position_in_threadgroup]],
                     uint threads [[threads_per_threadgroup]]) {
  threadgroup float scratch[32];
  const GroupPos p = group_pos(tid, threads);
  const uint base = row * args.cols;
  float ss = 0.0f;
  for (uint blk = tid * BLOCK; blk < args.cols; blk += threads * BLOCK)
    for (uint i = blk; i < min(blk + BLOCK, args.cols); ++i) {
    float v = float(x[base + i]);
    if (RESIDUAL) {
      const T h = static_cast<T>(v + float(residual[base + i]));
      sum[base + i] = h;
      v = float(h);
    }
    ss += v * v;
  }
  ss = group_sum(ss, scratch, p);
  const float inv = rsqrt(fma(ss, args.inv_count, args.eps));
  for (uint blk = tid * BLOCK; blk < args.cols; blk += threads * BLOCK)
    for (uint i = blk; i < min(blk + BLOCK, args.cols); ++i) {
    const float v = RESIDUAL ? float(sum[base + i]) : float(x[base + i]);
    out[base + i] = static_cast<T>(v * inv * (HAS_W ? float(w[i]) : 1.0f));
  }
}

// out = (x - mean) * rsqrt(var + eps) [* w] [+ b], var the biased variance (two passes: mean,
// then the mean squared deviation). Grid: rows threadgroups of a multiple of 32 threads.
template <typename T, bool HAS_W, bool HAS_B>
kernel void layer_norm(device const T* x [[buffer(0)]],
                       device const T* w [[buffer(1)]],
                       device const T* b [[buffer(2)]],
                       device T* out [[buffer(3)]],
                       constant NormArgs& args [[buffer(4)]],
                       uint row [[threadgroup_position_in_grid]],
                       uint tid [[thread_position_in_threadgroup]],
                       uint threads [[threads_per_threadgroup]]) {
  threadgroup float scratch[32];
  const GroupPos p = group_pos(tid, threads);
  const uint base = row * args.cols;
  float s = 0.0f;
  for (uint blk = tid * BLOCK; blk < args.cols; blk += threads * BLOCK)
    for (uint i = blk; i < min(blk + BLOCK, args.cols); ++i) s += float(x[base + i]);
  const float mean = group_sum(s, scratch, p) * args.inv_count;
  float d2 = 0.0f;
  for (uint blk = tid * BLOCK; blk < args.cols; blk += threads * BLOCK)
    for (uint i = blk; i < min(blk + BLOCK, args.cols); ++i) {
    const float d = float(x[base + i]) - mean;
    d2 += d * d;
  }
  const float inv = rsqrt(fma(group_sum(d2, scratch, p), args.inv_count, args.eps));
  for (uint blk = tid * BLOCK; blk < args.cols; blk += threads * BLOCK)
    for (uint i = blk; i < min(blk + BLOCK, args.cols); ++i) {
    float v = (float(x[base + i]) - mean) * inv;
    if (HAS_W) v *= float(w[i]);
    if (HAS_B) v += float(b[i]);
    out[base + i] = static_cast<T>(v);
  }
}
