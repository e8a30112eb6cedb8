// Strided copy with conversion: the kernel behind cast, slice copies, concat, transpose and the
// KV-cache writes. A grid of up to three dimensions walks the source and the destination with
// their own offset and strides (in elements), so each of those ops is only a choice of strides
// made in TS. A copy that is one contiguous run on both sides goes to copy_flat, the same
// operation on a one-dimensional grid with no index arithmetic (as MLX keeps a contiguous copy
// beside its general one).
#pragma once
#include <metal_stdlib>
#include "block.h"
using namespace metal;

// Extent of the copy per grid dimension (x fastest), and where element (x, y, z) lives in the
// source and the destination: offset + x * stride0 + y * stride1 + z * stride2.
struct CopyArgs {
  uint size0;
  uint size1;
  uint size2;
  uint src_offset;
  uint src_stride0;
  uint src_stride1;
  uint src_stride2;
  uint dst_offset;
  uint dst_stride0;
  uint dst_stride1;
  uint dst_stride2;
};

// dst[i * dst_stride] = src[i * src_stride], converted through float (exact for every source
// type) and rounded once to the destination type.
template <typename Tin, typename Tout>
struct CopyAt {
  device const Tin* src;
  device Tout* dst;
  uint src_stride;
  uint dst_stride;
  void operator()(uint i) const { dst[i * dst_stride] = static_cast<Tout>(float(src[i * src_stride])); }
};

// The same with both strides 1 (known at compile time: contiguous loads and stores).
template <typename Tin, typename Tout>
struct CopyContiguousAt {
  device const Tin* src;
  device Tout* dst;
  void operator()(uint i) const { dst[i] = static_cast<Tout>(float(src[i])); }
};

// Grid: (ceil(size0 / BLOCK), size1, size2) threads (dispatchThreads), any threadgroup shape.
template <typename Tin, typename Tout>
kernel void copy_strided(device const Tin* src [[buffer(0)]],
                         device Tout* dst [[buffer(1)]],
                         constant CopyArgs& a [[buffer(2)]],
                         uint3 gid [[thread_position_in_grid]]) {
  if (gid.y >= a.size1 || gid.z >= a.size2) return;
  const uint s = a.src_offset + gid.y * a.src_stride1 + gid.z * a.src_stride2;
  const uint d = a.dst_offset + gid.y * a.dst_stride1 + gid.z * a.dst_stride2;
  if (a.src_stride0 == 1 && a.dst_stride0 == 1) {
    const CopyContiguousAt<Tin, Tout> f = {src + s, dst + d};
    for_block(gid.x, a.size0, f);
  } else {
    const CopyAt<Tin, Tout> f = {src + s, dst + d, a.src_stride0, a.dst_stride0};
    for_block(gid.x, a.size0, f);
  }
}

// The contiguous case: dst[dst_offset + i] = src[src_offset + i] for i < size0 (the other sizes
// and the strides are ignored). Grid: ceil(size0 / BLOCK) threads.
template <typename Tin, typename Tout>
kernel void copy_flat(device const Tin* src [[buffer(0)]],
                      device Tout* dst [[buffer(1)]],
                      constant CopyArgs& a [[buffer(2)]],
                      uint gid [[thread_position_in_grid]]) {
  const CopyContiguousAt<Tin, Tout> f = {src + a.src_offset, dst + a.dst_offset};
  for_block(gid, a.size0, f);
}
