/*
 * mslcuda.h — the CUDA prelude: the Metal Shading Language library on NVIDIA GPUs.
 *
 * libmlxn_cuda embeds this header (with the msl-cpu headers it names inlined by the build, see
 * shim/cuda/cuda.mk), writes it to the kernel cache by content hash and force-includes it in
 * every kernel compile:
 *   clang++ -x cuda --cuda-device-only --cuda-gpu-arch=sm_XX -nocudainc -nocudalib -O3 -S
 * after msl-cpu's pre-pass (shim/cpu/msl_cpu/prepass.cpp, CUDA target) has rewritten what macros
 * cannot express and appended one `extern "C" __global__` entry per instantiated kernel.
 *
 * No CUDA SDK header is used (nor clang's __clang_cuda_builtin_vars.h, whose uint3 would clash
 * with MSL's: thread and block indices come from __nvvm_read_ptx_sreg_*). CUDA's attributes are spelled with underscores, because MSL's
 * `device` word is a macro here; math goes through __nvvm_* builtins and our own polynomials
 * instead of libdevice. The portable half of msl-cpu's kernel header (types, vectors, packed and
 * bool vectors, constructors, the math/integer/relational library, atomics) is shared, not
 * copied: `#pragma clang force_cuda_host_device` makes its functions callable on the GPU. What
 * differs on a GPU is here: the launch, position builtins, threadgroup storage, barriers,
 * SIMD-group functions over warp intrinsics and simdgroup_matrix over warp shuffles.
 */
#ifndef MSLCUDA_PRELUDE_H
#define MSLCUDA_PRELUDE_H

#define MSLCUDA_DEVICE __attribute__((__device__))
#define MSLCUDA_GLOBAL __attribute__((__global__))
#define MSLCUDA_SHARED __attribute__((__shared__))
#define MSLCUDA_INLINE __attribute__((__device__, always_inline)) inline

#pragma clang force_cuda_host_device begin

/* ───────────────────────────── math without libdevice ─────────────────────────────
 * The NVPTX backend lowers sqrt, fma, fabs, floor/ceil/trunc/rint/round, fmin/fmax and copysign
 * to instructions; everything else would become a call to a libm function that is not there.
 * msl-cpu's library calls these names (as __builtin_*f); here they are float implementations
 * with Cody-Waite reduction and minimax polynomials, within a few ulp (Metal's precise bounds
 * are 4 ulp for exp/log, 4 for sin/cos, 16 for pow). fast:: and precise:: share them. */
