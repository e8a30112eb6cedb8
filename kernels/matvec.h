// Matrix-vector products for decode: y[m, n] = sum_k x[m, k] * W[n, k] for a few rows of x (the
// ops route 1 to 8 rows here), with W in PyTorch/MLX [out, in] layout, dense (gemv) or MLX affine
// quantized (qmv, format in quantized.h). Accumulation is in float; y is rounded once to T.
//
// Shape of the work: a threadgroup is MV_SIMDGROUPS simdgroups; each simdgroup owns MV_ROWS
// consecutive rows of W and walks K with its 32 lanes side by side, each lane taking a chunk of
// Rows::CHUNK consecutive values per step (so a simdgroup reads 32 contiguous chunks of a row at
// once). A pass serves up to MV_MAX_X_ROWS rows of x, so W is read and decoded once for all of
// them; grid y counts passes. The lanes' partial sums meet in one simd_sum per output. No
// threadgroup memory, no barriers.
//
// Function constant mv_one_row: true when x has one row (decode proper). The kernel then keeps a
// single row of accumulators, so the common case pays no registers for the batched one.
#pragma once
#include <metal_stdlib>
#include "quantized.h"
using namespace metal;

constant bool mv_one_row [[function_constant(100)]];

constant constexpr int MV_ROWS = 4;  // a float4 of accumulators per row of x
constant constexpr int MV_SIMDGROUPS = 2;
constant constexpr int MV_MAX_X_ROWS = 4;

// Four values from p[i..i+4) as float; with `full` false, those at k + j >= K read as 0.
template <typename T>
inline float4 load4(device const T* p, uint k, uint K, bool full) {
  if (full) return float4(float(p[0]), float(p[1]), float(p[2]), float(p[3]));
  return float4(k < K ? float(p[0]) : 0.0f, k + 1 < K ? float(p[1]) : 0.0f, k + 2 < K ? float(p[2]) : 0.0f,
                k + 3 < K ? float(p[3]) : 0.0f);
}

// Dense rows of type W: chunks of 8 values; a chunk that runs past K reads zeros.
template <typename W>
struct DenseRows {
  static constant constexpr int CHUNK = 8;
  static constant constexpr bool AFFINE = false;
  device const W* w;
  uint K;

  inline void load(uint n, uint k0, bool full, thread float4* v, thread float& scale, thread float& bias) const {
    for (int j = 0; j < CHUNK / 4; j++) v[j] = load4(w + n * K + k0 + 4 * j, k0 + 4 * j, K, full);
    scale = 1.0f;
    bias = 0.0f;
  }
};

// MLX affine rows: chunks of one 32-value block; `v` gets the raw codes and the block's scale
// and bias come back separately, so a dot product costs one multiply-add per value and the bias
// is applied once per block against the sum of x.
template <typename S, int bits>
struct AffineRows {
  static constant constexpr int CHUNK = 32;
  static constant constexpr bool AFFINE = true;
  device const uint* w;
  device const S* scales;
  device const S* biases;
  uint K;
  uint group_shift;

  inline void load(uint n, uint k0, bool, thread float4* v, thread float& scale, thread float& bias) const {
    uint words[bits];
    load_block<bits>(w + (n * K + k0) / 32 * bits, words);
    for (int j = 0; j < CHUNK / 4; j++) {
      v[j] = float4(float(block_code<bits>(words, 4 * j)), float(block_code<bits>(words, 4 * j + 1)),
                    float(block_code<bits>(words, 4 * j + 2)), float(block_code<bits>(words, 4 * j + 3)));
    }
    const uint g = (n * K + k0) >> group_shift;
    scale = float(scales[g]);
    bias = float(biases[g]);
  }
};

// Sum of a chunk's products (or of x alone when `v` is null), in two 4-wide partial sums: the
// chains are independent, which costs a GPU nothing and gives a CPU running the lanes one after
// another its instruction-level parallelism back.
template <int C, typename T>
inline float dot_chunk(thread const float4* v, device const T* x, uint k0, uint K, bool full) {
  float4 a = 0.0f;
  float4 b = 0.0f;
  for (int j = 0; j < C / 4; j += 2) {
    a = fma(v ? v[j] : float4(1.0f), load4(x + 4 * j, k0 + 4 * j, K, full), a);
    b = fma(v ? v[j + 1] : float4(1.0f), load4(x + 4 * j + 4, k0 + 4 * j + 4, K, full), b);
  }
  a += b;
  return (a.x + a.y) + (a.z + a.w);
}

