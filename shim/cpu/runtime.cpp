// The cpu backend's device: one queue worker per device executes committed command buffers in
// commit order, as a Metal command queue does; dispatches inside a command buffer run one after
// another (a legal schedule of a concurrent encoder), each spread over the worker pool.
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "internal.h"

namespace cpu {

namespace {
thread_local std::string last_error;

constexpr uint32_t kMaxThreadsPerGroup = 1024;
constexpr uint64_t kMaxThreadgroupMemory = 32768;
constexpr uint64_t kMaxInlineBytes = MLXN_MAX_INLINE_BYTES;
// The kernel header (msl_cpu.h) cannot include mlxn.h: its binding table must match the ABI's.
static_assert(MSLCPU_MAX_BINDINGS == MLXN_MAX_BUFFER_BINDINGS, "msl-cpu binding slots differ from the ABI's");
constexpr uint64_t kSimdWidth = 32;
constexpr uint64_t kMapThreshold = 256 * 1024;  // larger buffers come zeroed from mmap
constexpr uint64_t kHugePageBytes = 2 * 1024 * 1024;  // buffers from this size on ask for huge pages
// Buffers allocated with a guard region, at most: each costs two of the process's limited
// memory mappings (65530 by default on Linux, shared with Bun), so past this many live buffers
// new ones come without a guard.
std::atomic<long> guards_left{16384};

uint64_t physical_memory() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : (uint64_t(1) << 32);
}

unsigned default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

std::string device_name(unsigned threads) {
  return "cpu (msl-cpu, " + std::to_string(threads) + (threads == 1 ? " thread)" : " threads)");
}

std::string quoted(const std::string &label) { return label.empty() ? "" : " '" + label + "'"; }
}  // namespace

bool take_guard() {
  if (guards_left.fetch_sub(1) > 0) return true;
  guards_left.fetch_add(1);
  return false;
}
void give_guard() { guards_left.fetch_add(1); }

int32_t fail(int32_t status, std::string message) {
  last_error = std::move(message);
  return status;
}

double now_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

ChunkPool::~ChunkPool() {
  for (char *c : free_) ::operator delete(c, std::align_val_t(64));
}

char *ChunkPool::get() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      char *c = free_.back();
      free_.pop_back();
      return c;
    }
  }
  return static_cast<char *>(::operator new(kChunk, std::align_val_t(64)));
}

void ChunkPool::put(char *chunk) {
  std::lock_guard<std::mutex> lock(mu_);
  // Up to 32 MiB stays for the next command buffers: a 100k-dispatch buffer is about 20 MiB,
  // and memory returned to the system page-faults again on reuse.
  if (free_.size() < 512) free_.push_back(chunk);
  else ::operator delete(chunk, std::align_val_t(64));
}

Stream::~Stream() {
  for (char *c : pooled_) pool_->put(c);
  for (char *c : oversized_) ::operator delete(c, std::align_val_t(64));
}

void *Stream::alloc(size_t n) {
  size_t need = (n + 15) & ~size_t(15);
  if (need > ChunkPool::kChunk / 4) {  // large inline bytes: a block of their own
    oversized_.push_back(static_cast<char *>(::operator new(need, std::align_val_t(64))));
    return oversized_.back();
  }
  if (!cur_ || used_ + need > ChunkPool::kChunk) {
    pooled_.push_back(cur_ = pool_->get());
    used_ = 0;
  }
  void *p = cur_ + used_;
  used_ += need;
  return p;
}

}  // namespace cpu

using cpu::fail;

// ───────────────────────────── events ─────────────────────────────

void mlxn_event::signal(uint64_t v) {
  uint64_t cur = value.load(std::memory_order_relaxed);
  while (cur < v && !value.compare_exchange_weak(cur, v, std::memory_order_release)) {}
  value.notify_all();
}

void mlxn_event::wait(uint64_t v) {
  uint64_t cur = value.load(std::memory_order_acquire);
  while (cur < v) {
    value.wait(cur, std::memory_order_acquire);
    cur = value.load(std::memory_order_acquire);
  }
}

// ───────────────────────────── execution (queue worker) ─────────────────────────────

