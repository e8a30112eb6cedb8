// Loads libcuda.so.1 and resolves the driver entry points (the _v2 names where CUDA has them).
#include "driver.h"

#include <dlfcn.h>

#include <mutex>

namespace cuda {
namespace {

Driver loaded;
std::string load_error;

bool load() {
  void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    load_error = std::string("cuda: the NVIDIA driver library libcuda.so.1 could not be loaded (") +
                 (why ? why : "not found") +
                 "): install the NVIDIA driver on a machine with an NVIDIA GPU, or set MLXN_BACKEND=cpu";
    return false;
  }
  bool ok = true;
  auto bind = [&](auto &fn, const char *name, const char *alt = nullptr) {
    void *p = dlsym(h, name);
    if (!p && alt) p = dlsym(h, alt);
    if (!p && ok) {
      ok = false;
      load_error = std::string("cuda: libcuda.so.1 lacks ") + name +
                   ": the NVIDIA driver is too old (CUDA 12 or newer is needed)";
    }
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
  };
  Driver &d = loaded;
  bind(d.cuInit, "cuInit");
  bind(d.cuGetErrorName, "cuGetErrorName");
  bind(d.cuGetErrorString, "cuGetErrorString");
  bind(d.cuDeviceGetCount, "cuDeviceGetCount");
  bind(d.cuDeviceGet, "cuDeviceGet");
  bind(d.cuDeviceGetName, "cuDeviceGetName");
  bind(d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
  bind(d.cuDeviceTotalMem, "cuDeviceTotalMem_v2");
  bind(d.cuCtxCreate, "cuCtxCreate_v2");
  bind(d.cuCtxDestroy, "cuCtxDestroy_v2");
  bind(d.cuCtxSetCurrent, "cuCtxSetCurrent");
  bind(d.cuStreamCreate, "cuStreamCreate");
  bind(d.cuStreamDestroy, "cuStreamDestroy_v2");
  bind(d.cuStreamSynchronize, "cuStreamSynchronize");
  bind(d.cuStreamAddCallback, "cuStreamAddCallback");
  bind(d.cuStreamWriteValue64, "cuStreamWriteValue64_v2", "cuStreamWriteValue64");
  bind(d.cuStreamWaitValue64, "cuStreamWaitValue64_v2", "cuStreamWaitValue64");
  bind(d.cuEventCreate, "cuEventCreate");
  bind(d.cuEventDestroy, "cuEventDestroy_v2");
  bind(d.cuEventRecord, "cuEventRecord");
  bind(d.cuEventSynchronize, "cuEventSynchronize");
  bind(d.cuEventElapsedTime, "cuEventElapsedTime");
  bind(d.cuMemGetInfo, "cuMemGetInfo_v2");
  bind(d.cuMemAllocManaged, "cuMemAllocManaged");
  bind(d.cuMemFree, "cuMemFree_v2");
  bind(d.cuMemsetD8Async, "cuMemsetD8Async");
  bind(d.cuMemAllocAsync, "cuMemAllocAsync");
  bind(d.cuMemFreeAsync, "cuMemFreeAsync");
  bind(d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  bind(d.cuMemHostAlloc, "cuMemHostAlloc");
  bind(d.cuMemFreeHost, "cuMemFreeHost");
  bind(d.cuMemHostGetDevicePointer, "cuMemHostGetDevicePointer_v2");
  bind(d.cuModuleLoadDataEx, "cuModuleLoadDataEx");
  bind(d.cuModuleUnload, "cuModuleUnload");
  bind(d.cuModuleGetFunction, "cuModuleGetFunction");
  bind(d.cuFuncGetAttribute, "cuFuncGetAttribute");
  bind(d.cuFuncSetAttribute, "cuFuncSetAttribute");
  bind(d.cuLaunchKernel, "cuLaunchKernel");
  if (!ok) return false;
  CUresult r = d.cuInit(0);
  if (r != kSuccess) {
    load_error = "cuda: cuInit failed with " + describe(r) +
                 (r == kErrorNoDevice ? ": no NVIDIA GPU is visible" : ": the driver is not usable") +
                 " (set MLXN_BACKEND=cpu to run without a GPU)";
    return false;
  }
  return true;
}

}  // namespace

const Driver *driver(std::string &error) {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = load(); });
  if (!ok) error = load_error;
  return ok ? &loaded : nullptr;
}

std::string describe(CUresult r) {
  const char *name = nullptr, *text = nullptr;
  if (loaded.cuGetErrorName) loaded.cuGetErrorName(r, &name);
  if (loaded.cuGetErrorString) loaded.cuGetErrorString(r, &text);
  std::string s = name ? name : "CUDA error " + std::to_string(r);
  if (text) s += std::string(" (") + text + ")";
  return s;
}

}  // namespace cuda
