// Tiled matrix products for prefill: y[m, n] = sum_k x[m, k] * W[n, k] with W in [out, in]
// layout, dense (gemm) or MLX affine quantized (qmm, format in quantized.h). Accumulation is in
// float; y is rounded once to T.
//
// A threadgroup computes a MM_BM x MM_BN tile of y with 4 simdgroups in a 2 x 2 arrangement, each
// owning a 32 x 32 quarter as 4 x 4 simdgroup_float8x8 accumulators. Each step stages an x tile
// [MM_BM x MM_BK] and a W tile (transposed, [MM_BK x MM_BN]) in threadgroup memory as float —
// quantized weights are dequantized as they are staged — and multiplies them with
// simdgroup_multiply_accumulate. MM_BK is 32: one affine block per W row and step.
//
// Only the documented simdgroup_matrix API is used (load, store, multiply_accumulate,
// make_filled_simdgroup_matrix); the per-lane layout of thread_elements() differs between GPUs and
// msl-cpu and is never assumed.
//
// Bounds: a tile that lies wholly inside y and K takes the unguarded path; edge tiles (M, N or K
// not a multiple of the tile) zero-fill what they stage past the edge and store only inside y.
// The choice is a uniform branch per tile, so only edge tiles pay for the guards.
#pragma once
#include <metal_stdlib>
#include <metal_simdgroup_matrix>
#include "quantized.h"
using namespace metal;

constant constexpr int MM_BM = 64;
constant constexpr int MM_BN = 64;
constant constexpr int MM_BK = 32;
constant constexpr int MM_THREADS = 128;
// Row strides of the staged tiles, padded by 4 floats against bank conflicts.
constant constexpr int MM_LDX = MM_BK + 4;
constant constexpr int MM_LDW = MM_BN + 4;
// The output tile reuses the same storage once the K loop is done.
constant constexpr int MM_LDY = MM_BN + 4;
constant constexpr int MM_SMEM = MM_BM * MM_LDX + MM_BK * MM_LDW;
static_assert(MM_BM * MM_LDY <= MM_SMEM, "the output tile must fit the staging storage");
static_assert(MM_THREADS == 2 * MM_BM, "staging gives each row of a tile two threads");

// Stage x[m0.., k0..] as float into xs[MM_BM][MM_LDX]: thread t fills 16 values of row t/2.
template <typename T>
inline void stage_x(device const T* x, threadgroup float* xs, uint m0, uint k0, uint M, uint K, bool inside, uint tid) {
  const uint r = tid / 2;
  const uint c0 = (tid % 2) * 16;
  device const T* src = x + (m0 + r) * K + k0 + c0;
  threadgroup float* dst = xs + r * MM_LDX + c0;
  if (inside) {
    for (int i = 0; i < 16; i++) dst[i] = float(src[i]);
  } else {
    const bool row_ok = m0 + r < M;
    for (int i = 0; i < 16; i++) dst[i] = row_ok && k0 + c0 + i < K ? float(src[i]) : 0.0f;
  }
}

// Dense W tile: thread t reads 16 consecutive values of W row n0 + t/2 and stores them
// transposed, ws[k][n].
template <typename W>
struct DenseTile {
  device const W* w;

  inline void stage(threadgroup float* ws, uint n0, uint k0, uint N, uint K, bool inside, uint tid) const {
    const uint r = tid / 2;
    const uint c0 = (tid % 2) * 16;
    device const W* src = w + (n0 + r) * K + k0 + c0;
    threadgroup float* dst = ws + c0 * MM_LDW + r;
    if (inside) {
      for (int i = 0; i < 16; i++) dst[i * MM_LDW] = float(src[i]);
    } else {
      const bool row_ok = n0 + r < N;
      for (int i = 0; i < 16; i++) dst[i * MM_LDW] = row_ok && k0 + c0 + i < K ? float(src[i]) : 0.0f;
    }
  }
};

// Affine W tile: the step's 32 columns of a row are one block; two threads share a row, each
// dequantizing 16 of its codes. K is a multiple of 32, so only rows can fall outside.
template <typename S, int bits>
struct AffineTile {
  device const uint* w;
  device const S* scales;
  device const S* biases;
  uint group_shift;

