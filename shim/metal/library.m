/*
 * library.m — mlxn_library_t (MTLLibrary) and mlxn_pipeline_t (MTLComputePipelineState); each
 * handle is the Metal object itself.
 *
 * Kernels are compiled at run time from the same MSL text the cpu backend compiles, so the
 * compile options below are chosen for agreement with it and with the float64 reference.
 */
#import "internal.h"

#include <string.h>

/* ───────────────────────────── MTLLibrary ───────────────────────────── */

/* MSL 3.1 on every macOS, pinned: the kernels need 3.1 (bfloat, macOS 14, the floor) and nothing
 * newer, and a pinned version means the same kernel text meets the same language rules on every
 * system (asking for the newest would compile them as 3.2 on macOS 15 and 4.0 on 26, language
 * revisions nobody has checked them against). Raise it here, with the deployment target, when a
 * kernel needs a later feature. */
static MTLLanguageVersion shim_language_version(void) {
  return MTLLanguageVersion3_1;
}

/* Safe math, set explicitly because Metal's default is fast math: accuracy comes first (results
 * are checked against a float64 reference and the cpu backend), and a kernel that wants speed
 * over precision says so by calling fast:: functions itself. mathMode and
 * mathFloatingPointFunctions replace fastMathEnabled from macOS 15; Safe + Precise is what
 * fastMathEnabled = NO meant. */
static MTLCompileOptions *shim_compile_options(void) {
  MTLCompileOptions *options = [MTLCompileOptions new];
  options.languageVersion = shim_language_version();
  if (@available(macOS 15.0, *)) {
    options.mathMode = MTLMathModeSafe;
    options.mathFloatingPointFunctions = MTLMathFloatingPointFunctionsPrecise;
  } else {
    options.fastMathEnabled = NO;
  }
  return options;
}

// -[MTLDevice newLibraryWithSource:options:error:]
int32_t mlxn_library_new_source(mlxn_device_t device, const char *source, uint64_t source_length,
                                const char *label, mlxn_library_t *out) {
  @autoreleasepool {
    @try {
      if (out) *out = NULL;
      if (!device || !source || source_length == 0 || !out)
        return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"library_new_source: null device, source or out, or empty source");
      NSString *text = [[NSString alloc] initWithBytes:source length:source_length encoding:NSUTF8StringEncoding];
      NSString *name = shim_string(label) ?: @"(unlabelled library)";
      if (!text) return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"%@: source is not valid UTF-8", name);
      NSError *error = nil;
      id<MTLLibrary> library = [((__bridge MLXNDevice *)device).device newLibraryWithSource:text
                                                                                    options:shim_compile_options()
                                                                                      error:&error];
      // A library with only warnings comes back non-nil with an error set: that is a success.
      if (!library) return shim_fail(MLXN_ERR_COMPILE, @"%@: %@", name, error.localizedDescription);
      library.label = name;
      *out = (__bridge_retained mlxn_library_t)library;
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("library_new_source", e);
    }
  }
}

// Releases the library; pipelines made from it stay valid.
void mlxn_library_free(mlxn_library_t library) {
  @autoreleasepool {
    if (library) CFBridgingRelease(library);
  }
}

/* ───────────────────────────── MTLComputePipelineState ───────────────────────────── */

/* -[MTLFunctionConstantValues setConstantValue:type:atIndex:] for each [index, type, bits]
 * triplet. Metal copies each value during the call. */
static int32_t shim_constant_values(const uint32_t *triplets, uint32_t n, MTLFunctionConstantValues *values) {
  for (size_t i = 0; i < n; i++) {
    uint32_t index = triplets[3 * i], type = triplets[3 * i + 1], bits = triplets[3 * i + 2];
    bool flag = bits != 0;
    int32_t signed_bits = (int32_t)bits;
    float real;
    memcpy(&real, &bits, sizeof real);
    if (type == MLXN_CONSTANT_BOOL && bits <= 1) [values setConstantValue:&flag type:MTLDataTypeBool atIndex:index];
    else if (type == MLXN_CONSTANT_INT) [values setConstantValue:&signed_bits type:MTLDataTypeInt atIndex:index];
    else if (type == MLXN_CONSTANT_UINT) [values setConstantValue:&bits type:MTLDataTypeUInt atIndex:index];
    else if (type == MLXN_CONSTANT_FLOAT) [values setConstantValue:&real type:MTLDataTypeFloat atIndex:index];
    else return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"pipeline_new: constant %zu (index %u) has type %u and value %u", i, index, type, bits);
  }
  return MLXN_OK;
}

