// ggml's block formats (GGUF weights), decoded as stored: one struct per format with its block
// geometry and a `chunk` function giving 32 consecutive elements of a block. Byte layouts are
// ggml's (see src/ggml_types.ts); all scales are little-endian f16 at even offsets, so they are
// read as aligned halfs.
//
// A chunk comes back in one of two forms, chosen per format by AFFINE:
// - AFFINE: the chunk shares one scale and one offset, v holds the integer codes and the value of
//   element i is scale * v[i] + bias. Matrix-vector kernels then pay one multiply-add per element
//   and apply the offset once per chunk against the sum of x (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
//   Q4_K, Q5_K).
// - otherwise v holds the values themselves (scale 1, bias 0): Q2_K, Q3_K and Q6_K scale
//   16-element sub-blocks, so a 32-element chunk has two scales.
//
// Element e of a 32-element chunk c of a block is element 32 c + e of the block.
#pragma once
#include <metal_stdlib>
using namespace metal;

inline float block_half(device const uchar* p) { return float(*(device const half*)p); }

// Nibble e of a 16-byte run holding 32 4-bit codes: elements 0..15 in the low nibbles, 16..31 in
// the high ones (ggml's Q4_0/Q4_1/Q5_0/Q5_1 order).
inline uint block_nibble(device const uchar* qs, int e) { return e < 16 ? qs[e] & 0xFu : qs[e - 16] >> 4; }

// The u32 of fifth bits of Q5_0/Q5_1 (at an offset that is not 4-byte aligned).
inline uint block_qh32(device const uchar* p) { return uint(p[0]) | uint(p[1]) << 8 | uint(p[2]) << 16 | uint(p[3]) << 24; }

// Four nibbles from element e on, as floats.
inline float4 block_nibbles4(device const uchar* qs, int e) {
  return float4(float(block_nibble(qs, e)), float(block_nibble(qs, e + 1)), float(block_nibble(qs, e + 2)), float(block_nibble(qs, e + 3)));
}

// Four 2-bit codes of bytes q[l..l+4) at `shift`, as floats.
inline float4 block_crumbs4(device const uchar* q, int l, uint shift) {
  return float4(float((q[l] >> shift) & 3u), float((q[l + 1] >> shift) & 3u), float((q[l + 2] >> shift) & 3u), float((q[l + 3] >> shift) & 3u));
}

struct BlockQ4_0 {
  static constant constexpr int QK = 32;
  static constant constexpr int BYTES = 18;
  static constant constexpr bool AFFINE = true;
  static inline void chunk(device const uchar* b, int, thread float4* v, thread float& scale, thread float& bias) {
    const float d = block_half(b);
    for (int j = 0; j < 8; j++) v[j] = block_nibbles4(b + 2, 4 * j);
    scale = d;
    bias = -8.0f * d;
  }
};

struct BlockQ4_1 {
  static constant constexpr int QK = 32;
  static constant constexpr int BYTES = 20;
  static constant constexpr bool AFFINE = true;
  static inline void chunk(device const uchar* b, int, thread float4* v, thread float& scale, thread float& bias) {
    for (int j = 0; j < 8; j++) v[j] = block_nibbles4(b + 4, 4 * j);
    scale = block_half(b);
    bias = block_half(b + 2);
  }
};

// 5-bit codes: a nibble plus bit e of the 32-bit qh.
inline float4 block_code5(device const uchar* qs, uint qh, int e) {
  float4 out;
  for (int i = 0; i < 4; i++) out[i] = float(block_nibble(qs, e + i) | ((qh >> uint(e + i)) & 1u) << 4);
  return out;
}

struct BlockQ5_0 {
  static constant constexpr int QK = 32;
  static constant constexpr int BYTES = 22;
  static constant constexpr bool AFFINE = true;
  static inline void chunk(device const uchar* b, int, thread float4* v, thread float& scale, thread float& bias) {
    const float d = block_half(b);
    const uint qh = block_qh32(b + 2);
    for (int j = 0; j < 8; j++) v[j] = block_code5(b + 6, qh, 4 * j);
    scale = d;
    bias = -16.0f * d;
  }
};

