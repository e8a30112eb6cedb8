// Selection over rows of logits, one threadgroup per row: top-k and sampling (whose greedy
// mode is the argmax).
//
// Thresholds are found without sorting: elements compare through order_key (reduce.h), and the
// largest key K whose "mass" (a count, or a sum of weights, over elements with key >= K) still
// reaches a target is built one bit at a time from the top, 32 passes over the row, each a
// threadgroup sum. Only top-k's k winners are sorted, in threadgroup memory.
#pragma once
#include <metal_stdlib>
#include "block.h"
#include "reduce.h"
using namespace metal;

// Largest top-k the top_k kernel accepts: its candidates live in threadgroup memory.
constant constexpr uint TOP_K_MAX = 1024;

// Best element of a row: largest value, smallest index among equals; NaNs are never chosen.
// Every thread of the group receives it (index 0xffffffff when the row holds only NaNs).
template <typename T>
inline uint row_argmax(device const T* x, uint cols, uint tid, uint threads, threadgroup float* vals, threadgroup uint* idxs, GroupPos p) {
  float best = -INFINITY;
  uint at = 0xffffffffu;
  for (uint blk = tid * BLOCK; blk < cols; blk += threads * BLOCK)
    for (uint i = blk; i < min(blk + BLOCK, cols); ++i) {
    const float v = float(x[i]);
    if (v > best || (at == 0xffffffffu && v == best)) {
      best = v;
      at = i;
    }
  }
  group_argmax(best, at, vals, idxs, p);
  return at;
}

// The largest key K >= floor_key such that the mass of the elements with key >= K reaches
// `target`, where an element's mass is 1 (COUNT) or exp(x * scale - shift) (only elements with
// key >= floor_key count). The mass is non-increasing in K, so K is built bit by bit.
template <typename T, bool COUNT>
inline uint threshold_key(device const T* x, uint cols, float scale, float shift, uint floor_key, float target,
                          uint tid, uint threads, threadgroup float* scratch, GroupPos p) {
  uint key = 0;
  for (int bit = 31; bit >= 0; --bit) {
    const uint cand = key | (1u << uint(bit));
    const uint least = max(cand, floor_key);
    float mass = 0.0f;
    for (uint blk = tid * BLOCK; blk < cols; blk += threads * BLOCK)
      for (uint i = blk; i < min(blk + BLOCK, cols); ++i) {
      const float v = float(x[i]);
      if (order_key(v) >= least) mass += COUNT ? 1.0f : exp(v * scale - shift);
    }
    if (group_sum(mass, scratch, p) >= target) key = cand;
  }
  return max(key, floor_key);
}

struct SelectArgs {
  uint cols;
  // top_k: number of winners. sample: 0 disables the top-k filter.
  uint k;
  // sample only: 1 / temperature (0: greedy), the top-p mass (>= 1 disables it), seed and step
  // of the random stream.
  float inv_temperature;
  float top_p;
  uint seed;
  uint step;
};

// `a` goes before `b`: larger key, or equal key and smaller index.
inline bool ranks_before(uint ka, uint ia, uint kb, uint ib) {
  return ka > kb || (ka == kb && ia < ib);
}

