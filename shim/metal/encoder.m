/*
 * encoder.m — mlxn_compute_encoder_t: one concurrent MTLComputeCommandEncoder on a command buffer.
 *
 * Concurrent dispatch type: dispatches may overlap, and the TS core inserts
 * mlxn_compute_encoder_memory_barrier where one reads what another wrote.
 *
 * These calls are `void` like Metal's, so a misuse Metal would assert on (binding index out of
 * range, oversized inline data, dispatch without a pipeline, with a threadgroup the pipeline
 * cannot run or with an empty grid) is recorded on the command buffer with shim_misuse and the
 * call is skipped; the command buffer then completes as MLXN_CB_STATUS_ERROR with that message
 * (command_buffer.m). An Objective-C exception inside one of them is recorded the same way.
 */
#import "internal.h"

/* ───────────────────────────── MTLComputeCommandEncoder ───────────────────────────── */

@implementation MLXNEncoder
@end

/* The handle as an encoder, or nil with the last error set (a void call has no status). */
static MLXNEncoder *shim_encoder(mlxn_compute_encoder_t handle, const char *where) {
  if (!handle) shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"%s: null compute encoder", where);
  return (__bridge MLXNEncoder *)handle;
}

static void shim_encoder_exception(MLXNEncoder *enc, const char *where, NSException *e) {
  shim_misuse(enc.owner, @"%s: Objective-C exception %@: %@", where, e.name, e.reason);
}

/* The checked setters: each makes one Metal call once the arguments are ones Metal accepts.
 * The single calls and mlxn_compute_encoder_dispatch_packed both go through them. */

static BOOL shim_set_pipeline(MLXNEncoder *enc, mlxn_pipeline_t pipeline) {
  if (!pipeline) return shim_misuse(enc.owner, @"set_pipeline: null pipeline");
  enc.pipeline = (__bridge id<MTLComputePipelineState>)pipeline;
  [enc.encoder setComputePipelineState:enc.pipeline];
  return YES;
}

static BOOL shim_set_buffer(MLXNEncoder *enc, mlxn_buffer_t buffer, uint64_t offset, uint32_t index) {
  id<MTLBuffer> b = (__bridge id<MTLBuffer>)buffer;
  if (index >= SHIM_MAX_BINDINGS)
    return shim_misuse(enc.owner, @"set_buffer: index %u is out of range (0..%u)", index, SHIM_MAX_BINDINGS - 1);
  if (!b) return shim_misuse(enc.owner, @"set_buffer: null buffer at index %u", index);
  if (offset >= b.length)
    return shim_misuse(enc.owner, @"set_buffer: offset %llu is not below the buffer length %llu (index %u)",
                       (unsigned long long)offset, (unsigned long long)b.length, index);
  [enc.encoder setBuffer:b offset:offset atIndex:index];
  return YES;
}

static BOOL shim_set_bytes(MLXNEncoder *enc, const void *bytes, uint64_t length, uint32_t index) {
  if (index >= SHIM_MAX_BINDINGS)
    return shim_misuse(enc.owner, @"set_bytes: index %u is out of range (0..%u)", index, SHIM_MAX_BINDINGS - 1);
  if (!bytes || length == 0 || length > SHIM_MAX_INLINE_BYTES)
    return shim_misuse(enc.owner, @"set_bytes: %llu bytes at index %u; inline data is 1..%u bytes",
                       (unsigned long long)length, index, SHIM_MAX_INLINE_BYTES);
  [enc.encoder setBytes:bytes length:length atIndex:index];
  return YES;
}

static BOOL shim_set_threadgroup_memory(MLXNEncoder *enc, uint64_t length, uint32_t index) {
  NSUInteger max = enc.encoder.device.maxThreadgroupMemoryLength;
  if (index >= SHIM_MAX_BINDINGS)
    return shim_misuse(enc.owner, @"set_threadgroup_memory_length: index %u is out of range (0..%u)", index,
                       SHIM_MAX_BINDINGS - 1);
  if (length > max)
    return shim_misuse(enc.owner, @"set_threadgroup_memory_length: %llu bytes at index %u exceed the device's %lu",
                       (unsigned long long)length, index, (unsigned long)max);
  // Metal wants a multiple of 16 bytes; rounding up gives the kernel at least what it asked for.
  [enc.encoder setThreadgroupMemoryLength:(length + 15) & ~(uint64_t)15 atIndex:index];
  return YES;
}

