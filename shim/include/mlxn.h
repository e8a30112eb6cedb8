/*
 * mlxn.h — the one C ABI shared by every bun-mlx-native backend.
 *
 * Implemented by shim/metal (Objective-C over Metal, libmlxn_metal.dylib), shim/cpu
 * (C++ with the msl-cpu kernel runtime, libmlxn_cpu.so) and shim/cuda (C++ over the CUDA driver
 * API opened with dlopen, libmlxn_cuda.so). src/ffi/symbols.ts declares the same surface for
 * bun:ffi and src/ffi/abi.ts its constants; tests/abi_parity.test.ts keeps them in step, values
 * included. The packed dispatch record is defined in mlxn_packed.h.
 *
 * Rules that keep bun:ffi safe and fast:
 *   - Scalars and pointers only: no struct passed by value, no callback into JS.
 *   - Handles are opaque pointers. Every `_new` has a matching `_free` (or, for the compute
 *     encoder, `_end`). Freeing a command buffer that is still executing only drops the
 *     caller's reference: the backend keeps it (and every buffer bound to it) alive until it
 *     completes, like Metal's retained-reference command buffers.
 *   - Every fallible call returns an int32 status (MLXN_OK = 0). On failure the message is
 *     pulled with mlxn_last_error(), which is per calling thread and valid until the next
 *     failing call on that thread.
 *   - Memory the GPU reads or writes is allocated here (mlxn_buffer_new) and exposed to JS
 *     zero-copy through mlxn_buffer_contents. Pointers passed *in* (bytes, packed records,
 *     strings) are read during the call only and never retained.
 *   - The shim holds no policy: no counters, caches or decisions beyond what one Metal call
 *     (or its cpu equivalent) needs. Validation of shapes and ranges happens in TS first.
 *
 * Calls on encoders and command buffers that Metal declares `void` are `void` here too; a
 * misuse the backend can still detect (binding index out of range, dispatch without a
 * pipeline) marks the command buffer so that it completes with MLXN_CB_STATUS_ERROR and a
 * message, instead of crashing.
 */
#ifndef MLXN_H
#define MLXN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MLXN_ABI_VERSION 1u

/* Limits every backend shares, as Metal fixes them: a compute argument table has 31 buffer slots,
 * and setBytes takes at most 4 KB. mlxn_device_limit reports them too
 * (MLXN_LIMIT_MAX_BUFFER_BINDINGS, MLXN_LIMIT_MAX_INLINE_BYTES). */
#define MLXN_MAX_BUFFER_BINDINGS 31u
#define MLXN_MAX_INLINE_BYTES 4095u

/* ───────────────────────────── status and errors ───────────────────────────── */

enum {
  MLXN_OK = 0,
  MLXN_ERR_INVALID_ARGUMENT = 1, /* a null handle, zero length, index out of range */
  MLXN_ERR_OUT_OF_MEMORY = 2,    /* allocation failed */
  MLXN_ERR_COMPILE = 3,          /* kernel source failed to compile; message has the log */
  MLXN_ERR_NOT_FOUND = 4,        /* no function of that name in the library */
  MLXN_ERR_COMMAND_BUFFER = 5,   /* a command buffer failed; message has its error text */
  MLXN_ERR_UNSUPPORTED = 6,      /* the backend cannot do this on this system */
  MLXN_ERR_DEVICE = 7,           /* no device, or the device failed */
  MLXN_ERR_INTERNAL = 8
};

/* Version of this header the library was built from (MLXN_ABI_VERSION). */
uint32_t mlxn_abi_version(void);
/* "metal", "cpu" or "cuda": which backend this library implements. */
const char *mlxn_backend_name(void);
/* Message of the last failing call on this thread; "" when there was none. */
const char *mlxn_last_error(void);

/* ───────────────────────────── handles ───────────────────────────── */