  inline void stage(threadgroup float* ws, uint n0, uint k0, uint N, uint K, bool inside, uint tid) const {
    const uint r = tid / 2;
    const int half_ = int(tid % 2) * 16;
    threadgroup float* dst = ws + half_ * MM_LDW + r;
    if (!inside && n0 + r >= N) {
      for (int i = 0; i < 16; i++) dst[i * MM_LDW] = 0.0f;
      return;
    }
    const uint first = (n0 + r) * K + k0;
    uint words[bits];
    load_block<bits>(w + first / 32 * bits, words);
    const uint g = first >> group_shift;
    const float scale = float(scales[g]);
    const float bias = float(biases[g]);
    for (int i = 0; i < 16; i++) dst[i * MM_LDW] = fma(scale, float(block_code<bits>(words, half_ + i)), bias);
  }
};

// The body shared by gemm and qmm: one MM_BM x MM_BN tile of y.
template <typename T, typename Tile>
inline void matmul_tile(thread const Tile& tile, device const T* x, device T* y, constant MatmulArgs& args,
                        threadgroup float* smem, uint2 tg, uint tid, uint sg) {
  const uint M = args.M;
  const uint N = args.N;
  const uint K = args.K;
  const uint m0 = tg.y * MM_BM;
  const uint n0 = tg.x * MM_BN;
  const bool rows_inside = m0 + MM_BM <= M && n0 + MM_BN <= N;
  threadgroup float* xs = smem;
  threadgroup float* ws = smem + MM_BM * MM_LDX;
  // This simdgroup's quarter of the tile.
  const uint qm = (sg / 2) * 32;
  const uint qn = (sg % 2) * 32;

  simdgroup_float8x8 acc[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);

  for (uint k0 = 0; k0 < K; k0 += MM_BK) {
    const bool inside = rows_inside && k0 + MM_BK <= K;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    stage_x<T>(x, xs, m0, k0, M, K, inside, tid);
    tile.stage(ws, n0, k0, N, K, inside, tid);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (int kk = 0; kk < MM_BK; kk += 8) {
      simdgroup_float8x8 a[4];
      simdgroup_float8x8 b[4];
      for (int i = 0; i < 4; i++) simdgroup_load(a[i], xs + (qm + i * 8) * MM_LDX + kk, MM_LDX);
      for (int j = 0; j < 4; j++) simdgroup_load(b[j], ws + kk * MM_LDW + qn + j * 8, MM_LDW);
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) simdgroup_multiply_accumulate(acc[i][j], a[i], b[j], acc[i][j]);
    }
  }

  // Store through threadgroup memory: converts to T and clips at the edges of y.
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) simdgroup_store(acc[i][j], smem + (qm + i * 8) * MM_LDY + qn + j * 8, MM_LDY);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  const uint r = tid / 2;
  const uint c0 = (tid % 2) * 32;
  if (m0 + r >= M) return;
  device T* dst = y + (m0 + r) * N + n0 + c0;
  threadgroup const float* src = smem + r * MM_LDY + c0;
  if (rows_inside) {
    for (int i = 0; i < 32; i++) dst[i] = static_cast<T>(src[i]);
  } else {
    for (int i = 0; i < 32; i++)
      if (n0 + c0 + i < N) dst[i] = static_cast<T>(src[i]);
  }
}

// Dense: x [M, K] of T, W [N, K] of W, y [M, N] of T. Grid (ceil(N / 64), ceil(M / 64)) groups of
// 128 threads (dispatchThreadgroups).
template <typename T, typename W>
kernel void gemm(device const T* x [[buffer(0)]],
                 device const W* w [[buffer(1)]],
                 device T* y [[buffer(2)]],
                 constant MatmulArgs& args [[buffer(3)]],
                 uint2 tg [[threadgroup_position_in_grid]],
                 uint tid [[thread_index_in_threadgroup]],
                 uint sg [[simdgroup_index_in_threadgroup]]) {
  threadgroup float smem[MM_SMEM];
  const DenseTile<W> tile{w};
  matmul_tile<T>(tile, x, y, args, smem, tg, tid, sg);
}

// MLX affine: W packed [N, K*bits/32] uint32, scales and biases [N, K/group] of S. Same grid as
// gemm.
template <typename T, typename S, int bits>
kernel void qmm(device const T* x [[buffer(0)]],
                device const uint* w [[buffer(1)]],
                device const S* scales [[buffer(2)]],
                device const S* biases [[buffer(3)]],
                device T* y [[buffer(4)]],
                constant MatmulArgs& args [[buffer(5)]],
                uint2 tg [[threadgroup_position_in_grid]],
                uint tid [[thread_index_in_threadgroup]],
                uint sg [[simdgroup_index_in_threadgroup]]) {
  threadgroup float smem[MM_SMEM];
  const AffineTile<S, bits> tile{w, scales, biases, args.group_shift};
  matmul_tile<T>(tile, x, y, args, smem, tg, tid, sg);
}
