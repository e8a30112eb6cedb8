/*
 * buffer.m — mlxn_buffer_t: an MTLBuffer in shared storage, the handle being the buffer itself.
 *
 * Shared storage on unified memory means `contents` is the very memory the GPU reads, so JS
 * views it zero-copy. Reuse and limits are the TS pool's business, not this file's.
 */
#import "internal.h"

#include <string.h>

/* ───────────────────────────── MTLBuffer ───────────────────────────── */

// -[MTLDevice newBufferWithLength:options:] with MTLResourceStorageModeShared
int32_t mlxn_buffer_new(mlxn_device_t device, uint64_t length, mlxn_buffer_t *out) {
  @autoreleasepool {
    @try {
      if (out) *out = NULL;
      if (!device || !out || length == 0)
        return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"buffer_new: null device or out, or zero length");
      id<MTLDevice> d = ((__bridge MLXNDevice *)device).device;
      // Checked first so that the message names the limit, not just "allocation failed".
      if (length > d.maxBufferLength)
        return shim_fail(MLXN_ERR_OUT_OF_MEMORY, @"buffer_new: %llu bytes exceeds maxBufferLength (%llu)",
                         (unsigned long long)length, (unsigned long long)d.maxBufferLength);
      id<MTLBuffer> buffer = [d newBufferWithLength:length options:MTLResourceStorageModeShared];
      if (!buffer)
        return shim_fail(MLXN_ERR_OUT_OF_MEMORY, @"buffer_new: Metal could not allocate %llu bytes",
                         (unsigned long long)length);
      // Metal does not document newBufferWithLength: memory as zeroed; the ABI promises it.
      memset(buffer.contents, 0, length);
      *out = (__bridge_retained mlxn_buffer_t)buffer;
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("buffer_new", e);
    }
  }
}

// -[MTLBuffer contents]
void *mlxn_buffer_contents(mlxn_buffer_t buffer) {
  @autoreleasepool {
    return buffer ? ((__bridge id<MTLBuffer>)buffer).contents : NULL;
  }
}

// -[MTLBuffer length]
uint64_t mlxn_buffer_length(mlxn_buffer_t buffer) {
  @autoreleasepool {
    return buffer ? ((__bridge id<MTLBuffer>)buffer).length : 0;
  }
}

// Drops the caller's reference; a command buffer that bound the buffer keeps its own until done.
void mlxn_buffer_free(mlxn_buffer_t buffer) {
  @autoreleasepool {
    if (buffer) CFBridgingRelease(buffer);
  }
}
