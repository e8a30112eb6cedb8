/*
 * checked.h — part of the msl-cpu kernel header (appended to msl_cpu.h; see its top comment).
 *
 * Bounds checking for sanitize builds (the device option msl_cpu.sanitize, MLXN_MSL_CPU_SANITIZE=1
 * in the TS core). AddressSanitizer cannot be loaded into a process that was not started with
 * it, so the pre-pass instead declares every device, constant and threadgroup pointer (kernel
 * and helper parameters, locals, casts) as checked<T>: a pointer that remembers the binding it
 * came from. An element access outside the binding fails the command buffer with the binding,
 * the byte range and the .metal line of the access (indexing reports its own line; `*p` and `p->`
 * report the line where p was last moved). Pointers made from raw addresses (`&a[i]`, a
 * threadgroup array) are not checked, and neither are block-scope threadgroup arrays.
 *
 * Also here: how the generated runner binds kernel arguments (both builds).
 */

#if defined(MSLCPU_SANITIZE)

namespace mslcpu {

/* An index or offset, with the source location of the expression that uses it. */
struct at {
  long long v;
  unsigned line;
  const char *file;
  template <class I>
    requires(__is_integral(I) || __is_enum(I))
  constexpr at(I i, unsigned l = __builtin_LINE(), const char *f = __builtin_FILE()) : v((long long)i), line(l), file(f) {}
};

/* Where a checked pointer's memory came from. */
struct Origin {
  const char *base = nullptr;  /* start of the binding; null: not checked */
  unsigned long long length = 0;
  unsigned index = 0;
  const char *space = "buffer";  /* [[buffer(index)]] or [[threadgroup(index)]] */
  const char *array = nullptr;   /* or a block-scope threadgroup array of this name */
};

__attribute__((noinline, cold)) inline void *out_of_bounds(const Origin &o, const char *p, unsigned long long size,
                                                           unsigned line, const char *file) {
  long long off = (long long)(p - o.base);
  char what[96];
  if (o.array) __builtin_snprintf(what, sizeof what, "threadgroup array '%s'", o.array);
  else __builtin_snprintf(what, sizeof what, "[[%s(%u)]]", o.space, o.index);
  fail(self(), "out-of-bounds access at %s:%u: bytes [%lld, %lld) of %s, which has %llu bytes",
       file ? file : "?", line, off, off + (long long)size, what, o.length);
  // Only a kernel run without fibers gets here: it finishes the group with a harmless target.
  alignas(64) static char scratch[4096];
  return scratch;
}

template <class T> struct checked {
  using element_type = T;
  T *p = nullptr;
  Origin o;
  unsigned line = 0;       /* where p was last moved, for `*p` and `p->` */
  const char *file = nullptr;

  checked() = default;
  checked(decltype(nullptr)) {}
  /* a raw pointer: not checked */
  checked(T *raw) : p(raw) {}
  checked(T *raw, Origin origin) : p(raw), o(origin) {}
  /* the same memory as another element type (casts keep the binding) */
  template <class U>
    requires(!__is_same(__remove_cv(U), __remove_cv(T)) || !__is_convertible(U *, T *))
  explicit checked(const checked<U> &c) : p((T *)(c.p)), o(c.o), line(c.line), file(c.file) {}
  template <class U>
    requires(__is_convertible(U *, T *))
  checked(const checked<U> &c) : p(c.p), o(c.o), line(c.line), file(c.file) {}
  template <class U>
    requires(!__is_convertible(U *, T *))
  explicit checked(U *raw) : p((T *)raw) {}

  __attribute__((always_inline)) T &check(T *q, unsigned l, const char *f) const {
    if (o.base) {
      unsigned long long off = (unsigned long long)((const char *)q - o.base);
      if (off > o.length || o.length - off < sizeof(T)) [[unlikely]]
        return *static_cast<T *>(out_of_bounds(o, (const char *)q, sizeof(T), l, f));
    }
    return *q;
  }
  T &operator[](at i) const { return check(p + i.v, i.line, i.file); }
  T &operator*() const { return check(p, line, file); }
  T *operator->() const { return &check(p, line, file); }
  /* To a plain pointer where one is expected (a library function, a non-template helper). A
   * template, so that it adds no built-in candidates for p[i] and p + i (clang skips
   * conversion templates there), which would make those ambiguous. */
  template <class U>
    requires(__is_convertible(T *, U *))
  operator U *() const { return p; }
  explicit operator bool() const { return p != nullptr; }
  /* The address as an integer, `ulong(p)` (alignment checks: block.h's block_aligned). */
  template <class I>
    requires(__is_integral(I) && !__is_same(I, bool))
  explicit operator I() const { return (I)p; }

  checked moved(long long by, unsigned l, const char *f) const {
    checked c = *this;
    c.p = p + by;
    c.line = l;
    c.file = f;
    return c;
  }
  checked operator+(at i) const { return moved(i.v, i.line, i.file); }
  checked operator-(at i) const { return moved(-i.v, i.line, i.file); }
  friend checked operator+(at i, const checked &c) { return c.moved(i.v, i.line, i.file); }
  checked &operator+=(at i) { return *this = moved(i.v, i.line, i.file); }
  checked &operator-=(at i) { return *this = moved(-i.v, i.line, i.file); }
  checked &operator++() { ++p; return *this; }
  checked &operator--() { --p; return *this; }
  checked operator++(int) { checked c = *this; ++p; return c; }
  checked operator--(int) { checked c = *this; --p; return c; }
  template <class U> long long operator-(const checked<U> &q) const { return p - q.p; }
  template <class U> bool operator==(const checked<U> &q) const { return p == q.p; }
  template <class U> auto operator<=>(const checked<U> &q) const { return p <=> q.p; }
  bool operator==(decltype(nullptr)) const { return p == nullptr; }
};

/* A block-scope threadgroup array in a sanitize build: a checked pointer to its first element
 * (so it passes where a threadgroup pointer is expected, template parameters deduced). */
template <class E, unsigned long long N> struct checked_array : checked<E> {
  checked_array(E (&a)[N], const char *name)
      : checked<E>(a, Origin{(const char *)a, sizeof(E) * N, 0, "threadgroup", name}) {}
};
template <class E, unsigned long long N> checked_array<E, N> tg_checked(E (&a)[N], const char *name) {
  return checked_array<E, N>(a, name);
}
template <class T> T &tg_checked(T &v, const char *) { return v; }

template <class T> using bare = __remove_cvref(T);
template <class T> struct is_checked_t { static constexpr bool value = false; };
template <class T> struct is_checked_t<checked<T>> { static constexpr bool value = true; };
template <class T> constexpr bool is_checked = is_checked_t<__remove_cvref(T)>::value;

/* reinterpret_cast<device T*>(x) in a sanitize build */
template <class C, class X> inline C pointer_cast(const X &x) {
  if constexpr (is_checked<X>) return C(x);
  else return C((typename C::element_type *)(x));
}

/* The elements [0, count) from c must lie in its binding (a whole matrix tile, say). */
template <class T> inline void check_span(const checked<T> &c, unsigned long long count, unsigned line, const char *file) {
  if (!c.o.base || count == 0) return;
  unsigned long long first = (unsigned long long)((const char *)c.p - c.o.base);
  unsigned long long bytes = count * sizeof(T);
  if (first > c.o.length || c.o.length - first < bytes) out_of_bounds(c.o, (const char *)c.p, bytes, line, file);
}

} // namespace mslcpu