typedef struct mlxn_device *mlxn_device_t;                   /* MTLDevice + one MTLCommandQueue */
typedef struct mlxn_buffer *mlxn_buffer_t;                   /* MTLBuffer, shared storage */
typedef struct mlxn_library *mlxn_library_t;                 /* MTLLibrary */
typedef struct mlxn_pipeline *mlxn_pipeline_t;               /* MTLComputePipelineState */
typedef struct mlxn_command_buffer *mlxn_command_buffer_t;   /* MTLCommandBuffer */
typedef struct mlxn_compute_encoder *mlxn_compute_encoder_t; /* MTLComputeCommandEncoder */
typedef struct mlxn_event *mlxn_event_t;                     /* MTLSharedEvent */
typedef struct mlxn_residency_set *mlxn_residency_set_t;     /* MTLResidencySet */

/* ───────────────────────────── device ───────────────────────────── */

/* Limits and capabilities, read with mlxn_device_limit. */
enum {
  MLXN_LIMIT_MAX_BUFFER_LENGTH = 0,            /* bytes in one buffer */
  MLXN_LIMIT_MAX_THREADS_PER_THREADGROUP = 1,  /* most threads in one threadgroup (1024) */
  MLXN_LIMIT_MAX_THREADGROUP_MEMORY = 2,       /* bytes of threadgroup memory per group */
  MLXN_LIMIT_RECOMMENDED_WORKING_SET = 3,      /* bytes the device can use comfortably */
  MLXN_LIMIT_SIMD_WIDTH = 4,                   /* threads per SIMD group (32) */
  MLXN_LIMIT_HAS_RESIDENCY_SETS = 5,           /* 1 when residency sets do real work */
  MLXN_LIMIT_HAS_UNIFIED_MEMORY = 6,           /* 1 when contents is the memory the GPU reads */
  MLXN_LIMIT_MAX_INLINE_BYTES = 7,             /* MLXN_MAX_INLINE_BYTES */
  MLXN_LIMIT_MAX_BUFFER_BINDINGS = 8,          /* MLXN_MAX_BUFFER_BINDINGS */
  MLXN_LIMIT_WORKER_THREADS = 9,               /* cpu: worker threads; metal: 0 */
  /* 1 when a threadgroup's threads run in parallel hardware lanes (a GPU); 0 when they take turns
   * on one core (msl-cpu fibers), where many threads per group and simdgroup_matrix tiles cost
   * more than they save. Ops choose kernel shapes by it. */
  MLXN_LIMIT_LANES_IN_HARDWARE = 10
};

/* The system default device with one command queue. */
int32_t mlxn_device_open(mlxn_device_t *out);
void mlxn_device_free(mlxn_device_t device);
/* Human-readable name, e.g. "Apple M3 Max" or "cpu (msl-cpu, 16 threads)". */
const char *mlxn_device_name(mlxn_device_t device);
/* A limit or capability (MLXN_LIMIT_*); 0 for an unknown key. */
uint64_t mlxn_device_limit(mlxn_device_t device, uint32_t key);
/*
 * Backend option as key/value text. Each backend documents its keys and returns OK for keys it
 * does not know, so the TS core never branches on the backend to configure it.
 *   cpu:   "msl_cpu.cache_dir" (compiled-kernel cache), "msl_cpu.cxx" (compiler),
 *          "msl_cpu.sanitize" ("1" = bounds-checked kernels), "msl_cpu.threads" (workers)
 *   metal: "capture.path" (.gputrace destination for mlxn_capture_begin)
 *   cuda:  "cuda.cache_dir" (PTX cache), "cuda.cxx" (clang++ that compiles kernels to PTX)
 * Unknown values for known keys are MLXN_ERR_INVALID_ARGUMENT.
 */
int32_t mlxn_device_set_option(mlxn_device_t device, const char *key, const char *value);

/* ───────────────────────────── buffers ───────────────────────────── */

/* A zero-filled shared-storage buffer of `length` bytes (length > 0). */
int32_t mlxn_buffer_new(mlxn_device_t device, uint64_t length, mlxn_buffer_t *out);
/* CPU address of the contents, valid until mlxn_buffer_free. */
void *mlxn_buffer_contents(mlxn_buffer_t buffer);
uint64_t mlxn_buffer_length(mlxn_buffer_t buffer);
void mlxn_buffer_free(mlxn_buffer_t buffer);

/* ───────────────────────────── libraries and pipelines ───────────────────────────── */