namespace {

// Runs one dispatch; returns "" or the fault message.
std::string execute_dispatch(mlxn_device *dev, const cpu::Command &c) {
  mslcpu_launch l;
  memset(&l, 0, sizeof l);
  for (uint32_t i = 0; i < c.n_bindings; ++i) {
    const cpu::Binding &b = c.bindings()[i];
    l.buffers[b.index] = b.base + b.offset;
    l.buffer_lengths[b.index] = b.length - b.offset;
  }
  for (uint32_t i = 0; i < c.n_tg; ++i) l.threadgroup_lengths[c.tg()[i].index] = c.tg()[i].length;
  bool threads = c.kind == cpu::Command::DispatchThreads;
  for (int d = 0; d < 3; ++d) {
    l.group_size[d] = c.group[d];
    l.groups[d] = threads ? uint32_t((uint64_t(c.size[d]) + c.group[d] - 1) / c.group[d]) : c.size[d];
    l.grid[d] = threads ? c.size[d] : c.size[d] * c.group[d];
  }
  l.clip_edges = threads ? 1u : 0u;
  const char *fault = dev->pool.run(l, c.pipeline->run);
  if (!fault) return "";
  return "kernel '" + std::string(c.pipeline->kernel->name) + "'" +
         (c.pipeline->label.empty() ? "" : " (pipeline '" + c.pipeline->label + "')") +
         " failed: " + fault;
}

// Runs the dispatches gathered since the last barrier. A concurrent compute encoder promises
// no order among them, so they run last-encoded first: any dependency that lacks a barrier then
// reads stale data on every run, instead of only when a GPU happens to overlap the two.
void run_concurrent_group(mlxn_device *dev, mlxn_command_buffer *cb) {
  auto &group = dev->concurrent;
  for (auto it = group.rbegin(); it != group.rend() && !cb->failed; ++it) {
    std::string fault = execute_dispatch(dev, **it);
    if (!fault.empty()) {
      cb->failed = true;
      cb->error = fault;
    }
  }
  group.clear();
}

void execute(mlxn_device *dev, mlxn_command_buffer *cb) {
  cb->start = cpu::now_seconds();
  cb->status.store(MLXN_CB_STATUS_SCHEDULED, std::memory_order_release);
  // After a fault the remaining dispatches are skipped (Metal aborts the command buffer), but
  // event signals and waits still happen so that other command buffers do not deadlock.
  for (const cpu::Command *cmd = cb->first; cmd; cmd = cmd->next) {
    const cpu::Command &c = *cmd;
    switch (c.kind) {
      case cpu::Command::DispatchThreads:
      case cpu::Command::DispatchThreadgroups: dev->concurrent.push_back(cmd); break;
      case cpu::Command::Barrier: run_concurrent_group(dev, cb); break;
      case cpu::Command::SignalEvent:
        run_concurrent_group(dev, cb);
        c.ev.event->signal(c.ev.value);
        break;
      case cpu::Command::WaitEvent:
        run_concurrent_group(dev, cb);
        c.ev.event->wait(c.ev.value);
        break;
    }
  }
  run_concurrent_group(dev, cb);
  cb->end = cpu::now_seconds();
  cb->status.store(cb->failed ? MLXN_CB_STATUS_ERROR : MLXN_CB_STATUS_COMPLETED,
                   std::memory_order_release);
  cb->status.notify_all();
}

void queue_loop(mlxn_device *dev) {
  for (;;) {
    mlxn_command_buffer *cb;
    {
      std::unique_lock<std::mutex> lock(dev->queue_mu);
      dev->queue_cv.wait(lock, [&] { return dev->stopping || !dev->queue.empty(); });
      if (dev->queue.empty()) return;  // stopping, and everything committed has run
      cb = dev->queue.front();
      dev->queue.pop_front();
    }
    dev->pool.resize(dev->threads.load());
    execute(dev, cb);
    cb->release();
  }
}

}  // namespace

// ───────────────────────────── status and errors ─────────────────────────────