namespace mslcuda {
MSLCUDA_INLINE float bits_float(unsigned u) { return __builtin_bit_cast(float, u); }
MSLCUDA_INLINE unsigned float_bits(float f) { return __builtin_bit_cast(unsigned, f); }
MSLCUDA_INLINE float ex2(float x) { return __nvvm_ex2_approx_f(x); }
MSLCUDA_INLINE float exp(float x) {
  if (x > 88.72284f) return __builtin_inff();
  if (x < -103.97208f) return 0.0f;
  float k = __builtin_rintf(x * 1.44269504f);
  float r = __builtin_fmaf(k, -0.693145752f, x);  // ln2 split: hi has 12 significant bits
  r = __builtin_fmaf(k, -1.42860677e-6f, r);
  // 2^k as two factors so that k = 128 (x near the overflow bound) and subnormals stay exact
  float p = ex2(r * 1.44269504f);
  int ki = int(k);
  int k1 = ki / 2, k2 = ki - k1;
  return p * bits_float(unsigned(k1 + 127) << 23) * bits_float(unsigned(k2 + 127) << 23);
}
MSLCUDA_INLINE float exp2(float x) {
  if (x >= 128.0f) return __builtin_inff();
  if (x < -150.0f) return 0.0f;
  float k = __builtin_rintf(x);
  float p = ex2(x - k);
  int ki = int(k), k1 = ki / 2, k2 = ki - k1;
  return p * bits_float(unsigned(k1 + 127) << 23) * bits_float(unsigned(k2 + 127) << 23);
}
/* log(x) = e ln2 + log(m), m in [sqrt(1/2), sqrt(2)): log(m) = 2 atanh(s), s = (m-1)/(m+1). */
MSLCUDA_INLINE float log(float x) {
  if (!(x > 0.0f)) return x == 0.0f ? -__builtin_inff() : __builtin_nanf("");
  if (x == __builtin_inff()) return x;
  int e = 0;
  if (x < 1.17549435e-38f) { x *= 16777216.0f; e = -24; }  // subnormal: scale into range
  unsigned u = float_bits(x);
  e += int(u >> 23) - 127;
  float m = bits_float((u & 0x007fffffu) | 0x3f800000u);
  if (m > 1.41421356f) { m *= 0.5f; e += 1; }
  float f = m - 1.0f;
  float s = f / (2.0f + f);
  float z = s * s;
  float w = z * z;
  float t1 = w * __builtin_fmaf(w, 0.24279078841f, 0.40000972152f);
  float t2 = z * __builtin_fmaf(w, 0.28498786688f, 0.66666662693f);
  float R = t2 + t1;
  float hfsq = 0.5f * f * f;
  float ef = float(e);
  return __builtin_fmaf(ef, 0.693147180560f, f - (hfsq - s * (hfsq + R)));
}
MSLCUDA_INLINE float log2(float x) { return log(x) * 1.44269504089f; }
MSLCUDA_INLINE float log10(float x) { return log(x) * 0.434294481903f; }
MSLCUDA_INLINE float pow(float x, float y) {
  if (y == 0.0f || x == 1.0f) return 1.0f;
  if (x != x || y != y) return x + y;
  float ax = __builtin_fabsf(x);
  bool odd = false, integer = __builtin_truncf(y) == y;
  if (integer) odd = __builtin_fmodf(__builtin_fabsf(y), 2.0f) == 1.0f;
  if (x < 0.0f && !integer) return __builtin_nanf("");
  float r;
  if (ax == 0.0f) r = y < 0.0f ? __builtin_inff() : 0.0f;
  else if (ax == __builtin_inff()) r = y < 0.0f ? 0.0f : __builtin_inff();
  else r = exp(y * log(ax));
  return (x < 0.0f && odd) ? -r : r;
}
/* sin and cos: reduction by pi/2 in three parts (exact for |x| < 2^15), Cephes polynomials. */
MSLCUDA_INLINE float sin_poly(float r) {
  float z = r * r;
  return __builtin_fmaf(r * z, __builtin_fmaf(z, __builtin_fmaf(z, -1.9515295891e-4f, 8.3321608736e-3f), -1.6666654611e-1f), r);
}
MSLCUDA_INLINE float cos_poly(float r) {
  float z = r * r;
  return __builtin_fmaf(z * z, __builtin_fmaf(z, __builtin_fmaf(z, 2.443315711809948e-5f, -1.388731625493765e-3f), 4.166664568298827e-2f), __builtin_fmaf(-0.5f, z, 1.0f));
}
MSLCUDA_INLINE float reduce_half_pi(float x, int &q) {
  float k = __builtin_rintf(x * 0.636619772f);
  q = int(k);
  float r = __builtin_fmaf(k, -1.5703125f, x);
  r = __builtin_fmaf(k, -4.837512969970703125e-4f, r);
  r = __builtin_fmaf(k, -7.54978995489e-8f, r);
  return r;
}
MSLCUDA_INLINE float sin(float x) {
  if (__builtin_fabsf(x) == __builtin_inff()) return __builtin_nanf("");
  int q;
  float r = reduce_half_pi(x, q);
  float v = (q & 1) ? cos_poly(r) : sin_poly(r);
  return (q & 2) ? -v : v;
}
MSLCUDA_INLINE float cos(float x) {
  if (__builtin_fabsf(x) == __builtin_inff()) return __builtin_nanf("");
  int q;
  float r = reduce_half_pi(x, q);
  float v = (q & 1) ? sin_poly(r) : cos_poly(r);
  return ((q + 1) & 2) ? -v : v;
}
MSLCUDA_INLINE float tan(float x) { return sin(x) / cos(x); }
MSLCUDA_INLINE float expm1_small(float x) {  // |x| < 0.5: Taylor to x^8 (error below 1 ulp)
  float p = __builtin_fmaf(x, 1.0f / 40320.0f, 1.0f / 5040.0f);
  p = __builtin_fmaf(x, p, 1.0f / 720.0f);
  p = __builtin_fmaf(x, p, 1.0f / 120.0f);
  p = __builtin_fmaf(x, p, 1.0f / 24.0f);
  p = __builtin_fmaf(x, p, 1.0f / 6.0f);
  p = __builtin_fmaf(x, p, 0.5f);
  return __builtin_fmaf(x * x, p, x);
}
MSLCUDA_INLINE float expm1(float x) { return __builtin_fabsf(x) < 0.5f ? expm1_small(x) : exp(x) - 1.0f; }
MSLCUDA_INLINE float sinh(float x) {
  float a = __builtin_fabsf(x), r;
  if (a < 0.5f) { float e = expm1_small(a); r = 0.5f * (e + e / (e + 1.0f)); }
  else if (a > 88.0f) r = exp(a - 0.693147181f);  // e^a / 2 without overflowing e^a
  else { float e = exp(a); r = 0.5f * (e - 1.0f / e); }
  return __builtin_copysignf(r, x);
}
MSLCUDA_INLINE float cosh(float x) {
  float a = __builtin_fabsf(x);
  if (a > 88.0f) return exp(a - 0.693147181f);
  float e = exp(a);
  return 0.5f * (e + 1.0f / e);
}
MSLCUDA_INLINE float tanh(float x) {
  float a = __builtin_fabsf(x);
  float r;
  if (a < 0.625f) {
    float z = x * x;
    return __builtin_fmaf(x * z, __builtin_fmaf(z, __builtin_fmaf(z, __builtin_fmaf(z, __builtin_fmaf(z, -5.70498872745e-3f, 2.06390887954e-2f), -5.37397155531e-2f), 1.33314422036e-1f), -3.33332819422e-1f), x);
  }
  if (a > 9.0f) r = 1.0f;
  else r = 1.0f - 2.0f / (exp(2.0f * a) + 1.0f);
  return __builtin_copysignf(r, x);
}
MSLCUDA_INLINE float asin(float x) {
  float a = __builtin_fabsf(x);
  if (a > 1.0f) return __builtin_nanf("");
  bool big = a > 0.5f;
  float z = big ? 0.5f * (1.0f - a) : a * a;
  float s = big ? __builtin_sqrtf(z) : a;
  float p = __builtin_fmaf(z, __builtin_fmaf(z, __builtin_fmaf(z, __builtin_fmaf(z, 4.2163199048e-2f, 2.4181311049e-2f), 4.5470025998e-2f), 7.4953002686e-2f), 1.6666752422e-1f);
  float r = __builtin_fmaf(z * s, p, s);
  if (big) r = 1.57079632679f - 2.0f * r;
  return __builtin_copysignf(r, x);
}
MSLCUDA_INLINE float acos(float x) {
  if (__builtin_fabsf(x) > 1.0f) return __builtin_nanf("");
  if (x > 0.5f) return 2.0f * asin(__builtin_sqrtf(0.5f * (1.0f - x)));
  if (x < -0.5f) return 3.14159265359f - 2.0f * asin(__builtin_sqrtf(0.5f * (1.0f + x)));
  return 1.57079632679f - asin(x);
}
MSLCUDA_INLINE float atan(float x) {
  float a = __builtin_fabsf(x), base = 0.0f;
  if (a > 2.41421356f) { base = 1.57079632679f; a = -1.0f / a; }
  else if (a > 0.41421356f) { base = 0.785398163397f; a = (a - 1.0f) / (a + 1.0f); }
  float z = a * a;
  float p = __builtin_fmaf(z, __builtin_fmaf(z, __builtin_fmaf(z, 8.05374449538e-2f, -1.38776856032e-1f), 1.99777106478e-1f), -3.33329491539e-1f);
  return __builtin_copysignf(base + __builtin_fmaf(a * z, p, a), x);
}
MSLCUDA_INLINE float atan2(float y, float x) {
  if (x != x || y != y) return x + y;
  if (x == 0.0f && y == 0.0f) return __builtin_signbit(x) ? __builtin_copysignf(3.14159265359f, y) : y;
  float r;
  if (__builtin_fabsf(x) == __builtin_inff() && __builtin_fabsf(y) == __builtin_inff())
    r = x > 0.0f ? 0.785398163397f : 2.35619449019f;
  else if (__builtin_fabsf(x) >= __builtin_fabsf(y)) {
    r = atan(__builtin_fabsf(y) / __builtin_fabsf(x));
    if (x < 0.0f) r = 3.14159265359f - r;
  } else {
    r = 1.57079632679f - atan(__builtin_fabsf(x) / __builtin_fabsf(y));
    if (x < 0.0f) r = 3.14159265359f - r;
  }
  return __builtin_copysignf(r, y);
}
MSLCUDA_INLINE float log1p(float x) {
  float u = 1.0f + x;
  return u == 1.0f ? x : log(u) * (x / (u - 1.0f));
}
MSLCUDA_INLINE float asinh(float x) {
  float a = __builtin_fabsf(x);
  float r = a > 1e4f ? log(a) + 0.693147181f : log1p(a + a * a / (1.0f + __builtin_sqrtf(1.0f + a * a)));
  return __builtin_copysignf(r, x);
}
MSLCUDA_INLINE float acosh(float x) {
  if (x < 1.0f) return __builtin_nanf("");
  return x > 1e4f ? log(x) + 0.693147181f : log(x + __builtin_sqrtf(x * x - 1.0f));
}
MSLCUDA_INLINE float atanh(float x) { return 0.5f * log1p(2.0f * x / (1.0f - x)); }
MSLCUDA_INLINE int ilogb(float x) {
  if (x == 0.0f) return -2147483647 - 1;
  if (x != x) return -2147483647 - 1;
  if (__builtin_fabsf(x) == __builtin_inff()) return 2147483647;
  unsigned u = float_bits(x) & 0x7fffffffu;
  if (u < 0x00800000u) return -127 - (__builtin_clz(u) - 9);
  return int(u >> 23) - 127;
}
MSLCUDA_INLINE float logb(float x) {
  if (x == 0.0f) return -__builtin_inff();
  if (x != x) return x;
  if (__builtin_fabsf(x) == __builtin_inff()) return __builtin_inff();
  return float(ilogb(x));
}
MSLCUDA_INLINE float ldexp(float x, int k) {
  if (k > 300) k = 300;
  if (k < -300) k = -300;
  while (k > 127) { x *= 1.70141183e38f; k -= 127; }
  while (k < -126) { x *= 1.17549435e-38f; k += 126; }
  return x * bits_float(unsigned(k + 127) << 23);
}
MSLCUDA_INLINE float frexp(float x, int *e) {
  if (x == 0.0f || x != x || __builtin_fabsf(x) == __builtin_inff()) { *e = 0; return x; }
  int k = ilogb(x) + 1;
  *e = k;
  return ldexp(x, -k);
}
MSLCUDA_INLINE float cbrt(float x) {
  if (x == 0.0f || x != x || __builtin_fabsf(x) == __builtin_inff()) return x;
  float a = __builtin_fabsf(x);
  float y = exp2(log2(a) * (1.0f / 3.0f));
  y = y - (y * y * y - a) / (3.0f * y * y);  // one Newton step
  return __builtin_copysignf(y, x);
}
MSLCUDA_INLINE float nextafter(float x, float y) {
  if (x != x || y != y) return x + y;
  if (x == y) return y;
  if (x == 0.0f) return __builtin_copysignf(bits_float(1u), y);
  unsigned u = float_bits(x);
  u = ((x < y) == (x > 0.0f)) ? u + 1 : u - 1;
  return bits_float(u);
}
MSLCUDA_INLINE float fmod(float x, float y) { return __builtin_fmodf(x, y); }
} // namespace mslcuda

