// Blocks of consecutive elements per thread, for the element-wise kernels. Each thread handles
// BLOCK consecutive elements along x, so a dispatch has ceil(n / BLOCK) threads along x: on
// msl-cpu the fixed-count loop of a full block unrolls and vectorizes, and the per-thread
// overhead is paid once per block (measured 2x the bandwidth of one element per thread there).
// On a GPU a full block should be one vector access per operand: with one scalar access per
// element, a warp's load instruction touches addresses 16 bytes apart, 4x the load instructions
// and L1 wavefronts of a vector load, and f32 add of 64M elements on an H100 reached 1848 GB/s,
// 61 % of a copy's 3012. for_block_vector does that where every pointer of the block is aligned
// to the vector's size (checked at run time: a binding may sit at any offset, a row at any
// multiple of its length). The binary, scalar and activation kernels use it; the copies and
// embeddings (copy.h, embedding.h) stay on for_block, one access per element: with vector
// accesses, msl-cpu's f32 copy fell from about 70 to 45 GB/s and the bf16 -> f32 embedding from
// 30 to 20 (bench/ops.ts; cause not established).
#pragma once
#include <metal_stdlib>
using namespace metal;

constant constexpr uint BLOCK = 4;
static_assert(BLOCK == 4, "load_vec4 and store_vec4 move a block as a float4");

// Calls f(i) for the elements i of block `block` that lie below n: a full block as a
// fixed-count loop, only the last (partial) block checks each index. F is a function object
// (MSL has no lambdas) with `void operator()(uint i) const`. Always inlined: F is taken by
// thread reference, and a call would put it in local memory.
template <typename F>
__attribute__((always_inline)) inline void for_block(uint block, uint n, thread const F& f) {
  const uint first = block * BLOCK;
  if (first + BLOCK <= n) {
    for (uint k = 0; k < BLOCK; ++k) f(first + k);
  } else {
    for (uint i = first; i < n; ++i) f(i);
  }
}

// As for_block, where F also has `bool block(uint first) const`: it does the whole block
// [first, first + BLOCK) with vector accesses and returns true, or returns false having done
// nothing when a pointer is not aligned for that (block_aligned). Such a block, and the last
// (partial) one, go element by element through one loop, so that the element path is inlined
// once: with a fixed-count copy of it beside the vector path, clang's NVPTX back end no longer
// inlined the larger activations (GELU-erf) into the kernel entry. Always inlined, as for_block.
template <typename F>
__attribute__((always_inline)) inline void for_block_vector(uint block, uint n, thread const F& f) {
  const uint first = block * BLOCK;
  if (first + BLOCK <= n && f.block(first)) return;
  const uint end = min(first + BLOCK, n);
  for (uint i = first; i < end; ++i) f(i);
}

// Whether the block of T at p can be one vec<T, BLOCK> access (aligned to the vector's size).
// Called with T given, block_aligned<T>(p), so that a `device T*` converts.
template <typename T>
inline bool block_aligned(device const T* p) {
  return ulong(p) % sizeof(vec<T, BLOCK>) == 0;
}

// The block of T at p (block_aligned) in one vector load, converted to float.
template <typename T>
inline float4 load_vec4(device const T* p) {
  return float4(*reinterpret_cast<device const vec<T, BLOCK>*>(p));
}

// bfloat's bits are the upper half of its float: the block is loaded as a uint2 and widened by
// shifts, since clang's NVPTX back end split a bfloat4 load into two 32-bit loads.
template <>
inline float4 load_vec4<bfloat>(device const bfloat* p) {
  const uint2 w = *reinterpret_cast<device const uint2*>(p);
  return float4(as_type<float>(w.x << 16), as_type<float>(w.x & 0xffff0000u), as_type<float>(w.y << 16), as_type<float>(w.y & 0xffff0000u));
}

// Rounds r to T and writes it to the block at p (block_aligned) in one vector store. One vector
// conversion, not four scalar ones: on msl-cpu those made bfloat stores half as fast (the scalar
// element loop had vectorized them).
template <typename T>
inline void store_vec4(device T* p, float4 r) {
  *reinterpret_cast<device vec<T, BLOCK>*>(p) = vec<T, BLOCK>(r);
}