extern "C" {

uint32_t mlxn_abi_version(void) { return MLXN_ABI_VERSION; }
const char *mlxn_backend_name(void) { return "cpu"; }
const char *mlxn_last_error(void) { return cpu::last_error.c_str(); }

// ───────────────────────────── device ─────────────────────────────

int32_t mlxn_device_open(mlxn_device_t *out) {
  if (!out) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_device_open: out is null");
  auto *dev = new (std::nothrow) mlxn_device;
  if (!dev) return fail(MLXN_ERR_OUT_OF_MEMORY, "mlxn_device_open: out of memory");
  dev->threads = cpu::default_threads();
  dev->name = cpu::device_name(dev->threads);
  dev->worker = std::thread(queue_loop, dev);
  *out = dev;
  return MLXN_OK;
}

// Waits for every committed command buffer, then stops the queue and the pool.
void mlxn_device_free(mlxn_device_t dev) {
  if (!dev) return;
  {
    std::lock_guard<std::mutex> lock(dev->queue_mu);
    dev->stopping = true;
  }
  dev->queue_cv.notify_all();
  dev->worker.join();
  delete dev;
}

const char *mlxn_device_name(mlxn_device_t dev) {
  if (!dev) return "";
  std::lock_guard<std::mutex> lock(dev->options_mu);
  return dev->name.c_str();
}

uint64_t mlxn_device_limit(mlxn_device_t dev, uint32_t key) {
  if (!dev) return 0;
  switch (key) {
    case MLXN_LIMIT_MAX_BUFFER_LENGTH: return cpu::physical_memory();
    case MLXN_LIMIT_MAX_THREADS_PER_THREADGROUP: return cpu::kMaxThreadsPerGroup;
    case MLXN_LIMIT_MAX_THREADGROUP_MEMORY: return cpu::kMaxThreadgroupMemory;
    case MLXN_LIMIT_RECOMMENDED_WORKING_SET: return cpu::physical_memory() / 4 * 3;
    case MLXN_LIMIT_SIMD_WIDTH: return cpu::kSimdWidth;
    case MLXN_LIMIT_HAS_RESIDENCY_SETS: return 0;
    case MLXN_LIMIT_HAS_UNIFIED_MEMORY: return 1;
    case MLXN_LIMIT_MAX_INLINE_BYTES: return cpu::kMaxInlineBytes;
    case MLXN_LIMIT_MAX_BUFFER_BINDINGS: return MSLCPU_MAX_BINDINGS;
    case MLXN_LIMIT_WORKER_THREADS: return dev->threads.load();
    case MLXN_LIMIT_LANES_IN_HARDWARE: return 0;
    default: return 0;
  }
}

int32_t mlxn_device_set_option(mlxn_device_t dev, const char *key, const char *value) {
  if (!dev || !key || !value)
    return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_device_set_option: null device, key or value");
  std::string k = key, v = value;
  std::lock_guard<std::mutex> lock(dev->options_mu);
  if (k == "msl_cpu.cache_dir") {
    dev->cache_dir = v;  // "" = the default location
  } else if (k == "msl_cpu.cxx") {
    dev->cxx = v;  // "" = search
    dev->toolchain_resolved = false;
  } else if (k == "msl_cpu.sanitize") {
    if (v != "0" && v != "1")
      return fail(MLXN_ERR_INVALID_ARGUMENT, "msl_cpu.sanitize must be \"0\" or \"1\", got \"" + v + "\"");
    dev->sanitize = v == "1";
  } else if (k == "msl_cpu.compile_timeout_ms") {
    char *end = nullptr;
    unsigned long n = strtoul(v.c_str(), &end, 10);
    if (v.empty() || *end || n == 0 || n > 86400000ul)
      return fail(MLXN_ERR_INVALID_ARGUMENT,
                  "msl_cpu.compile_timeout_ms must be from 1 to 86400000, got \"" + v + "\"");
    dev->compile_timeout_ms = unsigned(n);
  } else if (k == "msl_cpu.threads") {
    char *end = nullptr;
    unsigned long n = strtoul(v.c_str(), &end, 10);
    if (v.empty() || *end || n > 1024)
      return fail(MLXN_ERR_INVALID_ARGUMENT,
                  "msl_cpu.threads must be a count from 1 to 1024 (0 = one per core), got \"" + v + "\"");
    dev->threads = n == 0 ? cpu::default_threads() : unsigned(n);
    dev->name = cpu::device_name(dev->threads);  // the pool follows before the next command buffer
  }
  return MLXN_OK;
}

// ───────────────────────────── buffers ─────────────────────────────

int32_t mlxn_buffer_new(mlxn_device_t dev, uint64_t length, mlxn_buffer_t *out) {
  if (!dev || !out) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_buffer_new: null device or out");
  if (length == 0) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_buffer_new: length must be > 0");
  uint64_t max = cpu::physical_memory();
  if (length > max)
    return fail(MLXN_ERR_OUT_OF_MEMORY, "mlxn_buffer_new: " + std::to_string(length) +
                                            " bytes exceeds the maximum buffer length of " +
                                            std::to_string(max) + " bytes");
  auto *b = new (std::nothrow) mlxn_buffer;
  void *p = nullptr;
  if (b && cpu::take_guard()) {
    // Pages for the data, then a reserved, inaccessible guard region: a kernel indexing past
    // the end faults there (a CommandBufferError, see pool.cpp) instead of writing into whatever
    // follows. Small buffers end flush with the guard (64-byte aligned), so even a short
    // overrun faults.
    size_t page = size_t(sysconf(_SC_PAGESIZE));
    size_t data_bytes = (length + page - 1) & ~uint64_t(page - 1);
    size_t total = data_bytes + cpu::kGuardBytes;
    void *base = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base != MAP_FAILED && mprotect(base, data_bytes, PROT_READ | PROT_WRITE) == 0) {
#ifdef MADV_HUGEPAGE
      // Large buffers (weights) on transparent huge pages where the system allows: a matrix-vector
      // kernel streams through them, and with 4 KiB pages it would take a TLB miss every 4 KiB.
      if (data_bytes >= cpu::kHugePageBytes) madvise(base, data_bytes, MADV_HUGEPAGE);
#endif
      p = static_cast<char *>(base) + data_bytes - ((length + 63) & ~uint64_t(63));
      b->map_base = base;
      b->map_bytes = total;
    } else {
      if (base != MAP_FAILED) munmap(base, total);
      cpu::give_guard();
    }
  }
  if (p) {
    // guarded
  } else if (b && length >= cpu::kMapThreshold) {
    p = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) p = nullptr;
    b->mapped = p != nullptr;
  } else if (b && posix_memalign(&p, 64, (length + 63) & ~uint64_t(63)) == 0) {
    memset(p, 0, length);
  }
  if (!p) {
    delete b;
    return fail(MLXN_ERR_OUT_OF_MEMORY,
                "mlxn_buffer_new: could not allocate " + std::to_string(length) + " bytes");
  }
  b->data = p;
  b->length = length;
  *out = b;
  return MLXN_OK;
}

