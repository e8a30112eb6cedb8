/*
 * status.m — library identity, the per-thread last error, and the shared error helpers.
 *
 * Errors cross the C boundary only as a status code plus mlxn_last_error(): an Objective-C
 * exception unwinding into Bun's FFI frame would abort the process, so every entry point
 * catches them and comes back here.
 */
#import "internal.h"

/* Per thread, as mlxn.h promises; large enough for a compiler log of a few hundred lines. The
 * zero-initialised buffer is the "" of a thread that has not failed yet. */
static _Thread_local char shim_last_error[16384];

/* ───────────────────────────── library identity ───────────────────────────── */

// No Metal call: the header version this dylib was built from.
uint32_t mlxn_abi_version(void) {
  @autoreleasepool {
    return MLXN_ABI_VERSION;
  }
}

// No Metal call: this dylib is the Metal backend.
const char *mlxn_backend_name(void) {
  @autoreleasepool {
    return "metal";
  }
}

// No Metal call: the thread-local message of the last failing call.
const char *mlxn_last_error(void) {
  @autoreleasepool {
    return shim_last_error;
  }
}

/* ───────────────────────────── error helpers ───────────────────────────── */

int32_t shim_fail(int32_t status, NSString *format, ...) {
  va_list args;
  va_start(args, format);
  NSString *text = [[NSString alloc] initWithFormat:format arguments:args];
  va_end(args);
  // getBytes:maxLength: stops on a character boundary, so truncation never splits UTF-8.
  NSUInteger used = 0;
  [text getBytes:shim_last_error maxLength:sizeof shim_last_error - 1 usedLength:&used
        encoding:NSUTF8StringEncoding options:0 range:NSMakeRange(0, text.length)
  remainingRange:NULL];
  shim_last_error[used] = '\0';
  return status;
}

int32_t shim_exception(const char *where, NSException *exception) {
  return shim_fail(MLXN_ERR_INTERNAL, @"%s: Objective-C exception %@: %@", where, exception.name,
                   exception.reason);
}

BOOL shim_misuse(MLXNCommandBuffer *cb, NSString *format, ...) {
  va_list args;
  va_start(args, format);
  NSString *text = [[NSString alloc] initWithFormat:format arguments:args];
  va_end(args);
  if (!cb.misuse) cb.misuse = text;
  shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"%@", text);
  return NO;
}

NSString *shim_string(const char *text) {
  return text ? [NSString stringWithUTF8String:text] : nil;
}

NSData *shim_cstring(NSString *text) {
  NSData *utf8 = [(text ?: @"") dataUsingEncoding:NSUTF8StringEncoding allowLossyConversion:YES];
  NSMutableData *data = [NSMutableData dataWithData:utf8 ?: [NSData data]];
  [data appendBytes:"" length:1];
  return data;
}