namespace metal {

/* Library functions that take a device or threadgroup pointer accept checked ones. */
#define MSLCPU_CHECKED_ATOMIC(name)                                                          \
  template <class A, class... R> MSLCPU_INLINE auto name(::mslcpu::checked<A> obj, R... r) { \
    return name(&*obj, r...);                                                                \
  }
MSLCPU_CHECKED_ATOMIC(atomic_store_explicit) MSLCPU_CHECKED_ATOMIC(atomic_load_explicit)
MSLCPU_CHECKED_ATOMIC(atomic_exchange_explicit) MSLCPU_CHECKED_ATOMIC(atomic_compare_exchange_weak_explicit)
MSLCPU_CHECKED_ATOMIC(atomic_compare_exchange_strong_explicit) MSLCPU_CHECKED_ATOMIC(atomic_fetch_add_explicit)
MSLCPU_CHECKED_ATOMIC(atomic_fetch_sub_explicit) MSLCPU_CHECKED_ATOMIC(atomic_fetch_and_explicit)
MSLCPU_CHECKED_ATOMIC(atomic_fetch_or_explicit) MSLCPU_CHECKED_ATOMIC(atomic_fetch_xor_explicit)
MSLCPU_CHECKED_ATOMIC(atomic_fetch_min_explicit) MSLCPU_CHECKED_ATOMIC(atomic_fetch_max_explicit)
#undef MSLCPU_CHECKED_ATOMIC

/* A matrix tile: its last element is row 7 (or column 7, transposed) of the stride. */
template <class T, class U, int C, int R>
MSLCPU_INLINE void simdgroup_load(simdgroup_matrix<T, C, R> &d, ::mslcpu::checked<U> src, ulong elements_per_row = C,
                                  ulong2 matrix_origin = ulong2(0), bool transpose_matrix = false, MSLCPU_SITE) {
  ::mslcpu::check_span(src, ::mslcpu::TileMemory{elements_per_row, matrix_origin.x, matrix_origin.y,
                                                  transpose_matrix}.at(7, 7) + 1, line, nullptr);
  simdgroup_load(d, src.p, elements_per_row, matrix_origin, transpose_matrix, line, column);
}
template <class T, class U, int C, int R>
MSLCPU_INLINE void simdgroup_store(const simdgroup_matrix<T, C, R> &a, ::mslcpu::checked<U> dst, ulong elements_per_row = C,
                                   ulong2 matrix_origin = ulong2(0), bool transpose_matrix = false, MSLCPU_SITE) {
  ::mslcpu::check_span(dst, ::mslcpu::TileMemory{elements_per_row, matrix_origin.x, matrix_origin.y,
                                                  transpose_matrix}.at(7, 7) + 1, line, nullptr);
  simdgroup_store(a, dst.p, elements_per_row, matrix_origin, transpose_matrix, line, column);
}

} // namespace metal

