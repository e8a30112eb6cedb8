// Matrix-vector products for decode: y[m, n] = sum_k x[m, k] * W[n, k] for a few rows of x (the
// ops route 1 to 8 rows here), with W in PyTorch/MLX [out, in] layout, dense (gemv) or MLX affine
// quantized (qmv, format in quantized.h). Accumulation is in float; y is rounded once to T.
//
// Shape of the work: a threadgroup is MV_SIMDGROUPS simdgroups; each simdgroup owns MV_ROWS
// consecutive rows of W, and its 32 lanes stride over the rows' Rows::CHUNK-value chunks
// (matvec_rows), Rows::LANE_CHUNKS a step, so each load of a step reads 32 consecutive chunks of
// a row. A pass serves up to MV_MAX_X_ROWS rows of x, so W is read and decoded once for all of
// them; grid y counts passes. The lanes' sums meet in one simd_sum per row of x. No threadgroup
// memory, no barriers.
//
// Function constant mv_one_row: true when x has one row (decode proper). The kernel then keeps a
// single row of accumulators, so the common case pays no registers for the batched one.
#pragma once
#include <metal_stdlib>
#include "quantized.h"
using namespace metal;

// The helpers below take thread arrays by pointer; inlined, those arrays stay in registers. Left
// to the inliner's judgement (matvec_rows is large), clang's NVPTX back end called them and put
// the arrays in local memory: 360 local loads per chunk step of a 4-bit qmv.
#define MV_INLINE __attribute__((always_inline)) inline

constant bool mv_one_row [[function_constant(100)]];

// Weight rows per simdgroup. Two, not four: the 8B model's [4096, 4096] product then has 2048
// simdgroups rather than 1024 for an H100's 132 cores, and each holds fewer registers; the price
// is x read from cache once per two weight rows rather than four.
constant constexpr int MV_ROWS = 2;  // a float2 of accumulators per row of x
constant constexpr int MV_SIMDGROUPS = 2;
constant constexpr int MV_MAX_X_ROWS = 4;
// Partial sums of one chunk's dot product: value i goes to partial i % MV_PARTIALS, reduced at
// the chunk's end. Four independent sums per weight row, MV_ROWS rows at a time, are enough for a
// GPU to overlap the multiply-adds; more would add reduction work to every chunk.
constant constexpr int MV_PARTIALS = 4;

// The row kernels (matrows, below): a thread per few rows of W, the shape for a CPU.
constant constexpr int MR_X_ROWS = 8;       // rows of x a thread serves
constant constexpr int MR_W_ROWS = 2;       // rows of W a thread takes for several rows of x
constant constexpr int MR_ONE_W_ROWS = 4;   // ... and for one row (each x value loaded serves all)
constant constexpr int MR_PARTIALS = 16;    // independent partial sums per (row of x, row of W)

// Rows of W a thread takes: more for one row of x, where the accumulators are few.
inline int mr_w_rows() { return mv_one_row ? MR_ONE_W_ROWS : MR_W_ROWS; }

// Value i of p as float, or 0 past K when the chunk is not `full`.
template <typename T>
MV_INLINE float load_at(device const T* p, int i, uint k0, uint K, bool full) {
  return full || k0 + uint(i) < K ? float(p[i]) : 0.0f;
}

// A weight-rows adaptor gives matvec_rows one chunk of CHUNK values of a row in two steps, so a
// GPU thread holds a chunk in its stored form between the load and the arithmetic rather than as
// CHUNK floats: fetch(n, k0, full, raw) issues the loads into a Raw, value(raw, i) is value i as a
// float (for AFFINE rows the raw code, the chunk's scale and bias in raw.scale and raw.bias). A
// 4-bit chunk held as floats took 32 registers a row; as words, 4 (the one-row 4-bit qmv fell
// from 207 registers a thread to 64, and registers bound how many simdgroups an H100 core keeps
// in flight). load_chunk is the one-step form the row kernels below use.