// The k largest elements of each row, largest first (equal values: smaller index first), into
// values [rows, k] (type T, exact) and indices [rows, k]. Ties at the k-th value are broken by
// index. Grid: rows threadgroups of a multiple of 32 threads (at most 1024).
template <typename T>
kernel void top_k(device const T* x [[buffer(0)]],
                  device T* values [[buffer(1)]],
                  device uint* indices [[buffer(2)]],
                  constant SelectArgs& args [[buffer(3)]],
                  uint row [[threadgroup_position_in_grid]],
                  uint tid [[thread_position_in_threadgroup]],
                  uint threads [[threads_per_threadgroup]]) {
  threadgroup float scratch[32];
  threadgroup uint uscratch[32];
  threadgroup uint cand_key[TOP_K_MAX];
  threadgroup uint cand_idx[TOP_K_MAX];
  const GroupPos p = group_pos(tid, threads);
  const uint cols = args.cols;
  const uint k = args.k;
  device const T* xr = x + row * cols;

  // The k-th largest key; G elements lie above it, and need = k - G of those equal to it are
  // taken: the ones of smallest index, found by bisecting an index bound if there are more.
  const uint kth = threshold_key<T, true>(xr, cols, 0.0f, 0.0f, 0u, float(k), tid, threads, scratch, p);
  uint above = 0;
  uint equal = 0;
  for (uint blk = tid * BLOCK; blk < cols; blk += threads * BLOCK)
    for (uint i = blk; i < min(blk + BLOCK, cols); ++i) {
    const uint key = order_key(float(xr[i]));
    above += key > kth ? 1u : 0u;
    equal += key == kth ? 1u : 0u;
  }
  uint total_above;
  const uint above_at = group_exclusive_scan(above, uscratch, p, total_above);
  const uint need = k - total_above;
  const uint total_equal = group_sum(equal, uscratch, p);
  uint bound = cols;  // equal elements with index < bound are taken
  if (total_equal > need) {
    uint lo = 0;  // count(equal, index < lo) < need <= count(equal, index < bound)
    while (bound - lo > 1) {
      const uint mid = lo + (bound - lo) / 2;
      uint c = 0;
      for (uint blk = tid * BLOCK; blk < mid; blk += threads * BLOCK)
        for (uint i = blk; i < min(blk + BLOCK, mid); ++i) c += order_key(float(xr[i])) == kth ? 1u : 0u;
      if (group_sum(c, uscratch, p) >= need) bound = mid;
      else lo = mid;
    }
  }
  uint taken = 0;
  for (uint blk = tid * BLOCK; blk < bound; blk += threads * BLOCK)
    for (uint i = blk; i < min(blk + BLOCK, bound); ++i) taken += order_key(float(xr[i])) == kth ? 1u : 0u;
  uint total_taken;
  const uint taken_at = group_exclusive_scan(taken, uscratch, p, total_taken);

  // Compact the k winners (in no particular order), pad to a power of two, bitonic-sort.
  uint a = above_at;
  uint e = total_above + taken_at;
  for (uint blk = tid * BLOCK; blk < cols; blk += threads * BLOCK)
    for (uint i = blk; i < min(blk + BLOCK, cols); ++i) {
    const uint key = order_key(float(xr[i]));
    if (key > kth) {
      cand_key[a] = key;
      cand_idx[a++] = i;
    } else if (key == kth && i < bound) {
      cand_key[e] = key;
      cand_idx[e++] = i;
    }
  }
  uint n = 1;
  while (n < k) n <<= 1;
  for (uint i = k + tid; i < n; i += threads) {
    cand_key[i] = 0u;
    cand_idx[i] = 0xffffffffu;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint size = 2; size <= n; size <<= 1) {
    for (uint stride = size >> 1; stride > 0; stride >>= 1) {
      for (uint i = tid; i < n; i += threads) {
        const uint j = i ^ stride;
        if (j <= i) continue;
        const bool first_half = (i & size) == 0;
        const bool swap = first_half ? ranks_before(cand_key[j], cand_idx[j], cand_key[i], cand_idx[i])
                                     : ranks_before(cand_key[i], cand_idx[i], cand_key[j], cand_idx[j]);
        if (swap) {
          const uint tk = cand_key[i];
          const uint ti = cand_idx[i];
          cand_key[i] = cand_key[j];
          cand_idx[i] = cand_idx[j];
          cand_key[j] = tk;
          cand_idx[j] = ti;
        }
      }
      threadgroup_barrier(mem_flags::mem_threadgroup);
    }
  }
  for (uint i = tid; i < k; i += threads) {
    const uint key = cand_key[i];
    const uint bits = (key & 0x80000000u) != 0 ? (key & 0x7fffffffu) : ~key;
    values[row * k + i] = static_cast<T>(as_type<float>(bits));
    indices[row * k + i] = cand_idx[i];
  }
}

// A counter-based random stream: a 32-bit integer hash (xor-shift-multiply rounds) applied to
// seed, then step, then row, so any (seed, step, row) draws the same number on every run.
inline uint mix32(uint v) {
  v ^= v >> 16;
  v *= 0x7feb352du;
  v ^= v >> 15;
  v *= 0x846ca68bu;
  v ^= v >> 16;
  return v;
}