/* -[MTLLibrary newFunctionWithName:constantValues:error:], or newFunctionWithName: when there is
 * nothing to specialise. A nil function is MLXN_ERR_NOT_FOUND when the library has no such
 * name, otherwise a specialisation failure (MLXN_ERR_COMPILE). */
static int32_t shim_function(id<MTLLibrary> library, NSString *name, const uint32_t *constants, uint32_t n,
                             id<MTLFunction> __strong *out) {
  MTLFunctionConstantValues *values = [MTLFunctionConstantValues new];
  int32_t status = shim_constant_values(constants, n, values);
  if (status != MLXN_OK) return status;
  NSError *error = nil;
  *out = n == 0 ? [library newFunctionWithName:name] : [library newFunctionWithName:name constantValues:values error:&error];
  if (*out) return MLXN_OK;
  if (![library.functionNames containsObject:name])
    return shim_fail(MLXN_ERR_NOT_FOUND, @"pipeline_new: no function %@ in library %@", name, library.label);
  return shim_fail(MLXN_ERR_COMPILE, @"pipeline_new: specialising %@: %@", name, error.localizedDescription);
}

// -[MTLDevice newComputePipelineStateWithDescriptor:options:reflection:error:]
int32_t mlxn_pipeline_new(mlxn_library_t library, const char *function_name, const uint32_t *constants,
                          uint32_t n_constants, const char *label, mlxn_pipeline_t *out) {
  @autoreleasepool {
    @try {
      if (out) *out = NULL;
      NSString *name = shim_string(function_name);
      if (!library || !name || (n_constants && !constants) || !out)
        return shim_fail(MLXN_ERR_INVALID_ARGUMENT, @"pipeline_new: null library, function name, constants or out");
      id<MTLLibrary> lib = (__bridge id<MTLLibrary>)library;
      MTLComputePipelineDescriptor *desc = [MTLComputePipelineDescriptor new];
      id<MTLFunction> function = nil;
      int32_t status = shim_function(lib, name, constants, n_constants, &function);
      if (status != MLXN_OK) return status;
      desc.computeFunction = function;
      desc.label = shim_string(label) ?: name;
      NSError *error = nil;
      id<MTLComputePipelineState> pipeline = [lib.device newComputePipelineStateWithDescriptor:desc
                                                                                        options:MTLPipelineOptionNone
                                                                                     reflection:nil
                                                                                          error:&error];
      if (!pipeline) return shim_fail(MLXN_ERR_COMPILE, @"pipeline_new: %@: %@", desc.label, error.localizedDescription);
      *out = (__bridge_retained mlxn_pipeline_t)pipeline;
      return MLXN_OK;
    } @catch (NSException *e) {
      return shim_exception("pipeline_new", e);
    }
  }
}

// -[MTLComputePipelineState threadExecutionWidth]
uint32_t mlxn_pipeline_thread_execution_width(mlxn_pipeline_t pipeline) {
  @autoreleasepool {
    return pipeline ? (uint32_t)((__bridge id<MTLComputePipelineState>)pipeline).threadExecutionWidth : 0;
  }
}

// -[MTLComputePipelineState maxTotalThreadsPerThreadgroup]
uint32_t mlxn_pipeline_max_total_threads_per_threadgroup(mlxn_pipeline_t pipeline) {
  @autoreleasepool {
    return pipeline ? (uint32_t)((__bridge id<MTLComputePipelineState>)pipeline).maxTotalThreadsPerThreadgroup : 0;
  }
}

// -[MTLComputePipelineState staticThreadgroupMemoryLength]
uint64_t mlxn_pipeline_static_threadgroup_memory_length(mlxn_pipeline_t pipeline) {
  @autoreleasepool {
    return pipeline ? ((__bridge id<MTLComputePipelineState>)pipeline).staticThreadgroupMemoryLength : 0;
  }
}

// Releases the pipeline; an encoder that set it keeps its own reference.
void mlxn_pipeline_free(mlxn_pipeline_t pipeline) {
  @autoreleasepool {
    if (pipeline) CFBridgingRelease(pipeline);
  }
}