// Dense rows of type W: chunks of 8 values; a chunk that runs past K reads zeros.
template <typename W>
struct DenseRows {
  static constant constexpr int CHUNK = 8;
  static constant constexpr int LANE_CHUNKS = 4;  // chunks a lane takes per step of matvec_rows
  static constant constexpr bool AFFINE = false;
  static constant constexpr int PASS_W_ROWS = MR_ONE_W_ROWS;  // see matrows
  device const W* w;
  uint K;

  struct Raw {
    float v[CHUNK];
    float scale, bias;
  };

  MV_INLINE void fetch(uint n, uint k0, bool full, thread Raw& raw) const {
#pragma unroll
    for (int i = 0; i < CHUNK; i++) raw.v[i] = load_at(w + n * K + k0, i, k0, K, full);
    raw.scale = 1.0f;
    raw.bias = 0.0f;
  }
  MV_INLINE float value(thread const Raw& raw, int i) const { return raw.v[i]; }
};

// Values in a lane's chunk of MLX affine codes in the simdgroup kernels: the fewest that fill
// whole words (8 at 4 bits, 4 at 8, 16 at 2 and 6, 32 at 3 and 5), so lanes side by side read
// words side by side and the x values beside them. With a 32-value chunk per lane, a warp's load
// of x was spread over 2 KB (64 bytes a lane); ncu then showed the H100's L1 52 % busy and its
// DRAM 11 %.
template <int bits>
struct LaneChunk {
  static constant constexpr int VALUES = 32 / (bits & -bits);
};

// MLX affine rows: chunks of C values (32, a whole block, for the row kernels; LaneChunk for the
// simdgroup ones) held as their C * bits / 32 words of codes; the chunk's scale and bias come
// back separately, so a dot product costs one multiply-add per value and the bias is applied once
// per chunk against the sum of x. A chunk never crosses a group (groups are 32, 64 or 128 values).
template <typename S, int bits, int C = 32>
struct AffineRows {
  static constant constexpr int CHUNK = C;
  static constant constexpr int WORDS = C * bits / 32;
  // 32 values a lane a step, as with the dense rows (on the H100, 8 one-word chunks a step were
  // 5-22 % slower than 4 on every 4-bit row of bench/gpu.ts, in one run).
  static constant constexpr int LANE_CHUNKS = C < 32 ? 32 / C : 1;
  static constant constexpr bool AFFINE = true;
  static constant constexpr int PASS_W_ROWS = MR_W_ROWS;  // see matrows
  device const uint* w;
  device const S* scales;
  device const S* biases;
  uint K;
  uint group_shift;

  struct Raw {
    uint words[WORDS];
    float scale, bias;
  };

  MV_INLINE void fetch(uint n, uint k0, bool, thread Raw& raw) const {
    device const uint* src = w + (n * K + k0) / 32 * bits + (k0 % 32) * bits / 32;
#pragma unroll
    for (int i = 0; i < WORDS; i++) raw.words[i] = src[i];
    const uint g = (n * K + k0) >> group_shift;
    raw.scale = float(scales[g]);
    raw.bias = float(biases[g]);
  }
  MV_INLINE float value(thread const Raw& raw, int i) const { return code_float(block_code<bits>(raw.words, i)); }
};

// A whole chunk of `rows` as CHUNK floats, with its scale and bias (1 and 0 for dense rows): the
// row kernels' form. With the loop unrolled every value is alike (for affine rows a shift and a
// mask of one word, two where a code straddles words), so a CPU compiler can decode a chunk in
// vector registers.
template <typename Rows>
MV_INLINE void load_chunk(thread const Rows& rows, uint n, uint k0, bool full, thread float* v, thread float& scale,
                          thread float& bias) {
  typename Rows::Raw raw;
  rows.fetch(n, k0, full, raw);
#pragma unroll
  for (int i = 0; i < Rows::CHUNK; i++) v[i] = rows.value(raw, i);
  scale = raw.scale;
  bias = raw.bias;
}

// Sum of P values, pairwise.
template <int P>
MV_INLINE float sum_partials(thread const float* p) {
  float s[P / 2];
#pragma unroll
  for (int i = 0; i < P / 2; i++) s[i] = p[i] + p[i + P / 2];
#pragma unroll
  for (int w = P / 4; w > 0; w /= 2)
#pragma unroll
    for (int i = 0; i < w; i++) s[i] += s[i + w];
  return s[0];
}

