/*
 * device.m — mlxn_device_t: the system default MTLDevice with its one MTLCommandQueue.
 *
 * One queue per device: the ABI promises that command buffers run in commit order, which is
 * what a single Metal queue gives. Options are stored here, never interpreted beyond their key.
 */
#import "internal.h"

#include <string.h>

/* ───────────────────────────── MTLDevice / MTLCommandQueue ───────────────────────────── */

@implementation MLXNDevice
@end

// MTLCreateSystemDefaultDevice, -[MTLDevice newCommandQueue]
int32_t mlxn_device_open(mlxn_device_t *out) {
  @autoreleasepool {
    @try {
      if (!out) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"device_open: out is null");
      *out = NULL;
      MLXNDevice *d = [MLXNDevice new];
      // A process that never linked CoreGraphics can get nil for the default device (Apple's
      // MTLCreateSystemDefaultDevice notes); the device list still has the GPU.
      d.device = MTLCreateSystemDefaultDevice() ?: MTLCopyAllDevices().firstObject;
      if (!d.device) return shim_fail(MLXN_ERR_DEVICE, @"device_open: no Metal device on this system");
      d.queue = [d.device newCommandQueue];
      if (!d.queue) return shim_fail(MLXN_ERR_DEVICE, @"device_open: newCommandQueue returned nil");
      d.queue.label = @"bun-mlx-native";
      d.nameText = shim_cstring(d.device.name);
      *out = (__bridge_retained mlxn_device_t)d;
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("device_open", e);
    }
  }
}

// Releases the device and its queue (command buffers in flight keep the queue alive themselves).
void mlxn_device_free(mlxn_device_t device) {
  @autoreleasepool {
    if (device) CFBridgingRelease(device);
  }
}

// -[MTLDevice name], copied at open so the pointer outlives any autorelease pool.
const char *mlxn_device_name(mlxn_device_t device) {
  @autoreleasepool {
    return device ? ((__bridge MLXNDevice *)device).nameText.bytes : "";
  }
}

// -[MTLDevice maxBufferLength / maxThreadsPerThreadgroup / maxThreadgroupMemoryLength /
// recommendedMaxWorkingSetSize / hasUnifiedMemory]; the rest are fixed by the ABI.
uint64_t mlxn_device_limit(mlxn_device_t device, uint32_t key) {
  @autoreleasepool {
    if (!device) return 0;
    id<MTLDevice> d = ((__bridge MLXNDevice *)device).device;
    MTLSize t = d.maxThreadsPerThreadgroup;
    switch (key) {
      case MLXN_LIMIT_MAX_BUFFER_LENGTH: return d.maxBufferLength;
      // maxThreadsPerThreadgroup is per dimension (1024 each on Apple GPUs) and a group's total
      // is capped by the same figure, so the width is the total; pipelines may allow fewer.
      case MLXN_LIMIT_MAX_THREADS_PER_THREADGROUP: return (uint64_t)t.width;
      case MLXN_LIMIT_MAX_THREADGROUP_MEMORY: return d.maxThreadgroupMemoryLength;
      case MLXN_LIMIT_RECOMMENDED_WORKING_SET: return d.recommendedMaxWorkingSetSize;
      case MLXN_LIMIT_SIMD_WIDTH: return 32;
      case MLXN_LIMIT_HAS_RESIDENCY_SETS: if (@available(macOS 15.0, *)) return 1; return 0;
      case MLXN_LIMIT_HAS_UNIFIED_MEMORY: return d.hasUnifiedMemory ? 1 : 0;
      case MLXN_LIMIT_MAX_INLINE_BYTES: return SHIM_MAX_INLINE_BYTES;
      case MLXN_LIMIT_MAX_BUFFER_BINDINGS: return SHIM_MAX_BINDINGS;
      case MLXN_LIMIT_WORKER_THREADS: return 0;
      case MLXN_LIMIT_LANES_IN_HARDWARE: return 1;
      default: return 0;
    }
  }
}

// No Metal call: stores "capture.path" for mlxn_capture_begin. Keys of other backends are
// accepted and ignored, so the TS core configures every backend the same way.
int32_t mlxn_device_set_option(mlxn_device_t device, const char *key, const char *value) {
  @autoreleasepool {
    if (!device || !key || !value)
      return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"device_set_option: null device, key or value");
    if (strcmp(key, "capture.path") != 0) return MLXN_OK;
    NSString *path = shim_string(value);
    if (path.length == 0)
      return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"device_set_option: capture.path needs a file path (UTF-8, ending in .gputrace)");
    ((__bridge MLXNDevice *)device).capturePath = path;
    return MLXN_OK;
  }
}
