// Blocks of consecutive elements per thread, for the element-wise kernels. Each thread handles
// BLOCK consecutive elements along x, so a dispatch has ceil(n / BLOCK) threads along x: on a
// GPU, adjacent threads still touch adjacent memory and each issues wider loads; on msl-cpu the
// fixed-count loop of a full block unrolls and vectorizes, and the per-thread overhead is paid
// once per block (measured 2x the bandwidth of one element per thread there).
#pragma once
#include <metal_stdlib>
using namespace metal;

constant constexpr uint BLOCK = 4;

// Calls f(i) for the elements i of block `block` that lie below n: a full block as a
// fixed-count loop, only the last (partial) block checks each index. F is a function object
// (MSL has no lambdas) with `void operator()(uint i) const`.
template <typename F>
inline void for_block(uint block, uint n, thread const F& f) {
  const uint first = block * BLOCK;
  if (first + BLOCK <= n) {
    for (uint k = 0; k < BLOCK; ++k) f(first + k);
  } else {
    for (uint i = first; i < n; ++i) f(i);
  }
}
