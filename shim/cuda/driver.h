// The slice of the CUDA driver API the cuda backend calls, declared here and resolved with
// dlopen("libcuda.so.1") at run time: libmlxn_cuda links nothing from CUDA and loads on machines
// without a driver (where mlxn_device_open then says what is missing).
#pragma once

#include <cstddef>
#include <string>

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef unsigned long long CUdeviceptr;
typedef void (*CUstreamCallback)(CUstream stream, CUresult status, void *user);

namespace cuda {

enum : int {
  kSuccess = 0,
  kErrorOutOfMemory = 2,
  kErrorNoDevice = 100,
  kErrorNotReady = 600,
};

// CUdevice_attribute values used
enum : int {
  kAttrMaxThreadsPerBlock = 1,
  kAttrWarpSize = 10,
  kAttrMultiprocessorCount = 16,
  kAttrComputeMajor = 75,
  kAttrComputeMinor = 76,
  kAttrManagedMemory = 83,
  kAttrConcurrentManagedAccess = 89,
  kAttrMaxSharedPerBlockOptin = 97,
};
// CUfunction_attribute
enum : int {
  kFuncMaxThreadsPerBlock = 0,
  kFuncSharedSizeBytes = 1,
  kFuncMaxDynamicSharedSizeBytes = 8,
};
// CUjit_option
enum : int { kJitErrorLogBuffer = 5, kJitErrorLogBufferSizeBytes = 6 };

constexpr unsigned kMemAttachGlobal = 1;
constexpr unsigned kHostAllocPortable = 1, kHostAllocDeviceMap = 2;
constexpr unsigned kStreamNonBlocking = 1;
constexpr unsigned kStreamWaitValueGeq = 0;

struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDeviceTotalMem)(size_t *, CUdevice);
  CUresult (*cuCtxCreate)(CUcontext *, unsigned, CUdevice);
  CUresult (*cuCtxDestroy)(CUcontext);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamAddCallback)(CUstream, CUstreamCallback, void *, unsigned);
  CUresult (*cuStreamWriteValue64)(CUstream, CUdeviceptr, unsigned long long, unsigned);
  CUresult (*cuStreamWaitValue64)(CUstream, CUdeviceptr, unsigned long long, unsigned);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*cuMemGetInfo)(size_t *, size_t *);
  CUresult (*cuMemAllocManaged)(CUdeviceptr *, size_t, unsigned);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuMemAllocAsync)(CUdeviceptr *, size_t, CUstream);
  CUresult (*cuMemFreeAsync)(CUdeviceptr, CUstream);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*cuMemHostAlloc)(void **, size_t, unsigned);
  CUresult (*cuMemFreeHost)(void *);
  CUresult (*cuMemHostGetDevicePointer)(CUdeviceptr *, void *, unsigned);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *, void **);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncGetAttribute)(int *, int, CUfunction);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, CUstream, void **, void **);
};

// The driver, loaded and initialised once per process; null with `error` saying what is missing.
const Driver *driver(std::string &error);

// "CUDA_ERROR_X (text)" for a result code.
std::string describe(CUresult r);

}  // namespace cuda
