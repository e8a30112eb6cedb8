/**
 * msl-cpu execution speed on the cpu backend (prints figures; asserts nothing):
 *   (a) a reduction over 1M elements with simd_sum, a threadgroup array and a barrier: every
 *       thread is a fiber, so this is the cost of the fiber runtime, in ns per thread
 *       (target <= 30; the swapcontext prototype took about 850);
 *   (b) f32 elementwise add (a plain-loop kernel) in GB/s (3 x 4 bytes per element) against
 *       memcpy on this machine (target >= 60%).
 *
 * usage: bun run bench/msl_cpu.ts [rounds=10]
 */
import { Device, DType, KernelRegistry } from "../src/index.ts";
import { bestNs, memcpyGBps } from "./support.ts";

const rounds = Number(process.argv[2] ?? 10);
const device = Device.open();
const registry = new KernelRegistry(device);

const reduceSource = `
#include <metal_stdlib>
using namespace metal;
kernel void bench_reduce(device const float* in [[buffer(0)]],
                         device float* out [[buffer(1)]],
                         constant uint& n [[buffer(2)]],
                         uint gid [[thread_position_in_grid]],
                         uint group [[threadgroup_position_in_grid]],
                         uint lane [[thread_index_in_simdgroup]],
                         uint sg [[simdgroup_index_in_threadgroup]],
                         uint nsg [[simdgroups_per_threadgroup]]) {
  threadgroup float partial[32];
  float v = simd_sum(gid < n ? in[gid] : 0.0f);
  if (lane == 0) partial[sg] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (sg == 0) {
    v = simd_sum(lane < nsg ? partial[lane] : 0.0f);
    if (lane == 0) out[group] = v;
  }
}
`;

function reduction(n: number, group: number): number {
  registry.registerSource("bench_reduce", reduceSource);
  const pipeline = registry.getPipeline("bench_reduce");
  const groups = Math.ceil(n / group);
  const input = device.allocBuffer(n * 4, DType.F32, [n]);
  input.view(Float32Array).fill(1);
  const out = device.allocBuffer(groups * 4, DType.F32, [groups]);
  const count = new Uint32Array([n]);
  const ns = bestNs(rounds, () => {
    const enc = device.commandEncoder();
    enc.dispatchThreadgroups(pipeline, [input, out, count], [groups, 1, 1], [group, 1, 1]);
    enc.commitAndWait();
  });
  const sums = out.view(Float32Array);
  if (sums[0] !== Math.min(group, n)) throw new Error(`reduction result ${sums[0]}, want ${group}`);
  input.dispose();
  out.dispose();
  return ns / n;
}

function add(n: number): number {
  const pipeline = registry.getPipeline("elementwise_add_f32");
  const [a, b, out] = [0, 1, 2].map(() => device.allocBuffer(n * 4, DType.F32, [n]));
  a!.view(Float32Array).fill(1);
  b!.view(Float32Array).fill(2);
  const count = new Uint32Array([n]);
  const ns = bestNs(rounds, () => {
    const enc = device.commandEncoder();
    enc.dispatchThreads(pipeline, [a!, b!, out!, count], [n, 1, 1], [256, 1, 1]);
    enc.commitAndWait();
  });
  if (out!.view(Float32Array)[n - 1] !== 3) throw new Error("elementwise add gave a wrong result");
  for (const x of [a, b, out]) x!.dispose();
  return (3 * 4 * n) / ns;
}

console.log(`backend ${device.backend} (${device.name}), best of ${rounds}`);
const n = 1 << 20;
for (const group of [256, 1024]) {
  console.log(`(a) reduction, 1M elements, groups of ${group}: ${reduction(n, group).toFixed(1)} ns/thread (target <= 30)`);
}
const memcpy = memcpyGBps();
const addN = 16 << 20;
const gbps = add(addN);
console.log(`(b) f32 add, ${addN >> 20}M elements: ${gbps.toFixed(2)} GB/s; memcpy ${memcpy.toFixed(2)} GB/s; ` +
  `${((100 * gbps) / memcpy).toFixed(0)}% (target >= 60%)`);
registry.dispose();
device.dispose();