/* msl-cpu's library names these builtins; on the GPU they mean the functions above. */
#define __builtin_expf ::mslcuda::exp
#define __builtin_exp2f ::mslcuda::exp2
#define __builtin_logf ::mslcuda::log
#define __builtin_log2f ::mslcuda::log2
#define __builtin_log10f ::mslcuda::log10
#define __builtin_powf ::mslcuda::pow
#define __builtin_sinf ::mslcuda::sin
#define __builtin_cosf ::mslcuda::cos
#define __builtin_tanf ::mslcuda::tan
#define __builtin_asinf ::mslcuda::asin
#define __builtin_acosf ::mslcuda::acos
#define __builtin_atanf ::mslcuda::atan
#define __builtin_atan2f ::mslcuda::atan2
#define __builtin_sinhf ::mslcuda::sinh
#define __builtin_coshf ::mslcuda::cosh
#define __builtin_tanhf ::mslcuda::tanh
#define __builtin_asinhf ::mslcuda::asinh
#define __builtin_acoshf ::mslcuda::acosh
#define __builtin_atanhf ::mslcuda::atanh
#define __builtin_logbf ::mslcuda::logb
#define __builtin_ilogbf ::mslcuda::ilogb
#define __builtin_ldexpf ::mslcuda::ldexp
#define __builtin_frexpf ::mslcuda::frexp
#define __builtin_cbrtf ::mslcuda::cbrt
#define __builtin_nextafterf ::mslcuda::nextafter

