// Threadgroup-wide collectives for one-threadgroup-per-row kernels: sums, maxima, argmax and
// exclusive scans. Each combines within SIMD groups first (simd_* functions), then across the
// SIMD groups of the threadgroup through `scratch` (threadgroup memory of at least 32 elements,
// one per SIMD group; 1024 threads at most). Every thread of the group must call them (they
// contain barriers), and every thread receives the result. Each ends with a barrier, so the same
// scratch can be passed to the next call at once. A group of one SIMD group (nsg == 1, the same
// for every thread) needs no threadgroup stage and skips it, barriers included.
#pragma once
#include <metal_stdlib>
using namespace metal;

// Position of the calling thread, as the collectives need it.
struct GroupPos {
  uint lane;  // thread_index_in_simdgroup
  uint sg;    // simdgroup_index_in_threadgroup
  uint nsg;   // simdgroups_per_threadgroup
};

// The position of thread `tid` of a one-dimensional group of `threads` threads. SIMD groups are
// 32 wide on every Apple GPU (and on msl-cpu) and are formed from consecutive thread indices.
inline GroupPos group_pos(uint tid, uint threads) {
  const GroupPos p = {tid % 32u, tid / 32u, (threads + 31u) / 32u};
  return p;
}

// The SIMD-group reduction of each collective.
struct SumOp {
  template <typename T> static T simd(T v) { return simd_sum(v); }
};
struct MaxOp {
  template <typename T> static T simd(T v) { return simd_max(v); }
};
struct MinOp {
  template <typename T> static T simd(T v) { return simd_min(v); }
};

// Op over one value per thread; `identity` fills the lanes past the last SIMD group.
template <typename Op, typename T>
inline T group_reduce(T v, T identity, threadgroup T* scratch, GroupPos p) {
  v = Op::simd(v);
  if (p.nsg == 1) return v;
  if (p.lane == 0) scratch[p.sg] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  v = Op::simd(p.lane < p.nsg ? scratch[p.lane] : identity);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  return v;
}

template <typename T>
inline T group_sum(T v, threadgroup T* scratch, GroupPos p) {
  return group_reduce<SumOp>(v, T(0), scratch, p);
}

inline float group_max(float v, threadgroup float* scratch, GroupPos p) {
  return group_reduce<MaxOp>(v, -INFINITY, scratch, p);
}

// The largest v of the group and, among the threads holding it, the smallest index i. A thread
// with nothing to offer passes (-INFINITY, 0xffffffff).
inline void group_argmax(thread float& v, thread uint& i, threadgroup float* vals, threadgroup uint* idxs, GroupPos p) {
  float m = simd_max(v);
  uint at = simd_min(v == m ? i : 0xffffffffu);
  if (p.nsg == 1) {
    v = m;
    i = at;
    return;
  }
  if (p.lane == 0) {
    vals[p.sg] = m;
    idxs[p.sg] = at;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  const float sv = p.lane < p.nsg ? vals[p.lane] : -INFINITY;
  const uint si = p.lane < p.nsg ? idxs[p.lane] : 0xffffffffu;
  m = simd_max(sv);
  at = simd_min(sv == m ? si : 0xffffffffu);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  v = m;
  i = at;
}

// Sum of v over the threads before this one (in thread index order); `total` receives the sum
// over the whole group.
template <typename T>
inline T group_exclusive_scan(T v, threadgroup T* scratch, GroupPos p, thread T& total) {
  const T before = simd_prefix_exclusive_sum(v);
  const T simd_total = simd_sum(v);
  if (p.nsg == 1) {
    total = simd_total;
    return before;
  }
  if (p.lane == 0) scratch[p.sg] = simd_total;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  const T s = p.lane < p.nsg ? scratch[p.lane] : T(0);
  const T groups_before = simd_prefix_exclusive_sum(s);
  total = simd_sum(s);
  const T base = simd_shuffle(groups_before, ushort(p.sg));
  threadgroup_barrier(mem_flags::mem_threadgroup);
  return base + before;
}

// Order-preserving map of a float to an unsigned key: a < b exactly when key(a) < key(b)
// (-0 sorts just below +0; NaNs sort past +inf or below -inf, by sign).
inline uint order_key(float x) {
  const uint u = as_type<uint>(x);
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}
