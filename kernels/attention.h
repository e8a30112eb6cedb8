// Scaled dot-product attention with grouped-query heads: out = softmax(scale * q k^T + mask) v,
// for head dims that are multiples of 8 (template parameter D, one instantiation per head dim), q and out of type T, the K/V cache
// of type KV. Softmax runs in base 2 (q is pre-scaled by scale * log2(e)) with float state.
//
// Layouts (element strides come in AttentionArgs):
//   q, out   element (h, i, d) at h * q_head_stride + i * q_tok_stride + d
//   k, v     element (kv head, position, d) at kvh * kv_head_stride + position * D + d
//   mask     element (h, i, position) at h * mask_head_stride + i * mask_row_stride + position,
//            added to the scaled scores (natural-log units; -inf masks)
// Query head h reads KV head h / (n_heads / n_kv_heads). The q_len queries are the last q_len
// positions of the kv_len in the cache: query i sits at position kv_len - q_len + i.
// A key at position j is attended by a query at position p when j < kv_len, j <= p (causal),
// and j + window > p (sliding window, when window > 0). A row with no attended key yields zeros.
#pragma once
#include <metal_stdlib>
using namespace metal;

struct AttentionArgs {
  uint n_heads;
  uint n_kv_heads;
  uint head_dim;
  uint q_len;
  uint kv_len;
  uint q_head_stride;
  uint q_tok_stride;
  uint kv_head_stride;
  uint causal;            // 0 or 1
  uint window;            // 0 = no sliding window
  uint has_mask;          // 0 or 1
  uint mask_head_stride;  // 0 = one mask for every head
  uint mask_row_stride;
  float scale_log2;       // softmax scale * log2(e)
  uint kv_start;          // decode: first position attended
  uint chunk;             // decode: positions per split
  uint n_splits;          // decode: partial results per head; 1 = write out directly
};

// Whether the key at position j is attended by the query at position p.
inline bool attended(constant AttentionArgs& a, uint j, uint p) {
  return j < a.kv_len && (a.causal == 0 || j <= p) && (a.window == 0 || j + a.window > p);
}

// ───────────────────────────── decode ─────────────────────────────
//
// Query tokens against the cache one at a time (grid z is the query), each split across
// threadgroups ("flash decoding"): decode, and on backends where it is faster than the tiled
// kernel, prefill. A threadgroup serves one query, one KV head and up to DEC_MAX_HEADS of the query heads that share it, so
// each K/V row is read once for the whole GQA group; its q vectors sit in threadgroup memory.
// Each of its DEC_SIMDGROUPS simdgroups is one split: `chunk` consecutive positions, walked 32
// at a time with one position per lane. A lane scores its position against every head (a full
// dot product, no collective), the block's maximum comes from one simd_max per head, and the
// weights go through threadgroup memory so that for the V sum the lanes switch to owning
// consecutive columns (d = lane * PER_LANE + i, as MLX's vector kernel does, so a lane's V
// loads are contiguous). With n_splits == 1 the simdgroup writes the normalized output;
// otherwise it writes (o unnormalized, max, sum) to `partial`, [q_len, n_heads, n_splits, D + 2]
// floats, and sdpa_decode_reduce combines them. Splits cover [kv_start, kv_len); each query
// clips them to the positions it may attend.
//
// Grid: (n_kv_heads * ceil(gqa / DEC_MAX_HEADS), ceil(n_splits / DEC_SIMDGROUPS), q_len) groups
// of 32 * DEC_SIMDGROUPS threads (dispatchThreadgroups).

constant constexpr int DEC_SIMDGROUPS = 4;
constant constexpr int DEC_MAX_HEADS = 8;

