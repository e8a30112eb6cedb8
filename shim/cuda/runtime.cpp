// The cuda backend's device: one CUDA stream per device is its command queue. Command buffers are
// recorded on the host and launched at commit (commit returns once the launches are queued); a
// stream callback publishes completion. Dispatches of one command buffer run in encoding order on
// the stream, which is a legal schedule of Metal's concurrent encoder, so memory barriers have
// nothing to add.
#include <time.h>

#include <cstring>
#include <deque>
#include <chrono>
#include <thread>

#include "compile.h"
#include "internal.h"
#include "../cpu/msl_cpu/compile.h"

namespace cuda {

namespace {
thread_local std::string last_error;
}  // namespace

int32_t fail(int32_t status, std::string message) {
  last_error = std::move(message);
  return status;
}

double now_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

std::string quoted(const std::string &label) { return label.empty() ? "" : " '" + label + "'"; }

Context::~Context() {
  if (ctx) d->cuCtxDestroy(ctx);
}

namespace {

std::mutex shared_mu;
std::weak_ptr<Context> shared_context;  // the healthy context new devices join
std::string process_fault;              // the first kernel fault of the process, for later errors

// Why a faulted command buffer failed, from the driver's error.
std::string fault_reason(CUresult status) {
  return "the GPU reported " + describe(status) +
         "; the driver refuses this process new CUDA contexts after a kernel fault: restart the process";
}

// Marks ctx unusable after a fault (once; later faults keep the first reason).
void poison(Context &ctx, const std::string &why) {
  std::lock_guard<std::mutex> lock(shared_mu);
  if (ctx.poisoned.load()) return;
  ctx.fault = why;
  if (process_fault.empty()) process_fault = why;
  ctx.poisoned.store(true);
}

// The reaper: drops the queue's reference to completed command buffers outside stream callbacks.
struct Reaper {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<mlxn_command_buffer *> done;
  std::thread thread;
  Reaper() {
    thread = std::thread([this] {
      for (;;) {
        mlxn_command_buffer *cb;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return !done.empty(); });
          cb = done.front();
          done.pop_front();
        }
        cb->ctx->bind();
        cb->release();
      }
    });
    thread.detach();  // lives as long as the process: callbacks may arrive until exit
  }
  void push(mlxn_command_buffer *cb) {
    {
      std::lock_guard<std::mutex> lock(mu);
      done.push_back(cb);
    }
    cv.notify_one();
  }
};

Reaper &reaper() {
  static Reaper *r = new Reaper;  // never destroyed: its thread outlives static destructors
  return *r;
}

// The stream callback after a command buffer's last command: no driver calls here.
void on_complete(CUstream, CUresult status, void *user) {
  auto *cb = static_cast<mlxn_command_buffer *>(user);
  if (status != kSuccess) {
    const std::string why = fault_reason(status);
    poison(*cb->ctx, why);
    cb->finish(MLXN_CB_STATUS_ERROR, "command buffer" + quoted(cb->label) + " failed: " + why);
  } else {
    cb->finish(cb->failed ? MLXN_CB_STATUS_ERROR : MLXN_CB_STATUS_COMPLETED, "");
  }
  reaper().push(cb);
}

}  // namespace
}  // namespace cuda

using cuda::fail;

void mlxn_command_buffer::finish(int32_t terminal, const std::string &why) {
  std::lock_guard<std::mutex> lock(mu);
  if (status.load() >= MLXN_CB_STATUS_COMPLETED) return;
  if (!why.empty() && error.empty()) error = why;
  end = cuda::now_seconds();
  status.store(terminal, std::memory_order_release);
  status.notify_all();
}

void mlxn_command_buffer::misuse(const std::string &what) {
  if (failed) return;
  failed = true;
  std::string enc = encoder.label.empty() ? "" : " (encoder '" + encoder.label + "')";
  error = "command buffer" + cuda::quoted(label) + enc + ": " + what;
}

mlxn_command_buffer::~mlxn_command_buffer() {
  ctx->bind();
  if (start_ev) ctx->d->cuEventDestroy(start_ev);
  if (end_ev) ctx->d->cuEventDestroy(end_ev);
  for (auto *o : retained) o->release();
}

mlxn_buffer::~mlxn_buffer() {
  ctx->bind();
  ctx->d->cuMemFree(ptr);
}

mlxn_event::~mlxn_event() {
  ctx->bind();
  ctx->d->cuMemFreeHost(const_cast<uint64_t *>(host));
}

bool mlxn_device::compiler_settings(cuda::CompilerSettings &out) {
  std::lock_guard<std::mutex> lock(options_mu);
  if (!toolchain_resolved) {
    mslcpu::Toolchain tc;
    std::string error;
    // CUDA device code needs clang 17 or newer (__bf16 arithmetic and its excess-precision flag):
    // an older clang on a GPU host must not be picked, so that a kernel missing from the PTX cache
    // gets the error that says to precompile, not clang 16's unknown-argument message.
    if (!cxx.empty()) clang = mslcpu::find_toolchain(cxx, tc, error) ? tc.cxx : "";
    for (const char *c : {"clang++-19", "clang++-18", "clang++-17"})
      if (cxx.empty() && clang.empty() && mslcpu::find_toolchain(c, tc, error)) clang = tc.cxx;
    toolchain_resolved = true;
  }
  out.clang = clang;
  out.cache_dir = cache_dir.empty() ? mslcuda::default_cache_dir() : cache_dir;
  out.arch = arch;
  return true;
}

