/*
 * internal.h — what the shim/metal files share, and nothing else.
 *
 * Every opaque handle of mlxn.h is an Objective-C object retained once into the C pointer
 * ((__bridge_retained) in the `_new`/`_open` call) and released once by the matching
 * `_free`/`_end` (CFBridgingRelease or __bridge_transfer). Buffers, libraries, pipelines and
 * events are the Metal objects themselves; the device, command buffer, compute encoder and
 * residency set need a little extra state, so they are the small holder classes below.
 *
 * Nothing declared here is exported: the dylib's C surface is exactly mlxn.h. Helpers are
 * prefixed `shim_` (never `mlxn_`) so the ABI parity test can tell them apart.
 */
#ifndef MLXN_METAL_INTERNAL_H
#define MLXN_METAL_INTERNAL_H

#import <Foundation/Foundation.h>
#import <Metal/Metal.h>

#include "mlxn.h"

/* The code names MTLResidencySet and MTLMathMode (macOS 15 SDK) and guards their use at run
 * time with @available, so it builds against the macOS 15 SDK or newer and runs on macOS 14+
 * (MSL 3.1, the first with bfloat). */
#if !defined(__MAC_OS_X_VERSION_MAX_ALLOWED) || __MAC_OS_X_VERSION_MAX_ALLOWED < 150000
#error "shim/metal needs the macOS 15 SDK or newer (Xcode 16+)"
#endif

#define SHIM_HIDDEN __attribute__((visibility("hidden")))

/* Limits the ABI fixes for every backend (MLXN_LIMIT_MAX_BUFFER_BINDINGS, _MAX_INLINE_BYTES):
 * Metal's compute argument table has 31 buffer slots, and Apple documents setBytes for data
 * smaller than 4 KB (so 4095 bytes at most). */
#define SHIM_MAX_BINDINGS 31u
#define SHIM_MAX_INLINE_BYTES 4095u

/* mlxn_device_t: the system default MTLDevice, its one MTLCommandQueue, and options. */
SHIM_HIDDEN @interface MLXNDevice : NSObject
@property(nonatomic, strong) id<MTLDevice> device;
@property(nonatomic, strong) id<MTLCommandQueue> queue;
@property(nonatomic, strong) NSData *nameText;    /* NUL-terminated, returned by mlxn_device_name */
@property(nonatomic, copy) NSString *capturePath; /* the "capture.path" option */
@end

/* mlxn_command_buffer_t: an MTLCommandBuffer plus the C strings handed back to callers and the
 * first encoder misuse (see shim_misuse). */
SHIM_HIDDEN @interface MLXNCommandBuffer : NSObject
@property(nonatomic, strong) id<MTLCommandBuffer> buffer;
@property(nonatomic, strong) NSData *labelText; /* NUL-terminated label, nil when unset */
@property(nonatomic, strong) NSData *errorText; /* NUL-terminated error, built once completed */
@property(nonatomic, copy) NSString *misuse;    /* first misuse recorded on this command buffer */
@property(nonatomic) BOOL encoderOpen;          /* a compute encoder is open (not yet ended) */
@end

/* mlxn_compute_encoder_t: an MTLComputeCommandEncoder, the command buffer it records misuse on,
 * and the pipeline last set (dispatch needs one; its limit sizes threadgroups). */
SHIM_HIDDEN @interface MLXNEncoder : NSObject
@property(nonatomic, strong) id<MTLComputeCommandEncoder> encoder;
@property(nonatomic, strong) MLXNCommandBuffer *owner;
@property(nonatomic, strong) id<MTLComputePipelineState> pipeline;
@end

/* mlxn_residency_set_t: an MTLResidencySet on macOS 15+ (nil before, where every call is a
 * successful no-op), and the queue it was attached to, so that free can detach it. Typed `id`
 * because the protocol does not exist on macOS 14. */
SHIM_HIDDEN @interface MLXNResidencySet : NSObject
@property(nonatomic, strong) id set;
@property(nonatomic, strong) id<MTLCommandQueue> queue;
@end

/* Stores the message as this thread's mlxn_last_error and returns `status`. */
SHIM_HIDDEN int32_t shim_fail(int32_t status, NSString *format, ...) NS_FORMAT_FUNCTION(2, 3);

/* An Objective-C exception caught at the C boundary: MLXN_ERR_INTERNAL with its name and reason. */
SHIM_HIDDEN int32_t shim_exception(const char *where, NSException *exception);

/* Records the first misuse on a command buffer (later ones only reach mlxn_last_error). The
 * caller skips the bad call; mlxn_command_buffer_status then reports the completed command
 * buffer as MLXN_CB_STATUS_ERROR with this message. Returns NO, for `return shim_misuse(...)`. */
SHIM_HIDDEN BOOL shim_misuse(MLXNCommandBuffer *cb, NSString *format, ...) NS_FORMAT_FUNCTION(2, 3);

/* NSString from a C string; nil for NULL or invalid UTF-8 (stringWithUTF8String: throws on NULL). */
SHIM_HIDDEN NSString *shim_string(const char *text);

/* A NUL-terminated UTF-8 copy of `text` ("" for nil). Its bytes live as long as the NSData, so a
 * handle that keeps it can return them as a `const char *` after the autorelease pool drains;
 * -[NSString UTF8String] could not promise that. */
SHIM_HIDDEN NSData *shim_cstring(NSString *text);

#endif /* MLXN_METAL_INTERNAL_H */
