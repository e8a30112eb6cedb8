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
#include "../include/mlxn_packed.h"
#include "msl_cpu/compile.h"
#include "msl_cpu/prepass.h"
#include "pool.h"

namespace cpu {

struct Command;

// Sets this thread's last error and returns `status`.
int32_t fail(int32_t status, std::string message);

// Bytes of reserved, inaccessible address space after each guarded buffer (no memory is
// committed for it): a kernel's out-of-bounds access up to this far past the end faults.
constexpr size_t kGuardBytes = size_t(64) << 20;
// A guard from the process-wide budget (false when it is spent), and its return.
bool take_guard();
void give_guard();

double now_seconds();

struct Object {
  std::atomic<uint32_t> refs{1};
  virtual ~Object() = default;
  void retain() { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

// 64 KiB blocks of command-buffer records, recycled between command buffers of a device so
// that steady-state encoding neither page-faults nor copies. Shared with the command buffers,
// which may outlive the device handle.
class ChunkPool {
 public:
  static constexpr size_t kChunk = 64 * 1024;
  ~ChunkPool();
  char *get();
  void put(char *chunk);

 private:
  std::mutex mu_;
  std::vector<char *> free_;
};

// Append-only storage with stable addresses for one command buffer's records and inline bytes.
class Stream {
 public:
  explicit Stream(std::shared_ptr<ChunkPool> pool) : pool_(std::move(pool)) {}
  ~Stream();
  void *alloc(size_t n);  // 16-byte aligned

 private:
  std::shared_ptr<ChunkPool> pool_;
  std::vector<char *> pooled_, oversized_;
  char *cur_ = nullptr;
  size_t used_ = 0;
};

// Settings a library compile snapshots from its device.
struct CompilerSettings {
  mslcpu::Toolchain toolchain;
  std::string cache_dir;
  bool sanitize = false;
  unsigned compile_timeout_ms = 300000;
};

}  // namespace cpu

struct mlxn_device {
  std::mutex options_mu;  // guards the option fields, the toolchain and the name
  std::string name;
  std::string cache_dir, cxx;
  bool sanitize = false;
  unsigned compile_timeout_ms = 300000;  // a compile running longer is killed (CompileError)
  std::atomic<unsigned> threads;  // executors per dispatch (pool threads + the queue worker)
  bool toolchain_resolved = false;
  mslcpu::Toolchain toolchain;

  std::mutex queue_mu;
  std::condition_variable queue_cv;
  std::deque<struct mlxn_command_buffer *> queue;
  bool stopping = false;
  std::thread worker;
  cpu::Pool pool;  // used only by the worker thread
  std::vector<const cpu::Command *> concurrent;  // the worker's current barrier-free group
  std::shared_ptr<cpu::ChunkPool> chunks = std::make_shared<cpu::ChunkPool>();

  // Snapshot of what a compile needs; false (last error set) when no compiler is usable.
  bool compiler_settings(cpu::CompilerSettings &out);
};

struct mlxn_buffer : cpu::Object {
  void *data = nullptr;
  uint64_t length = 0;
  bool mapped = false;  // from mmap rather than the heap
  void *map_base = nullptr;  // guarded: the mapping of the data pages and the guard after them
  size_t map_bytes = 0;
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
  cpu::KernelRun run{};
  uint64_t static_tg = 0;  // bytes of block-scope threadgroup variables it reaches
  uint32_t buffers = 0;  // bit n: the kernel declares [[buffer(n)]], so a dispatch must bind it
  uint32_t max_threads = 1024;
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
  char *base;
  uint64_t offset, length;
};

struct ThreadgroupLength {
  uint32_t index;
  uint64_t length;
};

// A recorded command; a dispatch's bindings and then its threadgroup lengths follow it in the
// stream.
struct Command {
  enum Kind : uint8_t { DispatchThreads, DispatchThreadgroups, Barrier, SignalEvent, WaitEvent };
  Command *next;
  Kind kind;
  uint8_t n_bindings, n_tg;
  uint32_t size[3];   // grid in threads or threadgroups
  uint32_t group[3];  // threads per threadgroup
  union {
    mlxn_pipeline *pipeline;  // dispatches
    struct {
      mlxn_event *event;
      uint64_t value;
    } ev;                     // event signal and wait
  };
  Binding *bindings() { return reinterpret_cast<Binding *>(this + 1); }
  const Binding *bindings() const { return reinterpret_cast<const Binding *>(this + 1); }
  const ThreadgroupLength *tg() const {
    return reinterpret_cast<const ThreadgroupLength *>(bindings() + n_bindings);
  }
  ThreadgroupLength *tg() { return reinterpret_cast<ThreadgroupLength *>(bindings() + n_bindings); }
};

}  // namespace cpu

struct mlxn_compute_encoder {
  struct mlxn_command_buffer *cb = nullptr;
  bool open = false;
  std::string label;
  mlxn_pipeline *pipeline = nullptr;
  uint32_t bound = 0, tg_bound = 0;  // bit i: slot i is set
  uint32_t n_bound = 0, n_tg_bound = 0;  // bits set, kept so a dispatch needs no popcount
  static void mark(uint32_t &mask, uint32_t &count, uint32_t index) {
    count += (mask >> index & 1) ^ 1;
    mask |= 1u << index;
  }
  cpu::Binding slots[MSLCPU_MAX_BINDINGS];
  const void *owners[MSLCPU_MAX_BINDINGS];  // the mlxn_buffer in each slot; null for bytes
  uint64_t tg_lengths[MSLCPU_MAX_BINDINGS];
};

struct mlxn_command_buffer : cpu::Object {
  mlxn_device *device;
  std::atomic<int32_t> status{MLXN_CB_STATUS_NOT_ENQUEUED};
  std::string label;
  std::string error;      // written before a terminal status is published
  bool failed = false;    // an encoding misuse or a kernel fault: dispatches from here are skipped
  double start = 0, end = 0;
  cpu::Stream stream;
  cpu::Command *first = nullptr, *last = nullptr;
  std::vector<cpu::Object *> retained;
  mlxn_compute_encoder encoder;

  explicit mlxn_command_buffer(mlxn_device *dev) : device(dev), stream(dev->chunks) {}
  cpu::Command *append(size_t n_bindings, size_t n_tg);

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