extern "C" {

// ───────────────────────────── status and errors ─────────────────────────────

uint32_t mlxn_abi_version(void) { return MLXN_ABI_VERSION; }
const char *mlxn_backend_name(void) { return "cuda"; }
const char *mlxn_last_error(void) { return cuda::last_error.c_str(); }

// ───────────────────────────── device ─────────────────────────────

// The first GPU, in the shared context (a new one when there is none or it faulted).
int32_t mlxn_device_open(mlxn_device_t *out) {
  if (!out) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_device_open: out is null");
  std::string error;
  const cuda::Driver *d = cuda::driver(error);
  if (!d) return fail(MLXN_ERR_DEVICE, error);
  int count = 0;
  CUresult r = d->cuDeviceGetCount(&count);
  if (r != cuda::kSuccess || count == 0)
    return fail(MLXN_ERR_DEVICE, r != cuda::kSuccess
                                     ? "cuda: cuDeviceGetCount failed with " + cuda::describe(r)
                                     : "cuda: the driver sees no CUDA GPU (set MLXN_BACKEND=cpu)");
  auto dev = std::make_unique<mlxn_device>();
  dev->d = d;
  if ((r = d->cuDeviceGet(&dev->dev, 0)) != cuda::kSuccess)
    return fail(MLXN_ERR_DEVICE, "cuda: cuDeviceGet(0) failed with " + cuda::describe(r));
  {
    std::lock_guard<std::mutex> lock(cuda::shared_mu);
    dev->ctx = cuda::shared_context.lock();
    if (!dev->ctx || dev->ctx->poisoned.load()) {
      auto c = std::make_shared<cuda::Context>();
      c->d = d;
      if ((r = d->cuCtxCreate(&c->ctx, 0, dev->dev)) != cuda::kSuccess) {
        // After a kernel fault the driver refuses every new context of the process with the
        // fault's error (driver 580, H100/H200: also once the faulted context is destroyed and the
        // primary context reset; tests/support/cuda_context_probe.py), so the message says why.
        const std::string after =
            cuda::process_fault.empty() ? "" : " after a kernel fault earlier in this process (" + cuda::process_fault + ")";
        return fail(r == cuda::kErrorOutOfMemory ? MLXN_ERR_OUT_OF_MEMORY : MLXN_ERR_DEVICE,
                    "cuda: cuCtxCreate failed with " + cuda::describe(r) + after);
      }
      cuda::shared_context = c;
      dev->ctx = c;
    }
  }
  dev->ctx->bind();
  if ((r = d->cuStreamCreate(&dev->stream, cuda::kStreamNonBlocking)) != cuda::kSuccess)
    return fail(MLXN_ERR_DEVICE, "cuda: cuStreamCreate failed with " + cuda::describe(r));
  char name[256] = {0};
  d->cuDeviceGetName(name, sizeof name - 1, dev->dev);
  int major = 0, minor = 0, managed = 0;
  d->cuDeviceGetAttribute(&major, cuda::kAttrComputeMajor, dev->dev);
  d->cuDeviceGetAttribute(&minor, cuda::kAttrComputeMinor, dev->dev);
  d->cuDeviceGetAttribute(&managed, cuda::kAttrManagedMemory, dev->dev);
  d->cuDeviceGetAttribute(&dev->max_threads, cuda::kAttrMaxThreadsPerBlock, dev->dev);
  d->cuDeviceGetAttribute(&dev->warp, cuda::kAttrWarpSize, dev->dev);
  d->cuDeviceGetAttribute(&dev->max_shared, cuda::kAttrMaxSharedPerBlockOptin, dev->dev);
  size_t total = 0;
  d->cuDeviceTotalMem(&total, dev->dev);
  dev->total_memory = total;
  if (!managed) {
    d->cuStreamDestroy(dev->stream);
    return fail(MLXN_ERR_DEVICE, std::string("cuda: ") + name + " has no managed memory, which the backend needs");
  }
  if (dev->warp != 32) {
    d->cuStreamDestroy(dev->stream);
    return fail(MLXN_ERR_DEVICE, "cuda: warp size " + std::to_string(dev->warp) + " (the kernels need 32)");
  }
  dev->arch = "sm_" + std::to_string(major) + std::to_string(minor);
  dev->name = std::string(name) + " (cuda, " + dev->arch + ")";
  *out = dev.release();
  return MLXN_OK;
}

// Waits for the work committed on the device's stream, then destroys the stream.
void mlxn_device_free(mlxn_device_t dev) {
  if (!dev) return;
  dev->ctx->bind();
  dev->d->cuStreamSynchronize(dev->stream);
  dev->d->cuStreamDestroy(dev->stream);
  delete dev;
}

const char *mlxn_device_name(mlxn_device_t dev) { return dev ? dev->name.c_str() : ""; }

uint64_t mlxn_device_limit(mlxn_device_t dev, uint32_t key) {
  if (!dev) return 0;
  switch (key) {
    case MLXN_LIMIT_MAX_BUFFER_LENGTH: return dev->total_memory;
    case MLXN_LIMIT_MAX_THREADS_PER_THREADGROUP: return uint64_t(dev->max_threads);
    case MLXN_LIMIT_MAX_THREADGROUP_MEMORY: return uint64_t(dev->max_shared);
    case MLXN_LIMIT_RECOMMENDED_WORKING_SET: return dev->total_memory / 10 * 9;
    case MLXN_LIMIT_SIMD_WIDTH: return uint64_t(dev->warp);
    case MLXN_LIMIT_HAS_RESIDENCY_SETS: return 0;
    case MLXN_LIMIT_HAS_UNIFIED_MEMORY: return 1;  // managed memory: contents is what kernels read
    case MLXN_LIMIT_MAX_INLINE_BYTES: return cuda::kMaxInlineBytes;
    case MLXN_LIMIT_MAX_BUFFER_BINDINGS: return cuda::kMaxBindings;
    case MLXN_LIMIT_WORKER_THREADS: return 0;
    case MLXN_LIMIT_LANES_IN_HARDWARE: return 1;
    default: return 0;
  }
}

// Keys: "cuda.cache_dir" (PTX cache), "cuda.cxx" (clang++ for kernels; "" = search).
int32_t mlxn_device_set_option(mlxn_device_t dev, const char *key, const char *value) {
  if (!dev || !key || !value)
    return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_device_set_option: null device, key or value");
  std::string k = key;
  std::lock_guard<std::mutex> lock(dev->options_mu);
  if (k == "cuda.cache_dir") {
    dev->cache_dir = value;
  } else if (k == "cuda.cxx") {
    dev->cxx = value;
    dev->toolchain_resolved = false;
  }
  return MLXN_OK;
}

// ───────────────────────────── buffers ─────────────────────────────

// Managed memory (cuMemAllocManaged): the CPU writes and reads it through the same pointer the
// kernels use, and the driver migrates pages, as Metal's shared storage on a unified-memory GPU.
int32_t mlxn_buffer_new(mlxn_device_t dev, uint64_t length, mlxn_buffer_t *out) {
  if (!dev || !out) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_buffer_new: null device or out");
  if (length == 0) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_buffer_new: length must be > 0");
  if (length > dev->total_memory)
    return fail(MLXN_ERR_OUT_OF_MEMORY, "mlxn_buffer_new: " + std::to_string(length) +
                                            " bytes exceeds the GPU's " + std::to_string(dev->total_memory) +
                                            " bytes of memory");
  dev->ctx->bind();
  // Managed memory may exceed the card (the driver would page it to and fro over PCIe); a buffer
  // the GPU cannot hold in its free memory is refused instead, as a Metal device refuses one.
  size_t free_bytes = 0, total_bytes = 0;
  if (dev->d->cuMemGetInfo(&free_bytes, &total_bytes) == cuda::kSuccess && length > free_bytes)
    return fail(MLXN_ERR_OUT_OF_MEMORY, "mlxn_buffer_new: " + std::to_string(length) + " bytes requested, " +
                                            std::to_string(free_bytes) + " of the GPU's " +
                                            std::to_string(total_bytes) + " bytes are free");
  CUdeviceptr p = 0;
  CUresult r = dev->d->cuMemAllocManaged(&p, length, cuda::kMemAttachGlobal);
  if (r != cuda::kSuccess)
    return fail(r == cuda::kErrorOutOfMemory ? MLXN_ERR_OUT_OF_MEMORY : MLXN_ERR_DEVICE,
                "mlxn_buffer_new: cuMemAllocManaged of " + std::to_string(length) + " bytes failed with " +
                    cuda::describe(r));
  // Zero on the GPU, in stream order, then wait: the CPU may read at once.
  r = dev->d->cuMemsetD8Async(p, 0, length, dev->stream);
  if (r == cuda::kSuccess) r = dev->d->cuStreamSynchronize(dev->stream);
  if (r != cuda::kSuccess) {
    dev->d->cuMemFree(p);
    return fail(MLXN_ERR_DEVICE, "mlxn_buffer_new: clearing the buffer failed with " + cuda::describe(r));
  }
  auto *b = new mlxn_buffer;
  b->ctx = dev->ctx;
  b->ptr = p;
  b->length = length;
  *out = b;
  return MLXN_OK;
}

void *mlxn_buffer_contents(mlxn_buffer_t b) { return b ? reinterpret_cast<void *>(b->ptr) : nullptr; }
uint64_t mlxn_buffer_length(mlxn_buffer_t b) { return b ? b->length : 0; }
void mlxn_buffer_free(mlxn_buffer_t b) {
  if (b) b->release();
}

// ───────────────────────────── command buffers ─────────────────────────────

int32_t mlxn_command_buffer_new(mlxn_device_t dev, mlxn_command_buffer_t *out) {
  if (!dev || !out) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_command_buffer_new: null device or out");
  auto *cb = new mlxn_command_buffer(dev);
  cb->encoder.cb = cb;
  cb->retained.reserve(64);
  *out = cb;
  return MLXN_OK;
}

void mlxn_command_buffer_set_label(mlxn_command_buffer_t cb, const char *label) {
  if (cb) cb->label = label ? label : "";
}
const char *mlxn_command_buffer_label(mlxn_command_buffer_t cb) { return cb ? cb->label.c_str() : ""; }

}  // extern "C"