/* Compile MSL source (`source_length` bytes, need not be NUL-terminated). `label` names the
 * library in error messages and tools (e.g. "kernels/elementwise.metal"). */
int32_t mlxn_library_new_source(mlxn_device_t device, const char *source, uint64_t source_length,
                                const char *label, mlxn_library_t *out);
void mlxn_library_free(mlxn_library_t library);

/* Function-constant types for mlxn_pipeline_new. */
enum {
  MLXN_CONSTANT_BOOL = 0,  /* value 0 or 1 */
  MLXN_CONSTANT_INT = 1,   /* int32 two's complement */
  MLXN_CONSTANT_UINT = 2,  /* uint32 */
  MLXN_CONSTANT_FLOAT = 3  /* IEEE float bits */
};

/*
 * Pipeline for `function_name` specialised with function constants. `constants` holds
 * `n_constants` triplets of uint32: [index, MLXN_CONSTANT_* type, 32-bit value]. `label` names
 * the pipeline (e.g. "my_kernel|300:b1").
 */
int32_t mlxn_pipeline_new(mlxn_library_t library, const char *function_name,
                          const uint32_t *constants, uint32_t n_constants, const char *label,
                          mlxn_pipeline_t *out);
uint32_t mlxn_pipeline_thread_execution_width(mlxn_pipeline_t pipeline);
uint32_t mlxn_pipeline_max_total_threads_per_threadgroup(mlxn_pipeline_t pipeline);
/* Bytes of threadgroup memory the kernel declares statically (block-scope threadgroup arrays). */
uint64_t mlxn_pipeline_static_threadgroup_memory_length(mlxn_pipeline_t pipeline);
void mlxn_pipeline_free(mlxn_pipeline_t pipeline);

/* ───────────────────────────── command buffers ───────────────────────────── */

/* Status values are MTLCommandBufferStatus's. */
enum {
  MLXN_CB_STATUS_NOT_ENQUEUED = 0,
  MLXN_CB_STATUS_ENQUEUED = 1,
  MLXN_CB_STATUS_COMMITTED = 2,
  MLXN_CB_STATUS_SCHEDULED = 3,
  MLXN_CB_STATUS_COMPLETED = 4,
  MLXN_CB_STATUS_ERROR = 5
};

/* A new command buffer on the device's queue, retaining the resources bound to it. */
int32_t mlxn_command_buffer_new(mlxn_device_t device, mlxn_command_buffer_t *out);
void mlxn_command_buffer_set_label(mlxn_command_buffer_t cb, const char *label);
/* The label, "" when unset. */
const char *mlxn_command_buffer_label(mlxn_command_buffer_t cb);
/* Submit. Returns at once; the queue runs command buffers in commit order. A compute encoder
 * still open on it is an error (MLXN_ERR_INVALID_ARGUMENT): end it first. */
int32_t mlxn_command_buffer_commit(mlxn_command_buffer_t cb);
/* Block until completed (or failed). Returns MLXN_OK whatever the outcome: read the status.
 * A command buffer that was never committed would never complete: MLXN_ERR_INVALID_ARGUMENT. */
int32_t mlxn_command_buffer_wait(mlxn_command_buffer_t cb);
int32_t mlxn_command_buffer_status(mlxn_command_buffer_t cb);
/* Error text of a failed command buffer, "" otherwise. */
const char *mlxn_command_buffer_error(mlxn_command_buffer_t cb);
/* Host time in seconds when execution started / ended; 0 until completed. */
double mlxn_command_buffer_gpu_start_time(mlxn_command_buffer_t cb);
double mlxn_command_buffer_gpu_end_time(mlxn_command_buffer_t cb);
/* Signal `event` to `value` once everything encoded before this call has completed. */
int32_t mlxn_command_buffer_encode_signal_event(mlxn_command_buffer_t cb, mlxn_event_t event,
                                                uint64_t value);
/* Work encoded after this call starts only once `event` reaches `value`. */
int32_t mlxn_command_buffer_encode_wait_event(mlxn_command_buffer_t cb, mlxn_event_t event,
                                              uint64_t value);
void mlxn_command_buffer_free(mlxn_command_buffer_t cb);

/* ───────────────────────────── compute encoders ───────────────────────────── */