// The body shared by gemv, qmv and the experts' gathered products (moe.h): `xrows` (1 to
// MV_MAX_X_ROWS) consecutive rows of x [.., K] against the weight rows this simdgroup owns, into
// the same rows of y [.., N]. `tg` is the threadgroup index along N.
template <typename T, typename Rows>
inline void matvec_rows(thread const Rows& rows, device const T* x, device T* y, uint N, uint K, int xrows,
                        uint tg, uint sg, uint lane) {
  constexpr int C = Rows::CHUNK;
  const uint n0 = (tg * MV_SIMDGROUPS + sg) * MV_ROWS;
  if (n0 >= N) return;  // the whole simdgroup leaves together

  // acc[m][r]: row m of x against weight row n0 + r (MV_ROWS = 4 fits a float4, so one simd_sum
  // reduces all four).
  float4 acc[MV_MAX_X_ROWS];
  for (int m = 0; m < MV_MAX_X_ROWS; m++) acc[m] = 0.0f;

  for (uint k0 = lane * C; k0 < K; k0 += 32 * C) {
    const bool full = Rows::AFFINE || k0 + C <= K;  // affine K is a multiple of the 32-value chunk
    float xsum[MV_MAX_X_ROWS];
    if (Rows::AFFINE) {
      for (int m = 0; m < MV_MAX_X_ROWS; m++) {
        if (m >= xrows) break;
        xsum[m] = dot_chunk<C>(nullptr, x + m * K + k0, k0, K, full);
      }
    }
    for (int r = 0; r < MV_ROWS; r++) {
      // Rows past N recompute the last row; their sums are never stored.
      float4 v[C / 4];
      float scale, bias;
      rows.load(min(n0 + r, N - 1), k0, full, v, scale, bias);
      for (int m = 0; m < MV_MAX_X_ROWS; m++) {
        if (m >= xrows) break;
        const float d = dot_chunk<C>(v, x + m * K + k0, k0, K, full);
        acc[m][r] = Rows::AFFINE ? fma(scale, d, fma(bias, xsum[m], acc[m][r])) : acc[m][r] + d;
      }
    }
  }

  for (int m = 0; m < MV_MAX_X_ROWS; m++) {
    if (m >= xrows) break;
    const float4 s = simd_sum(acc[m]);
    if (lane == 0) {
      for (int r = 0; r < MV_ROWS; r++)
        if (n0 + r < N) y[m * N + n0 + r] = static_cast<T>(s[r]);
    }
  }
}

// gemv and qmv: `xrow0` is the first row of x this threadgroup handles (grid y walks rows of x in
// steps of MV_MAX_X_ROWS); with mv_one_row, x has one row.
template <typename T, typename Rows>
inline void matvec(thread const Rows& rows, device const T* x, device T* y, constant MatmulArgs& args,
                   uint tg, uint xrow0, uint sg, uint lane) {
  const int xrows = mv_one_row ? 1 : int(min(uint(MV_MAX_X_ROWS), args.M - xrow0));
  matvec_rows<T>(rows, x + xrow0 * args.K, y + xrow0 * args.N, args.N, args.K, xrows, tg, sg, lane);
}

// Dense: x [M, K] of T, W [N, K] of W, y [M, N] of T. Grid (ceil(N / 8), ceil(M / 4)) groups of
// 64 threads (dispatchThreadgroups).
template <typename T, typename W>
kernel void gemv(device const T* x [[buffer(0)]],
                 device const W* w [[buffer(1)]],
                 device T* y [[buffer(2)]],
                 constant MatmulArgs& args [[buffer(3)]],
                 uint2 tg [[threadgroup_position_in_grid]],
                 uint sg [[simdgroup_index_in_threadgroup]],
                 uint lane [[thread_index_in_simdgroup]]) {
  const DenseRows<W> rows{w, args.K};
  matvec<T>(rows, x, y, args, tg.x, tg.y * MV_MAX_X_ROWS, sg, lane);
}

// MLX affine: W packed [N, K*bits/32] uint32, scales and biases [N, K/group] of S. Same grid as
// gemv.
template <typename T, typename S, int bits>
kernel void qmv(device const T* x [[buffer(0)]],
                device const uint* w [[buffer(1)]],
                device const S* scales [[buffer(2)]],
                device const S* biases [[buffer(3)]],
                device T* y [[buffer(4)]],
                constant MatmulArgs& args [[buffer(5)]],
                uint2 tg [[threadgroup_position_in_grid]],
                uint sg [[simdgroup_index_in_threadgroup]],
                uint lane [[thread_index_in_simdgroup]]) {
  const AffineRows<S, bits> rows{w, scales, biases, args.K, args.group_shift};
  matvec<T>(rows, x, y, args, tg.x, tg.y * MV_MAX_X_ROWS, sg, lane);
}
