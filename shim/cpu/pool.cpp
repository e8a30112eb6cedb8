#include "pool.h"

#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace cpu {

namespace {
// Below this many threads a dispatch runs on the caller: waking the pool costs tens of
// microseconds, about what a few thousand elementwise threads take.
constexpr uint64_t kInlineThreads = 16384;
// Fiber kernels cost more per thread, so they are spread from fewer threads on.
constexpr uint64_t kInlineFiberThreads = 2048;
// Once a kernel has run: dispatches whose threads took less than this much time of one executor
// run on the caller (about twice what waking the pool costs).
constexpr uint64_t kInlineNs = 40000;

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// How long a pool thread that finished a job, or a caller waiting for one, polls before it
// sleeps. The dispatches of a command buffer follow each other within microseconds, and a thread
// that slept joins the next one late: on a 2-vCPU VM a 2.4 MB 4-bit product (16 groups) then ran
// 9-11 of its groups on the caller alone, and 1 in 20 dispatches ran all 16 there.
constexpr uint64_t kSpinNs = 200000;

// Polls `ready` for up to kSpinNs; true when it became true.
template <class Ready> bool spin_until(Ready ready) {
  const uint64_t until = now_ns() + kSpinNs;
  for (unsigned i = 0;; ++i) {
    if (ready()) return true;
    if ((i & 63) == 63 && now_ns() > until) return false;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
  }
}

constexpr size_t kStack = MSLCPU_STACK_BYTES;
// Guard pages split mappings, and a process has a limited number of those (65530 by default on
// Linux) that Bun needs too: all executors together guard at most this many slots.
std::atomic<long> guards_left{8192};
// ── memory faults in kernels ──
// A kernel that reads or writes outside its buffers on this backend lands, as long as the
// address is unmapped (the guard region after every buffer, see mlxn_buffer_new; a fiber stack's
// guard page), in SIGSEGV or SIGBUS on one of the executor threads. The handler jumps back to
// Pool::drain, which fails the dispatch; the command buffer then completes with an error.
// Faults on any other thread, or outside a kernel, go to the handler that was installed before.
struct sigaction previous_segv, previous_bus;

// The trap of the kernel this thread is running, or nullptr. Initial-exec TLS: read inside the
// signal handler, where a lazily allocated TLS block would call malloc.
__attribute__((tls_model("initial-exec"))) thread_local Executor::FaultTrap *current_trap = nullptr;

void on_fault(int sig, siginfo_t *info, void *context) {
  Executor::FaultTrap *t = current_trap;
  if (t && t->armed) {
    t->armed = 0;
    t->address = info->si_addr;
    siglongjmp(t->env, 1);
  }
  const struct sigaction &prev = sig == SIGBUS ? previous_bus : previous_segv;
  if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction) {
    prev.sa_sigaction(sig, info, context);
  } else if (prev.sa_handler == SIG_DFL || prev.sa_handler == SIG_IGN) {
    signal(sig, SIG_DFL);  // returning re-runs the access, which now takes the default action
  } else {
    prev.sa_handler(sig);
  }
}

// An alternate signal stack for this executor thread, so that a fault on an exhausted fiber
// stack can still be handled; removed when the thread ends.
struct AltStack {
  void *memory = nullptr;
  size_t bytes = 0;
  AltStack() {
    bytes = 64 * 1024;
    memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      memory = nullptr;
      return;
    }
    stack_t st{};
    st.ss_sp = memory;
    st.ss_size = bytes;
    if (sigaltstack(&st, nullptr) != 0) {
      munmap(memory, bytes);
      memory = nullptr;
    }
  }
  ~AltStack() {
    if (!memory) return;
    stack_t st{};
    st.ss_flags = SS_DISABLE;
    sigaltstack(&st, nullptr);
    munmap(memory, bytes);
  }
};

void install_fault_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
    sigaction(SIGBUS, &sa, &previous_bus);
  });
  thread_local AltStack alt;
  (void)alt;
}