struct BlockQ5_1 {
  static constant constexpr int QK = 32;
  static constant constexpr int BYTES = 24;
  static constant constexpr bool AFFINE = true;
  static inline void chunk(device const uchar* b, int, thread float4* v, thread float& scale, thread float& bias) {
    const uint qh = block_qh32(b + 4);
    for (int j = 0; j < 8; j++) v[j] = block_code5(b + 8, qh, 4 * j);
    scale = block_half(b);
    bias = block_half(b + 2);
  }
};

struct BlockQ8_0 {
  static constant constexpr int QK = 32;
  static constant constexpr int BYTES = 34;
  static constant constexpr bool AFFINE = true;
  static inline void chunk(device const uchar* b, int, thread float4* v, thread float& scale, thread float& bias) {
    device const char* q = (device const char*)(b + 2);
    for (int j = 0; j < 8; j++) v[j] = float4(float(q[4 * j]), float(q[4 * j + 1]), float(q[4 * j + 2]), float(q[4 * j + 3]));
    scale = block_half(b);
    bias = 0.0f;
  }
};

// 256-element super-blocks. For the 2-bit and 3-bit layouts, chunk c covers elements
// 128 (c / 4) + 32 (c % 4) + l: byte l of the half's 32 code bytes, shifted by 2 (c % 4).

struct BlockQ2_K {  // scales[16] (4-bit scale | 4-bit min << 4), qs[64], d, dmin
  static constant constexpr int QK = 256;
  static constant constexpr int BYTES = 84;
  static constant constexpr bool AFFINE = false;
  static inline void chunk(device const uchar* b, int c, thread float4* v, thread float& scale, thread float& bias) {
    const float d = block_half(b + 80);
    const float dmin = block_half(b + 82);
    const int n = c / 4;
    const uint shift = 2u * uint(c % 4);
    device const uchar* q = b + 16 + 32 * n;
    for (int h = 0; h < 2; h++) {
      const uint sc = b[8 * n + 2 * (c % 4) + h];
      const float dl = d * float(sc & 0xFu);
      const float ml = dmin * float(sc >> 4);
      for (int j = 0; j < 4; j++) {
        const int l = 16 * h + 4 * j;
        v[4 * h + j] = dl * block_crumbs4(q, l, shift) - ml;
      }
    }
    scale = 1.0f;
    bias = 0.0f;
  }
};

// Signed 6-bit scale j of a Q3_K scales[12]: low 4 bits in byte j (j < 8) or the high nibble of
// byte j - 8, top 2 bits in byte 8 + j % 4 at bit 2 (j / 4); stored with +32.
inline int block_scale_q3k(device const uchar* s, int j) {
  const uint low = j < 8 ? s[j] & 0xFu : uint(s[j - 8]) >> 4;
  const uint high = (uint(s[8 + j % 4]) >> (2 * (j / 4))) & 3u;
  return int(low | high << 4) - 32;
}

struct BlockQ3_K {  // hmask[32], qs[64], scales[12], d
  static constant constexpr int QK = 256;
  static constant constexpr int BYTES = 110;
  static constant constexpr bool AFFINE = false;
  static inline void chunk(device const uchar* b, int c, thread float4* v, thread float& scale, thread float& bias) {
    const float d = block_half(b + 108);
    const int n = c / 4;
    const uint shift = 2u * uint(c % 4);
    const uint hbit = uint(4 * n + c % 4);
    device const uchar* q = b + 32 + 32 * n;
    for (int h = 0; h < 2; h++) {
      const float dl = d * float(block_scale_q3k(b + 96, 8 * n + 2 * (c % 4) + h));
      for (int j = 0; j < 4; j++) {
        float4 code;
        for (int i = 0; i < 4; i++) {
          const int l = 16 * h + 4 * j + i;
          code[i] = float(int((q[l] >> shift) & 3u) - (((b[l] >> hbit) & 1u) ? 0 : 4));
        }
        v[4 * h + j] = dl * code;
      }
    }
    scale = 1.0f;
    bias = 0.0f;
  }
};

