// Embedding lookups: out[t, :] = table[ids[t], :], from a float table or from an MLX
// affine-quantized one (dequantized on the fly: w = scale * q + bias per group of 2^group_shift
// values; codes packed per row as a little-endian bit stream of uint32 words, value i at bits
// [i * BITS, (i + 1) * BITS)). An id past the table yields a row of zeros. Each thread handles a
// block of BLOCK consecutive elements of a row (block.h).
#pragma once
#include <metal_stdlib>
#include "block.h"
#include "copy.h"
using namespace metal;

struct EmbeddingArgs {
  uint tokens;
  uint dim;
  uint vocab;
  uint group_shift;  // quantized tables only: log2 of the group size
};

template <typename T>
struct ZeroAt {
  device T* out;
  void operator()(uint i) const { out[i] = static_cast<T>(0.0f); }
};

// Grid: (ceil(dim / BLOCK), tokens) threads, any threadgroup shape.
template <typename Tin, typename Tout>
kernel void embedding(device const Tin* table [[buffer(0)]],
                      device const uint* ids [[buffer(1)]],
                      device Tout* out [[buffer(2)]],
                      constant EmbeddingArgs& args [[buffer(3)]],
                      uint2 gid [[thread_position_in_grid]]) {
  if (gid.y >= args.tokens) return;
  const uint id = ids[gid.y];
  device Tout* row = out + gid.y * args.dim;
  if (id < args.vocab) {
    const CopyContiguousAt<Tin, Tout> f = {table + id * args.dim, row};
    for_block(gid.x, args.dim, f);
  } else {
    const ZeroAt<Tout> f = {row};
    for_block(gid.x, args.dim, f);
  }
}

// Code i of a row of packed words: BITS bits at bit i * BITS, which for 3, 5 and 6 bits may
// straddle two words.
template <uint BITS>
inline uint unpack_code(device const uint* w, uint i) {
  const uint bit = i * BITS;
  const uint word = bit >> 5;
  const uint shift = bit & 31u;
  uint v = w[word] >> shift;
  if (32u % BITS != 0 && shift + BITS > 32u) v |= w[word + 1] << (32u - shift);
  return v & ((1u << BITS) - 1u);
}

// out[i] = scale * q + bias for element i of one row (its words, scales and biases).
template <uint BITS, typename S, typename Tout>
struct DequantAt {
  device const uint* w;
  device const S* scales;
  device const S* biases;
  device Tout* out;
  uint group_shift;
  void operator()(uint i) const {
    const uint g = i >> group_shift;
    out[i] = static_cast<Tout>(fma(float(scales[g]), float(unpack_code<BITS>(w, i)), float(biases[g])));
  }
};

// Grid: (ceil(dim / BLOCK), tokens) threads. S is the type of scales and biases.
template <uint BITS, typename S, typename Tout>
kernel void embedding_affine(device const uint* weight [[buffer(0)]],
                             device const S* scales [[buffer(1)]],
                             device const S* biases [[buffer(2)]],
                             device const uint* ids [[buffer(3)]],
                             device Tout* out [[buffer(4)]],
                             constant EmbeddingArgs& args [[buffer(5)]],
                             uint2 gid [[thread_position_in_grid]]) {
  if (gid.y >= args.tokens) return;
  const uint id = ids[gid.y];
  device Tout* row = out + gid.y * args.dim;
  if (id < args.vocab) {
    const uint groups = args.dim >> args.group_shift;
    const DequantAt<BITS, S, Tout> f = {weight + id * (args.dim * BITS / 32), scales + id * groups, biases + id * groups, row, args.group_shift};
    for_block(gid.x, args.dim, f);
  } else {
    const ZeroAt<Tout> f = {row};
    for_block(gid.x, args.dim, f);
  }
}
