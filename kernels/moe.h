// Mixture-of-experts kernels: routing, the experts' gathered matrix-vector products and the
// weighted combine, so a sparse MLP runs on the device with no host round trip.
//
//   moe_route      router logits [tokens, E] -> per token the top-k experts (indices [tokens, k],
//                  uint) and their weights ([tokens, k], float): softmax over all E, the k largest
//                  probabilities (equal ones: the lower index first), renormalized over the k when
//                  norm_topk is set. That is Qwen3-MoE's routing, and Mixtral's (whose softmax over
//                  the top-k logits equals the renormalized top-k of the full softmax).
//   gather_qmv     y[p] = W[indices[p]] · x[row(p)] for every (token, slot) pair p = token * k + slot,
//   gather_gemv    with W the experts stacked [E, N, K] (MLX affine per expert, or dense); row(p) is
//                  the token (x shared by the k slots: gate and up projections) or p itself (x per
//                  pair: the down projection). Reuses the matvec body (matvec.h) with the expert's
//                  slice as its weight, one pair per grid row.
//   moe_combine    out[t] = sum over slots s of weight[t, s] * y[t * k + s].
//
// Prefill groups the pairs by expert instead (as MLX sorts indices for gather_qmm), so that an
// expert's weights are read once per batch of up to MV_MAX_X_ROWS pairs rather than once per pair:
//   moe_sort            (one thread) a stable counting sort of the pairs by expert: `order` (the
//                       pair at each sorted row), `sorted_row` (its inverse) and a batch table of
//                       (expert, first sorted row, rows) with at most MV_MAX_X_ROWS rows a batch;
//   moe_gather_rows     x rows into sorted order;
//   grouped_qmv         one batch per grid row: the batch's rows against its expert's slice;
//   grouped_gemv        (the down projection reads the sorted activations directly);
//   moe_combine_sorted  the combine, reading each pair's row through `sorted_row`.
#pragma once
#include <metal_stdlib>
#include "matvec.h"
using namespace metal;

struct MoeArgs {
  uint M;             // pairs (gather), tokens (route, combine)
  uint N;             // one expert's rows (gather), output width (combine)
  uint K;             // one expert's columns
  uint group_shift;   // log2(group size), affine experts
  uint top_k;         // slots per token
  uint n_experts;     // E
  uint x_per_pair;    // 1: x has one row per pair; 0: one row per token
  uint norm_topk;     // moe_route: renormalize the k weights to sum to 1
};

// Most experts moe_route handles: one simdgroup holds the logits, MOE_PER_LANE per lane.
constant constexpr int MOE_PER_LANE = 8;
constant constexpr uint MOE_MAX_EXPERTS = 32 * MOE_PER_LANE;

// One simdgroup per token. Grid: (tokens) groups of 32 threads (dispatchThreadgroups).
// Experts e = lane + 32 * i live in lane `lane`, slot i.
template <typename T>
kernel void moe_route(device const T* logits [[buffer(0)]],
                      device uint* indices [[buffer(1)]],
                      device float* weights [[buffer(2)]],
                      constant MoeArgs& args [[buffer(3)]],
                      uint tg [[threadgroup_position_in_grid]],
                      uint lane [[thread_index_in_simdgroup]]) {
  const uint E = args.n_experts;
  const uint k = args.top_k;
  logits += tg * E;
  float p[MOE_PER_LANE];
  float mx = -INFINITY;
  for (int i = 0; i < MOE_PER_LANE; i++) {
    const uint e = lane + 32 * i;
    p[i] = e < E ? float(logits[e]) : -INFINITY;
    mx = max(mx, p[i]);
  }
  mx = simd_max(mx);
  float sum = 0.0f;
  for (int i = 0; i < MOE_PER_LANE; i++) {
    p[i] = lane + 32 * i < E ? exp(p[i] - mx) : -1.0f;  // -1: never chosen
    sum += max(p[i], 0.0f);
  }
  sum = simd_sum(sum);
  // Pick k times the largest remaining probability; ties go to the lower expert index.
  float chosen_total = 0.0f;
  float my_weight = 0.0f;  // lane s keeps slot s's weight (k <= 32 checked by the op)
  uint my_index = 0;
  for (uint s = 0; s < k; s++) {
    float best = -2.0f;
    uint best_e = 0xffffffffu;
    for (int i = 0; i < MOE_PER_LANE; i++) {
      const uint e = lane + 32 * i;
      if (p[i] > best) {
        best = p[i];
        best_e = e;
      }
    }
    const float top = simd_max(best);
    const uint top_e = simd_min(best == top ? best_e : 0xffffffffu);
    for (int i = 0; i < MOE_PER_LANE; i++)
      if (lane + 32 * i == top_e) p[i] = -1.0f;
    const float w = top / sum;
    chosen_total += w;
    if (lane == s) {
      my_weight = w;
      my_index = top_e;
    }
  }
  if (lane < k) {
    indices[tg * k + lane] = my_index;
    weights[tg * k + lane] = args.norm_topk ? my_weight / chosen_total : my_weight;
  }
}