// Says where `address` lies relative to the launch's buffers.
void describe_fault(char *out, size_t size, const mslcpu_launch &l, void *address) {
  uintptr_t a = uintptr_t(address);
  for (int i = 0; i < MSLCPU_MAX_BINDINGS; ++i) {
    uintptr_t base = uintptr_t(l.buffers[i]);
    if (!base) continue;
    uintptr_t end = base + l.buffer_lengths[i];
    if (a >= end && a - end < (uintptr_t(1) << 30)) {
      snprintf(out, size,
               "memory access fault at %p, %llu bytes past the end of [[buffer(%d)]] "
               "(%llu bytes from its offset): an index out of bounds",
               address, (unsigned long long)(a - end), i, (unsigned long long)l.buffer_lengths[i]);
      return;
    }
  }
  snprintf(out, size,
           "memory access fault at %p, outside the buffers bound to the kernel (an index out of "
           "bounds, or a thread stack overflow)",
           address);
}
}  // namespace

Executor::~Executor() {
  if (arena_) munmap(arena_, arena_bytes_);
  guards_left += guards_;
  free(tg_);
}

const char *Executor::prepare(const mslcpu_launch &l, const KernelRun &k) {
  w.fault = nullptr;
  // Stack slots: the runner's own, and one per thread of a group for fiber kernels. Pages are
  // reserved, not committed: a fiber touches little more than the top page of its slot.
  unsigned threads = l.group_size[0] * l.group_size[1] * l.group_size[2];
  unsigned need = 1 + ((k.flags & MSLCPU_NEEDS_FIBERS) ? threads : 0);
  if (need > w.stack_count) {
    unsigned slots = std::max(need, std::min(w.stack_count * 2, MSLCPU_MAX_THREADS + 1));
    size_t bytes = kStack + MSLCPU_GROUP_STATE_BYTES + size_t(slots) * kStack;
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return "out of memory for fiber stacks";
    if (arena_) munmap(arena_, arena_bytes_);
    guards_left += guards_;
    guards_ = 0;
    arena_ = p;
    arena_bytes_ = bytes;
    uintptr_t stacks = (uintptr_t(p) + MSLCPU_GROUP_STATE_BYTES + kStack - 1) & ~uintptr_t(kStack - 1);
    w.state = p;
    w.stacks = reinterpret_cast<void *>(stacks);
    w.stack_count = slots;
    // A guard page at the bottom of each slot turns a stack overflow into a crash rather than
    // silent damage to the next fiber's stack, within the process-wide budget above.
    long page = sysconf(_SC_PAGESIZE), left = guards_left.load(), take = 0;
    do take = std::min<long>(std::max<long>(left, 0), slots);
    while (!guards_left.compare_exchange_weak(left, left - take));
    while (guards_ < take &&
           mprotect(reinterpret_cast<char *>(stacks) + size_t(guards_) * kStack, size_t(page), PROT_NONE) == 0)
      ++guards_;
    guards_left += take - guards_;
  }
  // Threadgroup memory: the object's block-scope variables, then each [[threadgroup(n)]].
  size_t total = (k.tg_static + 15) & ~size_t(15);
  for (int i = 0; i < MSLCPU_MAX_BINDINGS; ++i) total += (l.threadgroup_lengths[i] + 15) & ~size_t(15);
  if (total > tg_bytes_) {
    void *p = nullptr;
    if (posix_memalign(&p, 64, total) != 0) return "out of memory for threadgroup memory";
    free(tg_);
    tg_ = static_cast<char *>(p);
    tg_bytes_ = total;
  }
  w.tg_static = tg_;
  size_t off = (k.tg_static + 15) & ~size_t(15);
  for (int i = 0; i < MSLCPU_MAX_BINDINGS; ++i) {
    w.tg_memory[i] = tg_ + off;
    off += (l.threadgroup_lengths[i] + 15) & ~size_t(15);
  }
  return nullptr;
}

