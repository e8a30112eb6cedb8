/*
 * fibers.h — part of the msl-cpu kernel header (appended to msl_cpu.h; see its top comment).
 *
 * The group runner the generated code calls, and everything that needs the threads of one
 * threadgroup to run "at the same time": threadgroup_barrier, simdgroup_barrier, the SIMD-group
 * and quad-group functions, and block-scope threadgroup variables.
 *
 * Execution model. A runner call switches onto the executor's own stack (slot 0 of
 * mslcpu_worker.stacks) and runs its threadgroups one after another there:
 *   - a kernel that reaches no barrier and no collective (no MSLCPU_NEEDS_FIBERS) runs each
 *     thread of a group to completion in turn, a plain loop;
 *   - otherwise each thread is a fiber on a stack slot of its own (thread i on slot i + 1), and
 *     the fibers of the group switch among themselves whenever one has to wait, with a
 *     hand-written switch (jump(): a stack swap and an indirect jump, no system call, no signal
 *     mask) inlined into the kernel at each barrier and collective.
 * Every stack slot is MSLCPU_STACK_BYTES long and aligned to that size, so the code of a kernel
 * finds its fiber from the stack pointer alone: no thread-local storage, which costs a call in a
 * dlopen'ed object. Stacks are reserved, not committed; the runtime puts a guard page at the
 * bottom of each slot where the system allows. The stack of a kernel thread is at least 64 KiB.
 *
 * Scheduling is a FIFO run queue. A fiber waits at a barrier until all threads of its group have
 * arrived, and at a collective until all *live* lanes of its SIMD-group have (the last to arrive
 * computes the results and carries on without a switch). Semantics, which match Metal's where
 * Metal defines them:
 *   - A SIMD-group is 32 consecutive thread indices; the last one of a group may be partial.
 *     Lanes past the group size and lanes whose thread has returned are inactive: they take no
 *     part in reductions, prefixes, votes or broadcast_first. Reading an inactive lane with a
 *     shuffle or broadcast gives 0 (Metal: undefined).
 *   - Lanes of one SIMD-group that wait at different call sites (divergent code) form separate
 *     active sets: once every live lane is waiting, the set whose call site comes first in the
 *     source completes first. Within one function that is how a GPU re-converges an if/else or
 *     a loop with a lane-dependent trip count; a collective in a helper function defined above
 *     the divergent code may complete too early, so keep collectives in uniform control flow.
 *   - threadgroup_barrier must be reached by every thread of the group, at the same call site:
 *     a thread that returns while others wait (or have waited) at a barrier, or threads waiting at
 *     different barriers, fail the command buffer with an error that names the line.
 */

extern "C" __attribute__((visibility("default"))) const unsigned mslcpu_abi = MSLCPU_ABI_VERSION;
/* The cache key the object was built under: the loader compares it with the key it looked up,
 * so a damaged or swapped cache file is rebuilt instead of running another kernel's code. */
#ifdef MSLCPU_CACHE_KEY
extern "C" __attribute__((visibility("default"))) const char mslcpu_cache_key[] = MSLCPU_CACHE_KEY;
#endif
extern "C" __attribute__((visibility("default"))) mslcpu_tg_slot mslcpu_tg_slots[MSLCPU_MAX_TG_SLOTS];
extern "C" __attribute__((visibility("default"))) unsigned mslcpu_tg_slot_count;
extern "C" __attribute__((visibility("default"))) unsigned mslcpu_tg_total;
mslcpu_tg_slot mslcpu_tg_slots[MSLCPU_MAX_TG_SLOTS];
unsigned mslcpu_tg_slot_count;
unsigned mslcpu_tg_total;