/* ───────────────────────────── msl-cpu's portable surface ───────────────────────────── */
#include "msl_cpu.h"
#include "msl_cpu/kernel/math.h"
#include "msl_cpu/kernel/atomics.h"

/* ───────────────────────────── launch and position builtins ───────────────────────────── */

namespace mslcuda {

/* The one kernel parameter of every entry (passed by value; the shim's cuda_launch matches). */
struct launch {
  void *buffers[31];        /* bindings, offset applied; inline bytes live in a device arena */
  unsigned tg_offset[31];   /* [[threadgroup(n)]]: byte offset into the dynamic shared memory */
  unsigned grid[3];         /* threads per grid (dispatch_threads) or groups x group size */
  unsigned group[3];        /* threads per threadgroup as dispatched */
  unsigned groups[3];       /* threadgroups per grid */
  unsigned clip;            /* 1: dispatch_threads, edge groups are clipped to the grid */
};

/* Every position builtin of one thread (the names the pre-pass's builtin table uses). */
struct ids {
  uint3 tpig, tpitg, tgpig, tptg, tgpg, tpg, dtptg;
  uint tiitg, ntg;
};

/* The CUDA grid is one-dimensional (blockIdx.x up to 2^31 - 1, where y and z stop at 65535) and
 * each block is one-dimensional with Metal's group size: the Metal position is recomputed from
 * the linear indices, with the edge group's real size, so SIMD lanes are Metal's (32 consecutive
 * thread indices of the possibly smaller edge group). Threads past the edge group return here:
 * on Metal they do not exist. Returns false for them. */
MSLCUDA_INLINE bool begin(const launch &l, ids &t) {
  unsigned b = __nvvm_read_ptx_sreg_ctaid_x(), i = __nvvm_read_ptx_sreg_tid_x();
  t.tgpg = uint3{l.groups[0], l.groups[1], l.groups[2]};
  t.tgpig.x = b % l.groups[0];
  unsigned rest = b / l.groups[0];
  t.tgpig.y = rest % l.groups[1];
  t.tgpig.z = rest / l.groups[1];
  t.dtptg = uint3{l.group[0], l.group[1], l.group[2]};
  t.tpg = uint3{l.grid[0], l.grid[1], l.grid[2]};
  uint3 size = t.dtptg;
  if (l.clip) {
    uint3 origin = t.tgpig * t.dtptg;
    size = uint3{metal::min(size.x, t.tpg.x - origin.x), metal::min(size.y, t.tpg.y - origin.y),
                 metal::min(size.z, t.tpg.z - origin.z)};
  }
  t.tptg = size;
  t.ntg = size.x * size.y * size.z;
  if (i >= t.ntg) return false;
  t.tiitg = i;
  if (size.y == 1 && size.z == 1) t.tpitg = uint3{i, 0u, 0u};
  else t.tpitg = uint3{i % size.x, i / size.x % size.y, i / (size.x * size.y)};
  t.tpig = t.tgpig * t.dtptg + t.tpitg;
  return true;
}

template <class F> struct params;
template <class R, class... A> struct params<R (*)(A...)> {
  template <int I> using at = __type_pack_element<I, A...>;
};

/* A [[buffer(n)]] parameter: a pointer, or a reference (constant T&) to the binding's first T. */
template <class P> MSLCUDA_INLINE P buffer(const launch &l, unsigned n) {
  if constexpr (__is_pointer(P)) return (P)(l.buffers[n]);
  else return *(__remove_reference_t(P) *)(l.buffers[n]);
}

extern "C" MSLCUDA_SHARED __attribute__((aligned(16))) char mslcuda_dynamic_shared[];  // any MSL type fits at a 16-byte offset
template <class P> MSLCUDA_INLINE P threadgroup_buffer(const launch &l, unsigned n) {
  return (P)(mslcuda_dynamic_shared + l.tg_offset[n]);
}

template <class T> MSLCUDA_INLINE T builtin(uint3 v) {
  using B = __remove_cvref(T);
  if constexpr (::mslcpu::vt<B>::n == 0) return static_cast<B>(v.x);
  else if constexpr (::mslcpu::vt<B>::n == 2) return B{static_cast<::mslcpu::elem<B>>(v.x), static_cast<::mslcpu::elem<B>>(v.y)};
  else return __builtin_convertvector(v, B);
}
template <class T> MSLCUDA_INLINE T builtin(uint v) { return static_cast<__remove_cvref(T)>(v); }

MSLCUDA_INLINE unsigned lane() { return __nvvm_read_ptx_sreg_laneid(); }
MSLCUDA_INLINE unsigned active() { return __nvvm_activemask(); }

} // namespace mslcuda