// Uniform in [0, 1) with 24 random bits.
inline float uniform01(uint seed, uint step, uint row) {
  return float(mix32(mix32(mix32(seed) ^ step) ^ row) >> 8) * 5.9604644775390625e-8f;  // 2^-24
}

// out[row] = a token drawn from softmax(x * inv_temperature) restricted to the top-k values
// (k = 0: all; ties at the k-th value all kept), then to the smallest top set whose probability
// reaches top_p (again keeping ties), by inverse CDF in index order with u = uniform01(seed,
// step, row). inv_temperature = 0 takes the argmax (largest value, smallest index among
// equals; 0 for a row of NaNs): the argmax op is this kernel at temperature 0. Grid: rows
// threadgroups of a multiple of 32 threads.
template <typename T>
kernel void sample_logits(device const T* x [[buffer(0)]],
                          device uint* out [[buffer(1)]],
                          constant SelectArgs& args [[buffer(2)]],
                          uint row [[threadgroup_position_in_grid]],
                          uint tid [[thread_position_in_threadgroup]],
                          uint threads [[threads_per_threadgroup]]) {
  threadgroup float scratch[32];
  threadgroup uint uscratch[32];
  const GroupPos p = group_pos(tid, threads);
  const uint cols = args.cols;
  device const T* xr = x + row * cols;
  const uint greedy = row_argmax(xr, cols, tid, threads, scratch, uscratch, p);
  if (args.inv_temperature == 0.0f || greedy == 0xffffffffu) {
    if (tid == 0) out[row] = greedy == 0xffffffffu ? 0u : greedy;
    return;
  }
  const float scale = args.inv_temperature;
  const float shift = float(xr[greedy]) * scale;  // the largest scaled logit
  uint floor_key = 0;
  if (args.k > 0 && args.k < cols) floor_key = threshold_key<T, true>(xr, cols, 0.0f, 0.0f, 0u, float(args.k), tid, threads, scratch, p);
  if (args.top_p < 1.0f) {
    float mass = 0.0f;
    for (uint blk = tid * BLOCK; blk < cols; blk += threads * BLOCK)
      for (uint i = blk; i < min(blk + BLOCK, cols); ++i) {
      const float v = float(xr[i]);
      if (order_key(v) >= floor_key) mass += exp(v * scale - shift);
    }
    const float target = args.top_p * group_sum(mass, scratch, p);
    floor_key = threshold_key<T, false>(xr, cols, scale, shift, floor_key, target, tid, threads, scratch, p);
  }
  // Inverse CDF in index order: each thread takes a contiguous chunk, an exclusive scan of the
  // chunks' mass tells which chunk holds the target, and that thread walks it.
  const uint chunk = (cols + threads - 1) / threads;
  const uint first = min(cols, tid * chunk);
  const uint last = min(cols, first + chunk);
  float mass = 0.0f;
  uint last_kept = 0;
  for (uint i = first; i < last; ++i) {
    const float v = float(xr[i]);
    if (order_key(v) >= floor_key) {
      mass += exp(v * scale - shift);
      last_kept = i;
    }
  }
  float total;
  const float before = group_exclusive_scan(mass, scratch, p, total);
  const float target = uniform01(args.seed, args.step, row) * total;
  uint pick = 0xffffffffu;
  if (mass > 0.0f && before <= target && target < before + mass) {
    pick = last_kept;
    float acc = before;
    for (uint i = first; i < last; ++i) {
      const float v = float(xr[i]);
      if (order_key(v) < floor_key) continue;
      acc += exp(v * scale - shift);
      if (acc > target) {
        pick = i;
        break;
      }
    }
  }
  pick = group_reduce<MinOp>(pick, 0xffffffffu, uscratch, p);
  // Rounding can leave the target at or past the scanned total: take the last kept element.
  if (pick == 0xffffffffu) pick = group_reduce<MaxOp>(mass > 0.0f ? last_kept : 0u, 0u, uscratch, p);
  if (tid == 0) out[row] = pick;
}