/* A dispatch needs a pipeline, a threadgroup that pipeline can run and a non-empty grid whose
 * thread positions fit the kernel's 32-bit thread_position_in_grid (the cpu backend refuses the
 * same). After a misuse, later dispatches are skipped as well: their bindings may be the ones
 * that were refused, and the command buffer reports an error either way. */
static BOOL shim_can_dispatch(MLXNEncoder *enc, BOOL threadgroups, const uint32_t grid[3], const uint32_t group[3]) {
  if (enc.owner.misuse) return NO;
  if (!enc.pipeline) return shim_misuse(enc.owner, @"dispatch without a pipeline: set one first");
  uint64_t threads = (uint64_t)group[0] * group[1] * group[2];
  if (threads == 0 || threads > enc.pipeline.maxTotalThreadsPerThreadgroup)
    return shim_misuse(enc.owner, @"dispatch: threadgroup %ux%ux%u; pipeline %@ runs 1..%lu threads per group",
                       group[0], group[1], group[2], enc.pipeline.label, (unsigned long)enc.pipeline.maxTotalThreadsPerThreadgroup);
  if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0)
    return shim_misuse(enc.owner, @"dispatch: grid %ux%ux%u is empty", grid[0], grid[1], grid[2]);
  for (int d = 0; threadgroups && d < 3; d++)
    if ((uint64_t)grid[d] * group[d] > UINT32_MAX)
      return shim_misuse(enc.owner, @"dispatch: grid exceeds 2^32-1 threads in dimension %d", d);
  return YES;
}

/* MLXN_PACKED_DISPATCH_THREADS: dispatchThreads:threadsPerThreadgroup:,
 * MLXN_PACKED_DISPATCH_THREADGROUPS: dispatchThreadgroups:threadsPerThreadgroup:. */
static void shim_dispatch(MLXNEncoder *enc, uint32_t kind, const uint32_t grid[3], const uint32_t group[3]) {
  if (!shim_can_dispatch(enc, kind == MLXN_PACKED_DISPATCH_THREADGROUPS, grid, group)) return;
  MTLSize g = MTLSizeMake(grid[0], grid[1], grid[2]), t = MTLSizeMake(group[0], group[1], group[2]);
  if (kind == MLXN_PACKED_DISPATCH_THREADS) [enc.encoder dispatchThreads:g threadsPerThreadgroup:t];
  else [enc.encoder dispatchThreadgroups:g threadsPerThreadgroup:t];
}

/* Decodes a record with mlxn_packed.h's checked reader: nothing is applied unless the whole record
 * is well formed. Then header, B buffers, T threadgroup lengths, I inline-byte entries, and the
 * dispatch, each through the checked setters above. */
static void shim_dispatch_packed(MLXNEncoder *enc, const uint32_t *r, uint64_t record_bytes) {
  mlxn_packed_reader rd;
  const char *problem = mlxn_packed_open(&rd, r, record_bytes);
  if (problem) {
    shim_misuse(enc.owner, @"dispatch_packed: malformed packed dispatch record (%llu bytes): %s",
                (unsigned long long)record_bytes, problem);
    return;
  }
  shim_set_pipeline(enc, rd.pipeline);
  for (uint32_t i = 0; i < rd.n_buffers; i++) {
    mlxn_packed_buffer b = mlxn_packed_buffer_at(&rd, i);
    shim_set_buffer(enc, b.buffer, b.offset, b.index);
  }
  for (uint32_t i = 0; i < rd.n_threadgroup_memory; i++) {
    mlxn_packed_threadgroup_memory t = mlxn_packed_threadgroup_memory_at(&rd, i);
    shim_set_threadgroup_memory(enc, t.length, t.index);
  }
  for (uint32_t i = 0; i < rd.n_inline; i++) {
    mlxn_packed_inline in = mlxn_packed_next_inline(&rd);
    shim_set_bytes(enc, in.bytes, in.length, in.index);
  }
  shim_dispatch(enc, rd.kind, rd.grid, rd.group);
}