namespace {

// Queues the recorded commands on the device's stream. Returns "" or why nothing more can run.
std::string launch_all(mlxn_command_buffer *cb) {
  mlxn_device *dev = cb->device;
  const cuda::Driver *d = dev->d;
  CUstream s = dev->stream;
  CUresult r;
  if ((r = d->cuEventCreate(&cb->start_ev, 0)) != cuda::kSuccess ||
      (r = d->cuEventCreate(&cb->end_ev, 0)) != cuda::kSuccess)
    return "cuEventCreate failed with " + cuda::describe(r);
  // Inline bytes (setBytes) go to device memory in one copy ahead of the kernels.
  if (!cb->inline_bytes.empty() && !cb->failed) {
    if ((r = d->cuMemAllocAsync(&cb->arena, cb->inline_bytes.size(), s)) != cuda::kSuccess)
      return "cuMemAllocAsync of " + std::to_string(cb->inline_bytes.size()) + " inline bytes failed with " +
             cuda::describe(r);
    if ((r = d->cuMemcpyHtoDAsync(cb->arena, cb->inline_bytes.data(), cb->inline_bytes.size(), s)) != cuda::kSuccess)
      return "copying inline bytes failed with " + cuda::describe(r);
  }
  d->cuEventRecord(cb->start_ev, s);
  for (cuda::Command &c : cb->commands) {
    if (c.kind == cuda::Command::SignalEvent) {
      if ((r = d->cuStreamWriteValue64(s, c.event->dev, c.value, 0)) != cuda::kSuccess)
        return "signalling a shared event failed with " + cuda::describe(r);
      continue;
    }
    if (c.kind == cuda::Command::WaitEvent) {
      if ((r = d->cuStreamWaitValue64(s, c.event->dev, c.value, cuda::kStreamWaitValueGeq)) != cuda::kSuccess)
        return "waiting on a shared event failed with " + cuda::describe(r);
      continue;
    }
    if (cb->failed) continue;  // Metal aborts the rest of a failed command buffer's work
    for (uint32_t m = c.inline_mask; m; m &= m - 1) {
      uint32_t i = uint32_t(__builtin_ctz(m));
      c.launch.buffers[i] = reinterpret_cast<void *>(cb->arena + reinterpret_cast<uintptr_t>(c.launch.buffers[i]));
    }
    mlxn_pipeline *p = c.pipeline;
    if (int(c.shared) > p->dynamic_shared_allowed.load()) {  // past 48 KiB needs the opt-in
      if ((r = d->cuFuncSetAttribute(p->fn, cuda::kFuncMaxDynamicSharedSizeBytes, int(c.shared))) != cuda::kSuccess) {
        cb->misuse("kernel '" + p->name + "': " + std::to_string(c.shared) +
                   " bytes of threadgroup memory were refused (" + cuda::describe(r) + ")");
        continue;
      }
      p->dynamic_shared_allowed.store(int(c.shared));
    }
    void *params[] = {&c.launch};
    r = d->cuLaunchKernel(p->fn, c.blocks, 1, 1, c.threads, 1, 1, c.shared, s, params, nullptr);
    if (r != cuda::kSuccess)
      cb->misuse("launching kernel '" + p->name + "'" + (p->label.empty() ? "" : " (pipeline '" + p->label + "')") +
                 " failed with " + cuda::describe(r));
  }
  d->cuEventRecord(cb->end_ev, s);
  if (cb->arena) d->cuMemFreeAsync(cb->arena, s);
  return "";
}

}  // namespace