mlxn_buffer::~mlxn_buffer() {
  if (map_base) {
    munmap(map_base, map_bytes);
    cpu::give_guard();
  } else if (mapped) {
    munmap(data, length);
  } else {
    free(data);
  }
}

void *mlxn_buffer_contents(mlxn_buffer_t b) { return b ? b->data : nullptr; }
uint64_t mlxn_buffer_length(mlxn_buffer_t b) { return b ? b->length : 0; }
void mlxn_buffer_free(mlxn_buffer_t b) {
  if (b) b->release();
}

// ───────────────────────────── command buffers ─────────────────────────────

int32_t mlxn_command_buffer_new(mlxn_device_t dev, mlxn_command_buffer_t *out) {
  if (!dev || !out)
    return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_command_buffer_new: null device or out");
  auto *cb = new (std::nothrow) mlxn_command_buffer(dev);
  if (!cb) return fail(MLXN_ERR_OUT_OF_MEMORY, "mlxn_command_buffer_new: out of memory");
  cb->encoder.cb = cb;
  cb->retained.reserve(64);
  *out = cb;
  return MLXN_OK;
}

void mlxn_command_buffer_set_label(mlxn_command_buffer_t cb, const char *label) {
  if (cb) cb->label = label ? label : "";
}
const char *mlxn_command_buffer_label(mlxn_command_buffer_t cb) {
  return cb ? cb->label.c_str() : "";
}