// 6-bit scale and min j (0..7) of a Q4_K/Q5_K scales[12].
inline void block_scale_min_k4(device const uchar* q, int j, thread float& sc, thread float& m) {
  if (j < 4) {
    sc = float(q[j] & 63u);
    m = float(q[j + 4] & 63u);
  } else {
    sc = float((q[j + 4] & 0xFu) | (uint(q[j - 4]) >> 6) << 4);
    m = float((uint(q[j + 4]) >> 4) | (uint(q[j]) >> 6) << 4);
  }
}

// Q4_K/Q5_K: chunk c is sub-block c, with its own 6-bit scale and min; its codes are the low
// (c even) or high (c odd) nibbles of the 32 bytes at qs + 32 (c / 2).
struct BlockQ4_K {  // d, dmin, scales[12], qs[128]
  static constant constexpr int QK = 256;
  static constant constexpr int BYTES = 144;
  static constant constexpr bool AFFINE = true;
  static inline void chunk(device const uchar* b, int c, thread float4* v, thread float& scale, thread float& bias) {
    float sc, m;
    block_scale_min_k4(b + 4, c, sc, m);
    device const uchar* q = b + 16 + 32 * (c / 2);
    const uint shift = 4 * uint(c % 2);
    for (int j = 0; j < 8; j++) {
      float4 code;
      for (int i = 0; i < 4; i++) code[i] = float((q[4 * j + i] >> shift) & 0xFu);
      v[j] = code;
    }
    scale = block_half(b) * sc;
    bias = -block_half(b + 2) * m;
  }
};

struct BlockQ5_K {  // d, dmin, scales[12], qh[32], qs[128]
  static constant constexpr int QK = 256;
  static constant constexpr int BYTES = 176;
  static constant constexpr bool AFFINE = true;
  static inline void chunk(device const uchar* b, int c, thread float4* v, thread float& scale, thread float& bias) {
    float sc, m;
    block_scale_min_k4(b + 4, c, sc, m);
    device const uchar* qh = b + 16;
    device const uchar* q = b + 48 + 32 * (c / 2);
    const uint shift = 4 * uint(c % 2);
    for (int j = 0; j < 8; j++) {
      float4 code;
      for (int i = 0; i < 4; i++) {
        const int l = 4 * j + i;
        code[i] = float(((q[l] >> shift) & 0xFu) | ((uint(qh[l]) >> uint(c)) & 1u) << 4);
      }
      v[j] = code;
    }
    scale = block_half(b) * sc;
    bias = -block_half(b + 2) * m;
  }
};

// Q6_K: chunk c is quarter c % 4 of half c / 4: low 4 bits from ql (bytes 0..31 or 32..63 of the
// half, low or high nibble), top 2 bits from qh at bit 2 (c % 4), int8 scale per 16 elements.
struct BlockQ6_K {  // ql[128], qh[64], scales[16] (int8), d
  static constant constexpr int QK = 256;
  static constant constexpr int BYTES = 210;
  static constant constexpr bool AFFINE = false;
  static inline void chunk(device const uchar* b, int c, thread float4* v, thread float& scale, thread float& bias) {
    const float d = block_half(b + 208);
    const int n = c / 4;
    const int quarter = c % 4;
    device const uchar* ql = b + 64 * n + 32 * (quarter & 1);
    device const uchar* qh = b + 128 + 32 * n;
    device const char* sc = (device const char*)(b + 192 + 8 * n + 2 * quarter);
    const uint lshift = quarter < 2 ? 0u : 4u;
    const uint hshift = 2u * uint(quarter);
    for (int h = 0; h < 2; h++) {
      const float dl = d * float(sc[h]);
      for (int j = 0; j < 4; j++) {
        float4 code;
        for (int i = 0; i < 4; i++) {
          const int l = 16 * h + 4 * j + i;
          code[i] = float(int(((ql[l] >> lshift) & 0xFu) | ((qh[l] >> hshift) & 3u) << 4) - 32);
        }
        v[4 * h + j] = dl * code;
      }
    }
    scale = 1.0f;
    bias = 0.0f;
  }
};