namespace mslcpu {

constexpr unsigned long long kStackBytes = MSLCPU_STACK_BYTES;
constexpr unsigned kSimdWidth = 32;
constexpr unsigned kMain = ~0u;  // Fiber::index of the runner's own context

/* Every position builtin of one thread; the generated call picks the ones the kernel declares. */
struct ids {
  uint3 tpig;   /* thread_position_in_grid */
  uint3 tpitg;  /* thread_position_in_threadgroup */
  uint3 tgpig;  /* threadgroup_position_in_grid */
  uint3 tptg;   /* threads_per_threadgroup (actual size of this group) */
  uint3 tgpg;   /* threadgroups_per_grid */
  uint3 tpg;    /* threads_per_grid */
  uint3 dtptg;  /* dispatch_threads_per_threadgroup */
  uint tiitg;   /* thread_index_in_threadgroup */
  uint ntg;     /* threads in this group */
};

struct Group;
using Resolver = void (*)(Group &, unsigned simdgroup, unsigned lanes);

/* Where a context continues: stack pointer and program counter. */
struct Context {
  void *sp, *pc;
};

/* A fiber's control block, 64 bytes near the top of its stack slot (see fiber_in). */
struct alignas(64) Fiber {
  Context ctx;       /* while switched out (or, before it starts: its empty stack and entry) */
  Group *g;
  Resolver resolve;  /* the collective it waits at */
  unsigned index;    /* thread index in the threadgroup, or kMain */
  unsigned site;     /* and that collective's call site (line << 10 | column) */
  uint3 tpitg;       /* thread_position_in_threadgroup */
};

/* Per SIMD-group exchange area: each lane deposits its operand, the last to arrive computes. */
struct SimdState {
  unsigned live;     /* lanes whose thread has not returned */
  unsigned arrived;  /* lanes waiting at a collective */
  unsigned waiting;  /* bit per waiting lane */
  unsigned first_site;
  Resolver first_resolve;
  bool mixed;        /* waiting lanes are at more than one call site */
  alignas(64) unsigned char in[kSimdWidth * 32];   /* lane i's operand at i * sizeof(operand) */
  alignas(64) unsigned char out[kSimdWidth * 32];  /* and its result at i * sizeof(result) */
  unsigned long long arg[kSimdWidth];
};

struct Group {
  Context os;        /* the executor's own stack while the runner runs on slot 0 */
  Fiber *main;
  mslcpu_worker *w;
  char *tg_static;   /* w->tg_static */
  const mslcpu_launch *l;
  const void *body;
  void (*entry)();
  unsigned long long first, end;
  ids base;          /* builtins shared by the threads of the current group */
  unsigned n, done, head, tail;
  unsigned barrier_count, barrier_line;
  const char *barrier_file;
  const char *fault;
  Fiber *queue[MSLCPU_MAX_THREADS];   /* run queue (a ring) */
  Fiber *fibers[MSLCPU_MAX_THREADS];  /* of the threads of the group: slots 1.. */
  void *layout_stacks;                /* what fibers[] and their control blocks were set up for */
  unsigned layout_n;
  uint3 layout_size;
  SimdState simd[MSLCPU_MAX_THREADS / kSimdWidth];
  char message[512];
};
static_assert(sizeof(Group) <= MSLCPU_GROUP_STATE_BYTES, "msl-cpu: group state outgrew its area");

/* ── stacks and the context switch ── */

/* The control block of the slot at `base`, with the stack growing down from it. Its offset in
 * the slot steps by a cache line from slot to slot (1024 offsets, 64 KiB), so that the hot
 * top-of-stack lines of hundreds of fibers spread over the cache sets instead of all mapping to
 * a few; it costs four instructions to find. */
static_assert(kStackBytes == 1u << 17, "fiber_in assumes 128 KiB slots");
__attribute__((always_inline)) inline Fiber *fiber_in(unsigned long long base) {
  return reinterpret_cast<Fiber *>(base + kStackBytes - 64u - (base >> 11 & 0xffc0u));
}
inline Fiber *slot_fiber(mslcpu_worker *w, unsigned i) {
  return fiber_in(reinterpret_cast<unsigned long long>(w->stacks) + i * kStackBytes);
}
inline Fiber *thread_fiber(Group &g, unsigned i) { return g.fibers[i]; }

inline unsigned long long stack_pointer() {
  unsigned long long sp;
#if defined(__x86_64__)
  __asm__("movq %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
  __asm__("mov %0, sp" : "=r"(sp));
#else
#error "msl-cpu: fibers need x86-64 or arm64"
#endif
  return sp;
}
/* The fiber running this code. */
__attribute__((always_inline)) inline Fiber *self() { return fiber_in(stack_pointer() & ~(kStackBytes - 1)); }

/* jump(save, to): continues at `to`, leaving in *save where this context resumes. It is inline
 * assembly that declares every register but the stack and frame pointers clobbered, so the
 * compiler keeps across it only what is live (spilled in the caller's frame), and it jumps rather
 * than returns: the CPU predicts the target like any indirect branch, and the return stack stays
 * balanced. A context that has not run yet starts at its entry function on its empty stack. */
#if defined(__x86_64__)
#if defined(__AVX512F__)
#define MSLCPU_VECTOR_CLOBBERS "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", \
    "zmm9", "zmm10", "zmm11", "zmm12", "zmm13", "zmm14", "zmm15", "zmm16", "zmm17", "zmm18", "zmm19",  \
    "zmm20", "zmm21", "zmm22", "zmm23", "zmm24", "zmm25", "zmm26", "zmm27", "zmm28", "zmm29", "zmm30", \
    "zmm31", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"
#elif defined(__AVX__)
#define MSLCPU_VECTOR_CLOBBERS "ymm0", "ymm1", "ymm2", "ymm3", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", \
    "ymm9", "ymm10", "ymm11", "ymm12", "ymm13", "ymm14", "ymm15"
#else
#define MSLCPU_VECTOR_CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", \
    "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"
#endif
__attribute__((always_inline)) inline void jump(Context *save, Context *to) {
  void *sp = to->sp, *pc = to->pc;
  // Below the red zone, the frame pointer; the resume point and stack pointer into *save.
  __asm__ volatile(
      "leaq -128(%%rsp), %%rsp\n\t"
      "pushq %%rbp\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "movq %%rax, 8(%%rdx)\n\t"
      "movq %%rsp, (%%rdx)\n\t"
      "movq %%rsi, %%rsp\n\t"
      "jmpq *%%rdi\n"
      "1:\n\t"
      "popq %%rbp\n\t"
      "leaq 128(%%rsp), %%rsp\n\t"
      : "+d"(save), "+S"(sp), "+D"(pc)
      :
      : "rax", "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "memory", "cc",
        MSLCPU_VECTOR_CLOBBERS);
}
/* The stack pointer an entry starts with: aligned as just after a call. */
inline void *stack_top(Fiber *f) { return reinterpret_cast<char *>(f) - 8; }
#elif defined(__aarch64__)
__attribute__((always_inline)) inline void jump(Context *save, Context *to) {
  register void *x0 __asm__("x0") = to->sp;
  register void *x1 __asm__("x1") = to->pc;
  register Context *x2 __asm__("x2") = save;
  // Below a (Darwin) red zone, the frame pointer and link register; then as on x86-64.
  __asm__ volatile(
      "sub sp, sp, #144\n\t"
      "stp x29, x30, [sp]\n\t"
      "adr x9, 1f\n\t"
      "str x9, [x2, #8]\n\t"
      "mov x9, sp\n\t"
      "str x9, [x2]\n\t"
      "mov sp, x0\n\t"
      "br x1\n"
      "1:\n\t"
      "ldp x29, x30, [sp]\n\t"
      "add sp, sp, #144\n\t"
      : "+r"(x0), "+r"(x1), "+r"(x2)
      :
      : "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16",
        "x17",
#if !defined(__APPLE__)
        "x18",
#endif
        "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x30",
        "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14",
        "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27",
        "v28", "v29", "v30", "v31", "memory", "cc");
}
inline void *stack_top(Fiber *f) { return reinterpret_cast<char *>(f) - 64; }
#endif

/* ── faults ── */

/* Records the first fault of the dispatch. A kernel thread's fiber is abandoned (the runner
 * stops the dispatch); on the runner's own context the caller carries on with a harmless value. */
template <class... A> __attribute__((noinline, cold)) void fail(Fiber *f, const char *fmt, A... args) {
  Group &g = *f->g;
  if (!g.fault) {
    __builtin_snprintf(g.message, sizeof g.message, fmt, args...);
    g.fault = g.message;
  }
  if (f->index != kMain) {
    jump(&f->ctx, &g.main->ctx);
    __builtin_unreachable();
  }
}

/* ── run queue and waiting ── */

inline void push(Group &g, Fiber *f) { g.queue[g.tail++ & (MSLCPU_MAX_THREADS - 1)] = f; }
inline void push_front(Group &g, Fiber *f) { g.queue[--g.head & (MSLCPU_MAX_THREADS - 1)] = f; }

/* The next context to run when the queue is empty: the runner when the group is done;
 * otherwise (every live fiber waits) the SIMD-groups complete the active sets that can, and when
 * nothing can move the group is deadlocked on a barrier. */
inline bool settle(Group &g, unsigned s, Fiber *running);
__attribute__((noinline)) inline Fiber *stalled(Group &g) {
  if (g.done == g.n) return g.main;
  for (unsigned s = 0; s * kSimdWidth < g.n; ++s)
    if (g.simd[s].arrived) settle(g, s, nullptr);
  if (g.head != g.tail) return g.queue[g.head++ & (MSLCPU_MAX_THREADS - 1)];
  if (!g.fault) {
    __builtin_snprintf(g.message, sizeof g.message,
                       "threadgroup_barrier at %s:%u can never complete: %u of %u threads wait there",
                       g.barrier_file ? g.barrier_file : "?", g.barrier_line,
                       g.barrier_count, g.n);
    g.fault = g.message;
  }
  return g.main;
}

/* The next context to run: the first queued fiber, else what stalled() decides. */
__attribute__((always_inline)) inline Fiber *next_context(Group &g) {
  if (g.head == g.tail) [[unlikely]] return stalled(g);
  Fiber *f = g.queue[g.head++ & (MSLCPU_MAX_THREADS - 1)];
  // Fibers live in separate pages, so fetch ahead while there is work to overlap it with: the
  // control block of the fiber two places on (a stale entry only prefetches a stale address),
  // and the top of the stack of the next one, whose control block the previous call fetched.
  __builtin_prefetch(g.queue[(g.head + 1) & (MSLCPU_MAX_THREADS - 1)]);
  if (g.head != g.tail) __builtin_prefetch(g.queue[g.head & (MSLCPU_MAX_THREADS - 1)]->ctx.sp);
  return f;
}

/* Switches away from `f` until something makes it ready again. */
__attribute__((always_inline)) inline void wait(Fiber *f) {
  Group &g = *f->g;
  Fiber *next = next_context(g);
  if (next != f) jump(&f->ctx, &next->ctx);
}

/* ── SIMD-group collectives ── */

inline unsigned lane_count(unsigned mask) { return unsigned(__builtin_popcount(mask)); }

/* Completes waiting lanes of SIMD-group `s`: all of them, or (divergent code) those at the call
 * site that comes first in the source. Released lanes are queued, except `running`, which carries
 * on; returns whether `running` was released. */
inline bool settle(Group &g, unsigned s, Fiber *running) {
  SimdState &S = g.simd[s];
  unsigned mask = S.waiting;
  Resolver fn = S.first_resolve;
  if (S.mixed) {
    // Divergent lanes: complete the call site that comes first in the source. Within one
    // function that re-converges an if/else or a loop with a lane-dependent trip count as a GPU
    // does (lanes still inside run before lanes past the end).
    unsigned site = ~0u, same = 0;
    for (unsigned m = mask; m; m &= m - 1) {
      Fiber *f = thread_fiber(g, s * kSimdWidth + unsigned(__builtin_ctz(m)));
      if (f->site < site) { site = f->site; fn = f->resolve; }
    }
    for (unsigned m = mask; m; m &= m - 1) {
      unsigned lane = unsigned(__builtin_ctz(m));
      Fiber *f = thread_fiber(g, s * kSimdWidth + lane);
      if (f->resolve == fn && f->site == site) same |= 1u << lane;
    }
    mask = same;
  }
  fn(g, s, mask);
  S.waiting &= ~mask;
  S.arrived -= lane_count(mask);
  if (S.mixed && S.waiting) {  // the remaining lanes: are they still at more than one site?
    Fiber *f0 = thread_fiber(g, s * kSimdWidth + unsigned(__builtin_ctz(S.waiting)));
    S.first_resolve = f0->resolve;
    S.first_site = f0->site;
    S.mixed = false;
    for (unsigned m = S.waiting; m; m &= m - 1) {
      Fiber *f = thread_fiber(g, s * kSimdWidth + unsigned(__builtin_ctz(m)));
      S.mixed |= f->resolve != S.first_resolve || f->site != S.first_site;
    }
  }
  unsigned self_bit = running ? 1u << (running->index & (kSimdWidth - 1)) : 0u;
  Fiber **lanes = g.fibers + s * kSimdWidth;
  // At the front of the queue, lowest lane first: they run next, while their stacks are still
  // in cache, rather than after every fiber queued meanwhile.
  for (unsigned m = mask & ~self_bit; m; m &= ~(1u << (31 - __builtin_clz(m))))
    push_front(g, lanes[31 - __builtin_clz(m)]);
  return (mask & self_bit) != 0;
}

template <class T> inline T load(const unsigned char *p) {
  T v;
  __builtin_memcpy(&v, p, sizeof(T));
  return v;
}
template <class T> inline void store(unsigned char *p, T v) { __builtin_memcpy(p, &v, sizeof(T)); }
/* Lane `lane`'s element of an exchange array (elements packed: 32 floats fill two cache lines). */
template <class T> inline T get(const unsigned char *a, unsigned lane) { return load<T>(a + lane * sizeof(T)); }
template <class T> inline void put(unsigned char *a, unsigned lane, T v) { store(a + lane * sizeof(T), v); }

/* Deposits `x` (and `arg`), waits for the lane's active set, returns what the resolver left. */
template <class R, class T>
__attribute__((always_inline)) inline R exchange(T x, unsigned long long arg, unsigned site, Resolver fn,
                                                 const char *what) {
  static_assert(sizeof(T) <= 32 && sizeof(R) <= 32, "msl-cpu: SIMD-group operand wider than 32 bytes");
  Fiber *f = self();
  if (f->index == kMain) {
    fail(f, "%s: reached in a kernel msl-cpu runs without fibers (the pre-pass did not see it; "
            "call SIMD-group functions by name)", what);
    return R{};
  }
  Group &g = *f->g;
  unsigned lane = f->index & (kSimdWidth - 1), s = f->index / kSimdWidth;
  SimdState &S = g.simd[s];
  put(S.in, lane, x);
  S.arg[lane] = arg;
  f->resolve = fn;
  f->site = site;
  if (S.arrived == 0) {
    S.first_resolve = fn;
    S.first_site = site;
    S.mixed = false;
  } else if (fn != S.first_resolve || site != S.first_site) {
    S.mixed = true;
  }
  ++S.arrived;
  S.waiting |= 1u << lane;
  if (S.arrived != S.live || !settle(g, s, f)) wait(f);
  return get<R>(S.out, lane);
}

/* Lanes of `mask` in the W-wide segment (SIMD-group or quad) of lane `lane`. */
template <unsigned W> inline unsigned segment(unsigned mask, unsigned lane) {
  if constexpr (W == 32) return mask;
  else return mask & (((1u << W) - 1u) << (lane & ~(W - 1u)));
}

template <class T> struct op_traits {
  static T zero() { T v{}; return v; }
  static T one() { T v = static_cast<elem<T>>(1); return v; }
};
struct OpSum { template <class T> static T apply(T a, T b) { return a + b; } template <class T> static T identity() { return op_traits<T>::zero(); } };
struct OpProduct { template <class T> static T apply(T a, T b) { return a * b; } template <class T> static T identity() { return op_traits<T>::one(); } };
struct OpMin { template <class T> static T apply(T a, T b) { return metal::min(a, b); } };
struct OpMax { template <class T> static T apply(T a, T b) { return metal::max(a, b); } };
struct OpAnd { template <class T> static T apply(T a, T b) { return a & b; } };
struct OpOr { template <class T> static T apply(T a, T b) { return a | b; } };
struct OpXor { template <class T> static T apply(T a, T b) { return a ^ b; } };

/* Reduction over the active lanes of each W-wide segment, in lane order. */
template <class T, class Op, unsigned W> void resolve_reduce(Group &g, unsigned s, unsigned mask) {
  SimdState &S = g.simd[s];
  for (unsigned base = 0; base < kSimdWidth; base += W) {
    unsigned seg = segment<W>(mask, base);
    if (!seg) continue;
    unsigned l0 = unsigned(__builtin_ctz(seg));
    T acc = get<T>(S.in, l0);
    for (unsigned m = seg & (seg - 1); m; m &= m - 1) acc = Op::apply(acc, get<T>(S.in, __builtin_ctz(m)));
    for (unsigned m = seg; m; m &= m - 1) put(S.out, __builtin_ctz(m), acc);
  }
}

template <class T, class Op, bool Inclusive, unsigned W> void resolve_prefix(Group &g, unsigned s, unsigned mask) {
  SimdState &S = g.simd[s];
  for (unsigned base = 0; base < kSimdWidth; base += W) {
    T acc = Op::template identity<T>();
    for (unsigned m = segment<W>(mask, base); m; m &= m - 1) {
      unsigned lane = unsigned(__builtin_ctz(m));
      T v = get<T>(S.in, lane);
      if (Inclusive) acc = Op::apply(acc, v);
      put(S.out, lane, acc);
      if (!Inclusive) acc = Op::apply(acc, v);
    }
  }
}

/* Where each lane reads from: a lane index, kOwn (its own value) or kNone (0). */
constexpr int kOwn = -1, kNone = -2;
struct SrcIndex { template <unsigned W> static int at(unsigned ql, unsigned long long a) { return a < W ? int(a) : kNone; } };
struct SrcUp { template <unsigned W> static int at(unsigned ql, unsigned long long a) { return ql < a ? kOwn : int(ql - a); } };
struct SrcDown { template <unsigned W> static int at(unsigned ql, unsigned long long a) { return ql + a >= W ? kOwn : int(ql + a); } };
struct SrcXor { template <unsigned W> static int at(unsigned ql, unsigned long long a) { return (ql ^ a) < W ? int(ql ^ a) : kNone; } };
struct SrcRotUp { template <unsigned W> static int at(unsigned ql, unsigned long long a) { return int((ql + W - a % W) % W); } };
struct SrcRotDown { template <unsigned W> static int at(unsigned ql, unsigned long long a) { return int((ql + a) % W); } };

template <class T, class Src, unsigned W> void resolve_shuffle(Group &g, unsigned s, unsigned mask) {
  SimdState &S = g.simd[s];
  for (unsigned m = mask; m; m &= m - 1) {
    unsigned lane = unsigned(__builtin_ctz(m)), base = lane & ~(W - 1u);
    int src = Src::template at<W>(lane - base, S.arg[lane]);
    T v = op_traits<T>::zero();
    if (src == kOwn) v = get<T>(S.in, lane);
    else if (src >= 0 && (mask >> (base + unsigned(src)) & 1u)) v = get<T>(S.in, base + unsigned(src));
    put(S.out, lane, v);
  }
}

template <class T, unsigned W> void resolve_first(Group &g, unsigned s, unsigned mask) {
  SimdState &S = g.simd[s];
  for (unsigned m = mask; m; m &= m - 1) {
    unsigned lane = unsigned(__builtin_ctz(m));
    put(S.out, lane, get<T>(S.in, __builtin_ctz(segment<W>(mask, lane))));
  }
}

/* Votes: bit per active lane whose operand is true, relative to the segment. */
enum class Vote { Ballot, All, Any, IsFirst, Active };
template <Vote V, unsigned W> void resolve_vote(Group &g, unsigned s, unsigned mask) {
  SimdState &S = g.simd[s];
  for (unsigned m = mask; m; m &= m - 1) {
    unsigned lane = unsigned(__builtin_ctz(m)), base = lane & ~(W - 1u);
    unsigned seg = segment<W>(mask, lane), yes = 0;
    for (unsigned k = seg; k; k &= k - 1)
      if (get<bool>(S.in, __builtin_ctz(k))) yes |= 1u << __builtin_ctz(k);
    unsigned long long r = 0;
    if (V == Vote::Ballot) r = yes >> base;
    else if (V == Vote::Active) r = seg >> base;
    else if (V == Vote::All) r = yes == seg;
    else if (V == Vote::Any) r = yes != 0;
    else r = lane == unsigned(__builtin_ctz(seg));
    put(S.out, lane, r);
  }
}

inline void resolve_none(Group &, unsigned, unsigned) {}

inline unsigned site_of(unsigned line, unsigned column) { return line << 10 | (column & 1023u); }

/* ── threadgroup_barrier ── */

/* A barrier that cannot complete, or one reached outside a fiber: the reason, then (for a
 * kernel thread) no return. */
__attribute__((noinline, cold)) inline void barrier_fault(Fiber *f, unsigned line, const char *file) {
  if (f->index == kMain)
    return fail(f, "threadgroup_barrier at %s:%u: reached in a kernel msl-cpu runs without fibers "
                   "(the pre-pass did not see it; call barriers by name)", file, line);
  Group &g = *f->g;
  if (g.done)
    fail(f, "divergent threadgroup_barrier at %s:%u: thread %u reached it after %u thread(s) of its "
            "threadgroup returned; every thread of a threadgroup must reach every barrier",
         file, line, f->index, g.done);
  if (line == g.barrier_line && __builtin_strcmp(file, g.barrier_file) == 0) return;  // same site
  fail(f, "divergent threadgroup_barrier: threads of one threadgroup wait at %s:%u and at %s:%u",
       g.barrier_file, g.barrier_line, file, line);
}

__attribute__((always_inline)) inline void barrier(unsigned line, const char *file) {
  Fiber *f = self();
  if (f->index == kMain) return barrier_fault(f, line, file);
  Group &g = *f->g;
  if (g.done) barrier_fault(f, line, file);
  if (g.barrier_count == 0) {
    g.barrier_line = line;
    g.barrier_file = file;
  } else if (line != g.barrier_line || file != g.barrier_file) {
    barrier_fault(f, line, file);
  }
  if (++g.barrier_count == g.n) {
    // Every thread is here, so the run queue is empty: queue all but this one, in order.
    g.barrier_count = 0;
    g.head = 0;
    g.tail = g.n - 1;
    __builtin_memcpy(g.queue, g.fibers, f->index * sizeof(Fiber *));
    __builtin_memcpy(g.queue + f->index, g.fibers + f->index + 1, (g.n - 1 - f->index) * sizeof(Fiber *));
    return;
  }
  wait(f);
}

/* A kernel thread returned: its fiber is done for this group. */
[[noreturn]] __attribute__((always_inline)) inline void finish(Fiber *f) {
  Group &g = *f->g;
  ++g.done;
  if (g.barrier_count)
    fail(f, "divergent threadgroup_barrier at %s:%u: thread %u returned while %u thread(s) of its "
            "threadgroup wait there; every thread of a threadgroup must reach every barrier",
         g.barrier_file, g.barrier_line, f->index, g.barrier_count);
  unsigned s = f->index / kSimdWidth;
  SimdState &S = g.simd[s];
  --S.live;
  if (S.arrived && S.arrived == S.live) settle(g, s, nullptr);
  Fiber *next = next_context(g);
  jump(&f->ctx, &next->ctx);
  __builtin_unreachable();
}

/* ── block-scope threadgroup variables ── */

inline unsigned register_tg(unsigned site, unsigned long long size, unsigned long long align) {
  if (mslcpu_tg_total == ~0u || mslcpu_tg_slot_count >= MSLCPU_MAX_TG_SLOTS) {
    mslcpu_tg_total = ~0u;
    return 0;
  }
  align = align < 16 ? 16 : align;
  unsigned long long off = (mslcpu_tg_total + align - 1) / align * align;
  mslcpu_tg_slots[mslcpu_tg_slot_count++] = {site, unsigned(size), unsigned(off)};
  mslcpu_tg_total = unsigned(off + size);
  return unsigned(off);
}
template <class T, unsigned SITE> struct tg_slot {
  static inline const unsigned offset = register_tg(SITE, sizeof(T), alignof(T));
};
/* The pre-pass turns `threadgroup float a[32];` into `typedef float A[32]; A &a = tg_static<A, n>();`. */
template <class T, unsigned SITE> inline T &tg_static() {
  return *(T *)(self()->g->tg_static + tg_slot<T, SITE>::offset);  // T may carry an address space
}

/* ── the group runner ── */

template <class T> inline T builtin(uint3 v) {
  using B = __remove_cvref(T);
  if constexpr (vt<B>::n == 0) return static_cast<B>(v.x);
  else if constexpr (vt<B>::n == 2) return B{static_cast<elem<B>>(v.x), static_cast<elem<B>>(v.y)};
  else return __builtin_convertvector(v, B);
}
template <class T> inline T builtin(uint v) { return static_cast<__remove_cvref(T)>(v); }

template <class F> struct params;
template <class R, class... A> struct params<R (*)(A...)> {
  template <int I> using at = __type_pack_element<I, A...>;
};

/* Sets the builtins shared by the threads of group `index`. */
inline void begin_group(Group &g, unsigned long long index) {
  const mslcpu_launch *l = g.l;
  ids &t = g.base;
  const uint3 full = {l->group_size[0], l->group_size[1], l->group_size[2]};
  t.tgpg = uint3{l->groups[0], l->groups[1], l->groups[2]};
  t.tpg = uint3{l->grid[0], l->grid[1], l->grid[2]};
  t.dtptg = full;
  const unsigned long long gxy = (unsigned long long)t.tgpg.x * t.tgpg.y;
  t.tgpig = uint3{uint(index % t.tgpg.x), uint(index / t.tgpg.x % t.tgpg.y), uint(index / gxy)};
  uint3 size = full;
  if (l->clip_edges) {
    uint3 origin = t.tgpig * full;
    size = uint3{metal::min(full.x, t.tpg.x - origin.x), metal::min(full.y, t.tpg.y - origin.y),
                 metal::min(full.z, t.tpg.z - origin.z)};
  }
  t.tptg = size;
  t.ntg = size.x * size.y * size.z;
}

template <class Body> void thread_entry() {
  Fiber *f = self();
  Group &g = *f->g;
  ids t = g.base;
  t.tpitg = f->tpitg;
  t.tpig = t.tgpig * t.dtptg + t.tpitg;
  t.tiitg = f->index;
  (*static_cast<const Body *>(g.body))(t);
  finish(f);
}

/* One group as fibers; returns when every thread returned or the dispatch faulted. */
inline void run_fibers(Group &g) {
  unsigned n = g.base.ntg;
  g.n = n;
  g.done = g.head = g.tail = g.barrier_count = 0;
  for (unsigned s = 0; s * kSimdWidth < n; ++s) {
    SimdState &S = g.simd[s];
    S.live = n - s * kSimdWidth < kSimdWidth ? n - s * kSimdWidth : kSimdWidth;
    S.arrived = S.waiting = 0;
    S.mixed = false;
  }
  const uint3 size = g.base.tptg;
  if (g.layout_stacks != g.w->stacks || g.layout_n != n || metal::any(g.layout_size != size)) {
    // Which slot, index and position each thread has: the same for every group of this shape.
    uint3 pos = {0, 0, 0};
    for (unsigned i = 0; i < n; ++i) {
      Fiber *f = g.fibers[i] = slot_fiber(g.w, i + 1);
      f->g = &g;
      f->index = i;
      f->tpitg = pos;
      if (++pos.x == size.x) {
        pos.x = 0;
        if (++pos.y == size.y) pos.y = 0, ++pos.z;
      }
    }
    g.layout_stacks = g.w->stacks;
    g.layout_n = n;
    g.layout_size = size;
  }
  void *entry = reinterpret_cast<void *>(g.entry);
  for (unsigned i = 0; i < n; ++i) {
    Fiber *f = g.fibers[i];
    f->ctx = {stack_top(f), entry};
    g.queue[i] = f;
  }
  g.tail = n;
  jump(&g.main->ctx, &next_context(g)->ctx);
}

template <unsigned FLAGS, class Body> void run_on_main() {
  Fiber *m = self();
  Group &g = *m->g;
  const Body &body = *static_cast<const Body *>(g.body);
  for (unsigned long long index = g.first; index < g.end && !g.fault; ++index) {
    begin_group(g, index);
    if constexpr ((FLAGS & MSLCPU_NEEDS_FIBERS) != 0) {
      run_fibers(g);
    } else {
      // Plain loop: each thread of the group runs to completion in turn.
      ids t = g.base;
      const uint3 size = t.tptg, origin = t.tgpig * t.dtptg;
      uint i = 0;
      for (uint z = 0; z < size.z; ++z)
        for (uint y = 0; y < size.y; ++y)
          for (uint x = 0; x < size.x; ++x, ++i) {
            t.tpitg = uint3{x, y, z};
            t.tpig = origin + t.tpitg;
            t.tiitg = i;
            body(t);
          }
    }
  }
  jump(&m->ctx, &g.os);
  __builtin_unreachable();
}

/* Runs groups [first, end) of a launch on the executor's stack slots. */
template <unsigned FLAGS, class Body>
inline int run_groups(const mslcpu_launch *l, mslcpu_worker *w, unsigned long long first,
                      unsigned long long end, const Body &body) {
  Group &g = *static_cast<Group *>(w->state);
  g.l = l;
  g.w = w;
  g.tg_static = static_cast<char *>(w->tg_static);
  g.body = &body;
  g.entry = &thread_entry<Body>;
  g.first = first;
  g.end = end;
  g.fault = nullptr;
  Fiber *m = slot_fiber(w, 0);
  m->g = &g;
  m->index = kMain;
  g.main = m;
  m->ctx = {stack_top(m), reinterpret_cast<void *>(&run_on_main<FLAGS, Body>)};
  jump(&g.os, &m->ctx);
  if (!g.fault) return 0;
  w->fault = g.fault;
  return 1;
}

} // namespace mslcpu

/* ───────────────────────────── the Metal functions ───────────────────────────── */

/* Collectives and barriers are inlined into the kernel, so that the switch happens in its frame. */
#define MSLCPU_INLINE __attribute__((always_inline)) inline
#define MSLCPU_SITE unsigned line = __builtin_LINE(), unsigned column = __builtin_COLUMN()
#define MSLCPU_AT ::mslcpu::site_of(line, column)

namespace metal {

MSLCPU_INLINE void threadgroup_barrier(mem_flags = mem_flags::mem_none, unsigned line = __builtin_LINE(),
                                const char *file = __builtin_FILE()) {
  ::mslcpu::barrier(line, file);
}
MSLCPU_INLINE void simdgroup_barrier(mem_flags = mem_flags::mem_none, MSLCPU_SITE) {
  ::mslcpu::exchange<bool>(false, 0, MSLCPU_AT, &::mslcpu::resolve_none, "simdgroup_barrier");
}

/* Metal's result of simd_ballot and simd_active_threads_mask: bit i for SIMD lane i. */
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

#define MSLCPU_REDUCE(prefix, W, name, Op)                                                    \
  template <class T> MSLCPU_INLINE T prefix##_##name(T x, MSLCPU_SITE) {                            \
    return ::mslcpu::exchange<T>(x, 0, MSLCPU_AT, &::mslcpu::resolve_reduce<T, ::mslcpu::Op, W>, \
                                 #prefix "_" #name);                                          \
  }
#define MSLCPU_PREFIX(prefix, W, name, Op, incl)                                              \
  template <class T> MSLCPU_INLINE T prefix##_prefix_##name(T x, MSLCPU_SITE) {                     \
    return ::mslcpu::exchange<T>(x, 0, MSLCPU_AT,                                             \
                                 &::mslcpu::resolve_prefix<T, ::mslcpu::Op, incl, W>,         \
                                 #prefix "_prefix_" #name);                                   \
  }
#define MSLCPU_SHUFFLE(prefix, W, name, Src)                                                  \
  template <class T, class I> MSLCPU_INLINE T prefix##_##name(T x, I arg, MSLCPU_SITE) {            \
    return ::mslcpu::exchange<T>(x, (unsigned long long)(arg), MSLCPU_AT,                     \
                                 &::mslcpu::resolve_shuffle<T, ::mslcpu::Src, W>,             \
                                 #prefix "_" #name);                                          \
  }
#define MSLCPU_GROUP_FUNCTIONS(prefix, W)                                                     \
  MSLCPU_REDUCE(prefix, W, sum, OpSum) MSLCPU_REDUCE(prefix, W, product, OpProduct)           \
  MSLCPU_REDUCE(prefix, W, min, OpMin) MSLCPU_REDUCE(prefix, W, max, OpMax)                   \
  MSLCPU_REDUCE(prefix, W, and, OpAnd) MSLCPU_REDUCE(prefix, W, or, OpOr)                     \
  MSLCPU_REDUCE(prefix, W, xor, OpXor)                                                        \
  MSLCPU_PREFIX(prefix, W, inclusive_sum, OpSum, true)                                        \
  MSLCPU_PREFIX(prefix, W, exclusive_sum, OpSum, false)                                       \
  MSLCPU_PREFIX(prefix, W, inclusive_product, OpProduct, true)                                \
  MSLCPU_PREFIX(prefix, W, exclusive_product, OpProduct, false)                               \
  MSLCPU_SHUFFLE(prefix, W, shuffle, SrcIndex) MSLCPU_SHUFFLE(prefix, W, broadcast, SrcIndex) \
  MSLCPU_SHUFFLE(prefix, W, shuffle_up, SrcUp) MSLCPU_SHUFFLE(prefix, W, shuffle_down, SrcDown) \
  MSLCPU_SHUFFLE(prefix, W, shuffle_xor, SrcXor)                                              \
  MSLCPU_SHUFFLE(prefix, W, shuffle_rotate_up, SrcRotUp)                                      \
  MSLCPU_SHUFFLE(prefix, W, shuffle_rotate_down, SrcRotDown)                                  \
  template <class T> MSLCPU_INLINE T prefix##_broadcast_first(T x, MSLCPU_SITE) {                    \
    return ::mslcpu::exchange<T>(x, 0, MSLCPU_AT, &::mslcpu::resolve_first<T, W>,             \
                                 #prefix "_broadcast_first");                                 \
  }                                                                                           \
  MSLCPU_INLINE bool prefix##_all(bool b, MSLCPU_SITE) {                                             \
    return ::mslcpu::exchange<unsigned long long>(                                            \
               b, 0, MSLCPU_AT, &::mslcpu::resolve_vote<::mslcpu::Vote::All, W>, #prefix "_all") != 0; \
  }                                                                                           \
  MSLCPU_INLINE bool prefix##_any(bool b, MSLCPU_SITE) {                                             \
    return ::mslcpu::exchange<unsigned long long>(                                            \
               b, 0, MSLCPU_AT, &::mslcpu::resolve_vote<::mslcpu::Vote::Any, W>, #prefix "_any") != 0; \
  }                                                                                           \
  MSLCPU_INLINE bool prefix##_is_first(MSLCPU_SITE) {                                                \
    return ::mslcpu::exchange<unsigned long long>(                                            \
               true, 0, MSLCPU_AT, &::mslcpu::resolve_vote<::mslcpu::Vote::IsFirst, W>,       \
               #prefix "_is_first") != 0;                                                     \
  }                                                                                           \
  MSLCPU_INLINE prefix##_vote prefix##_ballot(bool b, MSLCPU_SITE) {                                 \
    return prefix##_vote(prefix##_vote::vote_t(::mslcpu::exchange<unsigned long long>(        \
        b, 0, MSLCPU_AT, &::mslcpu::resolve_vote<::mslcpu::Vote::Ballot, W>, #prefix "_ballot"))); \
  }                                                                                           \
  MSLCPU_INLINE prefix##_vote prefix##_active_threads_mask(MSLCPU_SITE) {                            \
    return prefix##_vote(prefix##_vote::vote_t(::mslcpu::exchange<unsigned long long>(        \
        true, 0, MSLCPU_AT, &::mslcpu::resolve_vote<::mslcpu::Vote::Active, W>,               \
        #prefix "_active_threads_mask")));                                                    \
  }

MSLCPU_GROUP_FUNCTIONS(simd, 32)
MSLCPU_GROUP_FUNCTIONS(quad, 4)
#undef MSLCPU_GROUP_FUNCTIONS
#undef MSLCPU_REDUCE
#undef MSLCPU_PREFIX
#undef MSLCPU_SHUFFLE

inline bool simd_is_helper_thread() { return false; }
inline bool quad_is_helper_thread() { return false; }

} // namespace metal