extern "C" {

int32_t mlxn_command_buffer_commit(mlxn_command_buffer_t cb) {
  if (!cb) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_command_buffer_commit: null command buffer");
  if (cb->status.load() != MLXN_CB_STATUS_NOT_ENQUEUED)
    return fail(MLXN_ERR_INVALID_ARGUMENT, "command buffer" + cuda::quoted(cb->label) + " was already committed");
  if (cb->encoder.open) {
    cb->misuse("committed while a compute encoder was still open");
    return fail(MLXN_ERR_INVALID_ARGUMENT,
                "command buffer" + cuda::quoted(cb->label) + ": end the compute encoder before commit");
  }
  cb->ctx->bind();
  cb->retain();  // the queue's reference, dropped by the reaper after completion
  cb->status.store(MLXN_CB_STATUS_COMMITTED, std::memory_order_release);
  if (cb->ctx->poisoned.load()) {
    cb->finish(MLXN_CB_STATUS_ERROR, "command buffer" + cuda::quoted(cb->label) +
                                         " was not run: an earlier fault left the CUDA context unusable (" +
                                         cb->ctx->fault + ")");
    cuda::reaper().push(cb);
    return MLXN_OK;
  }
  std::string why = launch_all(cb);
  CUresult r = cuda::kSuccess;
  if (why.empty()) r = cb->device->d->cuStreamAddCallback(cb->device->stream, cuda::on_complete, cb, 0);
  if (!why.empty() || r != cuda::kSuccess) {
    cb->finish(MLXN_CB_STATUS_ERROR, "command buffer" + cuda::quoted(cb->label) + ": " +
                                         (why.empty() ? "cuStreamAddCallback failed with " + cuda::describe(r) : why));
    // Work already queued may still reference what the command buffer holds: wait for it.
    cb->device->d->cuStreamSynchronize(cb->device->stream);
    cuda::reaper().push(cb);
  }
  return MLXN_OK;
}

int32_t mlxn_command_buffer_wait(mlxn_command_buffer_t cb) {
  if (!cb) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_command_buffer_wait: null command buffer");
  int32_t s = cb->status.load(std::memory_order_acquire);
  if (s == MLXN_CB_STATUS_NOT_ENQUEUED)
    return fail(MLXN_ERR_INVALID_ARGUMENT, "command buffer" + cuda::quoted(cb->label) + " was never committed");
  // Short command buffers finish within microseconds: spin briefly, then block in the driver on
  // the end event, then for the callback that publishes the status.
  for (double until = cuda::now_seconds() + 20e-6; s < MLXN_CB_STATUS_COMPLETED && cuda::now_seconds() < until;)
    s = cb->status.load(std::memory_order_acquire);
  if (s < MLXN_CB_STATUS_COMPLETED && cb->end_ev) {
    cb->ctx->bind();
    CUresult r = cb->ctx->d->cuEventSynchronize(cb->end_ev);
    // After a fault the driver still calls the stream callback with the error; should it not
    // come within 5 s, the failure is published here so that no waiter hangs.
    for (double until = cuda::now_seconds() + 5.0;
         r != cuda::kSuccess && cb->status.load() < MLXN_CB_STATUS_COMPLETED && cuda::now_seconds() < until;)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (r != cuda::kSuccess && cb->status.load() < MLXN_CB_STATUS_COMPLETED) {
      const std::string why = cuda::fault_reason(r);
      cuda::poison(*cb->ctx, why);
      cb->finish(MLXN_CB_STATUS_ERROR, "command buffer" + cuda::quoted(cb->label) + " failed: " + why);
    }
  }
  while ((s = cb->status.load(std::memory_order_acquire)) < MLXN_CB_STATUS_COMPLETED) cb->status.wait(s);
  return MLXN_OK;
}

int32_t mlxn_command_buffer_status(mlxn_command_buffer_t cb) {
  return cb ? cb->status.load(std::memory_order_acquire) : MLXN_CB_STATUS_ERROR;
}

const char *mlxn_command_buffer_error(mlxn_command_buffer_t cb) {
  return cb && mlxn_command_buffer_status(cb) == MLXN_CB_STATUS_ERROR ? cb->error.c_str() : "";
}

}  // extern "C"