void Pool::resize(unsigned executors) {
  executors = std::max(executors, 1u);
  if (executors == size()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto &t : threads_) t.join();
  threads_.clear();
  stop_ = false;
  // Each thread starts from the current generation, so a job posted before it first takes the
  // lock is still seen as new.
  for (unsigned i = 1; i < executors; ++i)
    threads_.emplace_back([this, g = generation_.load()] { loop(g); });
}

void Pool::drain(Job &job, Executor &executor) {
  if (const char *oom = executor.prepare(*job.launch, *job.kernel)) {
    const char *none = nullptr;
    job.fault.compare_exchange_strong(none, oom);
    job.next.store(job.total, std::memory_order_relaxed);
    return;
  }
  mslcpu_worker &worker = executor.w;
  install_fault_handler();
  Executor::FaultTrap &trap = executor.trap;
  current_trap = &trap;
  if (sigsetjmp(trap.env, 0) != 0) {
    current_trap = nullptr;
    sigset_t faults;
    sigemptyset(&faults);
    sigaddset(&faults, SIGSEGV);
    sigaddset(&faults, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &faults, nullptr);
    describe_fault(executor.fault_text, sizeof executor.fault_text, *job.launch, trap.address);
    const char *none = nullptr;
    job.fault.compare_exchange_strong(none, executor.fault_text);
    job.next.store(job.total, std::memory_order_relaxed);
    return;
  }
  for (;;) {
    uint64_t first = job.next.fetch_add(job.chunk, std::memory_order_relaxed);
    if (first >= job.total) break;
    uint64_t end = std::min(first + job.chunk, job.total);
    trap.armed = 1;
    int failed = job.kernel->run(job.launch, &worker, first, end);
    trap.armed = 0;
    if (failed != 0) {
      const char *none = nullptr;
      job.fault.compare_exchange_strong(none, worker.fault ? worker.fault : "kernel fault");
      job.next.store(job.total, std::memory_order_relaxed);  // stop handing out groups
      break;
    }
  }
  current_trap = nullptr;
}

const char *Pool::run(const mslcpu_launch &launch, const KernelRun &kernel) {
  Job job;
  job.launch = &launch;
  job.kernel = &kernel;
  job.total = uint64_t(launch.groups[0]) * launch.groups[1] * launch.groups[2];
  uint64_t per_group = uint64_t(launch.group_size[0]) * launch.group_size[1] * launch.group_size[2];
  uint64_t threads = job.total * per_group;
  uint64_t cost = kernel.thread_cost.load(std::memory_order_relaxed);
  uint64_t inline_threads = (kernel.flags & MSLCPU_NEEDS_FIBERS) ? kInlineFiberThreads : kInlineThreads;
  bool small = cost ? threads * cost <= kInlineNs * 16 : threads <= inline_threads;
  uint64_t start = now_ns();
  if (threads_.empty() || job.total <= 1 || small) {
    job.chunk = job.total;
    drain(job, caller_);
    kernel.thread_cost.store(std::max<uint64_t>(1, (now_ns() - start) * 16 / threads), std::memory_order_relaxed);
    return job.fault.load();
  }
  // Several chunks per executor balance uneven groups without much contention on `next`.
  job.chunk = std::max<uint64_t>(1, job.total / (uint64_t(size()) * 8));
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &job;
    pending_ = unsigned(threads_.size());
    ++generation_;
  }
  wake_.notify_all();
  drain(job, caller_);
  spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; });
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return pending_ == 0; });
  job_ = nullptr;
  kernel.thread_cost.store(std::max<uint64_t>(1, (now_ns() - start) * size() * 16 / threads), std::memory_order_relaxed);
  return job.fault.load();
}

void Pool::loop(uint64_t seen) {
  Executor executor;
  for (;;) {
    spin_until([&] { return stop_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_relaxed) != seen; });
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    Job *job = job_;
    lock.unlock();
    drain(*job, executor);
    lock.lock();
    if (--pending_ == 0) done_.notify_one();
  }
}

}  // namespace cpu
