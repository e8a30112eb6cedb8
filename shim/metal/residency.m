/*
 * residency.m — mlxn_residency_set_t: an MTLResidencySet (macOS 15+).
 *
 * Before macOS 15 there are no residency sets: every call here returns MLXN_OK and does
 * nothing, and MLXN_LIMIT_HAS_RESIDENCY_SETS reports 0. Adds and removes are staged until
 * mlxn_residency_set_commit; the TS side decides when to commit (once per command-buffer
 * commit), this file only forwards.
 */
#import "internal.h"

/* ───────────────────────────── MTLResidencySet ───────────────────────────── */

@implementation MLXNResidencySet
@end

/* -[MTLDevice newResidencySetWithDescriptor:error:] with room for 256 allocations up front. */
API_AVAILABLE(macos(15.0))
static int32_t shim_new_residency_set(id<MTLDevice> device, NSString *label, MLXNResidencySet *holder) {
  MTLResidencySetDescriptor *desc = [MTLResidencySetDescriptor new];
  desc.label = label;
  desc.initialCapacity = 256;
  NSError *error = nil;
  holder.set = [device newResidencySetWithDescriptor:desc error:&error];
  if (!holder.set) return shim_fail(MLXN_ERR_DEVICE, @"residency_set_new: %@", error.localizedDescription);
  return MLXN_OK;
}

// -[MTLDevice newResidencySetWithDescriptor:error:] (macOS 15+)
int32_t mlxn_residency_set_new(mlxn_device_t device, const char *label, mlxn_residency_set_t *out) {
  @autoreleasepool {
    @try {
      if (out) *out = NULL;
      if (!device || !out) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"residency_set_new: null device or out");
      MLXNResidencySet *holder = [MLXNResidencySet new];
      if (@available(macOS 15.0, *)) {
        int32_t status = shim_new_residency_set(((__bridge MLXNDevice *)device).device, shim_string(label), holder);
        if (status != MLXN_OK) return status;
      }
      *out = (__bridge_retained mlxn_residency_set_t)holder;
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("residency_set_new", e);
    }
  }
}

// -[MTLResidencySet addAllocation:] (staged until commit)
int32_t mlxn_residency_set_add(mlxn_residency_set_t set, mlxn_buffer_t buffer) {
  @autoreleasepool {
    @try {
      if (!set || !buffer) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"residency_set_add: null set or buffer");
      if (@available(macOS 15.0, *)) {
        id<MTLResidencySet> rs = ((__bridge MLXNResidencySet *)set).set;
        [rs addAllocation:(__bridge id<MTLBuffer>)buffer];
      }
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("residency_set_add", e);
    }
  }
}

// -[MTLResidencySet removeAllocation:] (staged until commit)
int32_t mlxn_residency_set_remove(mlxn_residency_set_t set, mlxn_buffer_t buffer) {
  @autoreleasepool {
    @try {
      if (!set || !buffer) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"residency_set_remove: null set or buffer");
      if (@available(macOS 15.0, *)) {
        id<MTLResidencySet> rs = ((__bridge MLXNResidencySet *)set).set;
        [rs removeAllocation:(__bridge id<MTLBuffer>)buffer];
      }
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("residency_set_remove", e);
    }
  }
}

// -[MTLResidencySet commit], then -requestResidency so the committed set is made resident ahead
// of the command buffers that need it (Apple: request after commit, before use)
int32_t mlxn_residency_set_commit(mlxn_residency_set_t set) {
  @autoreleasepool {
    @try {
      if (!set) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"residency_set_commit: null set");
      if (@available(macOS 15.0, *)) {
        id<MTLResidencySet> rs = ((__bridge MLXNResidencySet *)set).set;
        [rs commit];
        [rs requestResidency];
      }
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("residency_set_commit", e);
    }
  }
}

// -[MTLCommandQueue addResidencySet:] on the device's queue
int32_t mlxn_residency_set_attach(mlxn_residency_set_t set, mlxn_device_t device) {
  @autoreleasepool {
    @try {
      if (!set || !device) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"residency_set_attach: null set or device");
      if (@available(macOS 15.0, *)) {
        MLXNResidencySet *holder = (__bridge MLXNResidencySet *)set;
        holder.queue = ((__bridge MLXNDevice *)device).queue;
        [holder.queue addResidencySet:holder.set];
      }
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("residency_set_attach", e);
    }
  }
}

// -[MTLCommandQueue removeResidencySet:] if attached, then the caller's reference is released;
// detaching first keeps a freed set from staying in the queue's list (and its memory resident).
void mlxn_residency_set_free(mlxn_residency_set_t set) {
  @autoreleasepool {
    if (!set) return;
    MLXNResidencySet *holder = (__bridge_transfer MLXNResidencySet *)set;
    @try {
      if (@available(macOS 15.0, *)) {
        if (holder.queue) [holder.queue removeResidencySet:holder.set];
      }
    } @catch (NSException *e) {
      shim_exception("residency_set_free", e);
    }
  }
}
