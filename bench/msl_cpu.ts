/**
 * msl-cpu execution speed on the cpu backend (prints figures; asserts nothing):
 *   (a) a reduction over 1M elements with simd_sum, a threadgroup array and a barrier: every
 *       thread is a fiber, so this is the cost of the fiber runtime, in ns per thread
 *       (target <= 30; the swapcontext prototype took about 850);
 *   (b) f32 elementwise add (ops.elementwiseAdd, a plain-loop kernel) in GB/s (3 x 4 bytes per
 *       element) against memcpy on this machine (target >= 60%).
 *
 * usage: bun run bench/msl_cpu.ts [rounds=10]
 */
import { loadavg } from "node:os";
import { Device, DType, KernelRegistry, ops } from "../src/index.ts";
import { reduceSource } from "../tests/msl_cpu/sources.ts";
import { bestNs, memcpyGBps } from "./support.ts";

const rounds = Number(process.argv[2] ?? 10);
const device = Device.open();
const registry = new KernelRegistry(device);


/** Wall and CPU (all threads of the process) nanoseconds per thread of the reduction. */
function reduction(n: number, group: number): { wall: number; cpu: number } {
  registry.registerSource("tg_reduce", reduceSource);
  const pipeline = registry.getPipeline("tg_reduce");
  const groups = Math.ceil(n / group);
  const input = device.allocBuffer(n * 4, DType.F32, [n]);
  input.view(Float32Array).fill(1);
  const out = device.allocBuffer(groups * 4, DType.F32, [groups]);
  const count = new Uint32Array([n]);
  const run = () => {
    const enc = device.commandEncoder();
    enc.dispatchThreadgroups(pipeline, [out, input, count], [groups, 1, 1], [group, 1, 1]);
    enc.commitAndWait();
  };
  const ns = bestNs(rounds, run);
  // CPU time is what the fibers cost, whatever else the machine runs meanwhile.
  const c0 = process.cpuUsage();
  for (let r = 0; r < rounds; r++) run();
  const c1 = process.cpuUsage(c0);
  const cpu = ((c1.user + c1.system) * 1000) / rounds;
  const sums = out.view(Float32Array);
  if (sums[0] !== Math.min(group, n)) throw new Error(`reduction result ${sums[0]}, want ${group}`);
  input.dispose();
  out.dispose();
  return { wall: ns / n, cpu: cpu / n };
}

function add(n: number): number {
  const [a, b, out] = [0, 1, 2].map(() => device.allocBuffer(n * 4, DType.F32, [n]));
  a!.view(Float32Array).fill(1);
  b!.view(Float32Array).fill(2);
  const ns = bestNs(rounds, () => {
    const enc = device.commandEncoder();
    ops.elementwiseAdd(enc, a!, b!, out!);
    enc.commitAndWait();
  });
  if (out!.view(Float32Array)[n - 1] !== 3) throw new Error("elementwise add gave a wrong result");
  for (const x of [a, b, out]) x!.dispose();
  return (3 * 4 * n) / ns;
}

console.log(`backend ${device.backend} (${device.name}), best of ${rounds}; load average ${loadavg()[0]!.toFixed(1)}`);
const n = 1 << 20;
for (const group of [256, 1024]) {
  const { wall, cpu } = reduction(n, group);
  console.log(`(a) reduction, 1M elements, groups of ${group}: ${wall.toFixed(1)} ns/thread (target <= 30); ` +
    `CPU ${cpu.toFixed(1)} ns/thread summed over executors`);
}
const memcpy = memcpyGBps();
const addN = 16 << 20;
const gbps = add(addN);
console.log(`(b) f32 add, ${addN >> 20}M elements: ${gbps.toFixed(2)} GB/s; memcpy ${memcpy.toFixed(2)} GB/s; ` +
  `${((100 * gbps) / memcpy).toFixed(0)}% (target >= 60%)`);
registry.dispose();
device.dispose();