template <typename T, typename KV, int D>
kernel void sdpa_decode(device const T* q [[buffer(0)]],
                        device const KV* k [[buffer(1)]],
                        device const KV* v [[buffer(2)]],
                        device const T* mask [[buffer(3)]],
                        device T* out [[buffer(4)]],
                        device float* partial [[buffer(5)]],
                        constant AttentionArgs& args [[buffer(6)]],
                        uint3 tg [[threadgroup_position_in_grid]],
                        uint tid [[thread_index_in_threadgroup]],
                        uint sg [[simdgroup_index_in_threadgroup]],
                        uint lane [[thread_index_in_simdgroup]]) {
  constexpr int PER_LANE = (D + 31) / 32;
  constexpr bool FULL_ROW = D == 32 * PER_LANE;  // every lane's columns exist (all but D = 80)
  threadgroup float qs[DEC_MAX_HEADS * D];
  threadgroup float ws[DEC_SIMDGROUPS * DEC_MAX_HEADS * 32];

  const uint gqa = args.n_heads / args.n_kv_heads;
  const uint chunks = (gqa + DEC_MAX_HEADS - 1) / DEC_MAX_HEADS;
  const uint kvh = tg.x / chunks;
  const uint first = (tg.x % chunks) * DEC_MAX_HEADS;
  const int nh = int(min(uint(DEC_MAX_HEADS), gqa - first));
  const uint h0 = kvh * gqa + first;
  const uint qi = tg.z;
  const uint pos = args.kv_len - args.q_len + qi;  // the query's own position
  q += qi * args.q_tok_stride;
  out += qi * args.q_tok_stride;
  mask += qi * args.mask_row_stride;

  for (uint i = tid; i < uint(nh * D); i += 32 * DEC_SIMDGROUPS) {
    qs[i] = float(q[(h0 + i / D) * args.q_head_stride + i % D]) * args.scale_log2;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);

  const uint split = tg.y * DEC_SIMDGROUPS + sg;
  if (split >= args.n_splits) return;
  // The split's positions, clipped to those this query may attend.
  const uint lo = args.window > 0 && pos + 1 > args.window ? pos + 1 - args.window : 0;
  const uint hi = args.causal ? min(args.kv_len, pos + 1) : args.kv_len;
  const uint begin = max(args.kv_start + split * args.chunk, lo);
  const uint end = min(args.kv_start + (split + 1) * args.chunk, hi);
  device const KV* kh = k + kvh * args.kv_head_stride;
  device const KV* vh = v + kvh * args.kv_head_stride;
  threadgroup float* w = ws + sg * DEC_MAX_HEADS * 32;
  // This lane's columns of V and out: [d0, d0 + PER_LANE), clipped to D (which only D = 80 needs).
  const uint d0 = lane * PER_LANE;

  float m[DEC_MAX_HEADS];
  float l[DEC_MAX_HEADS];
  float o[DEC_MAX_HEADS][PER_LANE];
  for (int g = 0; g < DEC_MAX_HEADS; g++) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
    for (int i = 0; i < PER_LANE; i++) o[g][i] = 0.0f;
  }

  for (uint p0 = begin; p0 < end; p0 += 32) {
    const uint p = p0 + lane;
    const bool valid = p < end;
    // Each K element is loaded once for all heads; 4-wide partial sums keep the chains short.
    float4 s4[DEC_MAX_HEADS];
    for (int g = 0; g < DEC_MAX_HEADS; g++) s4[g] = 0.0f;
    if (valid) {
      device const KV* kr = kh + p * D;
#pragma clang loop unroll_count(2)
      for (int d = 0; d < D; d += 4) {
        const float4 k4 = float4(float(kr[d]), float(kr[d + 1]), float(kr[d + 2]), float(kr[d + 3]));
#pragma clang loop unroll(full)
        for (int g = 0; g < DEC_MAX_HEADS; g++) {
          if (g >= nh) continue;
          threadgroup const float* qg = qs + g * D + d;
          s4[g] = fma(float4(qg[0], qg[1], qg[2], qg[3]), k4, s4[g]);
        }
      }
    }
    float s[DEC_MAX_HEADS];
    for (int g = 0; g < DEC_MAX_HEADS; g++) s[g] = (s4[g].x + s4[g].y) + (s4[g].z + s4[g].w);
#pragma clang loop unroll(full)
    for (int g = 0; g < DEC_MAX_HEADS; g++) {
      if (g >= nh) continue;
      float sc = -INFINITY;
      if (valid) sc = s[g] + (args.has_mask ? float(mask[(h0 + g) * args.mask_head_stride + p]) * M_LOG2E_F : 0.0f);
      const float mn = max(m[g], simd_max(sc));
      const float alpha = mn == -INFINITY ? 1.0f : exp2(m[g] - mn);
      const float pw = sc == -INFINITY ? 0.0f : exp2(sc - mn);
      m[g] = mn;
      l[g] = fma(l[g], alpha, pw);
      for (int i = 0; i < PER_LANE; i++) o[g][i] *= alpha;
      w[g * 32 + lane] = pw;
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);
    const uint rows = min(32u, end - p0);
    for (uint j = 0; j < rows; j++) {
      device const KV* vr = vh + (p0 + j) * D;
      float vv[PER_LANE];
      for (int i = 0; i < PER_LANE; i++) vv[i] = (FULL_ROW || d0 + i < uint(D)) ? float(vr[d0 + i]) : 0.0f;
#pragma clang loop unroll(full)
      for (int g = 0; g < DEC_MAX_HEADS; g++) {
        if (g >= nh) continue;
        const float wj = w[g * 32 + j];
        for (int i = 0; i < PER_LANE; i++) o[g][i] = fma(wj, vv[i], o[g][i]);
      }
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);
  }