namespace {
// End is the host time the completion callback ran; start is end minus the GPU time between the
// start and end events (event timing, about 0.5 µs resolution).
void resolve_times(mlxn_command_buffer *cb) {
  std::lock_guard<std::mutex> lock(cb->mu);
  if (cb->times_known) return;
  float ms = 0;
  cb->ctx->bind();
  if (cb->start_ev && cb->end_ev && cb->ctx->d->cuEventElapsedTime(&ms, cb->start_ev, cb->end_ev) != cuda::kSuccess)
    ms = 0;
  cb->start = cb->end - double(ms) * 1e-3;
  cb->times_known = true;
}
}  // namespace

extern "C" {

double mlxn_command_buffer_gpu_start_time(mlxn_command_buffer_t cb) {
  if (!cb || mlxn_command_buffer_status(cb) < MLXN_CB_STATUS_COMPLETED) return 0.0;
  resolve_times(cb);
  return cb->start;
}
double mlxn_command_buffer_gpu_end_time(mlxn_command_buffer_t cb) {
  if (!cb || mlxn_command_buffer_status(cb) < MLXN_CB_STATUS_COMPLETED) return 0.0;
  resolve_times(cb);
  return cb->end;
}

}  // extern "C"

namespace {
int32_t encode_event(mlxn_command_buffer_t cb, mlxn_event_t ev, uint64_t value, cuda::Command::Kind kind,
                     const char *fn) {
  if (!cb || !ev) return fail(MLXN_ERR_INVALID_ARGUMENT, std::string(fn) + ": null handle");
  if (cb->status.load() != MLXN_CB_STATUS_NOT_ENQUEUED)
    return fail(MLXN_ERR_INVALID_ARGUMENT,
                std::string(fn) + ": command buffer" + cuda::quoted(cb->label) + " was already committed");
  if (cb->encoder.open)
    return fail(MLXN_ERR_INVALID_ARGUMENT, std::string(fn) + ": end the compute encoder before encoding an event");
  cb->hold(ev);
  cuda::Command c{};
  c.kind = kind;
  c.event = ev;
  c.value = value;
  cb->commands.push_back(c);
  return MLXN_OK;
}
}  // namespace

extern "C" {

int32_t mlxn_command_buffer_encode_signal_event(mlxn_command_buffer_t cb, mlxn_event_t ev, uint64_t value) {
  return encode_event(cb, ev, value, cuda::Command::SignalEvent, "mlxn_command_buffer_encode_signal_event");
}

int32_t mlxn_command_buffer_encode_wait_event(mlxn_command_buffer_t cb, mlxn_event_t ev, uint64_t value) {
  return encode_event(cb, ev, value, cuda::Command::WaitEvent, "mlxn_command_buffer_encode_wait_event");
}

void mlxn_command_buffer_free(mlxn_command_buffer_t cb) {
  if (cb) cb->release();
}

}  // extern "C"

