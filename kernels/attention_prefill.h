// Prefill attention: many queries against the cache, tiled, with an online softmax. Layouts,
// masking rules and AttentionArgs are those of attention.h; this kernel lives in its own header
// because it needs simdgroup_matrix, which the decode kernels do not.
#pragma once
#include <metal_stdlib>
#include <metal_simdgroup_matrix>
#include "attention.h"
using namespace metal;

// ───────────────────────────── prefill ─────────────────────────────
//
// Tiled attention over many queries with an online softmax (flash attention). A threadgroup
// takes PF_BQ = 32 queries of one head, 8 per simdgroup, and walks the keys in blocks of
// pf_block<D> positions, skipping blocks that the causal limit or the window leave out:
//   S = Q K^T   Q held as D/8 simdgroup matrices per simdgroup, K staged transposed as float;
//   softmax     scores go through threadgroup memory, 4 lanes per query row (two xor shuffles
//               for a row's max and sum);
//   O += P V    O held as D/8 simdgroup matrices; rescaling O by the change of each row's max
//               is a multiply by diag(alpha) (skipped when no row's max moved), since a row of a
//               simdgroup matrix cannot be addressed portably.
// Grid: (ceil(q_len / 32), n_heads) groups of 128 threads (dispatchThreadgroups).

constant constexpr int PF_BQ = 32;
constant constexpr int PF_COLS = 64;  // column chunk for staging q and out

template <int D>
constexpr int pf_block() {
  return D > 128 ? 16 : 32;
}

template <int D>
constexpr int pf_kv_smem() {
  // K^T block [D][BK + 4] or V block [BK][D + 4], whichever is larger, and at least the q/out
  // staging chunk [PF_BQ][PF_COLS] (which is the larger one for head dims under 64).
  constexpr int kv = D * (pf_block<D>() + 4) > pf_block<D>() * (D + 4) ? D * (pf_block<D>() + 4) : pf_block<D>() * (D + 4);
  return kv > PF_BQ * PF_COLS ? kv : PF_BQ * PF_COLS;
}

// Stage cache rows [kb, kb + BK) of one head as float, element (j, d) at dst[j * row + d * col]
// (K transposed for Q K^T, V as is for P V), zeros past kv_len; the whole threadgroup takes part,
// between two barriers.
template <int D, int BK, typename KV>
inline void stage_block(threadgroup float* dst, device const KV* src, uint kb, uint kv_len, uint row, uint col, uint tid) {
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint i = tid; i < uint(BK * D); i += 128) {
    const uint j = i / D;
    const uint d = i % D;
    dst[j * row + d * col] = kb + j < kv_len ? float(src[(kb + j) * D + d]) : 0.0f;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
}

template <typename T, typename KV, int D>
kernel void sdpa_prefill(device const T* q [[buffer(0)]],
                         device const KV* k [[buffer(1)]],
                         device const KV* v [[buffer(2)]],
                         device const T* mask [[buffer(3)]],
                         device T* out [[buffer(4)]],
                         constant AttentionArgs& args [[buffer(5)]],
                         uint2 tg [[threadgroup_position_in_grid]],
                         uint tid [[thread_index_in_threadgroup]],
                         uint sg [[simdgroup_index_in_threadgroup]],
                         uint lane [[thread_index_in_simdgroup]]) {
  constexpr int BK = pf_block<D>();
  constexpr int LDK = BK + 4;
  constexpr int LDV = D + 4;
  constexpr int LDS = BK + 4;
  constexpr int TILES = D / 8;
  constexpr int PART = BK / 4;  // score columns per lane
  threadgroup float kv[pf_kv_smem<D>()];
  threadgroup float scores[4 * 8 * LDS];
  threadgroup float diag[4 * 64];

  const uint h = tg.y;
  const uint kvh = h / (args.n_heads / args.n_kv_heads);
  const uint q0 = tg.x * PF_BQ;
  const uint q_pos0 = args.kv_len - args.q_len;  // position of query 0
  device const T* qh = q + h * args.q_head_stride;
  device T* oh = out + h * args.q_head_stride;
  device const KV* kh = k + kvh * args.kv_head_stride;
  device const KV* vh = v + kvh * args.kv_head_stride;
  const simdgroup_float8x8 zero = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);

  // This simdgroup's 8 query rows, scaled, as D/8 matrices (staged through `kv` 64 columns at a time).
  simdgroup_float8x8 qm[TILES];