#pragma clang loop unroll(full)
  for (int g = 0; g < DEC_MAX_HEADS; g++) {
    if (g >= nh) continue;
    const float sum = simd_sum(l[g]);
    const uint h = h0 + g;
    if (args.n_splits == 1) {
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      device T* dst = out + h * args.q_head_stride;
      for (int i = 0; i < PER_LANE; i++)
        if (FULL_ROW || d0 + i < uint(D)) dst[d0 + i] = static_cast<T>(o[g][i] * inv);
    } else {
      device float* dst = partial + ((qi * args.n_heads + h) * args.n_splits + split) * (D + 2);
      for (int i = 0; i < PER_LANE; i++)
        if (FULL_ROW || d0 + i < uint(D)) dst[d0 + i] = o[g][i];
      if (lane == 0) {
        dst[D] = m[g];
        dst[D + 1] = sum;
      }
    }
  }
}

// Combine the splits of sdpa_decode: out = sum_s 2^(m_s - M) o_s / sum_s 2^(m_s - M) l_s with
// M = max_s m_s. One thread per output element; no collectives. Grid: (head_dim, n_heads,
// q_len) threads (dispatchThreads).
template <typename T>
kernel void sdpa_decode_reduce(device const float* partial [[buffer(0)]],
                               device T* out [[buffer(1)]],
                               constant AttentionArgs& args [[buffer(2)]],
                               uint3 gid [[thread_position_in_grid]]) {
  const uint D = args.head_dim;
  const uint d = gid.x;
  const uint h = gid.y;
  const uint qi = gid.z;
  if (d >= D || h >= args.n_heads || qi >= args.q_len) return;
  device const float* ph = partial + (qi * args.n_heads + h) * args.n_splits * (D + 2);
  float mx = -INFINITY;
  for (uint s = 0; s < args.n_splits; s++) mx = max(mx, ph[s * (D + 2) + D]);
  float sum = 0.0f;
  float acc = 0.0f;
  if (mx != -INFINITY) {
    for (uint s = 0; s < args.n_splits; s++) {
      device const float* p = ph + s * (D + 2);
      const float f = exp2(p[D] - mx);
      sum = fma(f, p[D + 1], sum);
      acc = fma(f, p[d], acc);
    }
  }
  out[qi * args.q_tok_stride + h * args.q_head_stride + d] = static_cast<T>(sum > 0.0f ? acc / sum : 0.0f);
}
