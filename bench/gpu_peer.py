"""The limits bench/gpu.ts compares with, measured with PyTorch on the same card: device-to-device
copy bandwidth (bytes read + written) and torch.matmul bf16 TFLOP/s at 4096 and 8192 cubed.
Prints one line bench/gpu.ts's flags can take:  copy_gbps=X peer_tflops=Y

  python3 bench/gpu_peer.py
"""
import torch


def timed(fn, reps=20):
    """Best seconds per call of fn over 3 runs of reps calls, after a warm-up call (CUDA events)."""
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    best = float("inf")
    for _ in range(3):
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / 1000 / reps)
    return best


def copy_gbps():
    """Device-to-device copy of 1 GiB: GB/s of bytes read + written."""
    src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    gbps = 2 * src.numel() / timed(lambda: dst.copy_(src)) / 1e9
    del src, dst
    torch.cuda.empty_cache()
    return gbps


def main():
    copy = copy_gbps()
    print(f"torch device-to-device copy 1 GiB: {copy:.0f} GB/s (read + written)")
    flops = {}
    for n in (4096, 8192):
        a = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
        b = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
        flops[n] = 2 * n**3 / timed(lambda: a @ b, reps=10) / 1e12
        print(f"torch.matmul bf16 {n}^3: {flops[n]:.0f} TFLOP/s")
    print(f"copy_gbps={copy:.0f} peer_tflops={flops[4096]:.0f}")


if __name__ == "__main__":
    main()