int32_t mlxn_command_buffer_commit(mlxn_command_buffer_t cb) {
  if (!cb) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_command_buffer_commit: null command buffer");
  if (cb->status.load() != MLXN_CB_STATUS_NOT_ENQUEUED)
    return fail(MLXN_ERR_INVALID_ARGUMENT,
                "command buffer" + cpu::quoted(cb->label) + " was already committed");
  if (cb->encoder.open) {
    cb->misuse("committed while a compute encoder was still open");
    return fail(MLXN_ERR_INVALID_ARGUMENT, "command buffer" + cpu::quoted(cb->label) +
                                               ": end the compute encoder before commit");
  }
  mlxn_device *dev = cb->device;
  cb->retain();  // the queue's reference, dropped when execution completes
  cb->status.store(MLXN_CB_STATUS_COMMITTED, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(dev->queue_mu);
    dev->queue.push_back(cb);
  }
  dev->queue_cv.notify_one();
  return MLXN_OK;
}

int32_t mlxn_command_buffer_wait(mlxn_command_buffer_t cb) {
  if (!cb) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_command_buffer_wait: null command buffer");
  int32_t s = cb->status.load(std::memory_order_acquire);
  if (s == MLXN_CB_STATUS_NOT_ENQUEUED)
    return fail(MLXN_ERR_INVALID_ARGUMENT,
                "command buffer" + cpu::quoted(cb->label) + " was never committed");
  // Small command buffers finish within microseconds: a short spin saves the futex round trip
  // that would otherwise dominate their latency.
  for (double until = cpu::now_seconds() + 20e-6;
       s < MLXN_CB_STATUS_COMPLETED && cpu::now_seconds() < until;)
    s = cb->status.load(std::memory_order_acquire);
  while (s < MLXN_CB_STATUS_COMPLETED) {
    cb->status.wait(s, std::memory_order_acquire);
    s = cb->status.load(std::memory_order_acquire);
  }
  return MLXN_OK;
}

int32_t mlxn_command_buffer_status(mlxn_command_buffer_t cb) {
  return cb ? cb->status.load(std::memory_order_acquire) : MLXN_CB_STATUS_ERROR;
}

// The fields below are written by the queue worker before it publishes a terminal status.
const char *mlxn_command_buffer_error(mlxn_command_buffer_t cb) {
  return cb && mlxn_command_buffer_status(cb) == MLXN_CB_STATUS_ERROR ? cb->error.c_str() : "";
}
double mlxn_command_buffer_gpu_start_time(mlxn_command_buffer_t cb) {
  return cb && mlxn_command_buffer_status(cb) >= MLXN_CB_STATUS_COMPLETED ? cb->start : 0.0;
}
double mlxn_command_buffer_gpu_end_time(mlxn_command_buffer_t cb) {
  return cb && mlxn_command_buffer_status(cb) >= MLXN_CB_STATUS_COMPLETED ? cb->end : 0.0;
}

}  // extern "C"

namespace {
int32_t encode_event(mlxn_command_buffer_t cb, mlxn_event_t ev, uint64_t value,
                     cpu::Command::Kind kind, const char *fn) {
  if (!cb || !ev) return fail(MLXN_ERR_INVALID_ARGUMENT, std::string(fn) + ": null handle");
  if (cb->status.load() != MLXN_CB_STATUS_NOT_ENQUEUED)
    return fail(MLXN_ERR_INVALID_ARGUMENT, std::string(fn) + ": command buffer" +
                                               cpu::quoted(cb->label) + " was already committed");
  if (cb->encoder.open)
    return fail(MLXN_ERR_INVALID_ARGUMENT,
                std::string(fn) + ": end the compute encoder before encoding an event");
  cb->hold(ev);
  cpu::Command *c = cb->append(0, 0);
  c->kind = kind;
  c->ev.event = ev;
  c->ev.value = value;
  return MLXN_OK;
}
}  // namespace

extern "C" {

int32_t mlxn_command_buffer_encode_signal_event(mlxn_command_buffer_t cb, mlxn_event_t ev,
                                                uint64_t value) {
  return encode_event(cb, ev, value, cpu::Command::SignalEvent,
                      "mlxn_command_buffer_encode_signal_event");
}

int32_t mlxn_command_buffer_encode_wait_event(mlxn_command_buffer_t cb, mlxn_event_t ev,
                                              uint64_t value) {
  return encode_event(cb, ev, value, cpu::Command::WaitEvent,
                      "mlxn_command_buffer_encode_wait_event");
}

void mlxn_command_buffer_free(mlxn_command_buffer_t cb) {
  if (cb) cb->release();
}

}  // extern "C"

