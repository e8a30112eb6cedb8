/*
 * capture.m — programmatic GPU capture of the device's queue into a .gputrace document.
 *
 * Outside Xcode, Metal allows capture only when MTL_CAPTURE_ENABLED=1 was in the environment
 * when the process started; setting it later from JS is too late, hence the wording of the
 * errors. Only command buffers created after mlxn_capture_begin and committed before
 * mlxn_capture_end are in the trace.
 */
#import "internal.h"

/* ───────────────────────────── MTLCaptureManager ───────────────────────────── */

static NSString *const shim_capture_hint =
    @"GPU capture needs MTL_CAPTURE_ENABLED=1 in the environment before the process starts";

// -[MTLCaptureManager startCaptureWithDescriptor:error:] (destination: a GPU trace document)
int32_t mlxn_capture_begin(mlxn_device_t device) {
  @autoreleasepool {
    @try {
      MLXNDevice *d = (__bridge MLXNDevice *)device;
      if (!d) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"capture_begin: null device");
      if (!d.capturePath)
        return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"capture_begin: set the capture.path option (a .gputrace file) first");
      MTLCaptureManager *manager = [MTLCaptureManager sharedCaptureManager];
      if (![manager supportsDestination:MTLCaptureDestinationGPUTraceDocument])
        return shim_fail(MLXN_ERR_UNSUPPORTED, @"capture_begin: trace documents are unavailable; %@", shim_capture_hint);
      MTLCaptureDescriptor *desc = [MTLCaptureDescriptor new];
      desc.captureObject = d.queue;
      desc.destination = MTLCaptureDestinationGPUTraceDocument;
      desc.outputURL = [NSURL fileURLWithPath:d.capturePath];
      NSError *error = nil;
      if (![manager startCaptureWithDescriptor:desc error:&error])
        return shim_fail(error.code == MTLCaptureErrorNotSupported ? MLXN_ERR_UNSUPPORTED : MLXN_ERR_INVALID_ARGUMENT,
                         @"capture_begin: %@ (%@; check that capture.path ends in .gputrace, its folder exists and no file is there yet)",
                         error.localizedDescription, shim_capture_hint);
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("capture_begin", e);
    }
  }
}

// -[MTLCaptureManager stopCapture]
int32_t mlxn_capture_end(mlxn_device_t device) {
  @autoreleasepool {
    @try {
      if (!device) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"capture_end: null device");
      MTLCaptureManager *manager = [MTLCaptureManager sharedCaptureManager];
      if (!manager.isCapturing) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"capture_end: no capture in progress");
      [manager stopCapture];
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("capture_end", e);
    }
  }
}
