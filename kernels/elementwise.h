// Elementwise kernels over flat arrays. The arithmetic is a functor type parameter (AddOp, ...),
// the element type a dtype parameter; elementwise.metal instantiates the combinations. Arithmetic
// is done in float so f16 and bf16 inputs round once, on the store.
#pragma once
#include <metal_stdlib>
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

// out[i] = Op(a[i], b[i]) for i < n. Grid: n threads (dispatchThreads), any threadgroup size.
template <typename T, typename Op>
kernel void elementwise_binary(device const T* a [[buffer(0)]],
                               device const T* b [[buffer(1)]],
                               device T* out [[buffer(2)]],
                               constant uint& n [[buffer(3)]],
                               uint gid [[thread_position_in_grid]]) {
  if (gid >= n) return;
  out[gid] = static_cast<T>(Op::apply(float(a[gid]), float(b[gid])));
}

// Shape of a row-broadcast operation: `a` and `out` are [rows, cols], `b` is one row of cols.
struct RowArgs {
  uint cols;
  uint rows;
};

// out[r, c] = Op(a[r, c], b[c]). Grid: (cols, rows) threads.
template <typename T, typename Op>
kernel void elementwise_binary_row(device const T* a [[buffer(0)]],
                                   device const T* b [[buffer(1)]],
                                   device T* out [[buffer(2)]],
                                   constant RowArgs& args [[buffer(3)]],
                                   uint2 gid [[thread_position_in_grid]]) {
  if (gid.x >= args.cols || gid.y >= args.rows) return;
  const uint i = gid.y * args.cols + gid.x;
  out[i] = static_cast<T>(Op::apply(float(a[i]), float(b[gid.x])));
}

// out[i] = a[i] * scale + shift, in one fused multiply-add: scalar add is (1, s), scalar
// multiply (s, 0); both are then exactly rounded.
struct ScalarArgs {
  uint n;
  float scale;
  float shift;
};

// Grid: n threads.
template <typename T>
kernel void elementwise_scalar(device const T* a [[buffer(0)]],
                               device T* out [[buffer(1)]],
                               constant ScalarArgs& args [[buffer(2)]],
                               uint gid [[thread_position_in_grid]]) {
  if (gid >= args.n) return;
  out[gid] = static_cast<T>(fma(float(a[gid]), args.scale, args.shift));
}