// The body shared by gemv, qmv and the experts' gathered products (moe.h): `xrows` (1 to
// MV_MAX_X_ROWS) consecutive rows of x [.., K] against the weight rows this simdgroup owns, into
// the same rows of y [.., N]. `tg` is the threadgroup index along N.
//
// Lanes stride over a row's chunks (lane l takes chunks l, l + 32, ...), so at each step the 32
// lanes read 32 consecutive chunks of each of the simdgroup's MV_ROWS rows: one coalesced run per
// row, MV_ROWS independent loads in flight per lane. Each chunk of W is decoded once for all rows
// of x, and each chunk of x is read once for all rows of W. An affine chunk (w = scale * v + bias)
// costs one multiply-add per value: its dot product with x is scale * (v . x) + bias * sum(x),
// with sum(x) shared by the MV_ROWS rows. (The cpu backend routes products to the row kernels
// below; here msl-cpu runs conformance cases and the experts' products.)
template <typename T, typename Rows>
MV_INLINE void matvec_rows(thread const Rows& rows, device const T* x, device T* y, uint N, uint K, int xrows,
                        uint tg, uint sg, uint lane) {
  constexpr int C = Rows::CHUNK;
  constexpr int P = MV_PARTIALS;
  const uint n0 = (tg * MV_SIMDGROUPS + sg) * MV_ROWS;
  if (n0 >= N) return;  // the whole simdgroup leaves together

  // A lane takes U chunks a step, 32 chunks apart, so a step covers 32 * C * U values of each
  // row (1024 for the 4-bit and dense rows) with U independent loads per row in flight.
  constexpr int U = Rows::LANE_CHUNKS;
  const uint chunks = (K + C - 1) / C;  // per row
  const int wrows = int(min(uint(MV_ROWS), N - n0));
  // sums[m][r]: this lane's share of row m of x against weight row n0 + r. Plain floats, indexed
  // only by loop counters: a float4 element written at a run-time index made clang 19's NVPTX
  // back end store through a local-window address as if it were generic (a fault on the GPU).
  float sums[MV_MAX_X_ROWS][MV_ROWS];
#pragma unroll
  for (int m = 0; m < MV_MAX_X_ROWS; m++)
#pragma unroll
    for (int r = 0; r < MV_ROWS; r++) sums[m][r] = 0.0f;
  // Loops over chunks, rows, values and partials have constant trip counts and unroll fully, so
  // every array here lives in registers (a loop that breaks early would index them at run time,
  // which puts them in a GPU thread's local memory).
  for (uint c0 = lane; c0 < chunks; c0 += 32 * U) {
    // The weight rows' chunks first: independent loads, all in flight together, held as stored.
    typename Rows::Raw raw[U][MV_ROWS];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const uint k0 = (c0 + 32 * u) * C;
      const bool full = Rows::AFFINE || k0 + C <= K;  // affine K is a multiple of 32
#pragma unroll
      for (int r = 0; r < MV_ROWS; r++)
        if (c0 + 32 * u < chunks && r < wrows) rows.fetch(n0 + r, k0, full, raw[u][r]);
    }
#pragma unroll
    for (int m = 0; m < MV_MAX_X_ROWS; m++) {
      if (m >= xrows) continue;
#pragma unroll
      for (int u = 0; u < U; u++) {
        if (c0 + 32 * u >= chunks) continue;
        const uint k0 = (c0 + 32 * u) * C;
        const bool full = Rows::AFFINE || k0 + C <= K;
        float xv[C];
        float xpart[P];
#pragma unroll
        for (int i = 0; i < P; i++) xpart[i] = 0.0f;
#pragma unroll
        for (int i = 0; i < C; i++) {
          xv[i] = load_at(x + m * K + k0, i, k0, K, full);
          if (Rows::AFFINE) xpart[i % P] += xv[i];
        }
        const float xsum = Rows::AFFINE ? sum_partials<P>(xpart) : 0.0f;
#pragma unroll
        for (int r = 0; r < MV_ROWS; r++) {
          if (r < wrows) {
            float part[P];
#pragma unroll
            for (int i = 0; i < P; i++) part[i] = 0.0f;
#pragma unroll
            for (int i = 0; i < C; i++) part[i % P] = fma(rows.value(raw[u][r], i), xv[i], part[i % P]);
            const float dot = sum_partials<P>(part);
            sums[m][r] += Rows::AFFINE ? fma(raw[u][r].scale, dot, raw[u][r].bias * xsum) : dot;
          }
        }
      }
    }
  }

  // MV_ROWS = 2 fits a float2, so one simd_sum reduces a row of x against both weight rows.