namespace mslcpu {
/* The pre-pass turns `threadgroup float a[32];` into `typedef float A[32]; A &a = tg_static<A, n>();`:
 * one shared variable per declaration site and type. */
template <class T, unsigned SITE> MSLCUDA_INLINE T &tg_static() {
  MSLCUDA_SHARED T storage;
  return storage;
}
} // namespace mslcpu

/* ───────────────────────────── barriers and SIMD-group functions ───────────────────────────── */

namespace mslcuda {

/* A value as 32-bit words, for shuffles of any type (half, bfloat, vectors, 64-bit). */
template <class T> struct words {
  static constexpr unsigned n = (sizeof(T) + 3) / 4;
  unsigned w[n];
};
template <class T, class F> MSLCUDA_INLINE T shuffled(T x, F move) {
  words<T> in{}, out;
  __builtin_memcpy(&in, &x, sizeof(T));
  for (unsigned i = 0; i < words<T>::n; ++i) out.w[i] = move(in.w[i]);
  T r;
  __builtin_memcpy(&r, &out, sizeof(T));
  return r;
}
/* Lane `src` of the group of width W (32: SIMD group; 4: quad) holding the caller. */
template <unsigned W, class T> MSLCUDA_INLINE T read_lane(unsigned mask, T x, unsigned src) {
  constexpr int c = W == 32 ? 0x1f : (((32 - W) << 8) | (W - 1));
  return shuffled(x, [&](unsigned v) { return unsigned(__nvvm_shfl_sync_idx_i32(mask, int(v), int(src), c)); });
}
template <unsigned W, class T> MSLCUDA_INLINE T read_xor(unsigned mask, T x, unsigned d) {
  constexpr int c = W == 32 ? 0x1f : (((32 - W) << 8) | (W - 1));
  return shuffled(x, [&](unsigned v) { return unsigned(__nvvm_shfl_sync_bfly_i32(mask, int(v), int(d), c)); });
}
template <unsigned W, class T> MSLCUDA_INLINE T read_up(unsigned mask, T x, unsigned d) {
  constexpr int c = W == 32 ? 0 : ((32 - W) << 8);
  return shuffled(x, [&](unsigned v) { return unsigned(__nvvm_shfl_sync_up_i32(mask, int(v), int(d), c)); });
}
template <unsigned W, class T> MSLCUDA_INLINE T read_down(unsigned mask, T x, unsigned d) {
  constexpr int c = W == 32 ? 0x1f : (((32 - W) << 8) | (W - 1));
  return shuffled(x, [&](unsigned v) { return unsigned(__nvvm_shfl_sync_down_i32(mask, int(v), int(d), c)); });
}

struct OpSum { template <class T> MSLCUDA_INLINE static T f(T a, T b) { return a + b; } template <class T> MSLCUDA_INLINE static T id() { return T(0); } };
struct OpProduct { template <class T> MSLCUDA_INLINE static T f(T a, T b) { return a * b; } template <class T> MSLCUDA_INLINE static T id() { return T(1); } };
struct OpMin { template <class T> MSLCUDA_INLINE static T f(T a, T b) { return metal::min(a, b); } };
struct OpMax { template <class T> MSLCUDA_INLINE static T f(T a, T b) { return metal::max(a, b); } };
struct OpAnd { template <class T> MSLCUDA_INLINE static T f(T a, T b) { return a & b; } };
struct OpOr { template <class T> MSLCUDA_INLINE static T f(T a, T b) { return a | b; } };
struct OpXor { template <class T> MSLCUDA_INLINE static T f(T a, T b) { return a ^ b; } };

/* The active lanes of the caller's group of width W, as bits of the group (lane 0 = bit 0). */
template <unsigned W> MSLCUDA_INLINE unsigned group_mask(unsigned mask) {
  if constexpr (W == 32) return mask;
  else return (mask >> (lane() & ~(W - 1))) & ((1u << W) - 1);
}

/* Reduction over the active lanes. With every lane active, a butterfly (each step combines two
 * equal halves commutatively, so every lane ends with the same bits); otherwise, in lane order. */
template <class T, class Op, unsigned W> MSLCUDA_INLINE T reduce(T x) {
  unsigned mask = active();
  unsigned gm = group_mask<W>(mask);
  if (gm == (W == 32 ? 0xffffffffu : (1u << W) - 1)) {
    for (unsigned d = W / 2; d > 0; d /= 2) x = Op::f(x, read_xor<W>(mask, x, d));
    return x;
  }
  T r{};
  bool first = true;
  for (unsigned j = 0; j < W; ++j) {
    T v = read_lane<W>(mask, x, j);  // every active lane takes part in every shuffle
    if (gm >> j & 1) { r = first ? v : Op::f(r, v); first = false; }
  }
  return r;
}

/* Prefix over the active lanes below (exclusive) or up to (inclusive) the caller. */
template <class T, class Op, bool Inclusive, unsigned W> MSLCUDA_INLINE T scan(T x) {
  unsigned mask = active();
  unsigned gm = group_mask<W>(mask);
  unsigned me = lane() & (W - 1);
  if (gm == (W == 32 ? 0xffffffffu : (1u << W) - 1)) {
    T v = x;
    for (unsigned d = 1; d < W; d *= 2) {
      T y = read_up<W>(mask, v, d);
      if (me >= d) v = Op::f(y, v);
    }
    if constexpr (Inclusive) return v;
    T e = read_up<W>(mask, v, 1);
    return me == 0 ? Op::template id<T>() : e;
  }
  T r = Op::template id<T>();
  for (unsigned j = 0; j < W; ++j) {
    T v = read_lane<W>(mask, x, j);
    if ((gm >> j & 1) && (j < me || (Inclusive && j == me))) r = Op::f(r, v);
  }
  return r;
}

} // namespace mslcuda