// -[MTLCommandBuffer computeCommandEncoderWithDispatchType:MTLDispatchTypeConcurrent]
int32_t mlxn_compute_encoder_new(mlxn_command_buffer_t handle, mlxn_compute_encoder_t *out) {
  @autoreleasepool {
    @try {
      if (out) *out = NULL;
      MLXNCommandBuffer *cb = (__bridge MLXNCommandBuffer *)handle;
      if (!cb || !out) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"compute_encoder_new: null command buffer or out");
      // Metal asserts on encoding after commit and on a second open encoder; the second also
      // fails the command buffer, since what the caller meant to encode is now unclear.
      if (cb.buffer.status != MTLCommandBufferStatusNotEnqueued)
        return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"compute_encoder_new: the command buffer is already committed");
      if (cb.encoderOpen) {
        shim_misuse(cb, @"compute_encoder_new: a second compute encoder while one is open");
        return MLXN_ERR_INVALID_ARGUMENT;
      }
      MLXNEncoder *enc = [MLXNEncoder new];
      enc.encoder = [cb.buffer computeCommandEncoderWithDispatchType:MTLDispatchTypeConcurrent];
      if (!enc.encoder) return shim_fail(MLXN_ERR_DEVICE, @"compute_encoder_new: Metal returned no encoder");
      enc.owner = cb;
      cb.encoderOpen = YES;
      *out = (__bridge_retained mlxn_compute_encoder_t)enc;
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("compute_encoder_new", e);
    }
  }
}

// -[MTLComputeCommandEncoder setLabel:]
void mlxn_compute_encoder_set_label(mlxn_compute_encoder_t handle, const char *label) {
  @autoreleasepool {
    MLXNEncoder *enc = shim_encoder(handle, "compute_encoder_set_label");
    if (!enc) return;
    @try {
      enc.encoder.label = shim_string(label);
    } @catch (NSException *e) {
      shim_encoder_exception(enc, "compute_encoder_set_label", e);
    }
  }
}

// -[MTLComputeCommandEncoder setComputePipelineState:]
void mlxn_compute_encoder_set_pipeline(mlxn_compute_encoder_t handle, mlxn_pipeline_t pipeline) {
  @autoreleasepool {
    MLXNEncoder *enc = shim_encoder(handle, "compute_encoder_set_pipeline");
    if (!enc) return;
    @try {
      shim_set_pipeline(enc, pipeline);
    } @catch (NSException *e) {
      shim_encoder_exception(enc, "compute_encoder_set_pipeline", e);
    }
  }
}

// -[MTLComputeCommandEncoder setBuffer:offset:atIndex:]
void mlxn_compute_encoder_set_buffer(mlxn_compute_encoder_t handle, mlxn_buffer_t buffer, uint64_t offset,
                                     uint32_t index) {
  @autoreleasepool {
    MLXNEncoder *enc = shim_encoder(handle, "compute_encoder_set_buffer");
    if (!enc) return;
    @try {
      shim_set_buffer(enc, buffer, offset, index);
    } @catch (NSException *e) {
      shim_encoder_exception(enc, "compute_encoder_set_buffer", e);
    }
  }
}

// -[MTLComputeCommandEncoder setBytes:length:atIndex:] (Metal copies the bytes during the call)
void mlxn_compute_encoder_set_bytes(mlxn_compute_encoder_t handle, const void *bytes, uint64_t length,
                                    uint32_t index) {
  @autoreleasepool {
    MLXNEncoder *enc = shim_encoder(handle, "compute_encoder_set_bytes");
    if (!enc) return;
    @try {
      shim_set_bytes(enc, bytes, length, index);
    } @catch (NSException *e) {
      shim_encoder_exception(enc, "compute_encoder_set_bytes", e);
    }
  }
}