// The expert of pair p, clamped so that a bad index cannot read outside W.
inline uint moe_expert(device const uint* indices, constant MoeArgs& args, uint p) {
  return min(indices[p], args.n_experts - 1);
}

// MLX affine experts: w [E, N, K*bits/32] uint32, scales/biases [E, N, K/group] of S; x of T,
// y [pairs, N] of T. Grid: (ceil(N / 8), pairs) groups of 64 threads (dispatchThreadgroups).
template <typename T, typename S, int bits>
kernel void gather_qmv(device const T* x [[buffer(0)]],
                       device const uint* w [[buffer(1)]],
                       device const S* scales [[buffer(2)]],
                       device const S* biases [[buffer(3)]],
                       device const uint* indices [[buffer(4)]],
                       device T* y [[buffer(5)]],
                       constant MoeArgs& args [[buffer(6)]],
                       uint2 tg [[threadgroup_position_in_grid]],
                       uint sg [[simdgroup_index_in_threadgroup]],
                       uint lane [[thread_index_in_simdgroup]]) {
  const uint p = tg.y;
  const uint e = moe_expert(indices, args, p);
  const uint N = args.N;
  const uint K = args.K;
  const uint groups = K >> args.group_shift;
  const AffineRows<S, bits, LaneChunk<bits>::VALUES> rows{w + e * N * (K / 32 * bits), scales + e * N * groups, biases + e * N * groups, K, args.group_shift};
  const uint xrow = args.x_per_pair ? p : p / args.top_k;
  matvec_rows<T>(rows, x + xrow * K, y + p * N, N, K, 1, tg.x, sg, lane);
}

// Dense experts: w [E, N, K] of W. Same grid as gather_qmv.
template <typename T, typename W>
kernel void gather_gemv(device const T* x [[buffer(0)]],
                        device const W* w [[buffer(1)]],
                        device const uint* indices [[buffer(2)]],
                        device T* y [[buffer(3)]],
                        constant MoeArgs& args [[buffer(4)]],
                        uint2 tg [[threadgroup_position_in_grid]],
                        uint sg [[simdgroup_index_in_threadgroup]],
                        uint lane [[thread_index_in_simdgroup]]) {
  const uint p = tg.y;
  const uint e = moe_expert(indices, args, p);
  const uint N = args.N;
  const uint K = args.K;
  const DenseRows<W> rows{w + e * N * K, K};
  const uint xrow = args.x_per_pair ? p : p / args.top_k;
  matvec_rows<T>(rows, x + xrow * K, y + p * N, N, K, 1, tg.x, sg, lane);
}

// out [tokens, N] of T = sum_s weights[t, s] * y[t * k + s]. One thread per output element.
// Grid: (N, tokens) threads (dispatchThreads).
template <typename T>
kernel void moe_combine(device const T* y [[buffer(0)]],
                        device const float* weights [[buffer(1)]],
                        device T* out [[buffer(2)]],
                        constant MoeArgs& args [[buffer(3)]],
                        uint2 gid [[thread_position_in_grid]]) {
  const uint N = args.N;
  const uint d = gid.x;
  const uint t = gid.y;
  if (d >= N || t >= args.M) return;
  const uint k = args.top_k;
  float acc = 0.0f;
  for (uint s = 0; s < k; s++) acc = fma(weights[t * k + s], float(y[(t * k + s) * N + d]), acc);
  out[t * N + d] = static_cast<T>(acc);
}

// ───────────── grouped (prefill) ─────────────

// One batch of the grouped products is three uints: (expert, first sorted row, rows), all of its
// rows routed to that expert. (Plain uints rather than a struct: fields are written and read one
// by one, with no struct copy between address spaces.)
constant constexpr uint MOE_BATCH_WORDS = 3;

inline void moe_write_batch(device uint* batches, uint b, uint expert, uint first, uint rows) {
  batches[b * MOE_BATCH_WORDS] = expert;
  batches[b * MOE_BATCH_WORDS + 1] = first;
  batches[b * MOE_BATCH_WORDS + 2] = rows;
}

