// Elementwise kernels over flat arrays. The arithmetic is a functor type parameter (AddOp, ...),
// the element type a dtype parameter; elementwise.metal instantiates the combinations. Arithmetic
// is done in float so f16 and bf16 inputs round once, on the store. Each thread handles a block
// of BLOCK consecutive elements, with one vector load or store per operand where aligned
// (block.h's for_block_vector).
#pragma once
#include <metal_stdlib>
#include "block.h"
using namespace metal;

struct AddOp {
  static float apply(float a, float b) { return a + b; }
};
struct SubOp {
  static float apply(float a, float b) { return a - b; }
};
struct MulOp {
  static float apply(float a, float b) { return a * b; }
};
struct DivOp {
  static float apply(float a, float b) { return a / b; }
};

// out[i] = Op(a[i], b[i]), as a function object for for_block_vector.
template <typename T, typename Op>
struct BinaryAt {
  device const T* a;
  device const T* b;
  device T* out;
  void operator()(uint i) const { out[i] = static_cast<T>(Op::apply(float(a[i]), float(b[i]))); }
  bool block(uint first) const {
    if (!block_aligned<T>(a + first) || !block_aligned<T>(b + first) || !block_aligned<T>(out + first)) return false;
    const float4 x = load_vec4<T>(a + first);
    const float4 y = load_vec4<T>(b + first);
    store_vec4<T>(out + first, float4(Op::apply(x.x, y.x), Op::apply(x.y, y.y), Op::apply(x.z, y.z), Op::apply(x.w, y.w)));
    return true;
  }
};

// out[i] = Op(a[i], b[i]) for i < n. Grid: ceil(n / BLOCK) threads (dispatchThreads).
template <typename T, typename Op>
kernel void elementwise_binary(device const T* a [[buffer(0)]],
                               device const T* b [[buffer(1)]],
                               device T* out [[buffer(2)]],
                               constant uint& n [[buffer(3)]],
                               uint gid [[thread_position_in_grid]]) {
  const BinaryAt<T, Op> f = {a, b, out};
  for_block_vector(gid, n, f);
}

// Shape of a row-broadcast operation: `a` and `out` are [rows, cols], `b` is one row of cols.
struct RowArgs {
  uint cols;
  uint rows;
};

// out[r, c] = Op(a[r, c], b[c]). Grid: (ceil(cols / BLOCK), rows) threads.
template <typename T, typename Op>
kernel void elementwise_binary_row(device const T* a [[buffer(0)]],
                                   device const T* b [[buffer(1)]],
                                   device T* out [[buffer(2)]],
                                   constant RowArgs& args [[buffer(3)]],
                                   uint2 gid [[thread_position_in_grid]]) {
  if (gid.y >= args.rows) return;
  const uint row = gid.y * args.cols;
  const BinaryAt<T, Op> f = {a + row, b, out + row};
  for_block_vector(gid.x, args.cols, f);
}

// out[i] = a[i] * scale + shift, in one fused multiply-add: scalar add is (1, s), scalar
// multiply (s, 0); both are then exactly rounded.
struct ScalarArgs {
  uint n;
  float scale;
  float shift;
};

template <typename T>
struct ScalarAt {
  device const T* a;
  device T* out;
  float scale;
  float shift;
  void operator()(uint i) const { out[i] = static_cast<T>(fma(float(a[i]), scale, shift)); }
  bool block(uint first) const {
    if (!block_aligned<T>(a + first) || !block_aligned<T>(out + first)) return false;
    store_vec4<T>(out + first, fma(load_vec4<T>(a + first), float4(scale), float4(shift)));
    return true;
  }
};

// Grid: ceil(n / BLOCK) threads.
template <typename T>
kernel void elementwise_scalar(device const T* a [[buffer(0)]],
                               device T* out [[buffer(1)]],
                               constant ScalarArgs& args [[buffer(2)]],
                               uint gid [[thread_position_in_grid]]) {
  const ScalarAt<T> f = {a, out, args.scale, args.shift};
  for_block_vector(gid, args.n, f);
}
