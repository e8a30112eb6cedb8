// Strided copy with conversion: the one kernel behind cast, slice copies, concat, transpose and
// the KV-cache writes. A grid of up to three dimensions walks the source and the destination
// with their own offset and strides (in elements), so each of those ops is only a choice of
// strides made in TS.
#pragma once
#include <metal_stdlib>
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

// Grid: (size0, size1, size2) threads (dispatchThreads), any threadgroup shape. Conversions go
// through float (exact for every source type) and round once to the destination type.
template <typename Tin, typename Tout>
kernel void copy_strided(device const Tin* src [[buffer(0)]],
                         device Tout* dst [[buffer(1)]],
                         constant CopyArgs& a [[buffer(2)]],
                         uint3 gid [[thread_position_in_grid]]) {
  if (gid.x >= a.size0 || gid.y >= a.size1 || gid.z >= a.size2) return;
  const uint s = a.src_offset + gid.x * a.src_stride0 + gid.y * a.src_stride1 + gid.z * a.src_stride2;
  const uint d = a.dst_offset + gid.x * a.dst_stride0 + gid.y * a.dst_stride1 + gid.z * a.dst_stride2;
  dst[d] = static_cast<Tout>(float(src[s]));
}