// Stable counting sort of the M pairs by expert (one thread: a prefill sorts a few thousand
// pairs). order [M], sorted_row [M], batches [max_batches] (unused ones get rows = 0), with
// max_batches = ceil(M / MV_MAX_X_ROWS) + min(E, M) (args.N carries it). Grid: 1 thread.
// (A template over the index type only so that it is instantiated like every other kernel.)
template <typename I>
kernel void moe_sort(device const I* indices [[buffer(0)]],
                     device I* order [[buffer(1)]],
                     device I* sorted_row [[buffer(2)]],
                     device uint* batches [[buffer(3)]],
                     constant MoeArgs& args [[buffer(4)]],
                     uint gid [[thread_position_in_grid]]) {
  if (gid != 0) return;
  const uint E = args.n_experts;
  const uint P = args.M;
  uint start[MOE_MAX_EXPERTS];
  for (uint e = 0; e < E; e++) start[e] = 0;
  for (uint p = 0; p < P; p++) start[min(indices[p], E - 1)]++;
  // Counts -> first sorted row of each expert, batches as we go.
  uint row = 0;
  uint b = 0;
  for (uint e = 0; e < E; e++) {
    const uint count = start[e];
    start[e] = row;
    for (uint r = 0; r < count; r += MV_MAX_X_ROWS) moe_write_batch(batches, b++, e, row + r, min(uint(MV_MAX_X_ROWS), count - r));
    row += count;
  }
  for (; b < args.N; b++) moe_write_batch(batches, b, 0, 0, 0);
  for (uint p = 0; p < P; p++) {
    const uint r = start[min(indices[p], E - 1)]++;
    order[r] = p;
    sorted_row[p] = r;
  }
}

// xs [M, K] = the x row of each sorted pair (its token's, or its own with x_per_pair). Grid: (K, M)
// threads (dispatchThreads).
template <typename T>
kernel void moe_gather_rows(device const T* x [[buffer(0)]],
                            device const uint* order [[buffer(1)]],
                            device T* xs [[buffer(2)]],
                            constant MoeArgs& args [[buffer(3)]],
                            uint2 gid [[thread_position_in_grid]]) {
  const uint K = args.K;
  if (gid.x >= K || gid.y >= args.M) return;
  const uint p = order[gid.y];
  const uint row = args.x_per_pair ? p : p / args.top_k;
  xs[gid.y * K + gid.x] = x[row * K + gid.x];
}

// ys [M, N] = for each batch, its rows of xs [M, K] against its expert. Grid: (ceil(N / 8),
// max_batches) groups of 64 threads (dispatchThreadgroups).
template <typename T, typename S, int bits>
kernel void grouped_qmv(device const T* xs [[buffer(0)]],
                        device const uint* w [[buffer(1)]],
                        device const S* scales [[buffer(2)]],
                        device const S* biases [[buffer(3)]],
                        device const uint* batches [[buffer(4)]],
                        device T* ys [[buffer(5)]],
                        constant MoeArgs& args [[buffer(6)]],
                        uint2 tg [[threadgroup_position_in_grid]],
                        uint sg [[simdgroup_index_in_threadgroup]],
                        uint lane [[thread_index_in_simdgroup]]) {
  device const uint* batch = batches + tg.y * MOE_BATCH_WORDS;
  const uint first = batch[1];
  const int count = int(batch[2]);
  if (count == 0) return;
  const uint e = min(batch[0], args.n_experts - 1);
  const uint N = args.N;
  const uint K = args.K;
  const uint groups = K >> args.group_shift;
  const AffineRows<S, bits, LaneChunk<bits>::VALUES> rows{w + e * N * (K / 32 * bits), scales + e * N * groups, biases + e * N * groups, K, args.group_shift};
  matvec_rows<T>(rows, xs + first * K, ys + first * N, N, K, count, tg.x, sg, lane);
}

template <typename T, typename W>
kernel void grouped_gemv(device const T* xs [[buffer(0)]],
                         device const W* w [[buffer(1)]],
                         device const uint* batches [[buffer(2)]],
                         device T* ys [[buffer(3)]],
                         constant MoeArgs& args [[buffer(4)]],
                         uint2 tg [[threadgroup_position_in_grid]],
                         uint sg [[simdgroup_index_in_threadgroup]],
                         uint lane [[thread_index_in_simdgroup]]) {
  device const uint* batch = batches + tg.y * MOE_BATCH_WORDS;
  const uint first = batch[1];
  const int count = int(batch[2]);
  if (count == 0) return;
  const uint e = min(batch[0], args.n_experts - 1);
  const uint N = args.N;
  const uint K = args.K;
  const DenseRows<W> rows{w + e * N * K, K};
  matvec_rows<T>(rows, xs + first * K, ys + first * N, N, K, count, tg.x, sg, lane);
}

// out [tokens, N] = sum_s weights[t, s] * ys[sorted_row[t * k + s]]. Grid: (N, tokens) threads.
template <typename T>
kernel void moe_combine_sorted(device const T* ys [[buffer(0)]],
                               device const float* weights [[buffer(1)]],
                               device const uint* sorted_row [[buffer(2)]],
                               device T* out [[buffer(3)]],
                               constant MoeArgs& args [[buffer(4)]],
                               uint2 gid [[thread_position_in_grid]]) {
  const uint N = args.N;
  const uint d = gid.x;
  const uint t = gid.y;
  if (d >= N || t >= args.M) return;
  const uint k = args.top_k;
  float acc = 0.0f;
  for (uint s = 0; s < k; s++) acc = fma(weights[t * k + s], float(ys[sorted_row[t * k + s] * N + d]), acc);
  out[t * N + d] = static_cast<T>(acc);
}
