/*
 * atomics.h — part of the msl-cpu kernel header (appended to msl_cpu.h; see its top comment).
 *
 * Metal's atomic types and the *_explicit functions, as C11-style atomics on the object's value
 * (clang's __atomic builtins, so no system header). Device atomics are real atomics: the groups
 * of a dispatch run on several CPU threads at once. The threads of one group share a CPU thread
 * and switch only at barriers and collectives, so threadgroup atomics cost the same and need no
 * more. Float add, min and max, and min/max in general, are compare-exchange loops.
 */

namespace metal {

enum memory_order {
  memory_order_relaxed = __ATOMIC_RELAXED,
  memory_order_acquire = __ATOMIC_ACQUIRE,
  memory_order_release = __ATOMIC_RELEASE,
  memory_order_acq_rel = __ATOMIC_ACQ_REL,
  memory_order_seq_cst = __ATOMIC_SEQ_CST,
};
enum class thread_scope { thread_scope_thread, thread_scope_simdgroup, thread_scope_threadgroup, thread_scope_device };
using enum thread_scope;

template <class T> struct atomic {
  static_assert(__is_same(T, int) || __is_same(T, uint) || __is_same(T, bool) || __is_same(T, float) ||
                    __is_same(T, ulong) || __is_same(T, long),
                "msl-cpu: atomic<T> needs T = int, uint, bool, float, long or ulong");
  using value_type = T;
  T value_;
};
using atomic_int = atomic<int>;
using atomic_uint = atomic<uint>;
using atomic_bool = atomic<bool>;
using atomic_float = atomic<float>;
using atomic_ulong = atomic<ulong>;
using atomic_long = atomic<long>;

template <class A> struct atomic_value { using type = typename A::value_type; };
template <class A> struct atomic_value<volatile A> { using type = typename A::value_type; };
template <class A> using atomic_value_t = typename atomic_value<A>::type;
/* The object's value as a plain pointer (the object may be in an address space, see lint). */
template <class A> inline atomic_value_t<A> *slot(A *obj) { return (atomic_value_t<A> *)&obj->value_; }

template <class A>
inline void atomic_store_explicit(A *obj, atomic_value_t<A> desired, memory_order order = memory_order_relaxed) {
  __atomic_store(slot(obj), &desired, order == memory_order_relaxed ? __ATOMIC_RELAXED : __ATOMIC_SEQ_CST);
}
template <class A> inline atomic_value_t<A> atomic_load_explicit(A *obj, memory_order order = memory_order_relaxed) {
  atomic_value_t<A> v;
  __atomic_load(slot(obj), &v, order == memory_order_relaxed ? __ATOMIC_RELAXED : __ATOMIC_SEQ_CST);
  return v;
}
template <class A>
inline atomic_value_t<A> atomic_exchange_explicit(A *obj, atomic_value_t<A> desired, memory_order = memory_order_relaxed) {
  atomic_value_t<A> old;
  __atomic_exchange(slot(obj), &desired, &old, __ATOMIC_SEQ_CST);
  return old;
}
/* Metal has only the weak form; it never fails spuriously here. */
template <class A>
inline bool atomic_compare_exchange_weak_explicit(A *obj, atomic_value_t<A> *expected, atomic_value_t<A> desired,
                                                  memory_order = memory_order_relaxed, memory_order = memory_order_relaxed) {
  return __atomic_compare_exchange(slot(obj), expected, &desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
template <class A>
inline bool atomic_compare_exchange_strong_explicit(A *obj, atomic_value_t<A> *expected, atomic_value_t<A> desired,
                                                    memory_order = memory_order_relaxed, memory_order = memory_order_relaxed) {
  return __atomic_compare_exchange(slot(obj), expected, &desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

} // namespace metal

namespace mslcpu {
/* `op` applied with a compare-exchange loop; returns the old value. */
template <class T, class F> inline T atomic_update(T *p, F op) {
  T old, next;
  __atomic_load(p, &old, __ATOMIC_RELAXED);
  do next = op(old);
  while (!__atomic_compare_exchange(p, &old, &next, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  return old;
}
} // namespace mslcpu

namespace metal {

#define MSLCPU_ATOMIC_FETCH(name, builtin, expr)                                                   \
  template <class A>                                                                               \
  inline atomic_value_t<A> atomic_fetch_##name##_explicit(A *obj, atomic_value_t<A> arg,           \
                                                          memory_order = memory_order_relaxed) {   \
    using T = atomic_value_t<A>;                                                                   \
    if constexpr (__is_same(T, float) || !(builtin))                                               \
      return ::mslcpu::atomic_update(slot(obj), [arg](T old) { return T(expr); });              \
    else                                                                                           \
      return __atomic_fetch_##name(slot(obj), arg, __ATOMIC_SEQ_CST);                           \
  }
MSLCPU_ATOMIC_FETCH(add, true, old + arg)
MSLCPU_ATOMIC_FETCH(sub, true, old - arg)
MSLCPU_ATOMIC_FETCH(and, true, old & arg)
MSLCPU_ATOMIC_FETCH(or, true, old | arg)
MSLCPU_ATOMIC_FETCH(xor, true, old ^ arg)
MSLCPU_ATOMIC_FETCH(min, true, arg < old ? arg : old)
MSLCPU_ATOMIC_FETCH(max, true, old < arg ? arg : old)
#undef MSLCPU_ATOMIC_FETCH

inline void atomic_thread_fence(mem_flags, memory_order order = memory_order_seq_cst,
                                thread_scope = thread_scope_device) {
  __atomic_thread_fence(order == memory_order_relaxed ? __ATOMIC_RELAXED : __ATOMIC_SEQ_CST);
}

} // namespace metal
