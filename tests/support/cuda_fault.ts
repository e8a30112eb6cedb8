/**
 * Run by tests/cuda_backend.test.ts in a process of its own (a CUDA fault poisons the context
 * every Device of a process shares until it is recreated): a kernel writes through a bad address;
 * the command buffer must fail with CommandBufferError, the process must go on, and a Device
 * opened afterwards must compute correctly. Prints one JSON line. With `--compile-only` (on
 * backends where the bad write would not be caught) it only builds the pipeline.
 */
import { CommandBufferError, Device, DType, KernelRegistry, ops } from "../../src/index.ts";

const source = `
#include <metal_stdlib>
using namespace metal;
kernel void cuda_fault_write(device float* out [[buffer(0)]], constant ulong& bad [[buffer(1)]],
                             uint i [[thread_position_in_grid]]) {
  device float* wild = reinterpret_cast<device float*>(bad);
  wild[i] = out[i];
}
`;

const device = Device.open();
const registry = new KernelRegistry(device);
registry.registerSource("cuda_fault_write", source);
const pipeline = registry.getPipeline("cuda_fault_write");
if (process.argv.includes("--compile-only")) {
  console.log(JSON.stringify({ compiled: pipeline.name }));
  process.exit(0);
}
const out = device.allocBuffer(1024 * 4, DType.F32, [1024]);
let faultError = "";
let faultType = "";
const enc = device.commandEncoder();
try {
  enc.dispatchThreads(pipeline, [out, new BigUint64Array([0x10n])], [1024, 1, 1], [256, 1, 1], { reads: [0] });
  enc.commitAndWait();
} catch (e) {
  faultType = (e as Error).constructor.name;
  faultError = (e as Error).message;
}
const isCommandBufferError = faultType === CommandBufferError.name;

// A new device (a fresh CUDA context) computes as before.
const fresh = Device.open();
const n = 1000;
const a = fresh.allocBuffer(n * 4, DType.F32, [n]);
const b = fresh.allocBuffer(n * 4, DType.F32, [n]);
const c = fresh.allocBuffer(n * 4, DType.F32, [n]);
a.view(Float32Array).set(Array.from({ length: n }, (_, i) => i));
b.view(Float32Array).fill(0.5);
const e2 = fresh.commandEncoder();
ops.elementwiseAdd(e2, a, b, c);
e2.commitAndWait();
const sum = c.view(Float32Array).reduce((s, v) => s + v, 0);
console.log(JSON.stringify({ faultType, isCommandBufferError, faultError, sum, expected: (n * (n - 1)) / 2 + 0.5 * n }));
