// Rotary position embedding over [tokens, heads, head_dim] rows, in two layouts chosen by a
// template parameter: traditional (rotated pairs are adjacent, (2i, 2i+1)) and NeoX (pairs are
// split in halves, (i, i + rotary_dim / 2)). Only the first rotary_dim elements of each head
// rotate; the rest are copied. Frequencies come precomputed from the host (inv_freq[i] for
// pair i, with any frequency scaling already applied), so theta and scaling variants cost the
// kernel nothing; the angle of pair i at token t is (offset + t) * inv_freq[i].
#pragma once
#include <metal_stdlib>
using namespace metal;

struct RopeArgs {
  uint tokens;
  uint heads;
  uint head_dim;
  uint rotary_dim;
  uint offset;
};

// Grid: (head_dim / 2, tokens) threads. Thread x < rotary_dim / 2 takes the cosine and sine of
// pair x's angle once and rotates that pair in every head of its token; a thread past that
// copies two of the unrotated tail elements of every head. In-place (x == out) is fine: each
// element is read and written by the same thread.
template <typename T, bool TRADITIONAL>
kernel void rope(device const T* x [[buffer(0)]],
                 device T* out [[buffer(1)]],
                 constant RopeArgs& args [[buffer(2)]],
                 constant float* inv_freq [[buffer(3)]],
                 uint2 gid [[thread_position_in_grid]]) {
  const uint half_rot = args.rotary_dim / 2;
  if (gid.x >= args.head_dim / 2 || gid.y >= args.tokens) return;
  const uint token = gid.y * args.heads * args.head_dim;
  if (gid.x >= half_rot) {
    const uint i = token + args.rotary_dim + 2 * (gid.x - half_rot);
    for (uint h = 0; h < args.heads; ++h) {
      out[i + h * args.head_dim] = x[i + h * args.head_dim];
      out[i + h * args.head_dim + 1] = x[i + h * args.head_dim + 1];
    }
    return;
  }
  const float angle = float(args.offset + gid.y) * inv_freq[gid.x];
  const float c = precise::cos(angle);
  const float s = precise::sin(angle);
  const uint first = token + (TRADITIONAL ? 2 * gid.x : gid.x);
  const uint second = TRADITIONAL ? 1 : half_rot;
  for (uint h = 0; h < args.heads; ++h) {
    const uint i0 = first + h * args.head_dim;
    const float a = float(x[i0]);
    const float b = float(x[i0 + second]);
    out[i0] = static_cast<T>(a * c - b * s);
    out[i0 + second] = static_cast<T>(a * s + b * c);
  }
}
