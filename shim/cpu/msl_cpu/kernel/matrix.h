/*
 * matrix.h — part of the msl-cpu kernel header (appended to msl_cpu.h; see its top comment).
 *
 * simdgroup_matrix<T, 8, 8> for float, half and bfloat. As on the GPU, each of the 32 lanes of a
 * SIMD-group holds two of the 64 elements (thread_elements()), and load, store, multiply and
 * multiply_accumulate are SIMD-group collectives: the last lane to arrive gathers the operands
 * from every lane's matrix, computes in float once, and scatters the result. Lane i holds row
 * fm = (i & 16) / 4 + (i / 2) % 4 and columns fn, fn + 1 with fn = (i & 8) / 2 + (i % 2) * 2:
 * the layout MLX's kernels assume for Apple GPUs. msl-cpu cannot check that Apple hardware
 * agrees, so portable kernels do not index thread_elements() by position.
 * Every lane of the SIMD-group must take part (Metal requires it too); fewer is a kernel fault.
 */

namespace metal {

template <class T, int Cols, int Rows> struct simdgroup_matrix {
  static_assert(Cols == 8 && Rows == 8, "msl-cpu: simdgroup_matrix supports 8x8 only (as Apple GPUs do)");
  static_assert(__is_same(T, float) || __is_same(T, half) || __is_same(T, bfloat),
                "msl-cpu: simdgroup_matrix element type must be float, half or bfloat");
  using element_type = T;
  simdgroup_matrix() = default;
  /* Metal: a diagonal matrix with `dval` on the diagonal. */
  explicit simdgroup_matrix(T dval);
  vec<T, 2> &thread_elements() { return e_; }
  const vec<T, 2> &thread_elements() const { return e_; }
  vec<T, 2> e_;
};

using simdgroup_float8x8 = simdgroup_matrix<float, 8, 8>;
using simdgroup_half8x8 = simdgroup_matrix<half, 8, 8>;
using simdgroup_bfloat8x8 = simdgroup_matrix<bfloat, 8, 8>;

} // namespace metal

