/*
 * event.m — mlxn_event_t: an MTLSharedEvent, the handle being the event itself.
 *
 * A shared event rather than a plain MTLEvent because the host reads its value
 * (mlxn_event_signaled_value) to follow GPU progress without a completion callback into JS.
 * Command buffers signal and wait on it in command_buffer.m.
 */
#import "internal.h"

/* ───────────────────────────── MTLSharedEvent ───────────────────────────── */

// -[MTLDevice newSharedEvent]
int32_t mlxn_event_new(mlxn_device_t device, mlxn_event_t *out) {
  @autoreleasepool {
    @try {
      if (out) *out = NULL;
      if (!device || !out) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"event_new: null device or out");
      id<MTLSharedEvent> event = [((__bridge MLXNDevice *)device).device newSharedEvent];
      if (!event) return shim_fail(MLXN_ERR_DEVICE, @"event_new: newSharedEvent returned nil");
      *out = (__bridge_retained mlxn_event_t)event;
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("event_new", e);
    }
  }
}

// -[MTLSharedEvent signaledValue]
uint64_t mlxn_event_signaled_value(mlxn_event_t event) {
  @autoreleasepool {
    return event ? ((__bridge id<MTLSharedEvent>)event).signaledValue : 0;
  }
}

// Drops the caller's reference; command buffers that encoded the event keep their own.
void mlxn_event_free(mlxn_event_t event) {
  @autoreleasepool {
    if (event) CFBridgingRelease(event);
  }
}
