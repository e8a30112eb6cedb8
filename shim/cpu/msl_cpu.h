/*
 * msl_cpu.h — the kernel-side half of msl-cpu: makes Metal Shading Language valid C++20 for clang.
 *
 * libmlxn_cpu embeds this file, followed by the files of msl_cpu/kernel/ (math.h: the rest of
 * the math library; fibers.h: the group runner, barriers and SIMD-group functions; atomics.h;
 * matrix.h: simdgroup_matrix; in the order of CPU_KERNEL_HDRS in cpu.mk), writes the whole
 * into the kernel cache by content hash and force-includes it (-include) in every kernel compile,
 * after the pre-pass (msl_cpu/prepass.cpp) has removed what macros cannot express: [[...]]
 * attributes, instantiation lines, function-constant declarations, block-scope `threadgroup`
 * variables, multi-argument vector constructors.
 *
 * Two parts:
 *   1. The launch ABI shared with the runtime (C structs, no Metal words). The runtime includes
 *      only this part, with MSLCPU_ABI_ONLY defined.
 *   2. The MSL surface: scalar and vector types (clang ext_vector_type, so swizzles are native),
 *      address-space words, math and conversions; the rest of the surface is in msl_cpu/kernel/.
 *
 * It deliberately includes no system header: every kernel compile parses this file, and keeping
 * it self-contained keeps a cold compile fast.
 */
#ifndef MSL_CPU_ABI_H
#define MSL_CPU_ABI_H

#define MSLCPU_ABI_VERSION 2u
#define MSLCPU_MAX_BINDINGS 31
#define MSLCPU_MAX_THREADS 1024u
/* Each kernel thread of a fiber kernel runs on a stack of this many bytes, aligned to its size
 * (the runner finds its fiber from the stack pointer). Slot 0 is the runner's own. */
#define MSLCPU_STACK_BYTES (128u * 1024u)
/* Scheduler state of the group being run (run queue, SIMD-group exchange slots). */
#define MSLCPU_GROUP_STATE_BYTES (128u * 1024u)
#define MSLCPU_MAX_TG_SLOTS 1024u

/* Per-kernel flags computed by the pre-pass, exported in the kernel table. */
enum {
  MSLCPU_NEEDS_FIBERS = 1u,            /* barrier or simd/quad collective reachable from the body */
  MSLCPU_USES_THREADGROUP_MEMORY = 2u  /* `threadgroup` storage or [[threadgroup(n)]] parameter */
};

/* One dispatch as the runtime hands it to a kernel object. Bindings are already offset. */
typedef struct mslcpu_launch {
  void *buffers[MSLCPU_MAX_BINDINGS];
  unsigned long long buffer_lengths[MSLCPU_MAX_BINDINGS]; /* bytes from the binding's offset */
  unsigned long long threadgroup_lengths[MSLCPU_MAX_BINDINGS];
  unsigned grid[3];       /* threads per grid */
  unsigned group_size[3]; /* threads per threadgroup, as dispatched */
  unsigned groups[3];     /* threadgroups per grid */
  unsigned clip_edges;    /* 1 for dispatch_threads: edge groups are clipped to the grid */
} mslcpu_launch;

/* Per-executor state, prepared by the runtime (cpu::Pool::prepare) before a runner is called. */
typedef struct mslcpu_worker {
  void *tg_memory[MSLCPU_MAX_BINDINGS]; /* [[threadgroup(n)]] storage of the current group */
  void *tg_static;     /* block-scope threadgroup variables: the object's mslcpu_tg_total bytes */
  void *state;         /* MSLCPU_GROUP_STATE_BYTES, 64-byte aligned */
  void *stacks;        /* stack_count slots of MSLCPU_STACK_BYTES, aligned to MSLCPU_STACK_BYTES */
  unsigned stack_count; /* >= 1, and >= 1 + threads per group for MSLCPU_NEEDS_FIBERS kernels */
  const char *fault;   /* set when a runner returns non-zero */
} mslcpu_worker;

/* Runs threadgroups [first, end) in linear order (x fastest). Returns 0, or non-zero with
 * worker->fault set. */
typedef int (*mslcpu_runner)(const mslcpu_launch *launch, mslcpu_worker *worker,
                             unsigned long long first, unsigned long long end);

typedef struct mslcpu_kernel_info {
  const char *name; /* host name */
  mslcpu_runner run;
  unsigned flags;   /* MSLCPU_* */
  const unsigned *tg_sites; /* block-scope threadgroup declarations it reaches, ~0u-terminated */
} mslcpu_kernel_info;

/* One block-scope `threadgroup` variable (per declaration site and template instantiation),
 * laid out when the object is loaded. */
typedef struct mslcpu_tg_slot {
  unsigned site, size, offset;
} mslcpu_tg_slot;

/* Every kernel object exports: mslcpu_abi (== MSLCPU_ABI_VERSION), mslcpu_kernels,
 * mslcpu_kernel_count, mslcpu_tg_slots, mslcpu_tg_slot_count and mslcpu_tg_total (bytes of
 * block-scope threadgroup storage, all slots; ~0u when more than MSLCPU_MAX_TG_SLOTS). */

