"""Can a process use CUDA again after a kernel fault? One way of asking per process, straight
through libcuda (ctypes; needs an NVIDIA GPU and driver, nothing else): a kernel stores through
address 0x10 in context A (CUDA_ERROR_ILLEGAL_ADDRESS, 700), then context B is created and, if
that works, a kernel stores 7 into B's memory.

    for s in keep_current unset_current pop_current destroy destroy_reset destroy_reset_retain; do
      python3 tests/support/cuda_context_probe.py $s; done

Measured on driver 580 (H200 and H100, 2026-12-06): every way fails with 700 (from cuCtxCreate, or
from cuDevicePrimaryCtxRetain after the reset), so the cuda backend reports the earlier fault
instead of promising a working Device (shim/cuda/internal.h).
"""
import ctypes
import sys

cu = ctypes.CDLL("libcuda.so.1")
STORE = b"""
.version 7.8
.target sm_90
.address_size 64
.visible .entry store7(.param .u64 p) {
  .reg .b64 %rd<2>; .reg .b32 %r<2>;
  ld.param.u64 %rd1, [p]; mov.u32 %r1, 7; st.global.u32 [%rd1], %r1; ret;
}
"""


def launch_store(address):
    """Loads the module in the current context and runs store7 at `address`: (step, CUresult)."""
    module, function = ctypes.c_void_p(), ctypes.c_void_p()
    if (r := cu.cuModuleLoadData(ctypes.byref(module), STORE)) != 0:
        return ("cuModuleLoadData", r)
    cu.cuModuleGetFunction(ctypes.byref(function), module, b"store7")
    arg = ctypes.c_uint64(address)
    args = (ctypes.c_void_p * 1)(ctypes.cast(ctypes.byref(arg), ctypes.c_void_p))
    if (r := cu.cuLaunchKernel(function, 1, 1, 1, 1, 1, 1, 0, None, args, None)) != 0:
        return ("cuLaunchKernel", r)
    return ("cuCtxSynchronize", cu.cuCtxSynchronize())


def main(way):
    cu.cuInit(0)
    dev = ctypes.c_int()
    cu.cuDeviceGet(ctypes.byref(dev), 0)
    a = ctypes.c_void_p()
    print("create A:", cu.cuCtxCreate_v2(ctypes.byref(a), 0, dev.value))
    print("fault in A:", launch_store(0x10))
    if way == "unset_current":
        print("cuCtxSetCurrent(NULL):", cu.cuCtxSetCurrent(None))
    elif way == "pop_current":
        print("cuCtxPopCurrent:", cu.cuCtxPopCurrent_v2(ctypes.byref(ctypes.c_void_p())))
    elif way.startswith("destroy"):
        print("cuCtxDestroy(A):", cu.cuCtxDestroy_v2(a))
        if way.startswith("destroy_reset"):
            print("cuDevicePrimaryCtxReset:", cu.cuDevicePrimaryCtxReset_v2(dev.value))
        if way == "destroy_reset_retain":
            primary = ctypes.c_void_p()
            print("cuDevicePrimaryCtxRetain:", cu.cuDevicePrimaryCtxRetain(ctypes.byref(primary), dev.value))
            print("cuCtxSetCurrent(primary):", cu.cuCtxSetCurrent(primary))
            print("store in primary:", launch_store_into_new_memory())
            return
    elif way != "keep_current":
        sys.exit(f"unknown way {way!r}")
    b = ctypes.c_void_p()
    r = cu.cuCtxCreate_v2(ctypes.byref(b), 0, dev.value)
    print("create B:", r)
    if r == 0:
        print("store in B:", launch_store_into_new_memory())


def launch_store_into_new_memory():
    """cuMemAlloc 4 bytes in the current context, store7 there, read it back: (step, result)."""
    ptr = ctypes.c_uint64()
    if (r := cu.cuMemAlloc_v2(ctypes.byref(ptr), 4)) != 0:
        return ("cuMemAlloc", r)
    if (step := launch_store(ptr.value))[1] != 0:
        return step
    out = ctypes.c_uint32()
    cu.cuMemcpyDtoH_v2(ctypes.byref(out), ptr, 4)
    return ("value", out.value)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "keep_current")
