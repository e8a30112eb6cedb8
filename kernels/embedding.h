// Embedding lookups: out[t, :] = table[ids[t], :], from a float table or from an MLX
// affine-quantized one (dequantized on the fly: w = scale * q + bias per group of group_size
// values; codes packed per row as a little-endian bit stream of uint32 words, value i at bits
// [i * BITS, (i + 1) * BITS)). An id past the table yields a row of zeros.
#pragma once
#include <metal_stdlib>
using namespace metal;

struct EmbeddingArgs {
  uint tokens;
  uint dim;
  uint vocab;
  uint group_size;  // quantized tables only
};

// Grid: (dim, tokens) threads, any threadgroup shape.
template <typename Tin, typename Tout>
kernel void embedding(device const Tin* table [[buffer(0)]],
                      device const uint* ids [[buffer(1)]],
                      device Tout* out [[buffer(2)]],
                      constant EmbeddingArgs& args [[buffer(3)]],
                      uint2 gid [[thread_position_in_grid]]) {
  if (gid.x >= args.dim || gid.y >= args.tokens) return;
  const uint id = ids[gid.y];
  const float v = id < args.vocab ? float(table[id * args.dim + gid.x]) : 0.0f;
  out[gid.y * args.dim + gid.x] = static_cast<Tout>(v);
}

// Code i of a row starting at word `row`: BITS bits at bit i * BITS, which for 3, 5 and 6 bits
// may straddle two words.
template <uint BITS>
inline uint unpack_code(device const uint* w, uint row, uint i) {
  const uint bit = i * BITS;
  const uint word = row + (bit >> 5);
  const uint shift = bit & 31u;
  uint v = w[word] >> shift;
  if (32u % BITS != 0 && shift + BITS > 32u) v |= w[word + 1] << (32u - shift);
  return v & ((1u << BITS) - 1u);
}

// Grid: (dim, tokens) threads. S is the type of scales and biases.
template <uint BITS, typename S, typename Tout>
kernel void embedding_affine(device const uint* weight [[buffer(0)]],
                             device const S* scales [[buffer(1)]],
                             device const S* biases [[buffer(2)]],
                             device const uint* ids [[buffer(3)]],
                             device Tout* out [[buffer(4)]],
                             constant EmbeddingArgs& args [[buffer(5)]],
                             uint2 gid [[thread_position_in_grid]]) {
  if (gid.x >= args.dim || gid.y >= args.tokens) return;
  const uint id = ids[gid.y];
  float v = 0.0f;
  if (id < args.vocab) {
    const uint q = unpack_code<BITS>(weight, id * (args.dim * BITS / 32), gid.x);
    const uint g = id * (args.dim / args.group_size) + gid.x / args.group_size;
    v = fma(float(scales[g]), float(q), float(biases[g]));
  }
  out[gid.y * args.dim + gid.x] = static_cast<Tout>(v);
}