namespace mslcpu {

/* Row and first column of the two elements lane `i` holds. */
inline unsigned frag_row(unsigned i) { return (i & 16u) / 4u + (i / 2u) % 4u; }
inline unsigned frag_col(unsigned i) { return (i & 8u) / 2u + (i % 2u) * 2u; }

inline unsigned current_lane() { return self()->index & (kSimdWidth - 1); }

/* Operands a lane deposits for a matrix collective (the exchange's `arg` carries the rest). */
struct MatrixArgs {      /* multiply: a, b and c (or null); arg: d */
  const void *m[3];
};
struct MemoryArgs {      /* load and store; arg: elements per row << 1 | transpose */
  const void *m;
  const void *memory;
  unsigned long long origin_x, origin_y;
};

template <class M> inline void gather(Group &g, unsigned s, unsigned slot, float (&tile)[64]) {
  SimdState &S = g.simd[s];
  for (unsigned lane = 0; lane < kSimdWidth; ++lane) {
    const M *m = static_cast<const M *>(get<MatrixArgs>(S.in, lane).m[slot]);
    unsigned r = frag_row(lane), c = frag_col(lane);
    tile[r * 8 + c] = float(m->e_[0]);
    tile[r * 8 + c + 1] = float(m->e_[1]);
  }
}

/* Offset of element (r, c) of the tile in memory: its origin is at column x, row y of memory
 * whose rows are `stride` elements apart; a transposed tile reads (c, r). */
struct TileMemory {
  unsigned long long stride, x, y;
  bool transpose;
  unsigned long long at(unsigned r, unsigned c) const {
    return transpose ? (y + c) * stride + x + r : (y + r) * stride + x + c;
  }
};
inline TileMemory tile_memory(SimdState &S, const MemoryArgs &a) {
  return {S.arg[0] >> 1, a.origin_x, a.origin_y, (S.arg[0] & 1) != 0};
}

inline bool full_simdgroup(Group &g, unsigned mask, const char *what) {
  if (mask == 0xffffffffu) return true;
  Fiber *f = self();
  if (!g.fault) {
    __builtin_snprintf(g.message, sizeof g.message,
                       "%s with %d of 32 lanes of SIMD-group %u active: simdgroup_matrix operations need "
                       "the whole SIMD-group", what, __builtin_popcount(mask), (f->index & ~31u) / 32u);
    g.fault = g.message;
  }
  return false;
}

/* The memory operand and layout are the first lane's (every lane passes the same). */
template <class M, class P> void resolve_load(Group &g, unsigned s, unsigned mask) {
  if (!full_simdgroup(g, mask, "simdgroup_load")) return;
  SimdState &S = g.simd[s];
  MemoryArgs a0 = get<MemoryArgs>(S.in, 0);
  TileMemory t = tile_memory(S, a0);
  P src = (P)(a0.memory);  // P may carry an address space
  using T = typename M::element_type;
  for (unsigned lane = 0; lane < kSimdWidth; ++lane) {
    M *m = static_cast<M *>(const_cast<void *>(get<MemoryArgs>(S.in, lane).m));
    unsigned r = frag_row(lane), c = frag_col(lane);
    m->e_[0] = static_cast<T>(float(src[t.at(r, c)]));
    m->e_[1] = static_cast<T>(float(src[t.at(r, c + 1)]));
  }
}

template <class M, class P> void resolve_store(Group &g, unsigned s, unsigned mask) {
  if (!full_simdgroup(g, mask, "simdgroup_store")) return;
  SimdState &S = g.simd[s];
  MemoryArgs a0 = get<MemoryArgs>(S.in, 0);
  TileMemory t = tile_memory(S, a0);
  P dst = (P)(a0.memory);
  using E = __remove_cvref(decltype(*dst));
  for (unsigned lane = 0; lane < kSimdWidth; ++lane) {
    const M *m = static_cast<const M *>(get<MemoryArgs>(S.in, lane).m);
    unsigned r = frag_row(lane), c = frag_col(lane);
    dst[t.at(r, c)] = static_cast<E>(float(m->e_[0]));
    dst[t.at(r, c + 1)] = static_cast<E>(float(m->e_[1]));
  }
}

/* d = a * b (+ c): every operand gathered before d is written, so d may alias any of them. */
template <class D, class A, class B, class C> void resolve_mma(Group &g, unsigned s, unsigned mask) {
  if (!full_simdgroup(g, mask, "simdgroup_multiply_accumulate")) return;
  SimdState &S = g.simd[s];
  float ta[64], tb[64], tc[64], td[64];
  gather<A>(g, s, 0, ta);
  gather<B>(g, s, 1, tb);
  if (get<MatrixArgs>(S.in, 0).m[2]) gather<C>(g, s, 2, tc);
  else for (float &x : tc) x = 0.0f;
  for (unsigned r = 0; r < 8; ++r)
    for (unsigned c = 0; c < 8; ++c) {
      float acc = tc[r * 8 + c];
      for (unsigned k = 0; k < 8; ++k) acc += ta[r * 8 + k] * tb[k * 8 + c];
      td[r * 8 + c] = acc;
    }
  using T = typename D::element_type;
  for (unsigned lane = 0; lane < kSimdWidth; ++lane) {
    D *d = reinterpret_cast<D *>(S.arg[lane]);
    unsigned r = frag_row(lane), c = frag_col(lane);
    d->e_[0] = static_cast<T>(td[r * 8 + c]);
    d->e_[1] = static_cast<T>(td[r * 8 + c + 1]);
  }
}

template <class M, class P>
MSLCPU_INLINE void matrix_memory(const M &m, P memory, unsigned long long stride, ulong2 origin, bool transpose,
                          unsigned site, Resolver fn, const char *what) {
  MemoryArgs args{&m, (const void *)memory, origin.x, origin.y};
  exchange<bool>(args, stride << 1 | (transpose ? 1u : 0u), site, fn, what);
}

} // namespace mslcpu