// A zeroed record with room for its bindings, linked at the end of the command list.
cpu::Command *mlxn_command_buffer::append(size_t n_bindings, size_t n_tg) {
  size_t bytes = sizeof(cpu::Command) + n_bindings * sizeof(cpu::Binding) +
                 n_tg * sizeof(cpu::ThreadgroupLength);
  auto *c = static_cast<cpu::Command *>(stream.alloc(bytes));
  memset(c, 0, sizeof *c);
  (last ? last->next : first) = c;
  last = c;
  return c;
}

void mlxn_command_buffer::misuse(const std::string &what) {
  if (failed) return;
  failed = true;
  std::string enc = encoder.label.empty() ? "" : " (encoder '" + encoder.label + "')";
  error = "command buffer" + cpu::quoted(label) + enc + ": " + what;
}

// ───────────────────────────── compute encoders ─────────────────────────────
// Encoder calls are void, as Metal's are: misuse marks the command buffer instead of returning.

namespace {

void set_pipeline(mlxn_compute_encoder_t enc, mlxn_pipeline_t p) {
  if (!p) return enc->cb->misuse("set_pipeline with a null pipeline");
  if (enc->pipeline != p) enc->cb->hold(p);
  enc->pipeline = p;
}

void set_buffer(mlxn_compute_encoder_t enc, mlxn_buffer_t b, uint64_t offset, uint32_t index) {
  if (index >= MSLCPU_MAX_BINDINGS)
    return enc->cb->misuse("buffer binding index " + std::to_string(index) + " is out of range (0..30)");
  if (!b) return enc->cb->misuse("set_buffer with a null buffer at index " + std::to_string(index));
  if (offset >= b->length)
    return enc->cb->misuse("buffer offset " + std::to_string(offset) + " at index " +
                           std::to_string(index) + " is not below the buffer length " +
                           std::to_string(b->length));
  if (!(enc->bound >> index & 1) || enc->owners[index] != b) enc->cb->hold(b);
  enc->owners[index] = b;
  enc->slots[index] = {index, static_cast<char *>(b->data), offset, b->length};
  enc->mark(enc->bound, enc->n_bound, index);
}

void set_bytes(mlxn_compute_encoder_t enc, const void *bytes, uint64_t length, uint32_t index) {
  if (index >= MSLCPU_MAX_BINDINGS)
    return enc->cb->misuse("set_bytes index " + std::to_string(index) + " is out of range (0..30)");
  if (length == 0 || length > cpu::kMaxInlineBytes || !bytes)
    return enc->cb->misuse("set_bytes at index " + std::to_string(index) + " with " +
                           std::to_string(length) + " bytes (must be 1.." + std::to_string(cpu::kMaxInlineBytes) + ", non-null)");
  char *copy = static_cast<char *>(enc->cb->stream.alloc(length));
  memcpy(copy, bytes, length);
  enc->owners[index] = nullptr;
  enc->slots[index] = {index, copy, 0, length};
  enc->mark(enc->bound, enc->n_bound, index);
}

void set_threadgroup_memory(mlxn_compute_encoder_t enc, uint64_t length, uint32_t index) {
  if (index >= MSLCPU_MAX_BINDINGS)
    return enc->cb->misuse("threadgroup memory index " + std::to_string(index) + " is out of range (0..30)");
  if (length > cpu::kMaxThreadgroupMemory)
    return enc->cb->misuse("threadgroup memory length " + std::to_string(length) +
                           " exceeds 32768 bytes");
  enc->tg_lengths[index] = length;
  enc->mark(enc->tg_bound, enc->n_tg_bound, index);
}

void dispatch(mlxn_compute_encoder_t enc, cpu::Command::Kind kind, const uint32_t size[3],
              const uint32_t group[3]) {
  mlxn_command_buffer *cb = enc->cb;
  if (!enc->pipeline) return cb->misuse("dispatch without a pipeline");
  if (uint32_t missing = enc->pipeline->buffers & ~enc->bound)
    return cb->misuse("kernel '" + std::string(enc->pipeline->kernel->name) +
                      "' declares [[buffer(" + std::to_string(__builtin_ctz(missing)) +
                      ")]] but the dispatch binds nothing there");
  uint64_t threads = uint64_t(group[0]) * group[1] * group[2];
  if (threads == 0 || threads > enc->pipeline->max_threads)
    return cb->misuse("threadgroup size " + std::to_string(group[0]) + "x" + std::to_string(group[1]) +
                      "x" + std::to_string(group[2]) + " must have 1.." +
                      std::to_string(enc->pipeline->max_threads) + " threads for kernel '" +
                      enc->pipeline->kernel->name + "'");
  uint64_t tg_bytes = enc->pipeline->static_tg;
  for (uint32_t m = enc->tg_bound; m; m &= m - 1) tg_bytes += enc->tg_lengths[__builtin_ctz(m)];
  if (tg_bytes > cpu::kMaxThreadgroupMemory)
    return cb->misuse("kernel '" + std::string(enc->pipeline->kernel->name) + "' needs " +
                      std::to_string(tg_bytes) + " bytes of threadgroup memory (" +
                      std::to_string(enc->pipeline->static_tg) + " declared in the kernel); the limit is 32768");
  if (size[0] == 0 || size[1] == 0 || size[2] == 0)
    return cb->misuse("dispatch grid " + std::to_string(size[0]) + "x" + std::to_string(size[1]) +
                      "x" + std::to_string(size[2]) + " is empty");
  if (kind == cpu::Command::DispatchThreadgroups)
    for (int d = 0; d < 3; ++d)
      if (uint64_t(size[d]) * group[d] > UINT32_MAX)
        return cb->misuse("dispatch grid exceeds 2^32-1 threads in one dimension");
  cpu::Command *c = cb->append(enc->n_bound, enc->n_tg_bound);
  c->kind = kind;
  memcpy(c->size, size, sizeof c->size);
  memcpy(c->group, group, sizeof c->group);
  c->pipeline = enc->pipeline;
  cpu::Binding *b = c->bindings();
  for (uint32_t m = enc->bound; m; m &= m - 1) *b++ = enc->slots[__builtin_ctz(m)];
  c->n_bindings = uint8_t(enc->n_bound);
  cpu::ThreadgroupLength *t = c->tg();
  for (uint32_t m = enc->tg_bound; m; m &= m - 1) {
    uint32_t i = uint32_t(__builtin_ctz(m));
    *t++ = {i, enc->tg_lengths[i]};
  }
  c->n_tg = uint8_t(enc->n_tg_bound);
}

bool usable(mlxn_compute_encoder_t enc) { return enc && enc->open; }

}  // namespace