/* Open a compute encoder with concurrent dispatch type (dispatches may overlap unless separated
 * by mlxn_compute_encoder_memory_barrier). One open encoder per command buffer at a time. */
int32_t mlxn_compute_encoder_new(mlxn_command_buffer_t cb, mlxn_compute_encoder_t *out);
void mlxn_compute_encoder_set_label(mlxn_compute_encoder_t enc, const char *label);
void mlxn_compute_encoder_set_pipeline(mlxn_compute_encoder_t enc, mlxn_pipeline_t pipeline);
void mlxn_compute_encoder_set_buffer(mlxn_compute_encoder_t enc, mlxn_buffer_t buffer,
                                     uint64_t offset, uint32_t index);
/* Inline constant data (length <= MLXN_LIMIT_MAX_INLINE_BYTES), copied during the call. */
void mlxn_compute_encoder_set_bytes(mlxn_compute_encoder_t enc, const void *bytes, uint64_t length,
                                    uint32_t index);
void mlxn_compute_encoder_set_threadgroup_memory_length(mlxn_compute_encoder_t enc,
                                                        uint64_t length, uint32_t index);
/* Grid given in threads; edge threadgroups may be smaller. */
void mlxn_compute_encoder_dispatch_threads(mlxn_compute_encoder_t enc, uint32_t grid_x,
                                           uint32_t grid_y, uint32_t grid_z, uint32_t group_x,
                                           uint32_t group_y, uint32_t group_z);
/* Grid given in threadgroups; every threadgroup is full size. */
void mlxn_compute_encoder_dispatch_threadgroups(mlxn_compute_encoder_t enc, uint32_t groups_x,
                                                uint32_t groups_y, uint32_t groups_z,
                                                uint32_t group_x, uint32_t group_y,
                                                uint32_t group_z);
/*
 * One whole dispatch from a packed record of little-endian uint32 words, read during the call
 * (the TS core's hot path: one FFI call per dispatch instead of five or more). The layout, and
 * the checked reader backends decode it with, are in mlxn_packed.h. Equivalent to set_pipeline,
 * the set_* calls and one dispatch_* call; a malformed record changes nothing and fails the
 * command buffer.
 */
void mlxn_compute_encoder_dispatch_packed(mlxn_compute_encoder_t enc, const uint32_t *record,
                                          uint64_t record_bytes);
/* memoryBarrierWithScope:MTLBarrierScopeBuffers. */
void mlxn_compute_encoder_memory_barrier(mlxn_compute_encoder_t enc);
/* endEncoding, and release the handle: it is invalid afterwards. */
void mlxn_compute_encoder_end(mlxn_compute_encoder_t enc);

/* ───────────────────────────── shared events ───────────────────────────── */

int32_t mlxn_event_new(mlxn_device_t device, mlxn_event_t *out);
uint64_t mlxn_event_signaled_value(mlxn_event_t event);
void mlxn_event_free(mlxn_event_t event);

/* ───────────────────────────── residency sets ───────────────────────────── */
/* Backends without residency sets (cpu, cuda; Metal before macOS 15) return OK and do nothing. */

int32_t mlxn_residency_set_new(mlxn_device_t device, const char *label,
                               mlxn_residency_set_t *out);
int32_t mlxn_residency_set_add(mlxn_residency_set_t set, mlxn_buffer_t buffer);
int32_t mlxn_residency_set_remove(mlxn_residency_set_t set, mlxn_buffer_t buffer);
/* Apply the staged adds and removes (and request residency). */
int32_t mlxn_residency_set_commit(mlxn_residency_set_t set);
/* Attach the set to the device's command queue. */
int32_t mlxn_residency_set_attach(mlxn_residency_set_t set, mlxn_device_t device);
void mlxn_residency_set_free(mlxn_residency_set_t set);

/* ───────────────────────────── capture ───────────────────────────── */

/* Programmatic GPU capture of the device's queue into the "capture.path" option's file.
 * cpu and cuda: MLXN_ERR_UNSUPPORTED. */
int32_t mlxn_capture_begin(mlxn_device_t device);
int32_t mlxn_capture_end(mlxn_device_t device);

#ifdef __cplusplus
}
#endif

#endif /* MLXN_H */
