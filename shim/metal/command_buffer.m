/*
 * command_buffer.m — mlxn_command_buffer_t: an MTLCommandBuffer with retained references.
 *
 * Retained references are what the ABI promises (bound buffers stay alive until completion).
 * Calls Metal would assert on — committing with an encoder open, committing twice, encoding an
 * event while an encoder is open or after commit, waiting on a buffer never committed — return
 * MLXN_ERR_INVALID_ARGUMENT instead of reaching Metal.
 *
 * Misuse reporting: encoder calls are `void`, so a misuse detected there (see encoder.m) is
 * recorded on the command buffer. Metal's own status cannot be set from outside, and Metal
 * still runs what was encoded; so once the command buffer has completed,
 * mlxn_command_buffer_status reports MLXN_CB_STATUS_ERROR and mlxn_command_buffer_error the
 * first misuse, which lets the TS side fail commitAndWait with that message.
 */
#import "internal.h"

/* ───────────────────────────── MTLCommandBuffer ───────────────────────────── */

@implementation MLXNCommandBuffer
@end

/* Metal asserts when an event is encoded while a compute encoder is open or after commit. */
static int32_t shim_can_encode_event(MLXNCommandBuffer *cb, mlxn_event_t event, const char *where) {
  if (!cb || !event) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"%s: null command buffer or event", where);
  if (cb.encoderOpen)
    return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"%s: a compute encoder is open on this command buffer; end it first", where);
  if (cb.buffer.status != MTLCommandBufferStatusNotEnqueued)
    return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"%s: the command buffer is already committed", where);
  return MLXN_OK;
}

/* The first misuse (it explains whatever the GPU did next), then Metal's own error, if any. */
static NSString *shim_error_text(MLXNCommandBuffer *cb) {
  NSString *metal = cb.buffer.error.localizedDescription;
  if (cb.misuse && metal) return [NSString stringWithFormat:@"%@ (then Metal: %@)", cb.misuse, metal];
  return cb.misuse ?: metal;
}

// -[MTLCommandQueue commandBuffer]
int32_t mlxn_command_buffer_new(mlxn_device_t device, mlxn_command_buffer_t *out) {
  @autoreleasepool {
    @try {
      if (out) *out = NULL;
      if (!device || !out) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"command_buffer_new: null device or out");
      MLXNCommandBuffer *cb = [MLXNCommandBuffer new];
      cb.buffer = [((__bridge MLXNDevice *)device).queue commandBuffer];
      if (!cb.buffer) return shim_fail(MLXN_ERR_DEVICE, @"command_buffer_new: commandBuffer returned nil");
      *out = (__bridge_retained mlxn_command_buffer_t)cb;
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("command_buffer_new", e);
    }
  }
}

// -[MTLCommandBuffer setLabel:], keeping a C copy for mlxn_command_buffer_label
void mlxn_command_buffer_set_label(mlxn_command_buffer_t handle, const char *label) {
  @autoreleasepool {
    MLXNCommandBuffer *cb = (__bridge MLXNCommandBuffer *)handle;
    if (!cb) {
      shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"command_buffer_set_label: null command buffer");
      return;
    }
    NSString *text = shim_string(label);
    @try {
      cb.buffer.label = text;
    } @catch (NSException *e) {
      shim_exception("command_buffer_set_label", e);
    }
    cb.labelText = text ? shim_cstring(text) : nil;
  }
}

// No Metal call: the C copy of -[MTLCommandBuffer label] kept by set_label.
const char *mlxn_command_buffer_label(mlxn_command_buffer_t handle) {
  @autoreleasepool {
    MLXNCommandBuffer *cb = (__bridge MLXNCommandBuffer *)handle;
    return cb.labelText ? cb.labelText.bytes : "";
  }
}

// -[MTLCommandBuffer commit]
int32_t mlxn_command_buffer_commit(mlxn_command_buffer_t handle) {
  @autoreleasepool {
    @try {
      MLXNCommandBuffer *cb = (__bridge MLXNCommandBuffer *)handle;
      if (!cb) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"command_buffer_commit: null command buffer");
      if (cb.buffer.status != MTLCommandBufferStatusNotEnqueued)
        return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"command_buffer_commit: already committed");
      if (cb.encoderOpen) {
        shim_misuse(cb, @"command_buffer_commit: a compute encoder is still open; end it before committing");
        return MLXN_ERR_INVALID_ARGUMENT;
      }
      [cb.buffer commit];
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("command_buffer_commit", e);
    }
  }
}

