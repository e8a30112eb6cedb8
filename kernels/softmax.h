// Row softmax, one threadgroup per row, with an optional scale and an optional causal mask (a
// template parameter). Max and sum are taken in one online pass in float, then a second pass
// writes exp(x * scale - max) / sum, rounded once.
#pragma once
#include <metal_stdlib>
#include "block.h"
#include "reduce.h"
using namespace metal;

struct SoftmaxArgs {
  uint cols;
  float scale;
  // Causal mask: row r is query (r % queries), which sees keys j <= key_offset + r % queries;
  // masked entries come out as 0.
  uint queries;
  uint key_offset;
};

// Grid: rows threadgroups (dispatchThreadgroups) of a multiple of 32 threads. `out` may alias x.
template <typename T, bool CAUSAL>
kernel void softmax(device const T* x [[buffer(0)]],
                    device T* out [[buffer(1)]],
                    constant SoftmaxArgs& args [[buffer(2)]],
                    uint row [[threadgroup_position_in_grid]],
                    uint tid [[thread_position_in_threadgroup]],
                    uint threads [[threads_per_threadgroup]]) {
  threadgroup float scratch[32];
  const GroupPos p = group_pos(tid, threads);
  const uint base = row * args.cols;
  const uint limit = CAUSAL ? min(args.cols, args.key_offset + row % args.queries + 1) : args.cols;
  // Online max and sum: on a new maximum, the sum so far is rescaled.
  float m = -INFINITY;
  float s = 0.0f;
  for (uint blk = tid * BLOCK; blk < limit; blk += threads * BLOCK)
    for (uint i = blk; i < min(blk + BLOCK, limit); ++i) {
    const float v = float(x[base + i]) * args.scale;
    if (v > m) {
      s = s * exp(m - v) + 1.0f;
      m = v;
    } else if (v != -INFINITY) {
      s += exp(v - m);
    }
  }
  const float row_max = group_max(m, scratch, p);
  // A thread that saw only -inf (or nothing) contributes 0, not exp(-inf - -inf).
  const float row_sum = group_sum(m == -INFINITY ? 0.0f : s * exp(m - row_max), scratch, p);
  const float inv = 1.0f / row_sum;
  for (uint blk = tid * BLOCK; blk < args.cols; blk += threads * BLOCK)
    for (uint i = blk; i < min(blk + BLOCK, args.cols); ++i) {
    const float v = i < limit ? exp(float(x[base + i]) * args.scale - row_max) * inv : 0.0f;
    out[base + i] = static_cast<T>(v);
  }
}