#endif /* MSLCPU_SANITIZE */

/* ── kernel arguments, as the generated runner binds them ── */

namespace mslcpu {

/* Pointer parameter P bound to `length` bytes at `base` ([[space(n)]]): checked in sanitize builds. */
template <class P> inline P bind(void *base, unsigned long long length, int n, const char *space) {
#if defined(MSLCPU_SANITIZE)
  if constexpr (is_checked<P>) {
    using T = typename bare<P>::element_type;
    return P((T *)base, Origin{(const char *)base, length, unsigned(n), space});
  } else
#endif
  {
    (void)length; (void)n; (void)space;
    return (P)(base);
  }
}

template <class P> inline P buffer(const mslcpu_launch *l, int n) {
  if constexpr (__is_reference(P)) return *(__remove_reference_t(P) *)(l->buffers[n]);
  else return bind<P>(l->buffers[n], l->buffer_lengths[n], n, "buffer");
}

/* A `constant T&` binding must hold a whole T (checked in sanitize builds). */
template <class P> inline bool fits(const mslcpu_launch *l, mslcpu_worker *w, int n, const char *name) {
#if defined(MSLCPU_SANITIZE)
  if constexpr (__is_reference(P)) {
    if (sizeof(__remove_reference_t(P)) > l->buffer_lengths[n]) {
      Group &g = *static_cast<Group *>(w->state);
      __builtin_snprintf(g.message, sizeof g.message,
                         "[[buffer(%d)]] of %s holds %llu bytes; the kernel reads a %llu-byte object there", n,
                         name, l->buffer_lengths[n], (unsigned long long)sizeof(__remove_reference_t(P)));
      w->fault = g.message;
      return false;
    }
  }
#endif
  (void)l; (void)w; (void)n; (void)name;
  return true;
}

template <class P> inline P threadgroup_buffer(const mslcpu_launch *l, mslcpu_worker *w, int n) {
  static_assert(!__is_reference(P), "msl-cpu: a [[threadgroup(n)]] parameter must be a pointer");
  return bind<P>(w->tg_memory[n], l->threadgroup_lengths[n], n, "threadgroup");
}

} // namespace mslcpu