// ───────────────────────────── compute encoders ─────────────────────────────
// Encoder calls are void, as Metal's are: misuse marks the command buffer instead of returning.

namespace {

void mark(uint32_t &mask, uint32_t index) { mask |= 1u << index; }

void set_pipeline(mlxn_compute_encoder_t enc, mlxn_pipeline_t p) {
  if (!p) return enc->cb->misuse("set_pipeline with a null pipeline");
  if (enc->pipeline != p) enc->cb->hold(p);
  enc->pipeline = p;
}

void set_buffer(mlxn_compute_encoder_t enc, mlxn_buffer_t b, uint64_t offset, uint32_t index) {
  if (index >= cuda::kMaxBindings)
    return enc->cb->misuse("buffer binding index " + std::to_string(index) + " is out of range (0..30)");
  if (!b) return enc->cb->misuse("set_buffer with a null buffer at index " + std::to_string(index));
  if (offset >= b->length)
    return enc->cb->misuse("buffer offset " + std::to_string(offset) + " at index " + std::to_string(index) +
                           " is not below the buffer length " + std::to_string(b->length));
  if (!(enc->bound >> index & 1) || enc->owners[index] != b) enc->cb->hold(b);
  enc->owners[index] = b;
  enc->slots[index] = reinterpret_cast<void *>(b->ptr + offset);
  enc->inline_mask &= ~(1u << index);
  mark(enc->bound, index);
}

void set_bytes(mlxn_compute_encoder_t enc, const void *bytes, uint64_t length, uint32_t index) {
  if (index >= cuda::kMaxBindings)
    return enc->cb->misuse("set_bytes index " + std::to_string(index) + " is out of range (0..30)");
  if (length == 0 || length > cuda::kMaxInlineBytes || !bytes)
    return enc->cb->misuse("set_bytes at index " + std::to_string(index) + " with " + std::to_string(length) +
                           " bytes (must be 1..4096, non-null)");
  std::vector<char> &arena = enc->cb->inline_bytes;
  size_t at = (arena.size() + 15) & ~size_t(15);  // 16-byte aligned, as any MSL type needs
  arena.resize(at + length);
  memcpy(arena.data() + at, bytes, length);
  enc->owners[index] = nullptr;
  enc->slots[index] = reinterpret_cast<void *>(uintptr_t(at));  // rebased onto the arena at commit
  enc->inline_mask |= 1u << index;
  mark(enc->bound, index);
}

void set_threadgroup_memory(mlxn_compute_encoder_t enc, uint64_t length, uint32_t index) {
  if (index >= cuda::kMaxBindings)
    return enc->cb->misuse("threadgroup memory index " + std::to_string(index) + " is out of range (0..30)");
  uint64_t limit = uint64_t(enc->cb->device->max_shared);
  if (length > limit)
    return enc->cb->misuse("threadgroup memory length " + std::to_string(length) + " exceeds " +
                           std::to_string(limit) + " bytes");
  enc->tg_lengths[index] = length;
  mark(enc->tg_bound, index);
}

void dispatch(mlxn_compute_encoder_t enc, bool threads_grid, const uint32_t size[3], const uint32_t group[3]) {
  mlxn_command_buffer *cb = enc->cb;
  mlxn_pipeline *p = enc->pipeline;
  if (!p) return cb->misuse("dispatch without a pipeline");
  if (uint32_t missing = p->buffers & ~enc->bound)
    return cb->misuse("kernel '" + p->name + "' declares [[buffer(" + std::to_string(__builtin_ctz(missing)) +
                      ")]] but the dispatch binds nothing there");
  uint64_t threads = uint64_t(group[0]) * group[1] * group[2];
  if (threads == 0 || threads > p->max_threads)
    return cb->misuse("threadgroup size " + std::to_string(group[0]) + "x" + std::to_string(group[1]) + "x" +
                      std::to_string(group[2]) + " must have 1.." + std::to_string(p->max_threads) +
                      " threads for kernel '" + p->name + "'");
  if (size[0] == 0 || size[1] == 0 || size[2] == 0)
    return cb->misuse("dispatch grid " + std::to_string(size[0]) + "x" + std::to_string(size[1]) + "x" +
                      std::to_string(size[2]) + " is empty");
  cuda::Command c{};
  c.kind = cuda::Command::Dispatch;
  cuda::Launch &l = c.launch;
  uint64_t blocks = 1;
  for (int dim = 0; dim < 3; ++dim) {
    uint64_t groups = threads_grid ? (uint64_t(size[dim]) + group[dim] - 1) / group[dim] : size[dim];
    uint64_t grid = threads_grid ? size[dim] : uint64_t(size[dim]) * group[dim];
    if (grid > UINT32_MAX) return cb->misuse("dispatch grid exceeds 2^32-1 threads in one dimension");
    l.groups[dim] = uint32_t(groups);
    l.grid[dim] = uint32_t(grid);
    l.group[dim] = group[dim];
    blocks *= groups;
  }
  if (blocks > 0x7fffffffu)
    return cb->misuse("dispatch of " + std::to_string(blocks) + " threadgroups exceeds CUDA's 2^31-1");
  l.clip = threads_grid ? 1u : 0u;
  uint64_t shared = 0;
  for (uint32_t m = enc->tg_bound; m; m &= m - 1) {
    uint32_t i = uint32_t(__builtin_ctz(m));
    shared = (shared + 15) & ~uint64_t(15);
    l.tg_offset[i] = uint32_t(shared);
    shared += enc->tg_lengths[i];
  }
  if (shared + p->static_tg > uint64_t(cb->device->max_shared))
    return cb->misuse("kernel '" + p->name + "' needs " + std::to_string(shared + p->static_tg) +
                      " bytes of threadgroup memory (" + std::to_string(p->static_tg) +
                      " declared in the kernel); the limit is " + std::to_string(cb->device->max_shared));
  for (uint32_t m = enc->bound; m; m &= m - 1) {
    uint32_t i = uint32_t(__builtin_ctz(m));
    l.buffers[i] = enc->slots[i];
  }
  c.inline_mask = enc->inline_mask & enc->bound;
  c.blocks = uint32_t(blocks);
  c.threads = uint32_t(threads);
  c.shared = uint32_t(shared);
  c.pipeline = p;
  cb->commands.push_back(c);
}

bool usable(mlxn_compute_encoder_t enc) { return enc && enc->open; }

}  // namespace