extern "C" {

int32_t mlxn_compute_encoder_new(mlxn_command_buffer_t cb, mlxn_compute_encoder_t *out) {
  if (!cb || !out) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_compute_encoder_new: null handle");
  if (cb->status.load() != MLXN_CB_STATUS_NOT_ENQUEUED)
    return fail(MLXN_ERR_INVALID_ARGUMENT,
                "mlxn_compute_encoder_new: command buffer" + cpu::quoted(cb->label) + " was already committed");
  if (cb->encoder.open) {
    cb->misuse("a second compute encoder was opened while one was open");
    return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_compute_encoder_new: command buffer" +
                                               cpu::quoted(cb->label) + " already has an open encoder");
  }
  mlxn_compute_encoder &e = cb->encoder;
  e.open = true;
  e.label.clear();
  e.pipeline = nullptr;
  e.bound = e.tg_bound = e.n_bound = e.n_tg_bound = 0;
  *out = &e;
  return MLXN_OK;
}

void mlxn_compute_encoder_set_label(mlxn_compute_encoder_t enc, const char *label) {
  if (usable(enc)) enc->label = label ? label : "";
}

void mlxn_compute_encoder_set_pipeline(mlxn_compute_encoder_t enc, mlxn_pipeline_t p) {
  if (usable(enc)) set_pipeline(enc, p);
}

void mlxn_compute_encoder_set_buffer(mlxn_compute_encoder_t enc, mlxn_buffer_t b, uint64_t offset,
                                     uint32_t index) {
  if (usable(enc)) set_buffer(enc, b, offset, index);
}

void mlxn_compute_encoder_set_bytes(mlxn_compute_encoder_t enc, const void *bytes, uint64_t length,
                                    uint32_t index) {
  if (usable(enc)) set_bytes(enc, bytes, length, index);
}