#pragma unroll
  for (int m = 0; m < MV_MAX_X_ROWS; m++) {
    if (m < xrows) {
      const float2 s = simd_sum(float2(sums[m][0], sums[m][1]));
      if (lane == 0) {
        y[m * N + n0] = static_cast<T>(s.x);
        if (wrows > 1) y[m * N + n0 + 1] = static_cast<T>(s.y);
      }
    }
  }
}

// gemv and qmv: `xrow0` is the first row of x this threadgroup handles (grid y walks rows of x in
// steps of MV_MAX_X_ROWS); with mv_one_row, x has one row.
template <typename T, typename Rows>
MV_INLINE void matvec(thread const Rows& rows, device const T* x, device T* y, constant MatmulArgs& args,
                   uint tg, uint xrow0, uint sg, uint lane) {
  const int xrows = mv_one_row ? 1 : int(min(uint(MV_MAX_X_ROWS), args.M - xrow0));
  matvec_rows<T>(rows, x + xrow0 * args.K, y + xrow0 * args.N, args.N, args.K, xrows, tg, sg, lane);
}

// Dense: x [M, K] of T, W [N, K] of W, y [M, N] of T. Grid (ceil(N / 8), ceil(M / 4)) groups of
// 64 threads (dispatchThreadgroups).
template <typename T, typename W>
kernel void gemv(device const T* x [[buffer(0)]],
                 device const W* w [[buffer(1)]],
                 device T* y [[buffer(2)]],
                 constant MatmulArgs& args [[buffer(3)]],
                 uint2 tg [[threadgroup_position_in_grid]],
                 uint sg [[simdgroup_index_in_threadgroup]],
                 uint lane [[thread_index_in_simdgroup]]) {
  const DenseRows<W> rows{w, args.K};
  matvec<T>(rows, x, y, args, tg.x, tg.y * MV_MAX_X_ROWS, sg, lane);
}

// MLX affine: W packed [N, K*bits/32] uint32, scales and biases [N, K/group] of S. Same grid as
// gemv.
template <typename T, typename S, int bits>
kernel void qmv(device const T* x [[buffer(0)]],
                device const uint* w [[buffer(1)]],
                device const S* scales [[buffer(2)]],
                device const S* biases [[buffer(3)]],
                device T* y [[buffer(4)]],
                constant MatmulArgs& args [[buffer(5)]],
                uint2 tg [[threadgroup_position_in_grid]],
                uint sg [[simdgroup_index_in_threadgroup]],
                uint lane [[thread_index_in_simdgroup]]) {
  const AffineRows<S, bits, LaneChunk<bits>::VALUES> rows{w, scales, biases, args.K, args.group_shift};
  matvec<T>(rows, x, y, args, tg.x, tg.y * MV_MAX_X_ROWS, sg, lane);
}

// ── a thread per few weight rows: the shape for a CPU ──
//
// The kernels above spread a row over a simdgroup's lanes, whose sums meet in simd_sum: right for
// a GPU, where lanes run in lockstep and read coalesced, but on msl-cpu every simdgroup then runs
// as 32 fibers that switch at the collective, and that switching cost several times the
// arithmetic (4-bit [2048, 2048] from cache: about 10,000 cycles per simdgroup, of which the
// decode and FMAs are about 2,500). Here a thread takes a few whole weight rows (mr_w_rows) for
// up to MR_X_ROWS rows of x, with no collective, so msl-cpu runs a threadgroup as a plain loop
// that streams W in address order, and decodes each chunk once for all of those rows of x
// (prefill on the cpu backend runs here too). The ops choose it where lanes are not in hardware.
// Their sizes (MR_*) are at the top of this file, as the adaptors name them.