#endif /* MSL_CPU_ABI_H */

#if !defined(MSLCPU_ABI_ONLY) && !defined(MSL_CPU_SURFACE)
#define MSL_CPU_SURFACE

/* ───────────────────────────── address spaces and qualifiers ───────────────────────────── */

#if defined(MSLCPU_LINT)
/* `make lint-kernels` turns warnings on for the kernels; this header's own are not theirs. */
#pragma clang system_header
/* `make lint-kernels`: address spaces become clang address spaces, so passing a device pointer
 * where a thread (generic) or threadgroup one is expected is an error, as in Metal. */
#define device __attribute__((address_space(1)))
#define constant __attribute__((address_space(2))) const
#define threadgroup __attribute__((address_space(3)))
#else
#define device
#define constant const
#define threadgroup
#endif
#define thread
#define threadgroup_imageblock
#define kernel
#define ray_data
#define object_data
#define is_function_constant_defined(name) __mslcpu_fcdef_##name

/* constants from Metal's <metal_math> */
#define MAXFLOAT __FLT_MAX__
#define HUGE_VALF __builtin_huge_valf()
#define INFINITY __builtin_inff()
#define NAN __builtin_nanf("")
#define FLT_MAX __FLT_MAX__
#define FLT_MIN __FLT_MIN__
#define FLT_EPSILON __FLT_EPSILON__
#define HALF_MAX 65504.0f16
#define HALF_MIN 6.103515625e-05f16
#define HALF_EPSILON 9.765625e-04f16
#define M_E_F 2.71828182845904523536f
#define M_LOG2E_F 1.44269504088896340736f
#define M_LOG10E_F 0.434294481903251827651f
#define M_LN2_F 0.693147180559945309417f
#define M_LN10_F 2.30258509299404568402f
#define M_PI_F 3.14159265358979323846f
#define M_PI_2_F 1.57079632679489661923f
#define M_PI_4_F 0.785398163397448309616f
#define M_1_PI_F 0.318309886183790671538f
#define M_2_PI_F 0.636619772367581343076f
#define M_2_SQRTPI_F 1.12837916709551257390f
#define M_SQRT2_F 1.41421356237309504880f
#define M_SQRT1_2_F 0.707106781186547524401f

/* ───────────────────────────── scalar and vector types ───────────────────────────── */

typedef unsigned int uint;
typedef unsigned short ushort;
typedef unsigned char uchar;
typedef unsigned long ulong;
typedef _Float16 half;
typedef __bf16 bfloat;
typedef decltype(sizeof(0)) size_t;
typedef long ptrdiff_t;
typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef short int16_t;
typedef unsigned short uint16_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long int64_t;
typedef unsigned long uint64_t;
typedef long intptr_t;
typedef unsigned long uintptr_t;

#define MSLCPU_VECTORS(T, name)                                  \
  typedef T name##2 __attribute__((ext_vector_type(2)));        \
  typedef T name##3 __attribute__((ext_vector_type(3)));        \
  typedef T name##4 __attribute__((ext_vector_type(4)));

MSLCPU_VECTORS(float, float)
MSLCPU_VECTORS(half, half)
MSLCPU_VECTORS(bfloat, bfloat)
MSLCPU_VECTORS(int, int)
MSLCPU_VECTORS(uint, uint)
MSLCPU_VECTORS(short, short)
MSLCPU_VECTORS(ushort, ushort)
MSLCPU_VECTORS(char, char)
MSLCPU_VECTORS(uchar, uchar)
MSLCPU_VECTORS(long, long)
MSLCPU_VECTORS(ulong, ulong)
#undef MSLCPU_VECTORS

/* Conversions to bfloat (and double to half) are library calls that libgcc 12 lacks; defined
 * here so a kernel object needs nothing beyond libc and libm. Round to nearest even; a NaN stays
 * quiet. From double they round twice (through float), which only literals reach: MSL has no
 * double type. */