void mlxn_compute_encoder_set_threadgroup_memory_length(mlxn_compute_encoder_t enc, uint64_t length,
                                                        uint32_t index) {
  if (usable(enc)) set_threadgroup_memory(enc, length, index);
}

void mlxn_compute_encoder_dispatch_threads(mlxn_compute_encoder_t enc, uint32_t gx, uint32_t gy,
                                           uint32_t gz, uint32_t tx, uint32_t ty, uint32_t tz) {
  const uint32_t size[3] = {gx, gy, gz}, group[3] = {tx, ty, tz};
  if (usable(enc)) dispatch(enc, cpu::Command::DispatchThreads, size, group);
}

void mlxn_compute_encoder_dispatch_threadgroups(mlxn_compute_encoder_t enc, uint32_t gx,
                                                uint32_t gy, uint32_t gz, uint32_t tx,
                                                uint32_t ty, uint32_t tz) {
  const uint32_t size[3] = {gx, gy, gz}, group[3] = {tx, ty, tz};
  if (usable(enc)) dispatch(enc, cpu::Command::DispatchThreadgroups, size, group);
}

// Record layout and the checked reader: mlxn_packed.h. Nothing is applied unless the whole record
// is well formed, so a bad record changes no binding.
void mlxn_compute_encoder_dispatch_packed(mlxn_compute_encoder_t enc, const uint32_t *r,
                                          uint64_t record_bytes) {
  if (!usable(enc)) return;
  mlxn_packed_reader rd;
  if (const char *problem = mlxn_packed_open(&rd, r, record_bytes))
    return enc->cb->misuse("malformed packed dispatch record (" + std::to_string(record_bytes) +
                           " bytes): " + problem);
  set_pipeline(enc, rd.pipeline);
  for (uint32_t i = 0; i < rd.n_buffers; ++i) {
    mlxn_packed_buffer b = mlxn_packed_buffer_at(&rd, i);
    set_buffer(enc, b.buffer, b.offset, b.index);
  }
  for (uint32_t i = 0; i < rd.n_threadgroup_memory; ++i) {
    mlxn_packed_threadgroup_memory t = mlxn_packed_threadgroup_memory_at(&rd, i);
    set_threadgroup_memory(enc, t.length, t.index);
  }
  for (uint32_t i = 0; i < rd.n_inline; ++i) {
    mlxn_packed_inline in = mlxn_packed_next_inline(&rd);
    set_bytes(enc, in.bytes, in.length, in.index);
  }
  dispatch(enc, rd.kind == MLXN_PACKED_DISPATCH_THREADS ? cpu::Command::DispatchThreads
                                                         : cpu::Command::DispatchThreadgroups,
           rd.grid, rd.group);
}

void mlxn_compute_encoder_memory_barrier(mlxn_compute_encoder_t enc) {
  if (usable(enc)) enc->cb->append(0, 0)->kind = cpu::Command::Barrier;
}

void mlxn_compute_encoder_end(mlxn_compute_encoder_t enc) {
  if (!usable(enc)) return;
  // Metal orders the work of successive encoders on tracked resources: end a concurrent group.
  enc->cb->append(0, 0)->kind = cpu::Command::Barrier;
  enc->open = false;
  enc->pipeline = nullptr;
  enc->bound = enc->tg_bound = enc->n_bound = enc->n_tg_bound = 0;
}

// ───────────────────────────── shared events ─────────────────────────────

int32_t mlxn_event_new(mlxn_device_t dev, mlxn_event_t *out) {
  if (!dev || !out) return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_event_new: null device or out");
  *out = new mlxn_event;
  return MLXN_OK;
}

uint64_t mlxn_event_signaled_value(mlxn_event_t ev) {
  return ev ? ev->value.load(std::memory_order_acquire) : 0;
}

void mlxn_event_free(mlxn_event_t ev) {
  if (ev) ev->release();
}

// ───────────────────────────── residency sets ─────────────────────────────
// Nothing to make resident on the cpu backend; handles exist so the TS core has one code path.

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
  return fail(MLXN_ERR_UNSUPPORTED, "GPU capture needs the Metal backend; the cpu backend cannot capture");
}

int32_t mlxn_capture_end(mlxn_device_t) {
  return fail(MLXN_ERR_UNSUPPORTED, "GPU capture needs the Metal backend; the cpu backend cannot capture");
}

}  // extern "C"