namespace metal {

/* Stream order already serialises dispatches, so a barrier orders this group's threads only:
 * bar.sync orders their shared and global memory accesses (CTA scope). */
MSLCUDA_INLINE void threadgroup_barrier(mem_flags = mem_flags::mem_none) { __nvvm_bar_sync(0); }
MSLCUDA_INLINE void simdgroup_barrier(mem_flags = mem_flags::mem_none) { __nvvm_bar_warp_sync(::mslcuda::active()); }

struct simd_vote {
  using vote_t = ulong;
  constexpr simd_vote(vote_t v = 0) : v_(v) {}
  explicit constexpr operator vote_t() const { return v_; }
  constexpr bool all() const { return (v_ & 0xffffffffu) == 0xffffffffu; }
  constexpr bool any() const { return v_ != 0; }
 private:
  vote_t v_;
};
struct quad_vote {
  using vote_t = ushort;
  constexpr quad_vote(vote_t v = 0) : v_(v) {}
  explicit constexpr operator vote_t() const { return v_; }
  constexpr bool all() const { return (v_ & 0xfu) == 0xfu; }
  constexpr bool any() const { return v_ != 0; }
 private:
  vote_t v_;
};

#define MSLCUDA_GROUP_FUNCTIONS(prefix, W)                                                                   \
  template <class T> MSLCUDA_INLINE T prefix##_sum(T x) { return ::mslcuda::reduce<T, ::mslcuda::OpSum, W>(x); } \
  template <class T> MSLCUDA_INLINE T prefix##_product(T x) { return ::mslcuda::reduce<T, ::mslcuda::OpProduct, W>(x); } \
  template <class T> MSLCUDA_INLINE T prefix##_min(T x) { return ::mslcuda::reduce<T, ::mslcuda::OpMin, W>(x); } \
  template <class T> MSLCUDA_INLINE T prefix##_max(T x) { return ::mslcuda::reduce<T, ::mslcuda::OpMax, W>(x); } \
  template <class T> MSLCUDA_INLINE T prefix##_and(T x) { return ::mslcuda::reduce<T, ::mslcuda::OpAnd, W>(x); } \
  template <class T> MSLCUDA_INLINE T prefix##_or(T x) { return ::mslcuda::reduce<T, ::mslcuda::OpOr, W>(x); } \
  template <class T> MSLCUDA_INLINE T prefix##_xor(T x) { return ::mslcuda::reduce<T, ::mslcuda::OpXor, W>(x); } \
  template <class T> MSLCUDA_INLINE T prefix##_prefix_inclusive_sum(T x) { return ::mslcuda::scan<T, ::mslcuda::OpSum, true, W>(x); } \
  template <class T> MSLCUDA_INLINE T prefix##_prefix_exclusive_sum(T x) { return ::mslcuda::scan<T, ::mslcuda::OpSum, false, W>(x); } \
  template <class T> MSLCUDA_INLINE T prefix##_prefix_inclusive_product(T x) { return ::mslcuda::scan<T, ::mslcuda::OpProduct, true, W>(x); } \
  template <class T> MSLCUDA_INLINE T prefix##_prefix_exclusive_product(T x) { return ::mslcuda::scan<T, ::mslcuda::OpProduct, false, W>(x); } \
  template <class T, class I> MSLCUDA_INLINE T prefix##_shuffle(T x, I i) { return ::mslcuda::read_lane<W>(::mslcuda::active(), x, unsigned(i)); } \
  template <class T, class I> MSLCUDA_INLINE T prefix##_broadcast(T x, I i) { return ::mslcuda::read_lane<W>(::mslcuda::active(), x, unsigned(i)); } \
  template <class T, class I> MSLCUDA_INLINE T prefix##_shuffle_up(T x, I d) { return ::mslcuda::read_up<W>(::mslcuda::active(), x, unsigned(d)); } \
  template <class T, class I> MSLCUDA_INLINE T prefix##_shuffle_down(T x, I d) { return ::mslcuda::read_down<W>(::mslcuda::active(), x, unsigned(d)); } \
  template <class T, class I> MSLCUDA_INLINE T prefix##_shuffle_xor(T x, I d) { return ::mslcuda::read_xor<W>(::mslcuda::active(), x, unsigned(d)); } \
  template <class T, class I> MSLCUDA_INLINE T prefix##_shuffle_rotate_up(T x, I d) {                        \
    return ::mslcuda::read_lane<W>(::mslcuda::active(), x, (::mslcuda::lane() - unsigned(d)) & (W - 1));     \
  }                                                                                                        \
  template <class T, class I> MSLCUDA_INLINE T prefix##_shuffle_rotate_down(T x, I d) {                      \
    return ::mslcuda::read_lane<W>(::mslcuda::active(), x, (::mslcuda::lane() + unsigned(d)) & (W - 1));     \
  }                                                                                                        \
  template <class T> MSLCUDA_INLINE T prefix##_broadcast_first(T x) {                                        \
    unsigned m = ::mslcuda::active();                                                                      \
    return ::mslcuda::read_lane<W>(m, x, unsigned(__builtin_ctz(::mslcuda::group_mask<W>(m))));             \
  }                                                                                                        \
  MSLCUDA_INLINE prefix##_vote prefix##_ballot(bool b) {                                                     \
    return prefix##_vote(prefix##_vote::vote_t(::mslcuda::group_mask<W>(__nvvm_vote_ballot_sync(::mslcuda::active(), b)))); \
  }                                                                                                        \
  MSLCUDA_INLINE prefix##_vote prefix##_active_threads_mask() {                                              \
    return prefix##_vote(prefix##_vote::vote_t(::mslcuda::group_mask<W>(::mslcuda::active())));              \
  }                                                                                                        \
  MSLCUDA_INLINE bool prefix##_all(bool b) {                                                                 \
    unsigned m = ::mslcuda::active();                                                                      \
    return ::mslcuda::group_mask<W>(__nvvm_vote_ballot_sync(m, b)) == ::mslcuda::group_mask<W>(m);           \
  }                                                                                                        \
  MSLCUDA_INLINE bool prefix##_any(bool b) {                                                                 \
    return ::mslcuda::group_mask<W>(__nvvm_vote_ballot_sync(::mslcuda::active(), b)) != 0;                 \
  }                                                                                                        \
  MSLCUDA_INLINE bool prefix##_is_first() {                                                                  \
    return (::mslcuda::lane() & (W - 1)) == unsigned(__builtin_ctz(::mslcuda::group_mask<W>(::mslcuda::active()))); \
  }