extern "C" {
__attribute__((weak, visibility("hidden"), used)) bfloat __truncsfbf2(float f) {
  uint u = __builtin_bit_cast(uint, f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return __builtin_bit_cast(bfloat, ushort((u >> 16) | 0x40u));
  u += 0x7fffu + ((u >> 16) & 1u);
  return __builtin_bit_cast(bfloat, ushort(u >> 16));
}
__attribute__((weak, visibility("hidden"), used)) bfloat __truncdfbf2(double d) { return __truncsfbf2(float(d)); }
__attribute__((weak, visibility("hidden"), used)) half __truncdfhf2(double d) { return half(float(d)); }
}

/* ───────────────────────────── type machinery (internal) ───────────────────────────── */

namespace mslcpu {

template <class T> struct vt { using E = T; static constexpr int n = 0; };
template <class T, int N> struct vt<T __attribute__((ext_vector_type(N)))> {
  using E = T;
  static constexpr int n = N;
};
template <class T> struct vt<const T> : vt<T> {};
template <class T> struct vt<volatile T> : vt<T> {};
template <class T> using elem = typename vt<T>::E;
template <class T> concept vector = vt<T>::n > 0;
template <class T> concept scalar = vt<T>::n == 0;
template <class T>
concept floating = __is_same(elem<T>, float) || __is_same(elem<T>, half) ||
                   __is_same(elem<T>, bfloat) || __is_same(elem<T>, double);
template <class T> concept integral = __is_integral(elem<T>);

template <class V, class F> inline V map(V a, F f) {
  V r;
  for (int i = 0; i < vt<V>::n; ++i) r[i] = f(a[i]);
  return r;
}
template <class V, class F> inline V map(V a, V b, F f) {
  V r;
  for (int i = 0; i < vt<V>::n; ++i) r[i] = f(a[i], b[i]);
  return r;
}
template <class V, class F> inline V map(V a, V b, V c, F f) {
  V r;
  for (int i = 0; i < vt<V>::n; ++i) r[i] = f(a[i], b[i], c[i]);
  return r;
}

/* Metal's packed vectors (packed_float3: 12 bytes, aligned as float): element storage with the
 * lane names, converting to and from the vector type, arithmetic through it. */
template <class T, int N> struct packed;
template <class T> concept packed_vector = requires { typename T::mslcpu_packed; };
#define MSLCPU_PACKED(N, ...)                                                                  \
  template <class T> struct packed<T, N> {                                                     \
    using mslcpu_packed = void;                                                                \
    using value_type = T;                                                                      \
    using vec_type = T __attribute__((ext_vector_type(N)));                                   \
    union {                                                                                    \
      T e[N];                                                                                  \
      struct { T __VA_ARGS__; };                                                               \
    };                                                                                         \
    packed() = default;                                                                        \
    constexpr packed(vec_type v) { for (int i = 0; i < N; ++i) e[i] = v[i]; }                  \
    template <class... A>                                                                      \
      requires(sizeof...(A) == N)                                                              \
    constexpr packed(A... a) : e{static_cast<T>(a)...} {}                                      \
    constexpr operator vec_type() const {                                                      \
      vec_type r;                                                                              \
      for (int i = 0; i < N; ++i) r[i] = e[i];                                                 \
      return r;                                                                                \
    }                                                                                          \
    constexpr T &operator[](int i) { return e[i]; }                                            \
    constexpr const T &operator[](int i) const { return e[i]; }                                \
    template <class U> packed &operator+=(U o) { return *this = vec_type(*this) + o; }         \
    template <class U> packed &operator-=(U o) { return *this = vec_type(*this) - o; }         \
    template <class U> packed &operator*=(U o) { return *this = vec_type(*this) * o; }         \
    template <class U> packed &operator/=(U o) { return *this = vec_type(*this) / o; }         \
  };
MSLCPU_PACKED(2, x, y)
MSLCPU_PACKED(3, x, y, z)
MSLCPU_PACKED(4, x, y, z, w)
#undef MSLCPU_PACKED
/* Metal's bool vectors. clang's own bool vectors are bit-packed and have no .x, so these are
 * small classes: lanes by name or index, built from lane values or from the int vector a
 * vector comparison yields (any non-zero lane is true). */
template <int N> struct bvec;
#define MSLCPU_BVEC(N, ...)                                                                    \
  template <> struct bvec<N> {                                                                 \
    union {                                                                                    \
      bool e[N];                                                                               \
      struct { bool __VA_ARGS__; };                                                            \
    };                                                                                         \
    bvec() = default;                                                                          \
    template <class... A>                                                                      \
      requires(sizeof...(A) == N)                                                              \
    constexpr bvec(A... a) : e{static_cast<bool>(a)...} {}                                     \
    constexpr bvec(bool b) { for (int i = 0; i < N; ++i) e[i] = b; }                           \
    template <class V>                                                                         \
      requires(vt<V>::n == N)                                                                  \
    constexpr bvec(V v) { for (int i = 0; i < N; ++i) e[i] = v[i] != 0; }                      \
    constexpr bool &operator[](int i) { return e[i]; }                                         \
    constexpr const bool &operator[](int i) const { return e[i]; }                             \
    constexpr bvec operator!() const {                                                         \
      bvec r;                                                                                  \
      for (int i = 0; i < N; ++i) r.e[i] = !e[i];                                              \
      return r;                                                                                \
    }                                                                                          \
    constexpr bool operator==(const bvec &o) const {                                           \
      for (int i = 0; i < N; ++i) if (e[i] != o.e[i]) return false;                           \
      return true;                                                                             \
    }                                                                                          \
  };
MSLCPU_BVEC(2, x, y)
MSLCPU_BVEC(3, x, y, z)
MSLCPU_BVEC(4, x, y, z, w)
#undef MSLCPU_BVEC

/* The vector value of a packed vector, and anything else unchanged. */
template <class A> constexpr auto unpacked(A a) {
  if constexpr (packed_vector<A>) return typename A::vec_type(a);
  else return a;
}
template <class A> using unpacked_t = decltype(unpacked(A{}));

template <class T> constexpr int lanes = vt<T>::n == 0 ? 1 : vt<T>::n;

// Metal's vector constructors: the pre-pass rewrites `float4(...)` to `__mslcpu_mk<float4>(...)`,
// because clang's functional cast to a vector takes one argument and bit-casts between vectors.
// half <-> bfloat goes through float: clang rejects the direct scalar cast and its x86 backend
// cannot lower the direct vector conversion.
template <class A, class B> constexpr bool via_float =
    (__is_same(A, half) && __is_same(B, bfloat)) || (__is_same(A, bfloat) && __is_same(B, half));
template <class E, class S> constexpr E cast(S x) {
  if constexpr (via_float<E, S>) return static_cast<E>(static_cast<float>(x));
  else return static_cast<E>(x);
}
template <class V, int I, class A> constexpr void fill(V &r, A a) {
  if constexpr (vt<A>::n == 0) {
    r[I] = cast<elem<V>>(a);
  } else {
    for (int j = 0; j < vt<A>::n; ++j) r[I + j] = cast<elem<V>>(a[j]);
  }
}
template <class V, int I> constexpr void fill_all(V &) {}
template <class V, int I, class A, class... Rest> constexpr void fill_all(V &r, A a, Rest... rest) {
  fill<V, I>(r, a);
  fill_all<V, I + lanes<A>>(r, rest...);
}

/* one argument: a scalar splats, a vector of the same size converts lane by lane */
template <class V, class A> constexpr V convert(A a) {
  if constexpr (vt<A>::n == 0) {
    V r = cast<elem<V>>(a);
    return r;
  } else {
    static_assert(vt<A>::n == vt<V>::n, "msl-cpu: vector conversion between different sizes");
    if constexpr (via_float<elem<V>, elem<A>>)
      return __builtin_convertvector(__builtin_convertvector(a, float __attribute__((ext_vector_type(vt<V>::n)))), V);
    else return __builtin_convertvector(a, V);
  }
}

} // namespace mslcpu

/* V(a...) as Metal means it. The pre-pass writes every construction through a vector type name,
 * a template type parameter or a type alias this way, since only then does a multi-argument
 * vector constructor inside a template work: other types are simply constructed. */
template <class V, class... A> constexpr V __mslcpu_mk(A... a) {
  if constexpr (::mslcpu::vector<V>) {
    constexpr int n = ::mslcpu::vt<V>::n;
    if constexpr (sizeof...(A) == 0) {
      return V{};
    } else if constexpr (sizeof...(A) == 1) {
      return ::mslcpu::convert<V>(::mslcpu::unpacked(a)...);
    } else {
      static_assert((::mslcpu::lanes<::mslcpu::unpacked_t<A>> + ...) == n,
                    "msl-cpu: vector constructor arguments do not add up to the vector size");
      V r;
      ::mslcpu::fill_all<V, 0>(r, ::mslcpu::unpacked(a)...);
      return r;
    }
  } else if constexpr (sizeof...(A) == 1 && !__is_class(V) && !__is_reference(V) && !__is_pointer(V) &&
                       ((!__is_class(A) && !::mslcpu::vector<A>) && ...)) {
    return ::mslcpu::cast<V>(a...);  // a scalar conversion (half <-> bfloat through float)
  } else {
    return V(a...);
  }
}

/* ───────────────────────────── namespace metal ───────────────────────────── */

namespace metal {

using ::uint; using ::ushort; using ::uchar; using ::ulong; using ::half; using ::bfloat;
using ::size_t; using ::ptrdiff_t;
using ::float2; using ::float3; using ::float4; using ::half2; using ::half3; using ::half4;
using ::bfloat2; using ::bfloat3; using ::bfloat4; using ::int2; using ::int3; using ::int4;
using ::uint2; using ::uint3; using ::uint4; using ::short2; using ::short3; using ::short4;
using ::ushort2; using ::ushort3; using ::ushort4; using ::char2; using ::char3; using ::char4;
using ::uchar2; using ::uchar3; using ::uchar4; using ::long2; using ::long3; using ::long4;
using ::ulong2; using ::ulong3; using ::ulong4;
using ::__mslcpu_mk;
using bool2 = ::mslcpu::bvec<2>;
using bool3 = ::mslcpu::bvec<3>;
using bool4 = ::mslcpu::bvec<4>;
#define MSLCPU_PACKED_NAMES(T, name)                                                          \
  using packed_##name##2 = ::mslcpu::packed<T, 2>;                                            \
  using packed_##name##3 = ::mslcpu::packed<T, 3>;                                            \
  using packed_##name##4 = ::mslcpu::packed<T, 4>;
MSLCPU_PACKED_NAMES(float, float) MSLCPU_PACKED_NAMES(half, half) MSLCPU_PACKED_NAMES(bfloat, bfloat)
MSLCPU_PACKED_NAMES(int, int) MSLCPU_PACKED_NAMES(uint, uint) MSLCPU_PACKED_NAMES(short, short)
MSLCPU_PACKED_NAMES(ushort, ushort) MSLCPU_PACKED_NAMES(char, char) MSLCPU_PACKED_NAMES(uchar, uchar)
MSLCPU_PACKED_NAMES(long, long) MSLCPU_PACKED_NAMES(ulong, ulong)
#undef MSLCPU_PACKED_NAMES

/* arithmetic and comparison with a packed vector on either side go through its vector type */
#define MSLCPU_PACKED_OP(op)                                                                   \
  template <class P, class U>                                                                  \
    requires ::mslcpu::packed_vector<P>                                                        \
  constexpr auto operator op(const P &a, const U &b) { return typename P::vec_type(a) op ::mslcpu::unpacked(b); } \
  template <class U, class P>                                                                  \
    requires(::mslcpu::packed_vector<P> && !::mslcpu::packed_vector<U>)                        \
  constexpr auto operator op(const U &a, const P &b) { return a op typename P::vec_type(b); }
MSLCPU_PACKED_OP(+) MSLCPU_PACKED_OP(-) MSLCPU_PACKED_OP(*) MSLCPU_PACKED_OP(/)
MSLCPU_PACKED_OP(==) MSLCPU_PACKED_OP(!=) MSLCPU_PACKED_OP(<) MSLCPU_PACKED_OP(>)
MSLCPU_PACKED_OP(<=) MSLCPU_PACKED_OP(>=)
#undef MSLCPU_PACKED_OP
template <class P>
  requires ::mslcpu::packed_vector<P>
constexpr auto operator-(const P &a) { return -typename P::vec_type(a); }

template <class T, int N> using vec = T __attribute__((ext_vector_type(N)));

/* type traits a kernel template typically reaches for */
template <class A, class B> struct is_same { static constexpr bool value = false; };
template <class A> struct is_same<A, A> { static constexpr bool value = true; };
template <class A, class B> constexpr bool is_same_v = is_same<A, B>::value;
template <bool C, class T = void> struct enable_if {};
template <class T> struct enable_if<true, T> { using type = T; };
template <bool C, class T = void> using enable_if_t = typename enable_if<C, T>::type;
template <bool C, class A, class B> struct conditional { using type = A; };
template <class A, class B> struct conditional<false, A, B> { using type = B; };
template <bool C, class A, class B> using conditional_t = typename conditional<C, A, B>::type;
template <class T> constexpr bool is_floating_point_v = ::mslcpu::floating<T> && ::mslcpu::scalar<T>;
template <class T> constexpr bool is_integral_v = __is_integral(T);
template <class T> constexpr bool is_signed_v = __is_signed(T) || is_floating_point_v<T>;
template <class T> constexpr bool is_unsigned_v = __is_unsigned(T);
template <class T> struct remove_cv { using type = __remove_cv(T); };
template <class T> using remove_cv_t = __remove_cv(T);

template <class T> struct numeric_limits;
#define MSLCPU_LIMITS(T, lo, hi, eps, inf, nan)                                           \
  template <> struct numeric_limits<T> {                                                  \
    static constexpr bool is_specialized = true;                                          \
    static constexpr T min() { return lo; }                                               \
    static constexpr T max() { return hi; }                                               \
    static constexpr T lowest() { return -(hi); }                                        \
    static constexpr T epsilon() { return eps; }                                          \
    static constexpr T infinity() { return inf; }                                         \
    static constexpr T quiet_NaN() { return nan; }                                        \
  };
MSLCPU_LIMITS(float, __FLT_MIN__, __FLT_MAX__, __FLT_EPSILON__, __builtin_inff(), __builtin_nanf(""))
MSLCPU_LIMITS(half, __builtin_bit_cast(half, (ushort)0x0400), __builtin_bit_cast(half, (ushort)0x7bff),
              __builtin_bit_cast(half, (ushort)0x1400), __builtin_bit_cast(half, (ushort)0x7c00),
              __builtin_bit_cast(half, (ushort)0x7e00))
MSLCPU_LIMITS(bfloat, __builtin_bit_cast(bfloat, (ushort)0x0080),
              __builtin_bit_cast(bfloat, (ushort)0x7f7f), __builtin_bit_cast(bfloat, (ushort)0x3c00),
              __builtin_bit_cast(bfloat, (ushort)0x7f80), __builtin_bit_cast(bfloat, (ushort)0x7fc0))
#undef MSLCPU_LIMITS
#define MSLCPU_INT_LIMITS(T, lo, hi)                                                      \
  template <> struct numeric_limits<T> {                                                  \
    static constexpr bool is_specialized = true;                                          \
    static constexpr T min() { return lo; }                                               \
    static constexpr T max() { return hi; }                                               \
    static constexpr T lowest() { return lo; }                                            \
  };
MSLCPU_INT_LIMITS(char, -128, 127)
MSLCPU_INT_LIMITS(signed char, -128, 127)
MSLCPU_INT_LIMITS(uchar, 0, 255)
MSLCPU_INT_LIMITS(short, -32768, 32767)
MSLCPU_INT_LIMITS(ushort, 0, 65535)
MSLCPU_INT_LIMITS(int, -__INT_MAX__ - 1, __INT_MAX__)
MSLCPU_INT_LIMITS(uint, 0u, 0xffffffffu)
MSLCPU_INT_LIMITS(long, -__LONG_MAX__ - 1, __LONG_MAX__)
MSLCPU_INT_LIMITS(ulong, 0ul, ~0ul)
#undef MSLCPU_INT_LIMITS

template <class T, class U> inline T as_type(U x) {
  static_assert(sizeof(T) == sizeof(U), "as_type: source and destination sizes differ");
  return __builtin_bit_cast(T, x);
}

/* ── math. Scalars overload per type (as Metal's library does), so `max(x, 0)` converts;
 *    vectors apply the scalar function lane by lane. half and bfloat compute in float and round
 *    once, which is what Apple GPUs' fast paths return within Metal's stated ulp bounds. ── */

#define MSLCPU_FLOAT_1(name, fexpr)                                                        \
  inline float name(float x) { return fexpr; }                                             \
  inline half name(half h) { float x = h; return static_cast<half>(fexpr); }              \
  inline bfloat name(bfloat b) { float x = b; return static_cast<bfloat>(fexpr); }        \
  template <::mslcpu::vector V>                                                            \
    requires ::mslcpu::floating<V>                                                         \
  inline V name(V v) { return ::mslcpu::map(v, [](auto e) { return name(e); }); }

MSLCPU_FLOAT_1(exp, __builtin_expf(x))
MSLCPU_FLOAT_1(exp2, __builtin_exp2f(x))
MSLCPU_FLOAT_1(exp10, __builtin_powf(10.0f, x))
MSLCPU_FLOAT_1(log, __builtin_logf(x))
MSLCPU_FLOAT_1(log2, __builtin_log2f(x))
MSLCPU_FLOAT_1(log10, __builtin_log10f(x))
MSLCPU_FLOAT_1(sqrt, __builtin_sqrtf(x))
MSLCPU_FLOAT_1(rsqrt, 1.0f / __builtin_sqrtf(x))
MSLCPU_FLOAT_1(sin, __builtin_sinf(x))
MSLCPU_FLOAT_1(cos, __builtin_cosf(x))
MSLCPU_FLOAT_1(tan, __builtin_tanf(x))
MSLCPU_FLOAT_1(asin, __builtin_asinf(x))
MSLCPU_FLOAT_1(acos, __builtin_acosf(x))
MSLCPU_FLOAT_1(atan, __builtin_atanf(x))
MSLCPU_FLOAT_1(sinh, __builtin_sinhf(x))
MSLCPU_FLOAT_1(cosh, __builtin_coshf(x))
MSLCPU_FLOAT_1(tanh, __builtin_tanhf(x))
MSLCPU_FLOAT_1(asinh, __builtin_asinhf(x))
MSLCPU_FLOAT_1(acosh, __builtin_acoshf(x))
MSLCPU_FLOAT_1(atanh, __builtin_atanhf(x))
MSLCPU_FLOAT_1(fabs, __builtin_fabsf(x))
MSLCPU_FLOAT_1(floor, __builtin_floorf(x))
MSLCPU_FLOAT_1(ceil, __builtin_ceilf(x))
MSLCPU_FLOAT_1(round, __builtin_roundf(x))
MSLCPU_FLOAT_1(trunc, __builtin_truncf(x))
MSLCPU_FLOAT_1(rint, __builtin_rintf(x))
MSLCPU_FLOAT_1(fract, __builtin_fminf(x - __builtin_floorf(x), 0x1.fffffep-1f))
MSLCPU_FLOAT_1(saturate, __builtin_fminf(__builtin_fmaxf(x, 0.0f), 1.0f))
MSLCPU_FLOAT_1(sign, x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x == x ? x : 0.0f)
#undef MSLCPU_FLOAT_1

#define MSLCPU_FLOAT_2(name, fexpr)                                                        \
  inline float name(float x, float y) { return fexpr; }                                    \
  inline half name(half a, half b) { float x = a, y = b; return static_cast<half>(fexpr); }         \
  inline bfloat name(bfloat a, bfloat b) { float x = a, y = b; return static_cast<bfloat>(fexpr); } \
  template <::mslcpu::vector V>                                                            \
    requires ::mslcpu::floating<V>                                                         \
  inline V name(V a, V b) { return ::mslcpu::map(a, b, [](auto p, auto q) { return name(p, q); }); } \
  template <::mslcpu::vector V>                                                            \
    requires ::mslcpu::floating<V>                                                         \
  inline V name(V a, ::mslcpu::elem<V> b) { V bv = b; return name(a, bv); }               \
  template <::mslcpu::vector V>                                                            \
    requires ::mslcpu::floating<V>                                                         \
  inline V name(::mslcpu::elem<V> a, V b) { V av = a; return name(av, b); }

MSLCPU_FLOAT_2(pow, __builtin_powf(x, y))
MSLCPU_FLOAT_2(powr, __builtin_powf(x, y))
MSLCPU_FLOAT_2(fmod, __builtin_fmodf(x, y))
MSLCPU_FLOAT_2(atan2, __builtin_atan2f(x, y))
MSLCPU_FLOAT_2(fmin, __builtin_fminf(x, y))
MSLCPU_FLOAT_2(fmax, __builtin_fmaxf(x, y))
MSLCPU_FLOAT_2(copysign, __builtin_copysignf(x, y))
MSLCPU_FLOAT_2(fdim, x > y ? x - y : 0.0f)
MSLCPU_FLOAT_2(step, y < x ? 0.0f : 1.0f)
#undef MSLCPU_FLOAT_2

/* min, max, abs, clamp for every scalar type; integers stay integers */
#define MSLCPU_MINMAX(T)                                                                   \
  inline T min(T a, T b) { return b < a ? b : a; }                                         \
  inline T max(T a, T b) { return a < b ? b : a; }                                         \
  inline T clamp(T x, T lo, T hi) { return min(max(x, lo), hi); }
MSLCPU_MINMAX(char) MSLCPU_MINMAX(uchar) MSLCPU_MINMAX(short) MSLCPU_MINMAX(ushort)
MSLCPU_MINMAX(int) MSLCPU_MINMAX(uint) MSLCPU_MINMAX(long) MSLCPU_MINMAX(ulong)
#undef MSLCPU_MINMAX
inline float min(float a, float b) { return __builtin_fminf(a, b); }
inline float max(float a, float b) { return __builtin_fmaxf(a, b); }
inline half min(half a, half b) { return static_cast<half>(__builtin_fminf(a, b)); }
inline half max(half a, half b) { return static_cast<half>(__builtin_fmaxf(a, b)); }
inline bfloat min(bfloat a, bfloat b) { return static_cast<bfloat>(__builtin_fminf(a, b)); }
inline bfloat max(bfloat a, bfloat b) { return static_cast<bfloat>(__builtin_fmaxf(a, b)); }
inline float clamp(float x, float lo, float hi) { return min(max(x, lo), hi); }
inline half clamp(half x, half lo, half hi) { return min(max(x, lo), hi); }
inline bfloat clamp(bfloat x, bfloat lo, bfloat hi) { return min(max(x, lo), hi); }

template <::mslcpu::vector V> inline V min(V a, V b) {
  return ::mslcpu::map(a, b, [](auto p, auto q) { return min(p, q); });
}
template <::mslcpu::vector V> inline V max(V a, V b) {
  return ::mslcpu::map(a, b, [](auto p, auto q) { return max(p, q); });
}
template <::mslcpu::vector V> inline V min(V a, ::mslcpu::elem<V> b) { V bv = b; return min(a, bv); }
template <::mslcpu::vector V> inline V max(V a, ::mslcpu::elem<V> b) { V bv = b; return max(a, bv); }
template <::mslcpu::vector V> inline V min(::mslcpu::elem<V> a, V b) { V av = a; return min(av, b); }
template <::mslcpu::vector V> inline V max(::mslcpu::elem<V> a, V b) { V av = a; return max(av, b); }
template <::mslcpu::vector V> inline V clamp(V x, V lo, V hi) { return min(max(x, lo), hi); }
template <::mslcpu::vector V>
inline V clamp(V x, ::mslcpu::elem<V> lo, ::mslcpu::elem<V> hi) { return min(max(x, lo), hi); }

inline char abs(char x) { return x < 0 ? -x : x; }
inline short abs(short x) { return x < 0 ? -x : x; }
inline int abs(int x) { return x < 0 ? -x : x; }
inline long abs(long x) { return x < 0 ? -x : x; }
inline uchar abs(uchar x) { return x; }
inline ushort abs(ushort x) { return x; }
inline uint abs(uint x) { return x; }
inline ulong abs(ulong x) { return x; }
inline float abs(float x) { return __builtin_fabsf(x); }
inline half abs(half x) { return fabs(x); }
inline bfloat abs(bfloat x) { return fabs(x); }
template <::mslcpu::vector V> inline V abs(V v) {
  return ::mslcpu::map(v, [](auto e) { return abs(e); });
}

inline float fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
inline half fma(half a, half b, half c) { return static_cast<half>(__builtin_fmaf(a, b, c)); }
inline bfloat fma(bfloat a, bfloat b, bfloat c) { return static_cast<bfloat>(__builtin_fmaf(a, b, c)); }
template <::mslcpu::vector V>
  requires ::mslcpu::floating<V>
inline V fma(V a, V b, V c) {
  return ::mslcpu::map(a, b, c, [](auto p, auto q, auto r) { return fma(p, q, r); });
}
template <class T> inline T mix(T x, T y, T a) { return x + (y - x) * a; }
template <::mslcpu::vector V> inline V mix(V x, V y, ::mslcpu::elem<V> a) { return x + (y - x) * a; }
template <class T> inline T smoothstep(T e0, T e1, T x) {
  T t = clamp((x - e0) / (e1 - e0), T(0), T(1));
  return t * t * (T(3) - T(2) * t);
}

/* select(a, b, c): c ? b : a, lane by lane for vectors */
template <::mslcpu::scalar T> inline T select(T a, T b, bool c) { return c ? b : a; }
template <::mslcpu::vector V, class C> inline V select(V a, V b, C c) {
  V r;
  for (int i = 0; i < ::mslcpu::vt<V>::n; ++i) r[i] = c[i] ? b[i] : a[i];
  return r;
}

inline bool isnan(float x) { return __builtin_isnan(x); }
inline bool isinf(float x) { return __builtin_isinf(x); }
inline bool isfinite(float x) { return __builtin_isfinite(x); }
inline bool signbit(float x) { return __builtin_signbit(x); }
inline bool isnan(half x) { return __builtin_isnan(float(x)); }
inline bool isinf(half x) { return __builtin_isinf(float(x)); }
inline bool isfinite(half x) { return __builtin_isfinite(float(x)); }
inline bool signbit(half x) { return __builtin_signbit(float(x)); }
inline bool isnan(bfloat x) { return __builtin_isnan(float(x)); }
inline bool isinf(bfloat x) { return __builtin_isinf(float(x)); }
inline bool isfinite(bfloat x) { return __builtin_isfinite(float(x)); }
inline bool signbit(bfloat x) { return __builtin_signbit(float(x)); }

template <::mslcpu::integral T> inline T popcount(T x) {
  if constexpr (::mslcpu::vector<T>) return ::mslcpu::map(x, [](auto e) { return popcount(e); });
  else return static_cast<T>(__builtin_popcountll(static_cast<unsigned long long>(x) &
                                                  (~0ull >> (64 - 8 * sizeof(T)))));
}
template <::mslcpu::integral T> inline T clz(T x) {
  if constexpr (::mslcpu::vector<T>) return ::mslcpu::map(x, [](auto e) { return clz(e); });
  else {
    unsigned long long v = static_cast<unsigned long long>(x) & (~0ull >> (64 - 8 * sizeof(T)));
    return static_cast<T>(v == 0 ? 8 * sizeof(T) : __builtin_clzll(v) - (64 - 8 * sizeof(T)));
  }
}
template <::mslcpu::integral T> inline T ctz(T x) {
  if constexpr (::mslcpu::vector<T>) return ::mslcpu::map(x, [](auto e) { return ctz(e); });
  else {
    unsigned long long v = static_cast<unsigned long long>(x) & (~0ull >> (64 - 8 * sizeof(T)));
    return static_cast<T>(v == 0 ? 8 * sizeof(T) : __builtin_ctzll(v));
  }
}

/* geometric and relational */
template <::mslcpu::vector V> inline ::mslcpu::elem<V> dot(V a, V b) {
  ::mslcpu::elem<V> s = 0;
  for (int i = 0; i < ::mslcpu::vt<V>::n; ++i) s += a[i] * b[i];
  return s;
}
template <::mslcpu::vector V> inline ::mslcpu::elem<V> length(V v) { return sqrt(dot(v, v)); }
template <::mslcpu::vector V> inline ::mslcpu::elem<V> distance(V a, V b) { return length(a - b); }
template <::mslcpu::vector V> inline V normalize(V v) { return v * rsqrt(dot(v, v)); }
template <::mslcpu::vector V> inline V cross(V a, V b) {
  static_assert(::mslcpu::vt<V>::n == 3, "cross needs 3-vectors");
  return V{a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
inline bool all(bool b) { return b; }
inline bool any(bool b) { return b; }
template <::mslcpu::vector V> inline bool all(V v) {
  for (int i = 0; i < ::mslcpu::vt<V>::n; ++i) if (!v[i]) return false;
  return true;
}
template <::mslcpu::vector V> inline bool any(V v) {
  for (int i = 0; i < ::mslcpu::vt<V>::n; ++i) if (v[i]) return true;
  return false;
}
template <int N> inline bool all(::mslcpu::bvec<N> v) {
  for (int i = 0; i < N; ++i) if (!v[i]) return false;
  return true;
}
template <int N> inline bool any(::mslcpu::bvec<N> v) {
  for (int i = 0; i < N; ++i) if (v[i]) return true;
  return false;
}

namespace fast { using namespace ::metal; }
namespace precise { using namespace ::metal; }

/* memory scopes of threadgroup_barrier and simdgroup_barrier (msl_cpu/kernel/fibers.h) */
enum class mem_flags : uint { mem_none = 0, mem_device = 1, mem_threadgroup = 2, mem_texture = 4,
                              mem_threadgroup_imageblock = 8, mem_object_data = 16 };
constexpr mem_flags operator|(mem_flags a, mem_flags b) { return mem_flags(uint(a) | uint(b)); }

} // namespace metal

#endif /* MSL_CPU_SURFACE */