// Code p of a byte b of 8 / bits codes (bits 2, 4 or 8), as a float.
template <int bits>
inline float lane_code(uint b, int p) {
  return float((b >> (p * bits)) & ((1u << bits) - 1u));
}

// The row kernels for MLX affine codes of 2, 4 or 8 bits (codes that never straddle a byte): rows
// n .. n + WR of W against rows m0 .. m0 + R of x (fewer at the ends), each 32-value chunk read in
// place as 4 * bits bytes, chunk value l * PH + p being code p of byte l (PH = 8 / bits). Partial
// sums are kept per byte, so each loop over a chunk's bytes is one vector operation per step on
// a CPU: the bytes widened in one instruction, each code a shift and a mask, x read at stride PH
// (deinterleaved by the compiler). SPAN chunks share a scale: with one row of x, 2 where groups
// are 64 or 128 values, which halves the scale loads (with several, a scale load serves them
// all). Measured against matrows (bench/matmul.ts, msl-cpu on the project's 2-core AVX-512
// machine, A/B in one run): one row of x 7.3 -> 28.3 GB/s (4 bits, [4096, 4096]), 5.5 -> 45
// (8 bits); 8 rows of x 118 -> 178-183 GFLOP/s (4 bits, M = 256); matrows' decode of words was
// assembled by the compiler from 128-bit pieces.
//
// Operands come as pointers, and the function is not inlined: so written, clang vectorizes the
// byte loops with 512-bit registers; the same loop reading the weight through an adaptor passed
// by reference (or its pointers loaded from one) was left scalar, its partial sums in memory.
// (noinline has not met Apple's compiler; Metal's is clang, which takes the attribute.)
template <int SPAN, int bits, int R, int WR, typename T, typename S>
__attribute__((noinline)) void matrow_lanes(device const uint* w, device const S* scales, device const S* biases,
                                            uint group_shift, device const T* x, device T* y, uint M, uint N,
                                            uint K, uint n, uint m0) {
  constexpr int C = 32;
  constexpr int PH = 8 / bits;
  constexpr int L = C / PH;  // bytes per chunk
  // Partial sums per (row of x, row of W, byte): one per phase for one row of x (shorter chains of
  // dependent multiply-adds), one for all phases for several (registers: R * WR * L floats).
  constexpr int AP = R == 1 ? PH : 1;
  const uint wrows = min(uint(WR), N - n);
  const uint xrows = min(uint(R), M - m0);
  // Each row's codes, scales and biases from its start (K is a multiple of the group size). Past
  // the end of W or x the last real row is recomputed, not stored.
  device const uchar* bytes[WR];
  device const S* row_scales[WR];
  device const S* row_biases[WR];
#pragma unroll
  for (int r = 0; r < WR; r++) {
    const uint row = n + min(uint(r), wrows - 1);
    bytes[r] = (device const uchar*)(w + row * (K / 32 * bits));
    row_scales[r] = scales + row * (K >> group_shift);
    row_biases[r] = biases + row * (K >> group_shift);
  }
  device const T* xr[R];
#pragma unroll
  for (int m = 0; m < R; m++) xr[m] = x + (m0 + min(uint(m), xrows - 1)) * K;
  float acc[R][WR][AP][L];
#pragma unroll
  for (int m = 0; m < R; m++)
#pragma unroll
    for (int r = 0; r < WR; r++)
#pragma unroll
      for (int a = 0; a < AP; a++)
#pragma unroll
        for (int l = 0; l < L; l++) acc[m][r][a][l] = 0.0f;
  for (uint k0 = 0; k0 < K; k0 += SPAN * C) {
    const uint g = k0 >> group_shift;
    // The loops over bytes are not unrolled by hand: the compiler vectorizes them across the
    // bytes. x is made floats first (a half or bfloat x converted inside those loops kept them
    // scalar).
    float xf[SPAN * C];
    // Several rows of x: the rows' weights dequantized once for all of them, phase-major. One
    // row: each weight multiplies x as it is decoded (dequantizing the chunk into this array
    // first made the one-row products 5-10 % slower).
    float wv[WR][SPAN][PH][L];
    if (R == 1)
      for (int i = 0; i < SPAN * C; i++) xf[i] = float(xr[0][k0 + i]);
#pragma unroll
    for (int r = 0; r < WR; r++) {
      const float scale = float(row_scales[r][g]);
      const float bias = float(row_biases[r][g]);
#pragma unroll
      for (int h = 0; h < SPAN; h++) {
        device const uchar* chunk = bytes[r] + (k0 + h * C) / 8 * bits;
        for (int l = 0; l < L; l++) {
          const uint b = chunk[l];
#pragma unroll
          for (int p = 0; p < PH; p++) {
            const float weight = fma(scale, lane_code<bits>(b, p), bias);
            if (R == 1) acc[0][r][p % AP][l] = fma(weight, xf[h * C + l * PH + p], acc[0][r][p % AP][l]);
            else wv[r][h][p][l] = weight;
          }
        }
      }
    }
    if (R == 1) continue;
#pragma unroll
    for (int m = 0; m < R; m++) {
      for (int i = 0; i < SPAN * C; i++) xf[i] = float(xr[m][k0 + i]);
#pragma unroll
      for (int r = 0; r < WR; r++)
#pragma unroll
        for (int h = 0; h < SPAN; h++)
          for (int l = 0; l < L; l++)
#pragma unroll
            for (int p = 0; p < PH; p++)
              acc[m][r][p % AP][l] = fma(wv[r][h][p][l], xf[h * C + l * PH + p], acc[m][r][p % AP][l]);
    }
  }
#pragma unroll
  for (int m = 0; m < R; m++) {
#pragma unroll
    for (int r = 0; r < WR; r++) {
      if (uint(m) < xrows && uint(r) < wrows) {
        float sums[L];
#pragma unroll
        for (int l = 0; l < L; l++) {
          sums[l] = acc[m][r][0][l];
#pragma unroll
          for (int a = 1; a < AP; a++) sums[l] += acc[m][r][a][l];
        }
        y[(m0 + m) * N + n + r] = static_cast<T>(sum_partials<L>(sums));
      }
    }
  }
}

