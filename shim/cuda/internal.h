// Objects behind the cuda backend's handles, shared by runtime.cpp and library.cpp.
//
// As in shim/cpu, reference counting stands in for Metal's retained references: a command buffer
// retains what it encodes and the queue retains a committed command buffer until its stream
// callback reports completion. Releases that reach the driver happen on a reaper thread, never
// inside a stream callback (CUDA forbids driver calls there).
//
// A CUDA context is unusable after a kernel fault (illegal address and the like): devices share
// one context until it faults; then it is marked poisoned and its command buffers fail. The next
// mlxn_device_open tries a fresh context, which the driver refuses for the rest of the process
// (measured on driver 580 with six ways of asking: tests/support/cuda_context_probe.py): the error
// then names the earlier fault, and the process must be restarted to use the GPU again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#pragma GCC visibility push(default)
#include "../include/mlxn.h"
#pragma GCC visibility pop
#include "../cpu/msl_cpu/prepass.h"
#include "driver.h"

namespace cuda {

constexpr uint32_t kMaxBindings = 31;
constexpr uint64_t kMaxInlineBytes = 4096;
constexpr uint64_t kDefaultSharedLimit = 48 * 1024;  // more needs the opt-in attribute

int32_t fail(int32_t status, std::string message);
double now_seconds();
std::string quoted(const std::string &label);

struct Object {
  std::atomic<uint32_t> refs{1};
  virtual ~Object() = default;
  void retain() { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

// One CUDA context, shared by the devices opened while it is healthy.
struct Context {
  const Driver *d;
  CUcontext ctx = nullptr;
  std::atomic<bool> poisoned{false};
  std::string fault;  // written once, before poisoned is set
  ~Context();
  // Makes the context current on the calling thread (the driver keeps it per thread).
  void bind() const { d->cuCtxSetCurrent(ctx); }
};

// Must match mslcuda::launch in shim/cuda/prelude/mslcuda.h: the kernel entry's one parameter.
struct Launch {
  void *buffers[kMaxBindings];
  uint32_t tg_offset[kMaxBindings];
  uint32_t grid[3], group[3], groups[3];
  uint32_t clip;
};
static_assert(sizeof(Launch) == 416, "Launch must match mslcuda::launch (the entry's .param is 416 bytes)");

struct CompilerSettings {
  std::string clang;  // "" when no compiler is installed: the cache only
  std::string cache_dir;
  std::string arch;
};

}  // namespace cuda

struct mlxn_device {
  const cuda::Driver *d;
  std::shared_ptr<cuda::Context> ctx;
  CUdevice dev = 0;
  CUstream stream = nullptr;
  std::string name, arch;
  uint64_t total_memory = 0;
  int max_threads = 1024, warp = 32, max_shared = 48 * 1024;
  std::mutex options_mu;
  std::string cache_dir, cxx;
  bool toolchain_resolved = false;
  std::string clang;
  bool compiler_settings(cuda::CompilerSettings &out);
};

struct mlxn_buffer : cuda::Object {
  std::shared_ptr<cuda::Context> ctx;
  CUdeviceptr ptr = 0;
  uint64_t length = 0;
  ~mlxn_buffer() override;
};

// A loaded PTX module (one per library and function-constant specialisation).
struct CudaModule {
  std::shared_ptr<cuda::Context> ctx;
  CUmodule module = nullptr;
  ~CudaModule();
};

struct mlxn_library : cuda::Object {
  std::string label;
  mslcpu::Program program;
  cuda::CompilerSettings settings;
  std::shared_ptr<cuda::Context> ctx;
  std::mutex mu;  // guards modules
  std::map<std::string, std::shared_ptr<CudaModule>> modules;  // by -D flags
};

struct mlxn_pipeline : cuda::Object {
  mlxn_library *library = nullptr;  // retained
  std::shared_ptr<CudaModule> module;
  CUfunction fn = nullptr;
  std::string name, label;
  uint32_t buffers = 0;  // bit n: the kernel declares [[buffer(n)]]
  uint32_t max_threads = 1024;
  uint64_t static_tg = 0;
  std::atomic<int> dynamic_shared_allowed{int(cuda::kDefaultSharedLimit)};
  ~mlxn_pipeline() override { library->release(); }
};

struct mlxn_event : cuda::Object {
  std::shared_ptr<cuda::Context> ctx;
  volatile uint64_t *host = nullptr;  // mapped pinned memory the stream writes
  CUdeviceptr dev = 0;
  ~mlxn_event() override;
};

namespace cuda {

struct Command {
  enum Kind : uint8_t { Dispatch, SignalEvent, WaitEvent } kind;
  uint32_t inline_mask = 0;  // bit n: launch.buffers[n] holds an offset into the inline arena
  uint32_t blocks = 0, threads = 0, shared = 0;
  mlxn_pipeline *pipeline = nullptr;
  mlxn_event *event = nullptr;
  uint64_t value = 0;
  Launch launch;
};

}  // namespace cuda

struct mlxn_compute_encoder {
  struct mlxn_command_buffer *cb = nullptr;
  bool open = false;
  std::string label;
  mlxn_pipeline *pipeline = nullptr;
  uint32_t bound = 0, inline_mask = 0, tg_bound = 0;
  void *slots[cuda::kMaxBindings];        // device address, or arena offset for inline bytes
  const void *owners[cuda::kMaxBindings];  // the mlxn_buffer in each slot; null for bytes
  uint64_t tg_lengths[cuda::kMaxBindings];
};

struct mlxn_command_buffer : cuda::Object {
  mlxn_device *device;
  std::shared_ptr<cuda::Context> ctx;
  std::atomic<int32_t> status{MLXN_CB_STATUS_NOT_ENQUEUED};
  std::mutex mu;  // guards the terminal transition
  std::string label, error;
  bool failed = false;  // an encoding misuse or a launch error: later dispatches are skipped
  double end = 0;       // host time the completion callback ran
  double start = 0;     // end minus the GPU time between the start and end events
  bool times_known = false;
  CUevent start_ev = nullptr, end_ev = nullptr;
  CUdeviceptr arena = 0;
  std::vector<char> inline_bytes;
  std::vector<cuda::Command> commands;
  std::vector<cuda::Object *> retained;
  mlxn_compute_encoder encoder;

  explicit mlxn_command_buffer(mlxn_device *dev) : device(dev), ctx(dev->ctx) {}
  void hold(cuda::Object *o) {
    o->retain();
    retained.push_back(o);
  }
  void misuse(const std::string &what);
  // Publishes a terminal status once (later calls do nothing).
  void finish(int32_t terminal, const std::string &why);
  ~mlxn_command_buffer() override;
};

struct mlxn_residency_set {
  std::string label;
};
