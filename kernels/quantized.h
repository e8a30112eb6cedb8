// MLX affine quantization ("affine" mode): the packed format, and the quantize and dequantize
// kernels. The matmul kernels (matvec.h, matmul.h) read the same format through these helpers.
//
// Format (anchors-and-formats §2.1). A weight W[rows, cols] is cut along each row into groups of
// `group_size` (32, 64 or 128) values. Per group, computed in float:
//   n = 2^bits - 1; scale = max((max - min) / n, 1e-7); the endpoint of larger magnitude is the
//   edge (min, or max with the scale negated); q0 = round(edge / scale); if q0 != 0 the scale
//   becomes edge / q0 and the bias is the edge, else the bias is 0;
//   q = clamp(round((w - bias) / scale), 0, n); and w ≈ scale * q + bias.
// round() is Metal's: halfway cases away from zero. Scales and biases are stored in the
// weight's float type. Each row's codes are one little-endian bit stream in uint32 words, value i
// at bits [i*bits, (i+1)*bits); bits is 2, 3, 4, 5, 6 or 8.
//
// A 32-value block is the unit every kernel here works in: it is always `bits` whole words, and
// it never straddles a group, because group sizes are multiples of 32. The group size is a
// run-time argument (a shift): it only picks which scale a block uses.
#pragma once
#include <metal_stdlib>
using namespace metal;

// Arguments of every kernel of the quantized and matmul families, bound as inline bytes.
struct MatmulArgs {
  uint M;           // rows of x and y (quantize/dequantize: rows of the weight)
  uint N;           // rows of the weight, columns of y
  uint K;           // columns of x and of the weight
  uint group_shift; // log2(group size), affine weights only
};

// Code i (0 <= i < 32) of a 32-value block held in `bits` words. With i known at compile time
// (unrolled loops) this folds to one or two shifts and a mask.
template <int bits>
__attribute__((always_inline)) inline uint block_code(thread const uint* w, int i) {
  const int bit = i * bits;
  const int word = bit >> 5;
  const int shift = bit & 31;
  uint v = w[word] >> shift;
  if (shift + bits > 32) v |= w[word + 1] << (32 - shift);
  return v & ((1u << bits) - 1u);
}

// A code (below 2^23) as a float, without an integer-to-float conversion: its bits become the
// low mantissa bits of 2^23, and 2^23 is subtracted, exactly. NVIDIA GPUs issue integer-to-float
// conversions at a fraction of their float-add rate, and a 4-bit matrix-vector product decodes a
// code per weight; this is an OR and an add, both at full rate. (The gain on a GPU is not yet
// measured; on the cpu backend the 4-bit products ran at the same speed either way.)
__attribute__((always_inline)) inline float code_float(uint code) {
  return as_type<float>(code | 0x4B000000u) - 8388608.0f;
}

// Load the `bits` words of one block.
template <int bits>
__attribute__((always_inline)) inline void load_block(device const uint* src, thread uint* w) {
#pragma unroll
  for (int i = 0; i < bits; i++) w[i] = src[i];
}

// Quantize W[M, K] of type T: one thread per group. Scales and biases are written as T, as MLX
// writes them in the weight's type. Grid: M*K/group_size threads (dispatchThreads).
template <typename T, int bits>
kernel void mlx_quantize(device const T* w [[buffer(0)]],
                         device uint* packed [[buffer(1)]],
                         device T* scales [[buffer(2)]],
                         device T* biases [[buffer(3)]],
                         constant MatmulArgs& args [[buffer(4)]],
                         uint gid [[thread_position_in_grid]]) {
  const uint group = 1u << args.group_shift;
  if (gid >= args.M * (args.K >> args.group_shift)) return;
  device const T* src = w + gid * group;
  float lo = float(src[0]);
  float hi = lo;
  for (uint i = 1; i < group; i++) {
    const float v = float(src[i]);
    lo = min(lo, v);
    hi = max(hi, v);
  }
  const float n_bins = float((1 << bits) - 1);
  float scale = max((hi - lo) / n_bins, 1e-7f);
  const bool min_is_edge = abs(lo) > abs(hi);
  if (!min_is_edge) scale = -scale;
  const float edge = min_is_edge ? lo : hi;
  const float q0 = round(edge / scale);
  float bias = 0.0f;
  if (q0 != 0.0f) {
    scale = edge / q0;
    bias = edge;
  }
  scales[gid] = static_cast<T>(scale);
  biases[gid] = static_cast<T>(bias);
  // Codes use the float scale and bias, before they are rounded to T (as MLX does).
  device uint* dst = packed + gid * (group / 32) * bits;
  for (uint b = 0; b < group / 32; b++) {
    uint out[bits];
    for (int i = 0; i < bits; i++) out[i] = 0;
    for (int i = 0; i < 32; i++) {
      const float q = clamp(round((float(src[b * 32 + i]) - bias) / scale), 0.0f, n_bins);
      const uint code = uint(q);
      const int bit = i * bits;
      out[bit >> 5] |= code << (bit & 31);
      if ((bit & 31) + bits > 32) out[(bit >> 5) + 1] |= code >> (32 - (bit & 31));
    }
    for (int i = 0; i < bits; i++) dst[b * bits + i] = out[i];
  }
}

// Dequantize into W[M, K] of the scales' type S: w = scale * q + bias in float, rounded once.
// One thread per 32-value block. Grid: M*K/32 threads (dispatchThreads).
template <typename S, int bits>
kernel void mlx_dequantize(device const uint* packed [[buffer(0)]],
                           device const S* scales [[buffer(1)]],
                           device const S* biases [[buffer(2)]],
                           device S* out [[buffer(3)]],
                           constant MatmulArgs& args [[buffer(4)]],
                           uint gid [[thread_position_in_grid]]) {
  if (gid >= args.M * (args.K / 32)) return;
  uint w[bits];
  load_block<bits>(packed + gid * bits, w);
  const uint g = (gid * 32) >> args.group_shift;
  const float scale = float(scales[g]);
  const float bias = float(biases[g]);
  device S* dst = out + gid * 32;
  for (int i = 0; i < 32; i++) dst[i] = static_cast<S>(fma(scale, float(block_code<bits>(w, i)), bias));
}
