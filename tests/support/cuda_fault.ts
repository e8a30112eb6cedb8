/**
 * Run by tests/cuda_backend.test.ts in a process of its own: a kernel writes through a bad
 * address; the command buffer must fail with CommandBufferError and the process must go on. Then
 * a new Device is opened: on the drivers measured (580, H100 and H200) the driver refuses every
 * new CUDA context of a process after a kernel fault (tests/support/cuda_context_probe.py tries
 * six ways), so the open must fail with a BackendError that names the earlier fault; should a
 * driver allow it, the new Device must compute correctly. Prints one JSON line.
 *
 *   --compile-only  only build the pipeline (backends where the bad write would not be caught)
 *   --add-only      only the computation on a new Device (the test runs it in a fresh process)
 */
import { BackendError, CommandBufferError, Device, DType, KernelRegistry, ops } from "../../src/index.ts";

/** Sum of a + b on `device` for a = 0..n-1, b = 0.5, and the sum it must be. */
function addOnDevice(device: Device): { sum: number; expected: number } {
  const n = 1000;
  const a = device.allocBuffer(n * 4, DType.F32, [n]);
  const b = device.allocBuffer(n * 4, DType.F32, [n]);
  const c = device.allocBuffer(n * 4, DType.F32, [n]);
  a.view(Float32Array).set(Array.from({ length: n }, (_, i) => i));
  b.view(Float32Array).fill(0.5);
  const enc = device.commandEncoder();
  ops.elementwiseAdd(enc, a, b, c);
  enc.commitAndWait();
  return { sum: c.view(Float32Array).reduce((s, v) => s + v, 0), expected: (n * (n - 1)) / 2 + 0.5 * n };
}

if (process.argv.includes("--add-only")) {
  console.log(JSON.stringify(addOnDevice(Device.open())));
  process.exit(0);
}

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

// A new device: refused with the earlier fault named, or (on a driver that allows it) correct.
let reopen: Record<string, unknown>;
try {
  reopen = { opened: true, ...addOnDevice(Device.open()) };
} catch (e) {
  reopen = { opened: false, errorType: (e as Error).constructor.name, isBackendError: e instanceof BackendError, error: (e as Error).message };
}
console.log(JSON.stringify({ faultType, isCommandBufferError, faultError, reopen }));