namespace metal {

template <class T, int C, int R> simdgroup_matrix<T, C, R>::simdgroup_matrix(T dval) {
  unsigned lane = ::mslcpu::current_lane();
  unsigned r = ::mslcpu::frag_row(lane), c = ::mslcpu::frag_col(lane);
  e_[0] = r == c ? dval : T(0);
  e_[1] = r == c + 1 ? dval : T(0);
}

template <class T, int C = 8, int R = 8> inline simdgroup_matrix<T, C, R> make_filled_simdgroup_matrix(T value) {
  simdgroup_matrix<T, C, R> m;
  m.e_ = value;
  return m;
}

template <class T, class U, int C, int R>
MSLCPU_INLINE void simdgroup_load(simdgroup_matrix<T, C, R> &d, const U *src, ulong elements_per_row = C,
                           ulong2 matrix_origin = ulong2(0), bool transpose_matrix = false, MSLCPU_SITE) {
  ::mslcpu::matrix_memory(d, src, elements_per_row, matrix_origin, transpose_matrix, MSLCPU_AT,
                          &::mslcpu::resolve_load<simdgroup_matrix<T, C, R>, const U *>, "simdgroup_load");
}

template <class T, class U, int C, int R>
MSLCPU_INLINE void simdgroup_store(const simdgroup_matrix<T, C, R> &a, U *dst, ulong elements_per_row = C,
                            ulong2 matrix_origin = ulong2(0), bool transpose_matrix = false, MSLCPU_SITE) {
  ::mslcpu::matrix_memory(a, dst, elements_per_row, matrix_origin, transpose_matrix, MSLCPU_AT,
                          &::mslcpu::resolve_store<simdgroup_matrix<T, C, R>, U *>, "simdgroup_store");
}

// Apple declares the operands of simdgroup_multiply(_accumulate) as non-const `thread` references
// (MLX copies const fragments into non-const matrices before the call). msl-cpu only reads them;
// `make lint-kernels` takes Apple's signature, so a const or temporary operand is an error there.
#if defined(MSLCPU_LINT)
#define MSLCPU_MMA_OPERAND
#else
#define MSLCPU_MMA_OPERAND const
#endif

template <class TD, class TA, class TB, class TC>
MSLCPU_INLINE void simdgroup_multiply_accumulate(simdgroup_matrix<TD, 8, 8> &d,
                                          MSLCPU_MMA_OPERAND simdgroup_matrix<TA, 8, 8> &a,
                                          MSLCPU_MMA_OPERAND simdgroup_matrix<TB, 8, 8> &b,
                                          MSLCPU_MMA_OPERAND simdgroup_matrix<TC, 8, 8> &c, MSLCPU_SITE) {
  using namespace ::mslcpu;
  MatrixArgs args{{&a, &b, &c}};
  exchange<bool>(args, (unsigned long long)&d, MSLCPU_AT,
                 &resolve_mma<simdgroup_matrix<TD, 8, 8>, simdgroup_matrix<TA, 8, 8>,
                              simdgroup_matrix<TB, 8, 8>, simdgroup_matrix<TC, 8, 8>>,
                 "simdgroup_multiply_accumulate");
}

template <class TD, class TA, class TB>
MSLCPU_INLINE void simdgroup_multiply(simdgroup_matrix<TD, 8, 8> &d, MSLCPU_MMA_OPERAND simdgroup_matrix<TA, 8, 8> &a,
                               MSLCPU_MMA_OPERAND simdgroup_matrix<TB, 8, 8> &b, MSLCPU_SITE) {
  using namespace ::mslcpu;
  MatrixArgs args{{&a, &b, nullptr}};
  exchange<bool>(args, (unsigned long long)&d, MSLCPU_AT,
                 &resolve_mma<simdgroup_matrix<TD, 8, 8>, simdgroup_matrix<TA, 8, 8>,
                              simdgroup_matrix<TB, 8, 8>, simdgroup_matrix<TD, 8, 8>>,
                 "simdgroup_multiply");
}

} // namespace metal