// Rows n .. n + WR of W against rows m0 .. m0 + MR_X_ROWS of x [M, K] (fewer at the ends of W
// and x; one row of x with mv_one_row), into y [M, N].
template <int WR, typename T, typename Rows>
inline void matrows_of(thread const Rows& rows, device const T* x, device T* y, uint M, uint N, uint K, uint n,
                       uint m0) {
  constexpr int C = Rows::CHUNK;
  constexpr int P = MR_PARTIALS;
  // Rows of x computed: fixed once the function constant is (arrays are sized by MR_X_ROWS, as a
  // function constant is no constant expression), so the accumulators stay in registers. At the
  // end of x or of W, the last real row is recomputed in place of the missing ones; only real
  // rows are stored.
  const int R = mv_one_row ? 1 : MR_X_ROWS;
  if (n >= N || m0 >= M) return;
  const uint xrows = mv_one_row ? 1u : min(uint(MR_X_ROWS), M - m0);
  const uint wrows = min(uint(WR), N - n);
  device const T* xr[MR_X_ROWS];
  for (int m = 0; m < R; m++) xr[m] = x + (m0 + min(uint(m), xrows - 1)) * K;
  float acc[MR_X_ROWS][WR][P];
  for (int m = 0; m < R; m++)
    for (int r = 0; r < WR; r++)
      for (int i = 0; i < P; i++) acc[m][r][i] = 0.0f;
  for (uint k0 = 0; k0 < K; k0 += C) {
    const bool full = Rows::AFFINE || k0 + C <= K;
    float v[WR][C];
    for (int r = 0; r < WR; r++) {
      float scale, bias;
      load_chunk(rows, n + min(uint(r), wrows - 1), k0, full, v[r], scale, bias);
      if (Rows::AFFINE)
        for (int i = 0; i < C; i++) v[r][i] = fma(scale, v[r][i], bias);
    }
    constexpr int W = C < P ? C : P;
    for (int m = 0; m < R; m++) {
      for (int j = 0; j < C; j += W) {
        for (int i = 0; i < W; i++) {
          const float xv = load_at(xr[m] + k0, j + i, k0, K, full);
          for (int r = 0; r < WR; r++) acc[m][r][i] = fma(v[r][j + i], xv, acc[m][r][i]);
        }
      }
    }
  }
  for (int m = 0; m < R; m++)
    for (int r = 0; r < WR; r++)
      if (uint(m) < xrows && uint(r) < wrows) y[(m0 + m) * N + n + r] = static_cast<T>(sum_partials<P>(acc[m][r]));
}