MSLCUDA_GROUP_FUNCTIONS(simd, 32)
MSLCUDA_GROUP_FUNCTIONS(quad, 4)
#undef MSLCUDA_GROUP_FUNCTIONS

inline bool simd_is_helper_thread() { return false; }
inline bool quad_is_helper_thread() { return false; }

/* ───────────────────────────── simdgroup_matrix ─────────────────────────────
 * Lane i holds row (i & 16) / 4 + (i / 2) % 4, columns fn and fn + 1 with
 * fn = (i & 8) / 2 + (i % 2) * 2 (MLX's layout for Apple GPUs, as msl-cpu). Load and store touch
 * only the caller's two elements; a product gathers row r of A and columns c, c + 1 of B with
 * warp shuffles and accumulates in float, rounding once to D's type. */
template <class T, int Cols, int Rows> struct simdgroup_matrix {
  static_assert(Cols == 8 && Rows == 8, "simdgroup_matrix supports 8x8 only (as Apple GPUs do)");
  static_assert(__is_same(T, float) || __is_same(T, half) || __is_same(T, bfloat),
                "simdgroup_matrix element type must be float, half or bfloat");
  using element_type = T;
  simdgroup_matrix() = default;
  explicit simdgroup_matrix(T dval);
  vec<T, 2> &thread_elements() { return e_; }
  const vec<T, 2> &thread_elements() const { return e_; }
  vec<T, 2> e_;
};
using simdgroup_float8x8 = simdgroup_matrix<float, 8, 8>;
using simdgroup_half8x8 = simdgroup_matrix<half, 8, 8>;
using simdgroup_bfloat8x8 = simdgroup_matrix<bfloat, 8, 8>;

} // namespace metal

