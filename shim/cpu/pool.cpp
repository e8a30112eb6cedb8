#include "pool.h"

#include <algorithm>

namespace cpu {

namespace {
// Below this many threads a dispatch runs on the caller: waking the pool costs tens of
// microseconds, about what a few thousand elementwise threads take.
constexpr uint64_t kInlineThreads = 16384;
}  // namespace

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
    threads_.emplace_back([this, g = generation_] { loop(g); });
}

void Pool::prepare(mslcpu_worker &worker, const mslcpu_launch &) {
  // Threadgroup memory and fiber stacks are allocated here once msl-cpu runs such kernels.
  worker.fault = nullptr;
}

void Pool::drain(Job &job, mslcpu_worker &worker) {
  prepare(worker, *job.launch);
  for (;;) {
    uint64_t first = job.next.fetch_add(job.chunk, std::memory_order_relaxed);
    if (first >= job.total) return;
    uint64_t end = std::min(first + job.chunk, job.total);
    if (job.runner(job.launch, &worker, first, end) != 0) {
      const char *none = nullptr;
      job.fault.compare_exchange_strong(none, worker.fault ? worker.fault : "kernel fault");
      job.next.store(job.total, std::memory_order_relaxed);  // stop handing out groups
      return;
    }
  }
}

const char *Pool::run(const mslcpu_launch &launch, mslcpu_runner runner) {
  Job job;
  job.launch = &launch;
  job.runner = runner;
  job.total = uint64_t(launch.groups[0]) * launch.groups[1] * launch.groups[2];
  uint64_t per_group = uint64_t(launch.group_size[0]) * launch.group_size[1] * launch.group_size[2];
  if (threads_.empty() || job.total <= 1 || job.total * per_group <= kInlineThreads) {
    job.chunk = job.total;
    drain(job, caller_);
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
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return pending_ == 0; });
  job_ = nullptr;
  return job.fault.load();
}

void Pool::loop(uint64_t seen) {
  mslcpu_worker worker{};
  for (;;) {
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    Job *job = job_;
    lock.unlock();
    drain(*job, worker);
    lock.lock();
    if (--pending_ == 0) done_.notify_one();
  }
}

}  // namespace cpu