// -[MTLComputeCommandEncoder setThreadgroupMemoryLength:atIndex:]
void mlxn_compute_encoder_set_threadgroup_memory_length(mlxn_compute_encoder_t handle, uint64_t length,
                                                        uint32_t index) {
  @autoreleasepool {
    MLXNEncoder *enc = shim_encoder(handle, "compute_encoder_set_threadgroup_memory_length");
    if (!enc) return;
    @try {
      shim_set_threadgroup_memory(enc, length, index);
    } @catch (NSException *e) {
      shim_encoder_exception(enc, "compute_encoder_set_threadgroup_memory_length", e);
    }
  }
}

// -[MTLComputeCommandEncoder dispatchThreads:threadsPerThreadgroup:]
void mlxn_compute_encoder_dispatch_threads(mlxn_compute_encoder_t handle, uint32_t grid_x, uint32_t grid_y,
                                           uint32_t grid_z, uint32_t group_x, uint32_t group_y,
                                           uint32_t group_z) {
  @autoreleasepool {
    MLXNEncoder *enc = shim_encoder(handle, "compute_encoder_dispatch_threads");
    if (!enc) return;
    const uint32_t grid[3] = {grid_x, grid_y, grid_z}, group[3] = {group_x, group_y, group_z};
    @try {
      shim_dispatch(enc, MLXN_PACKED_DISPATCH_THREADS, grid, group);
    } @catch (NSException *e) {
      shim_encoder_exception(enc, "compute_encoder_dispatch_threads", e);
    }
  }
}

// -[MTLComputeCommandEncoder dispatchThreadgroups:threadsPerThreadgroup:]
void mlxn_compute_encoder_dispatch_threadgroups(mlxn_compute_encoder_t handle, uint32_t groups_x,
                                                uint32_t groups_y, uint32_t groups_z, uint32_t group_x,
                                                uint32_t group_y, uint32_t group_z) {
  @autoreleasepool {
    MLXNEncoder *enc = shim_encoder(handle, "compute_encoder_dispatch_threadgroups");
    if (!enc) return;
    const uint32_t grid[3] = {groups_x, groups_y, groups_z}, group[3] = {group_x, group_y, group_z};
    @try {
      shim_dispatch(enc, MLXN_PACKED_DISPATCH_THREADGROUPS, grid, group);
    } @catch (NSException *e) {
      shim_encoder_exception(enc, "compute_encoder_dispatch_threadgroups", e);
    }
  }
}

// setComputePipelineState:, setBuffer:offset:atIndex:, setThreadgroupMemoryLength:atIndex:,
// setBytes:length:atIndex: and one dispatch, decoded from a packed record (layout in mlxn.h)
void mlxn_compute_encoder_dispatch_packed(mlxn_compute_encoder_t handle, const uint32_t *record,
                                          uint64_t record_bytes) {
  @autoreleasepool {
    MLXNEncoder *enc = shim_encoder(handle, "compute_encoder_dispatch_packed");
    if (!enc) return;
    @try {
      shim_dispatch_packed(enc, record, record_bytes);
    } @catch (NSException *e) {
      shim_encoder_exception(enc, "compute_encoder_dispatch_packed", e);
    }
  }
}

// -[MTLComputeCommandEncoder memoryBarrierWithScope:MTLBarrierScopeBuffers]
void mlxn_compute_encoder_memory_barrier(mlxn_compute_encoder_t handle) {
  @autoreleasepool {
    MLXNEncoder *enc = shim_encoder(handle, "compute_encoder_memory_barrier");
    if (!enc) return;
    @try {
      [enc.encoder memoryBarrierWithScope:MTLBarrierScopeBuffers];
    } @catch (NSException *e) {
      shim_encoder_exception(enc, "compute_encoder_memory_barrier", e);
    }
  }
}

// -[MTLComputeCommandEncoder endEncoding], then the handle's reference is released
void mlxn_compute_encoder_end(mlxn_compute_encoder_t handle) {
  @autoreleasepool {
    if (!shim_encoder(handle, "compute_encoder_end")) return;
    MLXNEncoder *enc = (__bridge_transfer MLXNEncoder *)handle;
    @try {
      [enc.encoder endEncoding];
    } @catch (NSException *e) {
      shim_encoder_exception(enc, "compute_encoder_end", e);
    }
    enc.owner.encoderOpen = NO;
  }
}