// Rows n .. n + mr_w_rows() of W against rows m0 .. m0 + MR_X_ROWS of x, as matrows_of. With one
// row of x, rows decoded from codes go MR_W_ROWS at a time (Rows::PASS_W_ROWS): four rows of
// 3-bit codes at once were slower (7.1 -> 4.5 GB/s); dense rows go four at a time, each x value
// loaded serving all four (f32 weights 11.2 -> 21.5 GB/s, f16 4.8 -> 6.5).
template <typename T, typename Rows>
inline void matrows(thread const Rows& rows, device const T* x, device T* y, uint M, uint N, uint K, uint n, uint m0) {
  if (!mv_one_row) {
    matrows_of<MR_W_ROWS>(rows, x, y, M, N, K, n, m0);
  } else {
    constexpr int PASS = Rows::PASS_W_ROWS;
#pragma unroll
    for (int r = 0; r < MR_ONE_W_ROWS; r += PASS) matrows_of<PASS>(rows, x, y, M, N, K, n + r, m0);
  }
}

// Dense, mr_w_rows() rows per thread: grid (ceil(N / MR_ONE_W_ROWS), 1) threads for one row of x,
// (ceil(N / MR_W_ROWS), ceil(M / MR_X_ROWS)) otherwise (dispatchThreads).
template <typename T, typename W>
kernel void gemv_rows(device const T* x [[buffer(0)]],
                      device const W* w [[buffer(1)]],
                      device T* y [[buffer(2)]],
                      constant MatmulArgs& args [[buffer(3)]],
                      uint2 gid [[thread_position_in_grid]]) {
  const DenseRows<W> rows{w, args.K};
  matrows<T>(rows, x, y, args.M, args.N, args.K, gid.x * mr_w_rows(), gid.y * MR_X_ROWS);
}

// MLX affine, mr_w_rows() rows per thread: bindings as qmv, grid as gemv_rows.
template <typename T, typename S, int bits>
kernel void qmv_rows(device const T* x [[buffer(0)]],
                     device const uint* w [[buffer(1)]],
                     device const S* scales [[buffer(2)]],
                     device const S* biases [[buffer(3)]],
                     device T* y [[buffer(4)]],
                     constant MatmulArgs& args [[buffer(5)]],
                     uint2 gid [[thread_position_in_grid]]) {
  const uint n = gid.x * mr_w_rows();
  const uint m0 = gid.y * MR_X_ROWS;
  if (8 % bits == 0) {  // (other widths instantiate matrow_lanes unused)
    if (n >= args.N || m0 >= args.M) return;
    if (mv_one_row && args.group_shift >= 6)
      matrow_lanes<2, bits, 1, MR_ONE_W_ROWS>(w, scales, biases, args.group_shift, x, y, args.M, args.N, args.K, n, m0);
    else if (mv_one_row)
      matrow_lanes<1, bits, 1, MR_ONE_W_ROWS>(w, scales, biases, args.group_shift, x, y, args.M, args.N, args.K, n, m0);
    else  // (a scale load per chunk is shared by the rows of x here)
      matrow_lanes<1, bits, MR_X_ROWS, MR_W_ROWS>(w, scales, biases, args.group_shift, x, y, args.M, args.N, args.K, n, m0);
  } else {
    const AffineRows<S, bits> rows{w, scales, biases, args.K, args.group_shift};
    matrows<T>(rows, x, y, args.M, args.N, args.K, n, m0);
  }
}
