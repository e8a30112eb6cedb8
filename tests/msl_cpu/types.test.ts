/**
 * msl-cpu conformance: half and bfloat scalars and vectors with MSL's conversion rules (round to
 * nearest even, arithmetic rounded per operation), vector constructors (mixed scalar/vector
 * arguments, through template type parameters and aliases), packed vectors (12-byte
 * packed_float3 in memory), as_type, and templates instantiated with [[host_name]].
 */
import { describe, expect, test } from "bun:test";
import { DType } from "../../src/index.ts";
import { fixture, randomFloats, roundTo } from "../support/fixtures.ts";
import { run } from "./support.ts";

const K = 40; // floats per thread record

const source = `
#include <metal_stdlib>
using namespace metal;
// A vector built from a scalar through a template type parameter, and through an alias.
template <typename V, typename S>
V ramp(S a) { return V(a, a + S(1), a + S(2), a + S(3)); }
template <typename T>
struct Pair { T a, b; Pair(T x, T y) : a(x), b(y) {} T sum() const { return a + b; } };
using F4 = float4;
typedef vec<half, 2> H2;

template <typename T>
kernel void types_ops(device float* out [[buffer(0)]],
                      device const float* in [[buffer(1)]],
                      device packed_float3* packed_io [[buffer(2)]],
                      uint gid [[thread_position_in_grid]]) {
  const float x = in[gid];
  device float* o = out + gid * ${K};
  const half h = half(x);
  const bfloat b = bfloat(x);
  o[0] = float(h);
  o[1] = float(b);
  o[2] = float(h * half(3.0f));              // rounded to half after the multiply
  o[3] = float(b + bfloat(1.0f));             // rounded to bfloat after the add
  o[4] = float(h) + 0.25f;                    // half promoted to float
  const half4 hv = half4(float4(x, 2.0f * x, -x, 0.5f));
  o[5] = float(hv.x); o[6] = float(hv.y); o[7] = float(hv.z); o[8] = float(hv.w);
  const bfloat2 bv = bfloat2(hv.xy);          // half -> bfloat, lane by lane
  o[9] = float(bv.x); o[10] = float(bv.y);
  o[11] = float(int(x * 10.0f));              // toward zero
  o[12] = float(uint(fabs(x) * 100.0f));
  o[13] = float(half(int(x * 1000.0f)));      // int -> half, rounded
  const float4 r = ramp<float4>(x);
  o[14] = r.x; o[15] = r.y; o[16] = r.z; o[17] = r.w;
  const int4 ri = ramp<int4>(int(gid));
  o[18] = float(ri.w);
  const F4 al = F4(1.0f, x, float2(2.0f, 3.0f));
  o[19] = al.y + al.z * 10.0f + al.w * 100.0f;
  const H2 h2 = H2(x, 1.0f);
  o[20] = float(h2.x);
  const T t = T(x);                           // the template's own type
  o[21] = float(t);
  o[22] = Pair<float>(x, 2.0f).sum();
  const uint bits = as_type<uint>(x);
  o[23] = as_type<float>(bits ^ 0x80000000u);  // negated through the bits
  const half2 hh = as_type<half2>(bits);
  o[24] = float(as_type<ushort>(hh.x));        // low 16 bits of x
  const packed_float3 p = packed_io[gid];
  const float3 v = float3(p) * 2.0f + float3(1.0f);
  packed_io[gid] = packed_float3(v.x, v.y, p.z + x);
  o[25] = float(sizeof(packed_float3)) + float(alignof(packed_float3)) * 100.0f;
  o[26] = float(sizeof(float3));
  const float3 sw = float3(x, 1.0f, 2.0f).zyx;
  o[27] = sw.x + sw.y * 10.0f;
  o[28] = float(short(-x * 100.0f));
  o[29] = float(uchar(uint(fabs(x) * 50.0f)));
  o[30] = float(bool2(x > 0.0f, true).x);
  const half hs = half(65504.0f) * half(2.0f);  // overflows to infinity
  o[31] = isinf(hs) ? 1.0f : 0.0f;
  o[32] = float(half(1e-8f));                    // underflows to zero
  o[33] = float(bfloat(3.0e38f) * bfloat(2.0f)); // bfloat keeps float's range: overflow to inf
  o[34] = float(half(x) + half(0.001f));
}
template [[host_name("types_ops_f16")]] [[kernel]] decltype(types_ops<half>) types_ops<half>;
`;

