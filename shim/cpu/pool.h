// Worker pool that spreads the threadgroups of one dispatch over CPU threads.
//
// The queue worker calls run() for each dispatch and takes part in the work itself, so a pool of
// size N has N-1 threads of its own. Small dispatches run on the caller without waking anyone:
// a wake-up costs more than a few thousand threads of an elementwise kernel.
//
// Seam for the fiber runtime: each executor owns an mslcpu_worker; per-group threadgroup memory
// (launch.threadgroup_lengths) and fiber stacks belong in it, prepared in prepare().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#define MSLCPU_ABI_ONLY
#include "msl_cpu.h"

namespace cpu {

class Pool {
 public:
  ~Pool() { resize(1); }
  // Executors including the caller (>= 1). Call only when no run() is in progress.
  void resize(unsigned executors);
  unsigned size() const { return unsigned(threads_.size()) + 1; }
  // Runs every threadgroup of `launch`; returns nullptr or the first fault a runner reported.
  const char *run(const mslcpu_launch &launch, mslcpu_runner runner);

 private:
  struct Job {
    const mslcpu_launch *launch;
    mslcpu_runner runner;
    uint64_t total, chunk;
    std::atomic<uint64_t> next{0};
    std::atomic<const char *> fault{nullptr};
  };
  static void drain(Job &job, mslcpu_worker &worker);
  static void prepare(mslcpu_worker &worker, const mslcpu_launch &launch);
  void loop(uint64_t seen);

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;
  unsigned pending_ = 0;  // pool threads still working on the current job
  Job *job_ = nullptr;
  bool stop_ = false;
  mslcpu_worker caller_{};
};

}  // namespace cpu