namespace mslcuda {
MSLCUDA_INLINE unsigned frag_row(unsigned i) { return (i & 16u) / 4u + (i / 2u) % 4u; }
MSLCUDA_INLINE unsigned frag_col(unsigned i) { return (i & 8u) / 2u + (i % 2u) * 2u; }
/* The lane holding row r, columns c and c + 1 (c even). */
MSLCUDA_INLINE unsigned frag_lane(unsigned r, unsigned c) {
  return ((c >> 1) & 1u) | ((r & 3u) << 1) | ((c >> 2) << 3) | ((r >> 2) << 4);
}
MSLCUDA_INLINE unsigned long long tile_at(unsigned long long stride, ulong2 origin, bool transpose, unsigned r, unsigned c) {
  return transpose ? (origin.y + c) * stride + origin.x + r : (origin.y + r) * stride + origin.x + c;
}
MSLCUDA_INLINE float2 pair_of(unsigned src, float2 v) {
  return read_lane<32>(0xffffffffu, v, src);
}
} // namespace mslcuda

namespace metal {

template <class T, int C, int R> simdgroup_matrix<T, C, R>::simdgroup_matrix(T dval) {
  unsigned lane = ::mslcuda::lane();
  unsigned r = ::mslcuda::frag_row(lane), c = ::mslcuda::frag_col(lane);
  e_[0] = r == c ? dval : T(0);
  e_[1] = r == c + 1 ? dval : T(0);
}

template <class T, int C = 8, int R = 8> inline simdgroup_matrix<T, C, R> make_filled_simdgroup_matrix(T value) {
  simdgroup_matrix<T, C, R> m;
  m.e_ = value;
  return m;
}

template <class T, class U, int C, int R>
MSLCUDA_INLINE void simdgroup_load(thread simdgroup_matrix<T, C, R> &d, const U *src, ulong elements_per_row = C,
                                   ulong2 matrix_origin = ulong2(0), bool transpose_matrix = false) {
  unsigned lane = ::mslcuda::lane();
  unsigned r = ::mslcuda::frag_row(lane), c = ::mslcuda::frag_col(lane);
  d.e_[0] = static_cast<T>(float(src[::mslcuda::tile_at(elements_per_row, matrix_origin, transpose_matrix, r, c)]));
  d.e_[1] = static_cast<T>(float(src[::mslcuda::tile_at(elements_per_row, matrix_origin, transpose_matrix, r, c + 1)]));
}

template <class T, class U, int C, int R>
MSLCUDA_INLINE void simdgroup_store(const thread simdgroup_matrix<T, C, R> &a, U *dst, ulong elements_per_row = C,
                                    ulong2 matrix_origin = ulong2(0), bool transpose_matrix = false) {
  unsigned lane = ::mslcuda::lane();
  unsigned r = ::mslcuda::frag_row(lane), c = ::mslcuda::frag_col(lane);
  using E = __remove_cvref(decltype(*dst));
  dst[::mslcuda::tile_at(elements_per_row, matrix_origin, transpose_matrix, r, c)] = static_cast<E>(float(a.e_[0]));
  dst[::mslcuda::tile_at(elements_per_row, matrix_origin, transpose_matrix, r, c + 1)] = static_cast<E>(float(a.e_[1]));
}

template <class TD, class TA, class TB, class TC>
MSLCUDA_INLINE void simdgroup_multiply_accumulate(thread simdgroup_matrix<TD, 8, 8> &d, const thread simdgroup_matrix<TA, 8, 8> &a,
                                                  const thread simdgroup_matrix<TB, 8, 8> &b,
                                                  const thread simdgroup_matrix<TC, 8, 8> &c) {
  unsigned lane = ::mslcuda::lane();
  unsigned r = ::mslcuda::frag_row(lane), col = ::mslcuda::frag_col(lane);
  float2 av = float2{float(a.e_[0]), float(a.e_[1])};
  float2 bv = float2{float(b.e_[0]), float(b.e_[1])};
  float2 acc = float2{float(c.e_[0]), float(c.e_[1])};
  // Every lane takes part in every shuffle (sources differ per lane, the mask does not).
  for (unsigned k = 0; k < 8; k += 2) {
    float2 arow = ::mslcuda::pair_of(::mslcuda::frag_lane(r, k), av);  // A[r][k], A[r][k + 1]
    float2 b0 = ::mslcuda::pair_of(::mslcuda::frag_lane(k, col), bv);  // B[k][col], B[k][col + 1]
    float2 b1 = ::mslcuda::pair_of(::mslcuda::frag_lane(k + 1, col), bv);
    acc.x = __builtin_fmaf(arow.x, b0.x, acc.x);
    acc.y = __builtin_fmaf(arow.x, b0.y, acc.y);
    acc.x = __builtin_fmaf(arow.y, b1.x, acc.x);
    acc.y = __builtin_fmaf(arow.y, b1.y, acc.y);
  }
  d.e_[0] = static_cast<TD>(acc.x);
  d.e_[1] = static_cast<TD>(acc.y);
}

template <class TD, class TA, class TB>
MSLCUDA_INLINE void simdgroup_multiply(thread simdgroup_matrix<TD, 8, 8> &d, const thread simdgroup_matrix<TA, 8, 8> &a,
                                       const thread simdgroup_matrix<TB, 8, 8> &b) {
  simdgroup_matrix<TD, 8, 8> zero = make_filled_simdgroup_matrix<TD, 8, 8>(TD(0));
  simdgroup_multiply_accumulate(d, a, b, zero);
}

} // namespace metal

#include "msl_cpu/kernel/unsupported.h"

#endif /* MSLCUDA_PRELUDE_H */
