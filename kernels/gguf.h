// Products and gathers on GGUF block-quantized weights, read as stored: W is [N, rowBytes] bytes,
// each row K / Block::QK blocks of Block::BYTES (gguf_blocks.h). No dequantized copy of W exists;
// each kernel decodes the 32-element chunks it needs as it goes.
//
// The bodies are the library's own: the matrix-vector body of matvec.h (decode) and the tiled
// body of matmul.h (prefill) take the weight through a small "rows"/"tile" adaptor, and the
// adaptors here fetch a chunk through the block format's decoder. One template per kernel, the
// format a template parameter; the catalog instantiates it per format and float type.
#pragma once
#include <metal_stdlib>
#include "embedding.h"
#include "gguf_blocks.h"
#include "matmul.h"
#include "matvec.h"
using namespace metal;

// Byte address of the block holding element k of row n.
template <typename Block>
inline device const uchar* block_at(device const uchar* w, uint n, uint k, uint K) {
  return w + n * (K / Block::QK) * Block::BYTES + (k / Block::QK) * Block::BYTES;
}

// matvec.h's weight rows for a block format: one 32-element chunk per load. K is a multiple of
// the block size, so a chunk is always whole.
template <typename Block>
struct BlockRows {
  static constant constexpr int CHUNK = 32;
  static constant constexpr int LANE_CHUNKS = 1;
  static constant constexpr bool AFFINE = Block::AFFINE;
  static constant constexpr int PASS_W_ROWS = MR_W_ROWS;  // see matvec.h's matrows
  device const uchar* w;
  uint K;

  // A block format's chunk is decoded at fetch (its decoders read bytes as they go), so Raw holds
  // the 32 values.
  struct Raw {
    float4 q[8];
    float scale, bias;
  };

  MV_INLINE void fetch(uint n, uint k0, bool, thread Raw& raw) const {
    Block::chunk(block_at<Block>(w, n, k0, K), int((k0 % Block::QK) / 32), raw.q, raw.scale, raw.bias);
  }
  MV_INLINE float value(thread const Raw& raw, int i) const { return raw.q[i / 4][i % 4]; }
};

// matmul.h's W tile for a block format: a step's 32 columns of a row are one chunk; the two
// threads of a row each decode it and stage their 16 values.
template <typename Block>
struct BlockTile {
  device const uchar* w;

  inline void stage(threadgroup float* ws, uint n0, uint k0, uint N, uint K, bool inside, uint tid) const {
    const uint r = tid / 2;
    const int half_ = int(tid % 2) * 16;
    threadgroup float* dst = ws + half_ * MM_LDW + r;
    if (!inside && n0 + r >= N) {
      for (int i = 0; i < 16; i++) dst[i * MM_LDW] = 0.0f;
      return;
    }
    float4 v[8];
    float scale, bias;
    Block::chunk(block_at<Block>(w, n0 + r, k0, K), int((k0 % Block::QK) / 32), v, scale, bias);
    for (int i = 0; i < 16; i++) dst[i * MM_LDW] = fma(scale, v[(half_ + i) / 4][(half_ + i) % 4], bias);
  }
};

// Decode: x [M, K] of T, W blocks [N, K / QK * BYTES], y [M, N] of T. Grid (ceil(N / 8),
// ceil(M / 4)) groups of 64 threads, as gemv.
template <typename T, typename Block>
kernel void gguf_mv(device const T* x [[buffer(0)]],
                    device const uchar* w [[buffer(1)]],
                    device T* y [[buffer(2)]],
                    constant MatmulArgs& args [[buffer(3)]],
                    uint2 tg [[threadgroup_position_in_grid]],
                    uint sg [[simdgroup_index_in_threadgroup]],
                    uint lane [[thread_index_in_simdgroup]]) {
  const BlockRows<Block> rows{w, args.K};
  matvec<T>(rows, x, y, args, tg.x, tg.y * MV_MAX_X_ROWS, sg, lane);
}

// mr_w_rows() weight rows per thread (matvec.h's matrows, the cpu backend's shape): same operands;
// grid as gemv_rows (dispatchThreads).
template <typename T, typename Block>
kernel void gguf_mv_rows(device const T* x [[buffer(0)]],
                         device const uchar* w [[buffer(1)]],
                         device T* y [[buffer(2)]],
                         constant MatmulArgs& args [[buffer(3)]],
                         uint2 gid [[thread_position_in_grid]]) {
  const BlockRows<Block> rows{w, args.K};
  matrows<T>(rows, x, y, args.M, args.N, args.K, gid.x * mr_w_rows(), gid.y * MR_X_ROWS);
}

// Prefill: same operands; grid (ceil(N / 64), ceil(M / 64)) groups of 128 threads, as gemm.
template <typename T, typename Block>
kernel void gguf_mm(device const T* x [[buffer(0)]],
                    device const uchar* w [[buffer(1)]],
                    device T* y [[buffer(2)]],
                    constant MatmulArgs& args [[buffer(3)]],
                    uint2 tg [[threadgroup_position_in_grid]],
                    uint tid [[thread_index_in_threadgroup]],
                    uint sg [[simdgroup_index_in_threadgroup]]) {
  threadgroup float smem[MM_SMEM];
  const BlockTile<Block> tile{w};
  matmul_tile<T>(tile, x, y, args, smem, tg, tid, sg);
}

// Embedding gather from a block table [vocab, dim / QK * BYTES]: out[t, :] = row ids[t] decoded;
// an id past the table yields zeros. Grid (dim / 32, tokens) threads: one chunk each.
template <typename Block, typename Tout>
kernel void gguf_embedding(device const uchar* table [[buffer(0)]],
                           device const uint* ids [[buffer(1)]],
                           device Tout* out [[buffer(2)]],
                           constant EmbeddingArgs& args [[buffer(3)]],
                           uint2 gid [[thread_position_in_grid]]) {
  if (gid.y >= args.tokens || gid.x * 32 >= args.dim) return;
  const uint id = ids[gid.y];
  device Tout* dst = out + gid.y * args.dim + gid.x * 32;
  if (id >= args.vocab) {
    for (int i = 0; i < 32; i++) dst[i] = static_cast<Tout>(0.0f);
    return;
  }
  const uint k0 = gid.x * 32;
  float4 v[8];
  float scale, bias;
  Block::chunk(block_at<Block>(table, id, k0, args.dim), int((k0 % Block::QK) / 32), v, scale, bias);
  for (int i = 0; i < 32; i++) dst[i] = static_cast<Tout>(fma(scale, v[i / 4][i % 4], bias));
}
