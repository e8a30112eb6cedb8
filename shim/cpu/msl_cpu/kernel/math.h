/*
 * math.h — part of the msl-cpu kernel header (appended to msl_cpu.h; see its top comment).
 *
 * The rest of Metal's math, integer, relational and geometric library. As in msl_cpu.h, half and
 * bfloat compute in float and round once; vectors apply the scalar function lane by lane.
 * fast:: and precise:: name the same functions (metal::fast and metal::precise see all of
 * namespace metal): msl-cpu's results are the precise ones, within both variants' bounds.
 */

namespace mslcpu {
template <class T> concept real = floating<T> && scalar<T>;
template <class V, class F> inline auto map_bool(V v, F f) {
  bvec<vt<V>::n> r;
  for (int i = 0; i < vt<V>::n; ++i) r[i] = f(v[i]);
  return r;
}
} // namespace mslcpu

namespace metal {

#define MSLCPU_REAL_1(name, fexpr)                                                          \
  template <::mslcpu::real T> inline T name(T t) { float x = float(t); return static_cast<T>(fexpr); } \
  template <::mslcpu::vector V>                                                             \
    requires ::mslcpu::floating<V>                                                          \
  inline V name(V v) { return ::mslcpu::map(v, [](auto e) { return name(e); }); }
MSLCPU_REAL_1(sinpi, __builtin_sinf(M_PI_F * x))
MSLCPU_REAL_1(cospi, __builtin_cosf(M_PI_F * x))
MSLCPU_REAL_1(tanpi, __builtin_tanf(M_PI_F * x))
MSLCPU_REAL_1(logb, __builtin_logbf(x))
MSLCPU_REAL_1(cbrt, __builtin_cbrtf(x))
#undef MSLCPU_REAL_1

template <::mslcpu::real T> inline T divide(T x, T y) { return static_cast<T>(float(x) / float(y)); }
template <::mslcpu::vector V> requires ::mslcpu::floating<V> inline V divide(V x, V y) { return x / y; }
template <::mslcpu::real T> inline T nextafter(T x, T y) {
  if constexpr (__is_same(T, float)) return __builtin_nextafterf(x, y);
  else {
    using B = __remove_cv(decltype(__builtin_bit_cast(ushort, x)));
    if (isnan(x) || isnan(y)) return x + y;
    if (x == y) return y;
    if (x == T(0)) return __builtin_bit_cast(T, B((y < x ? 0x8000u : 0u) | 1u));
    B b = __builtin_bit_cast(B, x);
    b = ((x < y) == (x > T(0))) ? B(b + 1) : B(b - 1);
    return __builtin_bit_cast(T, b);
  }
}

/* sincos returns the sine and stores the cosine; frexp/modf store through the reference */
template <class T> inline T sincos(T x, thread T &cosval) {
  cosval = cos(x);
  return sin(x);
}
template <::mslcpu::real T> inline T frexp(T x, thread int &exp) {
  return static_cast<T>(__builtin_frexpf(float(x), &exp));
}
template <::mslcpu::vector V> requires ::mslcpu::floating<V>
inline V frexp(V x, thread vec<int, ::mslcpu::vt<V>::n> &exp) {
  V r;
  for (int i = 0; i < ::mslcpu::vt<V>::n; ++i) {
    int e;
    r[i] = frexp(x[i], e);
    exp[i] = e;
  }
  return r;
}
template <::mslcpu::real T> inline T ldexp(T x, int k) { return static_cast<T>(__builtin_ldexpf(float(x), k)); }
template <::mslcpu::vector V> requires ::mslcpu::floating<V>
inline V ldexp(V x, vec<int, ::mslcpu::vt<V>::n> k) {
  V r;
  for (int i = 0; i < ::mslcpu::vt<V>::n; ++i) r[i] = ldexp(x[i], k[i]);
  return r;
}
template <class T> inline T modf(T x, thread T &intval) {
  intval = trunc(x);
  return x - intval;
}
template <::mslcpu::real T> inline int ilogb(T x) { return __builtin_ilogbf(float(x)); }

/* three-way min, max and median; fmin3/fmax3/fmedian3 for floats */
template <class T> inline T min3(T a, T b, T c) { return min(min(a, b), c); }
template <class T> inline T max3(T a, T b, T c) { return max(max(a, b), c); }
template <class T> inline T median3(T a, T b, T c) { return max(min(a, b), min(max(a, b), c)); }
template <class T> inline T fmin3(T a, T b, T c) { return fmin(fmin(a, b), c); }
template <class T> inline T fmax3(T a, T b, T c) { return fmax(fmax(a, b), c); }
template <class T> inline T fmedian3(T a, T b, T c) { return fmax(fmin(a, b), fmin(fmax(a, b), c)); }

/* relational: vector arguments give bool vectors */
template <::mslcpu::real T> inline bool isnormal(T x) {
  float f = float(x);
  return __builtin_isfinite(f) && __builtin_fabsf(f) >= float(numeric_limits<T>::min());
}
template <::mslcpu::real T> inline bool isordered(T x, T y) { return x == x && y == y; }
template <::mslcpu::real T> inline bool isunordered(T x, T y) { return !(x == x && y == y); }
/* Metal's not(): `not` is an operator in C++, so not(x) is !x, which bool vectors provide. */
#define MSLCPU_REL_VEC(name)                                                                \
  template <::mslcpu::vector V>                                                             \
    requires ::mslcpu::floating<V>                                                          \
  inline auto name(V v) { return ::mslcpu::map_bool(v, [](auto e) { return name(e); }); }
MSLCPU_REL_VEC(isnan) MSLCPU_REL_VEC(isinf) MSLCPU_REL_VEC(isfinite) MSLCPU_REL_VEC(signbit)
MSLCPU_REL_VEC(isnormal)
#undef MSLCPU_REL_VEC

/* geometric */
template <::mslcpu::vector V> inline ::mslcpu::elem<V> length_squared(V v) { return dot(v, v); }
template <::mslcpu::vector V> inline V faceforward(V n, V i, V nref) { return dot(nref, i) < 0 ? n : -n; }
template <::mslcpu::vector V> inline V reflect(V i, V n) { return i - ::mslcpu::elem<V>(2) * dot(n, i) * n; }
template <::mslcpu::vector V> inline V refract(V i, V n, ::mslcpu::elem<V> eta) {
  using E = ::mslcpu::elem<V>;
  E k = E(1) - eta * eta * (E(1) - dot(n, i) * dot(n, i));
  if (k < E(0)) return V(E(0));
  return eta * i - (eta * dot(n, i) + sqrt(k)) * n;
}

/* integer functions (scalars; vectors lane by lane) */
template <class T> using wide_t = conditional_t<(sizeof(T) < 8), long, __int128>;
template <class T> using unsigned_t = conditional_t<(sizeof(T) <= 1), uchar, conditional_t<(sizeof(T) <= 2), ushort,
                                      conditional_t<(sizeof(T) <= 4), uint, ulong>>>;
template <class T> using uwide_t = conditional_t<(sizeof(T) < 8), ulong, unsigned __int128>;
template <::mslcpu::integral T> requires ::mslcpu::scalar<T> inline T saturated(wide_t<T> v) {
  return static_cast<T>(v < wide_t<T>(numeric_limits<T>::min()) ? wide_t<T>(numeric_limits<T>::min())
                        : v > wide_t<T>(numeric_limits<T>::max()) ? wide_t<T>(numeric_limits<T>::max()) : v);
}
template <class T> inline T rotated(T v, unsigned s) {
  const unsigned w = 8 * sizeof(T);
  unsigned_t<T> u = static_cast<unsigned_t<T>>(v);
  return static_cast<T>(s ? unsigned_t<T>(u << s | u >> (w - s)) : u);
}
#define MSLCPU_INT_2(name, expr)                                                            \
  template <::mslcpu::integral T> requires ::mslcpu::scalar<T> inline T name(T x, T y) { return expr; } \
  template <::mslcpu::vector V> requires ::mslcpu::integral<V>                              \
  inline V name(V x, V y) { return ::mslcpu::map(x, y, [](auto p, auto q) { return name(p, q); }); }
MSLCPU_INT_2(absdiff, x > y ? T(x - y) : T(y - x))
MSLCPU_INT_2(addsat, saturated<T>(wide_t<T>(x) + wide_t<T>(y)))
MSLCPU_INT_2(subsat, saturated<T>(wide_t<T>(x) - wide_t<T>(y)))
MSLCPU_INT_2(hadd, T((wide_t<T>(x) + wide_t<T>(y)) >> 1))
MSLCPU_INT_2(rhadd, T((wide_t<T>(x) + wide_t<T>(y) + 1) >> 1))
MSLCPU_INT_2(mul24, T(x * y))
MSLCPU_INT_2(mulhi, T((wide_t<T>(x) * wide_t<T>(y)) >> (8 * sizeof(T))))
MSLCPU_INT_2(rotate, rotated(x, unsigned(unsigned_t<T>(y) % (8 * sizeof(T)))))
#undef MSLCPU_INT_2
template <class T> inline T mad24(T x, T y, T z) { return x * y + z; }
template <class T> inline T madhi(T x, T y, T z) { return mulhi(x, y) + z; }
template <::mslcpu::integral T> requires ::mslcpu::scalar<T> inline T madsat(T x, T y, T z) {
  return saturated<T>(wide_t<T>(x) * wide_t<T>(y) + wide_t<T>(z));
}
template <::mslcpu::integral T> requires ::mslcpu::scalar<T> inline T reverse_bits(T x) {
  using U = unsigned_t<T>;
  U v = static_cast<U>(x), r = 0;
  for (unsigned i = 0; i < 8 * sizeof(T); ++i) r = U(r << 1 | ((v >> i) & 1));
  return static_cast<T>(r);
}
template <::mslcpu::integral T> requires ::mslcpu::scalar<T> inline T extract_bits(T x, uint offset, uint bits) {
  if (bits == 0) return T(0);
  if constexpr (__is_signed(T)) return static_cast<T>(wide_t<T>(x) << (64 - offset - bits) >> (64 - bits));
  else return static_cast<T>((uwide_t<T>(x) >> offset) & ((uwide_t<T>(1) << bits) - 1));
}
template <::mslcpu::integral T> requires ::mslcpu::scalar<T> inline T insert_bits(T base, T insert, uint offset, uint bits) {
  uwide_t<T> mask = ((uwide_t<T>(1) << bits) - 1) << offset;
  return static_cast<T>((uwide_t<T>(base) & ~mask) | ((uwide_t<T>(insert) << offset) & mask));
}

} // namespace metal
