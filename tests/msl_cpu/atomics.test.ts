/**
 * msl-cpu conformance: atomics on device memory (shared by threadgroups running on several CPU
 * threads) and on threadgroup memory — int and uint add/sub/and/or/xor/min/max, float add,
 * load/store, exchange and compare-exchange.
 */
import { describe, expect, test } from "bun:test";
import { run } from "./support.ts";

const GROUP = 128;
const GROUPS = 64;
const N = GROUP * GROUPS;
const DEV = 32; // device words, then per-thread exchange results, then 4 words per group

const source = `
#include <metal_stdlib>
using namespace metal;
kernel void atomic_ops(device uint* out [[buffer(0)]],
                       uint gid [[thread_position_in_grid]],
                       uint tid [[thread_index_in_threadgroup]],
                       uint group [[threadgroup_position_in_grid]]) {
  device atomic_uint* hist = (device atomic_uint*)out;
  int v = int((gid * 7919u) % 2001u) - 1000;
  atomic_fetch_add_explicit(&hist[gid % 16], 1u, memory_order_relaxed);
  atomic_fetch_add_explicit((device atomic_float*)(out + 16), float(v) * 0.5f, memory_order_relaxed);
  atomic_fetch_min_explicit((device atomic_int*)(out + 17), v, memory_order_relaxed);
  atomic_fetch_max_explicit((device atomic_int*)(out + 18), v, memory_order_relaxed);
  atomic_fetch_max_explicit((device atomic_uint*)(out + 19), gid * 3u, memory_order_relaxed);
  device atomic_uint* cas = (device atomic_uint*)(out + 20);
  uint expected = atomic_load_explicit(cas, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(cas, &expected, expected * 3u + 1u,
                                                memory_order_relaxed, memory_order_relaxed)) {}
  out[${DEV} + gid] = atomic_exchange_explicit((device atomic_uint*)(out + 21), gid, memory_order_relaxed);
  atomic_fetch_sub_explicit((device atomic_int*)(out + 22), 2, memory_order_relaxed);
  atomic_fetch_or_explicit((device atomic_uint*)(out + 23), 1u << (gid % 32), memory_order_relaxed);
  atomic_fetch_and_explicit((device atomic_uint*)(out + 24), ~(1u << (gid % 31)), memory_order_relaxed);
  atomic_fetch_xor_explicit((device atomic_uint*)(out + 25), gid, memory_order_relaxed);

  threadgroup atomic_uint count;
  threadgroup atomic_int lowest;
  threadgroup atomic_float total;
  threadgroup atomic_uint highest;
  if (tid == 0) {
    atomic_store_explicit(&count, 0u, memory_order_relaxed);
    atomic_store_explicit(&lowest, 1 << 30, memory_order_relaxed);
    atomic_store_explicit(&total, 0.0f, memory_order_relaxed);
    atomic_store_explicit(&highest, 0u, memory_order_relaxed);
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  atomic_fetch_add_explicit(&count, tid, memory_order_relaxed);
  atomic_fetch_min_explicit(&lowest, v, memory_order_relaxed);
  atomic_fetch_add_explicit(&total, 1.5f, memory_order_relaxed);
  atomic_fetch_max_explicit(&highest, tid * group, memory_order_relaxed);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (tid == 0) {
    device uint* g = out + ${DEV} + ${N} + group * 4;
    g[0] = atomic_load_explicit(&count, memory_order_relaxed);
    g[1] = uint(atomic_load_explicit(&lowest, memory_order_relaxed));
    g[2] = as_type<uint>(atomic_load_explicit(&total, memory_order_relaxed));
    g[3] = atomic_load_explicit(&highest, memory_order_relaxed);
  }
}
`;

const words = new Float32Array(1);
const wbits = new Uint32Array(words.buffer);
const asFloat = (u: number) => ((wbits[0] = u), words[0]!);
const asInt = (u: number) => u | 0;

describe("atomics", () => {
  test("device and threadgroup atomics across threadgroups on several CPU threads", () => {
    const init = new Uint32Array(DEV + N + GROUPS * 4);
    init[17] = 0x7fffffff; // int min starts at INT_MAX
    init[18] = 0x80000000; // int max starts at INT_MIN
    init[20] = 0;
    init[21] = 0xdeadbeef;
    init[22] = 100;
    init[24] = 0xffffffff;
    const out = run("atomic_ops", source, { grid: [GROUPS, 1, 1], group: [GROUP, 1, 1], threadgroups: true, out: init });
    const v = (gid: number) => ((gid * 7919) % 2001) - 1000;
    const vs = Array.from({ length: N }, (_, g) => v(g));
    for (let b = 0; b < 16; b++) expect(out[b]).toBe(N / 16);
    expect(asFloat(out[16]!)).toBe(vs.reduce((s, x) => s + x * 0.5, 0)); // halves: exact in any order
    expect(asInt(out[17]!)).toBe(Math.min(...vs));
    expect(asInt(out[18]!)).toBe(Math.max(...vs));
    expect(out[19]).toBe((N - 1) * 3);
    let cas = 0;
    for (let i = 0; i < N; i++) cas = (Math.imul(cas, 3) + 1) >>> 0;
    expect(out[20]).toBe(cas);
    // exchange: the old values plus the final one are the initial value and every gid, once each
    const seen = [...out.subarray(DEV, DEV + N), out[21]!].sort((a, b) => a - b);
    expect(seen).toEqual([...Array.from({ length: N }, (_, i) => i), 0xdeadbeef]);
    expect(asInt(out[22]!)).toBe(100 - 2 * N);
    expect(out[23]).toBe(0xffffffff);
    expect(out[24]).toBe(0x80000000);
    let x = 0;
    for (let i = 0; i < N; i++) x ^= i;
    expect(out[25]).toBe(x >>> 0);
    for (let g = 0; g < GROUPS; g++) {
      const at = DEV + N + g * 4;
      const groupVs = vs.slice(g * GROUP, (g + 1) * GROUP);
      expect(out[at]).toBe((GROUP * (GROUP - 1)) / 2);
      expect(asInt(out[at + 1]!)).toBe(Math.min(...groupVs));
      expect(asFloat(out[at + 2]!)).toBe(1.5 * GROUP);
      expect(out[at + 3]).toBe((GROUP - 1) * g);
    }
  });
});