// -[MTLCommandBuffer waitUntilCompleted]
int32_t mlxn_command_buffer_wait(mlxn_command_buffer_t handle) {
  @autoreleasepool {
    @try {
      MLXNCommandBuffer *cb = (__bridge MLXNCommandBuffer *)handle;
      if (!cb) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"command_buffer_wait: null command buffer");
      // A command buffer that was never committed would never complete: fail instead of hanging.
      if (cb.buffer.status == MTLCommandBufferStatusNotEnqueued)
        return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"command_buffer_wait: the command buffer was never committed");
      [cb.buffer waitUntilCompleted];
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("command_buffer_wait", e);
    }
  }
}

// -[MTLCommandBuffer status]; a recorded misuse turns Completed into Error (see the file comment).
int32_t mlxn_command_buffer_status(mlxn_command_buffer_t handle) {
  @autoreleasepool {
    MLXNCommandBuffer *cb = (__bridge MLXNCommandBuffer *)handle;
    if (!cb) {
      shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"command_buffer_status: null command buffer");
      return MLXN_CB_STATUS_ERROR;
    }
    MTLCommandBufferStatus status = cb.buffer.status;
    if (status == MTLCommandBufferStatusCompleted && cb.misuse) return MLXN_CB_STATUS_ERROR;
    return (int32_t)status;
  }
}

// -[MTLCommandBuffer error].localizedDescription, after the first recorded misuse
const char *mlxn_command_buffer_error(mlxn_command_buffer_t handle) {
  @autoreleasepool {
    @try {
      MLXNCommandBuffer *cb = (__bridge MLXNCommandBuffer *)handle;
      if (!cb || mlxn_command_buffer_status(handle) != MLXN_CB_STATUS_ERROR) return "";
      // Built once: a failed command buffer's error no longer changes, and the pointer stays valid.
      if (!cb.errorText) cb.errorText = shim_cstring(shim_error_text(cb));
      return cb.errorText.bytes;
    } @catch (NSException *e) {
      shim_exception("command_buffer_error", e);
      return "";
    }
  }
}

// -[MTLCommandBuffer GPUStartTime], 0 until the command buffer has completed
double mlxn_command_buffer_gpu_start_time(mlxn_command_buffer_t handle) {
  @autoreleasepool {
    id<MTLCommandBuffer> buffer = ((__bridge MLXNCommandBuffer *)handle).buffer;
    return buffer.status >= MTLCommandBufferStatusCompleted ? buffer.GPUStartTime : 0;
  }
}

// -[MTLCommandBuffer GPUEndTime], 0 until the command buffer has completed
double mlxn_command_buffer_gpu_end_time(mlxn_command_buffer_t handle) {
  @autoreleasepool {
    id<MTLCommandBuffer> buffer = ((__bridge MLXNCommandBuffer *)handle).buffer;
    return buffer.status >= MTLCommandBufferStatusCompleted ? buffer.GPUEndTime : 0;
  }
}

// -[MTLCommandBuffer encodeSignalEvent:value:]
int32_t mlxn_command_buffer_encode_signal_event(mlxn_command_buffer_t handle, mlxn_event_t event,
                                                uint64_t value) {
  @autoreleasepool {
    @try {
      MLXNCommandBuffer *cb = (__bridge MLXNCommandBuffer *)handle;
      int32_t status = shim_can_encode_event(cb, event, "command_buffer_encode_signal_event");
      if (status != MLXN_OK) return status;
      [cb.buffer encodeSignalEvent:(__bridge id<MTLSharedEvent>)event value:value];
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("command_buffer_encode_signal_event", e);
    }
  }
}

// -[MTLCommandBuffer encodeWaitForEvent:value:]
int32_t mlxn_command_buffer_encode_wait_event(mlxn_command_buffer_t handle, mlxn_event_t event,
                                              uint64_t value) {
  @autoreleasepool {
    @try {
      MLXNCommandBuffer *cb = (__bridge MLXNCommandBuffer *)handle;
      int32_t status = shim_can_encode_event(cb, event, "command_buffer_encode_wait_event");
      if (status != MLXN_OK) return status;
      [cb.buffer encodeWaitForEvent:(__bridge id<MTLSharedEvent>)event value:value];
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("command_buffer_encode_wait_event", e);
    }
  }
}

// Drops the caller's reference; Metal keeps a committed command buffer (and, through its
// retained references, every buffer bound to it) alive until it completes.
void mlxn_command_buffer_free(mlxn_command_buffer_t handle) {
  @autoreleasepool {
    if (handle) CFBridgingRelease(handle);
  }
}