extern "C" {

int32_t mlxn_compute_encoder_new(mlxn_command_buffer_t cb, mlxn_compute_encoder_t *out) {
  if (!cb || !out) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_compute_encoder_new: null handle");
  if (cb->status.load() != MLXN_CB_STATUS_NOT_ENQUEUED)
    return fail(MLXN_ERR_INVALID_ARGUMENT,
                "mlxn_compute_encoder_new: command buffer" + cuda::quoted(cb->label) + " was already committed");
  if (cb->encoder.open) {
    cb->misuse("a second compute encoder was opened while one was open");
    return fail(MLXN_ERR_INVALID_ARGUMENT,
                "mlxn_compute_encoder_new: command buffer" + cuda::quoted(cb->label) + " already has an open encoder");
  }
  mlxn_compute_encoder &e = cb->encoder;
  e.open = true;
  e.label.clear();
  e.pipeline = nullptr;
  e.bound = e.inline_mask = e.tg_bound = 0;
  *out = &e;
  return MLXN_OK;
}

void mlxn_compute_encoder_set_label(mlxn_compute_encoder_t enc, const char *label) {
  if (usable(enc)) enc->label = label ? label : "";
}

void mlxn_compute_encoder_set_pipeline(mlxn_compute_encoder_t enc, mlxn_pipeline_t p) {
  if (usable(enc)) set_pipeline(enc, p);
}

void mlxn_compute_encoder_set_buffer(mlxn_compute_encoder_t enc, mlxn_buffer_t b, uint64_t offset, uint32_t index) {
  if (usable(enc)) set_buffer(enc, b, offset, index);
}

void mlxn_compute_encoder_set_bytes(mlxn_compute_encoder_t enc, const void *bytes, uint64_t length, uint32_t index) {
  if (usable(enc)) set_bytes(enc, bytes, length, index);
}

void mlxn_compute_encoder_set_threadgroup_memory_length(mlxn_compute_encoder_t enc, uint64_t length, uint32_t index) {
  if (usable(enc)) set_threadgroup_memory(enc, length, index);
}

void mlxn_compute_encoder_dispatch_threads(mlxn_compute_encoder_t enc, uint32_t gx, uint32_t gy, uint32_t gz,
                                           uint32_t tx, uint32_t ty, uint32_t tz) {
  const uint32_t size[3] = {gx, gy, gz}, group[3] = {tx, ty, tz};
  if (usable(enc)) dispatch(enc, true, size, group);
}

void mlxn_compute_encoder_dispatch_threadgroups(mlxn_compute_encoder_t enc, uint32_t gx, uint32_t gy, uint32_t gz,
                                                uint32_t tx, uint32_t ty, uint32_t tz) {
  const uint32_t size[3] = {gx, gy, gz}, group[3] = {tx, ty, tz};
  if (usable(enc)) dispatch(enc, false, size, group);
}

// Record layout: see mlxn.h. Every count is checked against record_bytes before it is used.
void mlxn_compute_encoder_dispatch_packed(mlxn_compute_encoder_t enc, const uint32_t *r, uint64_t record_bytes) {
  if (!usable(enc)) return;
  mlxn_command_buffer *cb = enc->cb;
  uint64_t words = record_bytes / 4;
  if (!r || words < 12) return cb->misuse("packed dispatch record shorter than its 12-word header");
  uint64_t n_buffers = r[1], n_bytes = r[2], n_tg = r[3];
  uint64_t p = 12 + 6 * n_buffers + 2 * n_tg;
  if (p > words || r[0] > 1)
    return cb->misuse("malformed packed dispatch record (" + std::to_string(record_bytes) + " bytes for " +
                      std::to_string(n_buffers) + " buffers, " + std::to_string(n_tg) +
                      " threadgroup lengths, kind " + std::to_string(r[0]) + ")");
  for (uint64_t i = 0, q = p; i < n_bytes; ++i) {
    if (q + 2 > words || q + 2 + (uint64_t(r[q + 1]) + 3) / 4 > words)
      return cb->misuse("packed dispatch record truncated in inline-byte entry " + std::to_string(i));
    q += 2 + (uint64_t(r[q + 1]) + 3) / 4;
  }
  set_pipeline(enc, reinterpret_cast<mlxn_pipeline_t>(uintptr_t(r[4]) | uintptr_t(r[5]) << 32));
  const uint32_t *e = r + 12;
  for (uint64_t i = 0; i < n_buffers; ++i, e += 6)
    set_buffer(enc, reinterpret_cast<mlxn_buffer_t>(uintptr_t(e[2]) | uintptr_t(e[3]) << 32),
               uint64_t(e[4]) | uint64_t(e[5]) << 32, e[0]);
  for (uint64_t i = 0; i < n_tg; ++i, e += 2) set_threadgroup_memory(enc, e[1], e[0]);
  for (uint64_t i = 0; i < n_bytes; ++i) {
    set_bytes(enc, e + 2, e[1], e[0]);
    e += 2 + (uint64_t(e[1]) + 3) / 4;
  }
  dispatch(enc, r[0] == 0, r + 6, r + 9);
}

// Dispatches run in encoding order on one stream, and a kernel starts only after the previous one
// has finished and its writes are visible: every dispatch is already behind a barrier.
void mlxn_compute_encoder_memory_barrier(mlxn_compute_encoder_t) {}

void mlxn_compute_encoder_end(mlxn_compute_encoder_t enc) {
  if (!usable(enc)) return;
  enc->open = false;
  enc->pipeline = nullptr;
  enc->bound = enc->inline_mask = enc->tg_bound = 0;
}

// ───────────────────────────── shared events ─────────────────────────────
// The value lives in mapped pinned host memory: the stream writes it (cuStreamWriteValue64) and
// waits on it (cuStreamWaitValue64), the host reads it directly.

int32_t mlxn_event_new(mlxn_device_t dev, mlxn_event_t *out) {
  if (!dev || !out) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_event_new: null device or out");
  dev->ctx->bind();
  void *host = nullptr;
  CUresult r = dev->d->cuMemHostAlloc(&host, 64, cuda::kHostAllocPortable | cuda::kHostAllocDeviceMap);
  CUdeviceptr devptr = 0;
  if (r == cuda::kSuccess) r = dev->d->cuMemHostGetDevicePointer(&devptr, host, 0);
  if (r != cuda::kSuccess) {
    if (host) dev->d->cuMemFreeHost(host);
    return fail(MLXN_ERR_DEVICE, "mlxn_event_new: pinned memory for the event failed with " + cuda::describe(r));
  }
  auto *ev = new mlxn_event;
  ev->ctx = dev->ctx;
  ev->host = static_cast<volatile uint64_t *>(host);
  *ev->host = 0;
  ev->dev = devptr;
  *out = ev;
  return MLXN_OK;
}

uint64_t mlxn_event_signaled_value(mlxn_event_t ev) {
  return ev ? __atomic_load_n(const_cast<uint64_t *>(ev->host), __ATOMIC_ACQUIRE) : 0;
}

void mlxn_event_free(mlxn_event_t ev) {
  if (ev) ev->release();
}

// ───────────────────────────── residency sets ─────────────────────────────
// Managed memory needs no residency requests; handles exist so the TS core has one code path.

int32_t mlxn_residency_set_new(mlxn_device_t dev, const char *label, mlxn_residency_set_t *out) {
  if (!dev || !out) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_residency_set_new: null device or out");
  *out = new mlxn_residency_set{label ? label : ""};
  return MLXN_OK;
}

int32_t mlxn_residency_set_add(mlxn_residency_set_t set, mlxn_buffer_t b) {
  return set && b ? MLXN_OK : fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_residency_set_add: null handle");
}

int32_t mlxn_residency_set_remove(mlxn_residency_set_t set, mlxn_buffer_t b) {
  return set && b ? MLXN_OK : fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_residency_set_remove: null handle");
}

int32_t mlxn_residency_set_commit(mlxn_residency_set_t set) {
  return set ? MLXN_OK : fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_residency_set_commit: null set");
}

int32_t mlxn_residency_set_attach(mlxn_residency_set_t set, mlxn_device_t dev) {
  return set && dev ? MLXN_OK : fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_residency_set_attach: null handle");
}

void mlxn_residency_set_free(mlxn_residency_set_t set) { delete set; }

// ───────────────────────────── capture ─────────────────────────────

int32_t mlxn_capture_begin(mlxn_device_t) {
  return fail(MLXN_ERR_UNSUPPORTED, "GPU capture needs the Metal backend; on cuda use Nsight Systems (nsys) instead");
}

int32_t mlxn_capture_end(mlxn_device_t) {
  return fail(MLXN_ERR_UNSUPPORTED, "GPU capture needs the Metal backend; on cuda use Nsight Systems (nsys) instead");
}

}  // extern "C"