const f16 = new Float16Array(1);
const half = (x: number) => ((f16[0] = x), f16[0]!);
const bf16 = (x: number) => roundTo(DType.BF16, x);
const f32 = Math.fround;
const u32 = new Uint32Array(1);
const fl = new Float32Array(u32.buffer);

describe("types and conversions", () => {
  test("half/bfloat rules, vector constructors, packed vectors, as_type, a [[host_name]] instantiation", () => {
    const n = 64;
    const xs = Float32Array.from(randomFloats(n, 3, -8, 8));
    xs[0] = 1.00048828125; // half rounds to even: 1 + 2^-11 -> 1
    xs[1] = 1.0029296875; // bfloat ties: rounds to even
    const packedIn = Float32Array.from({ length: n * 3 }, (_, i) => i * 0.5);
    const out = run("types_ops_f16", source, {
      grid: [n, 1, 1],
      group: [32, 1, 1],
      out: new Float32Array(n * K),
      inputs: [xs, packedIn],
    });
    for (let i = 0; i < n; i++) {
      const x = xs[i]!;
      const o = (k: number) => out[i * K + k]!;
      const want: [number, number][] = [
        [0, half(x)],
        [1, bf16(x)],
        [2, half(half(x) * 3)],
        [3, bf16(bf16(x) + 1)],
        [4, f32(half(x) + 0.25)],
        [5, half(x)], [6, half(f32(2 * x))], [7, half(-x)], [8, 0.5],
        [9, bf16(half(x))], [10, bf16(half(f32(2 * x)))],
        [11, Math.trunc(f32(x * 10))],
        [12, Math.trunc(f32(Math.abs(x) * 100))],
        [13, half(Math.trunc(f32(x * 1000)))],
        [14, x], [15, f32(x + 1)], [16, f32(x + 2)], [17, f32(x + 3)],
        [18, i + 3],
        [19, f32(f32(x + 20) + 300)],
        [20, half(x)],
        [21, half(x)],
        [22, f32(x + 2)],
        [23, -x],
        [24, ((u32[0] = 0), (fl[0] = x), u32[0]! & 0xffff)],
        [25, 12 + 4 * 100],
        [26, 16],
        [27, f32(2 + 10)],
        [28, Math.trunc(f32(-x * 100))],
        [29, Math.trunc(f32(Math.abs(x) * 50)) & 0xff],
        [30, x > 0 ? 1 : 0],
        [31, 1],
        [32, 0],
        [33, Infinity],
        [34, half(half(x) + half(0.001))],
      ];
      for (const [k, w] of want) expect(`thread ${i} word ${k}: ${o(k)}`).toBe(`thread ${i} word ${k}: ${w}`);
    }
    expect(half(1.00048828125)).toBe(1);
  });

  test("packed_float3 elements are 12 bytes apart in memory and written back in place", () => {
    const n = 8;
    const packedIn = Float32Array.from({ length: n * 3 }, (_, i) => i + 1);
    const xs = new Float32Array(n).fill(0.5);
    // Run once to read the packed buffer back: the kernel rewrites it as (2v + 1, 2v + 1, z + x).
    const { device } = fixture();
    const buf = device.allocBuffer(n * 12, DType.F32, [n * 3]);
    buf.view(Float32Array).set(packedIn);
    run("types_ops_f16", source, {
      grid: [n, 1, 1],
      group: [n, 1, 1],
      out: new Float32Array(n * K),
      inputs: [xs, buf],
    });
    const got = [...buf.view(Float32Array)];
    const want: number[] = [];
    for (let i = 0; i < n; i++) want.push(2 * packedIn[i * 3]! + 1, 2 * packedIn[i * 3 + 1]! + 1, packedIn[i * 3 + 2]! + 0.5);
    expect(got).toEqual(want);
    buf.dispose();
  });
});
