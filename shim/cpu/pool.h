// Worker pool that spreads the threadgroups of one dispatch over CPU threads.
//
// The queue worker calls run() for each dispatch and takes part in the work itself, so a pool of
// size N has N-1 threads of its own. Small dispatches run on the caller without waking anyone:
// a wake-up costs tens of microseconds, more than a few thousand threads of an elementwise
// kernel. "Small" is judged by what the kernel's threads cost in its previous dispatch (a thread
// of a matrix-vector kernel that takes a whole weight row costs as much as thousands of
// elementwise ones), and by thread counts before it has run.
//
// Each executor owns the state a kernel object's runner works in (mslcpu_worker): fiber stacks
// and the scheduler area of the fiber runtime, and threadgroup memory. It is allocated on first
// need, grown when a dispatch needs more, and reused by every later dispatch.
#pragma once

#include <setjmp.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#define MSLCPU_ABI_ONLY
#include "msl_cpu.h"

namespace cpu {

// What the pool needs to know about a kernel to run it.
struct KernelRun {
  mslcpu_runner run = nullptr;
  unsigned flags = 0;      // MSLCPU_*
  uint64_t tg_static = 0;  // bytes of block-scope threadgroup storage of its kernel object
  // What one thread of the kernel cost in its last dispatch, in 1/16 ns of one executor's time
  // (0 before the first): how the pool judges whether waking its threads pays. A hint, updated
  // by every run.
  mutable std::atomic<uint64_t> thread_cost{0};
};

// One executor's mslcpu_worker and the memory behind it.
class Executor {
 public:
  Executor() = default;
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;
  ~Executor();
  // Makes `w` ready for `launch`; nullptr, or what could not be allocated.
  const char *prepare(const mslcpu_launch &launch, const KernelRun &kernel);
  mslcpu_worker w{};
  // Where a memory fault in a kernel this executor runs lands (see Pool::drain).
  struct FaultTrap {
    sigjmp_buf env;
    volatile int armed = 0;
    void *volatile address = nullptr;
  } trap;
  char fault_text[256] = {};  // the message of the last fault caught

 private:
  void *arena_ = nullptr;  // scheduler state, then the stack slots
  size_t arena_bytes_ = 0;
  long guards_ = 0;        // guard pages in the arena
  char *tg_ = nullptr;
  size_t tg_bytes_ = 0;
};

class Pool {
 public:
  ~Pool() { resize(1); }
  // Executors including the caller (>= 1). Call only when no run() is in progress.
  void resize(unsigned executors);
  unsigned size() const { return unsigned(threads_.size()) + 1; }
  // Runs every threadgroup of `launch`; returns nullptr or the first fault a runner reported.
  const char *run(const mslcpu_launch &launch, const KernelRun &kernel);

 private:
  struct Job {
    const mslcpu_launch *launch;
    const KernelRun *kernel;
    uint64_t total, chunk;
    std::atomic<uint64_t> next{0};
    std::atomic<const char *> fault{nullptr};
  };
  static void drain(Job &job, Executor &executor);
  void loop(uint64_t seen);

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  // Written under mu_; atomic so that a spinning thread may read them without it (see loop).
  std::atomic<uint64_t> generation_{0};
  std::atomic<unsigned> pending_{0};  // pool threads still working on the current job
  Job *job_ = nullptr;
  std::atomic<bool> stop_{false};
  Executor caller_;
};

}  // namespace cpu
