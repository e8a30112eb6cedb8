// Objects behind the cpu backend's handles, shared by runtime.cpp and library.cpp.
//
// Reference counting stands in for Metal's retained references: a command buffer retains every
// buffer, pipeline and event it encodes, and the queue retains a committed command buffer until
// it completes, so the caller may free any of them at any time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// The library builds with hidden visibility; only the ABI is exported.
#pragma GCC visibility push(default)
#include "../include/mlxn.h"
#pragma GCC visibility pop
#include "msl_cpu/compile.h"
#include "msl_cpu/prepass.h"
#include "pool.h"

namespace cpu {

// Sets this thread's last error and returns `status`.
int32_t fail(int32_t status, std::string message);

double now_seconds();

struct Object {
  std::atomic<uint32_t> refs{1};
  virtual ~Object() = default;
  void retain() { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

// Stable-address storage for set_bytes data, freed with its command buffer.
class Arena {
 public:
  void *copy(const void *data, size_t n);

 private:
  std::vector<std::unique_ptr<char[]>> chunks_;
  size_t used_ = 0, capacity_ = 0;
};

// Settings a library compile snapshots from its device.
struct CompilerSettings {
  mslcpu::Toolchain toolchain;
  std::string cache_dir;
  bool sanitize = false;
};

}  // namespace cpu

struct mlxn_device {
  std::mutex options_mu;  // guards the option fields, the toolchain and the name
  std::string name;
  std::string cache_dir, cxx;
  bool sanitize = false;
  std::atomic<unsigned> threads;  // executors per dispatch (pool threads + the queue worker)
  bool toolchain_resolved = false;
  mslcpu::Toolchain toolchain;

  std::mutex queue_mu;
  std::condition_variable queue_cv;
  std::deque<struct mlxn_command_buffer *> queue;
  bool stopping = false;
  std::thread worker;
  cpu::Pool pool;  // used only by the worker thread

  // Snapshot of what a compile needs; false (last error set) when no compiler is usable.
  bool compiler_settings(cpu::CompilerSettings &out);
};

struct mlxn_buffer : cpu::Object {
  void *data = nullptr;
  uint64_t length = 0;
  bool mapped = false;  // from mmap rather than the heap
  ~mlxn_buffer() override;
};

struct mlxn_library : cpu::Object {
  std::string label;
  mslcpu::Program program;
  cpu::CompilerSettings settings;
  std::mutex mu;  // guards objects
  std::map<std::string, std::shared_ptr<mslcpu::KernelObject>> objects;  // by -D flags
};

struct mlxn_pipeline : cpu::Object {
  mlxn_library *library = nullptr;  // retained: the kernel object is the library's
  std::shared_ptr<mslcpu::KernelObject> object;
  const mslcpu_kernel_info *kernel = nullptr;
  uint32_t buffers = 0;  // bit n: the kernel declares [[buffer(n)]], so a dispatch must bind it
  std::string label;
  ~mlxn_pipeline() override { library->release(); }
};

struct mlxn_event : cpu::Object {
  std::atomic<uint64_t> value{0};
  void signal(uint64_t v);
  void wait(uint64_t v);
};

namespace cpu {

// One binding as encoded: the buffer contents (or inline bytes), offset and full length, so that
// a bounds-checking executor can compare every access against the buffer.
struct Binding {
  uint32_t index;
  const void *owner;  // the mlxn_buffer, or nullptr for inline bytes
  char *base;
  uint64_t offset, length;
};

struct Command {
  enum Kind : uint8_t { DispatchThreads, DispatchThreadgroups, Barrier, SignalEvent, WaitEvent };
  Kind kind;
  uint32_t size[3];   // grid in threads or threadgroups
  uint32_t group[3];  // threads per threadgroup
  uint32_t first_binding, n_bindings, first_tg, n_tg;
  mlxn_pipeline *pipeline;
  mlxn_event *event;
  uint64_t value;
};

struct ThreadgroupLength {
  uint32_t index;
  uint64_t length;
};

}  // namespace cpu

struct mlxn_compute_encoder {
  struct mlxn_command_buffer *cb = nullptr;
  bool open = false;
  std::string label;
  mlxn_pipeline *pipeline = nullptr;
  uint32_t bound = 0, tg_bound = 0;  // bit i: slot i is set
  cpu::Binding slots[MSLCPU_MAX_BINDINGS];
  uint64_t tg_lengths[MSLCPU_MAX_BINDINGS];
};

struct mlxn_command_buffer : cpu::Object {
  mlxn_device *device = nullptr;
  std::atomic<int32_t> status{MLXN_CB_STATUS_NOT_ENQUEUED};
  std::string label;
  std::string error;      // written before a terminal status is published
  bool failed = false;    // an encoding misuse or a kernel fault: dispatches from here are skipped
  double start = 0, end = 0;
  std::vector<cpu::Command> commands;
  std::vector<cpu::Binding> bindings;
  std::vector<cpu::ThreadgroupLength> tg_lengths;
  std::vector<cpu::Object *> retained;
  cpu::Arena bytes;
  mlxn_compute_encoder encoder;

  void hold(cpu::Object *o) {
    o->retain();
    retained.push_back(o);
  }
  // Records the first misuse; the command buffer then completes with MLXN_CB_STATUS_ERROR.
  void misuse(const std::string &what);
  ~mlxn_command_buffer() override {
    for (auto *o : retained) o->release();
  }
};

struct mlxn_residency_set {
  std::string label;
};