#pragma clang loop unroll(full)
  for (int c0 = 0; c0 < D; c0 += PF_COLS) {
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint i = tid; i < PF_BQ * PF_COLS; i += 128) {
      const uint r = i / PF_COLS;
      const uint c = i % PF_COLS;
      const bool ok = q0 + r < args.q_len && c0 + c < uint(D);
      kv[i] = ok ? float(qh[(q0 + r) * args.q_tok_stride + c0 + c]) * args.scale_log2 : 0.0f;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
#pragma clang loop unroll(full)
    for (int t = 0; t < PF_COLS / 8; t++)
      if (c0 / 8 + t < TILES) simdgroup_load(qm[c0 / 8 + t], kv + sg * 8 * PF_COLS + t * 8, PF_COLS);
  }

  simdgroup_float8x8 om[TILES];
  for (int t = 0; t < TILES; t++) om[t] = zero;
  threadgroup float* srow0 = scores + sg * 8 * LDS;
  threadgroup float* dg = diag + sg * 64;
  dg[lane] = 0.0f;
  dg[lane + 32] = 0.0f;

  // Lane layout for the softmax: row r of this simdgroup, columns [part * PART, +PART).
  const uint r = lane / 4;
  const uint part = lane % 4;
  const uint qi = q0 + sg * 8 + r;
  const uint pos = q_pos0 + qi;
  const bool row_ok = qi < args.q_len;
  threadgroup float* srow = srow0 + r * LDS;
  float m_row = -INFINITY;
  float l_row = 0.0f;

  // Keys this tile can attend: up to its last query's position (causal), from its first query's
  // window start.
  const uint last_q = min(q0 + uint(PF_BQ), args.q_len) - 1;
  const uint k_end = args.causal ? min(args.kv_len, q_pos0 + last_q + 1) : args.kv_len;
  uint k_begin = 0;
  if (args.window > 0 && q_pos0 + q0 + 1 > args.window) k_begin = (q_pos0 + q0 + 1 - args.window) / BK * BK;

  for (uint kb = k_begin; kb < k_end; kb += BK) {
    stage_block<D, BK>(kv, kh, kb, args.kv_len, 1, LDK, tid);  // K^T: [D][LDK]
    for (int c = 0; c < BK / 8; c++) {
      simdgroup_float8x8 s = zero;
      for (int t = 0; t < TILES; t++) {
        simdgroup_float8x8 kt;
        simdgroup_load(kt, kv + t * 8 * LDK + c * 8, LDK);
        simdgroup_multiply_accumulate(s, qm[t], kt, s);
      }
      simdgroup_store(s, srow0 + c * 8, LDS);
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);

    float sc[PART];
    float bmax = -INFINITY;
    for (int jj = 0; jj < PART; jj++) {
      const uint j = part * PART + jj;
      const uint key = kb + j;
      float x = -INFINITY;
      if (row_ok && attended(args, key, pos)) {
        x = srow[j];
        if (args.has_mask) x += float(mask[h * args.mask_head_stride + qi * args.mask_row_stride + key]) * M_LOG2E_F;
      }
      sc[jj] = x;
      bmax = max(bmax, x);
    }
    bmax = max(bmax, simd_shuffle_xor(bmax, 1));
    bmax = max(bmax, simd_shuffle_xor(bmax, 2));
    const float mn = max(m_row, bmax);
    const float alpha = mn == -INFINITY ? 1.0f : exp2(m_row - mn);
    float rsum = 0.0f;
    for (int jj = 0; jj < PART; jj++) {
      const float p = sc[jj] == -INFINITY ? 0.0f : exp2(sc[jj] - mn);
      srow[part * PART + jj] = p;
      rsum += p;
    }
    rsum += simd_shuffle_xor(rsum, 1);
    rsum += simd_shuffle_xor(rsum, 2);
    m_row = mn;
    l_row = fma(l_row, alpha, rsum);
    if (part == 0) dg[r * 9] = alpha;
    simdgroup_barrier(mem_flags::mem_threadgroup);
    if (!simd_all(alpha == 1.0f)) {
      simdgroup_float8x8 dm;
      simdgroup_load(dm, dg, 8);
      for (int t = 0; t < TILES; t++) {
        simdgroup_float8x8 scaled;
        simdgroup_multiply(scaled, dm, om[t]);
        om[t] = scaled;
      }
    }

    stage_block<D, BK>(kv, vh, kb, args.kv_len, LDV, 1, tid);  // V: [BK][LDV]
    for (int c = 0; c < BK / 8; c++) {
      simdgroup_float8x8 pm;
      simdgroup_load(pm, srow0 + c * 8, LDS);
      for (int t = 0; t < TILES; t++) {
        simdgroup_float8x8 vm;
        simdgroup_load(vm, kv + c * 8 * LDV + t * 8, LDV);
        simdgroup_multiply_accumulate(om[t], pm, vm, om[t]);
      }
    }
  }

  // Normalize by each row's sum (diag(1 / l)) and store through `kv`, 64 columns at a time.
  if (part == 0) dg[r * 9] = l_row > 0.0f ? 1.0f / l_row : 0.0f;
  simdgroup_barrier(mem_flags::mem_threadgroup);
  simdgroup_float8x8 dm;
  simdgroup_load(dm, dg, 8);
  threadgroup float* stage = kv + sg * 8 * PF_COLS;
#pragma clang loop unroll(full)
  for (int c0 = 0; c0 < D; c0 += PF_COLS) {
    threadgroup_barrier(mem_flags::mem_threadgroup);
#pragma clang loop unroll(full)
    for (int t = 0; t < PF_COLS / 8; t++) {
      if (c0 / 8 + t < TILES) {
        simdgroup_float8x8 scaled;
        simdgroup_multiply(scaled, dm, om[c0 / 8 + t]);
        simdgroup_store(scaled, stage + t * 8, PF_COLS);
      }
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);
    for (uint i = lane; i < 8 * PF_COLS; i += 32) {
      const uint rr = i / PF_COLS;
      const uint c = i % PF_COLS;
      if (c0 + c < uint(D) && q0 + sg * 8 + rr < args.q_len) oh[(q0 + sg * 8 + rr) * args.q_tok_stride + c0 + c] = static_cast<T>(stage[i]);
    }
  }
}
