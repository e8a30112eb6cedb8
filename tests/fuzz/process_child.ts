/**
 * Cases that need a process of their own: the environment is read once per process, and the
 * compiler and cache settings are fixed when a device opens. Prints one JSON outcome line.
 * Usage: bun tests/fuzz/process_child.ts <env|compile|cache>
 */
import { writeSync } from "node:fs";
import { Device, DType, KernelRegistry, MlxnError } from "../../src/index.ts";

const mode = process.argv[2];
const emit = (o: object) => writeSync(1, JSON.stringify(o) + "\n");

function kernel(value: number): string {
  return `kernel void fuzz_k${value}(device float* o [[buffer(0)]], uint g [[thread_position_in_grid]]) { o[g] = ${value}.0f; }`;
}

try {
  if (mode === "env") {
    using device = Device.open();
    emit({ outcome: "ok", detail: device.name });
  } else if (mode === "compile") {
    using device = Device.open();
    using registry = new KernelRegistry(device);
    registry.registerSource("fuzz_k1", kernel(1));
    registry.getPipeline("fuzz_k1");
    emit({ outcome: "ok", detail: "compiled" });
  } else if (mode === "cache") {
    using device = Device.open();
    using registry = new KernelRegistry(device);
    const values: number[] = [];
    for (const v of [1, 2]) {
      registry.registerSource(`fuzz_k${v}`, kernel(v));
      using out = device.allocBuffer(16, DType.F32, [4]);
      const enc = device.commandEncoder();
      enc.dispatchThreads(registry.getPipeline(`fuzz_k${v}`), [out], [4, 1, 1], [4, 1, 1]);
      enc.commitAndWait();
      values.push(...out.view(Float32Array));
    }
    emit({ outcome: "ok", detail: values.join(",") });
  }
} catch (e) {
  const typed = e instanceof MlxnError;
  emit({ outcome: typed ? "typed" : "untyped", errorClass: (e as Error).constructor?.name, argument: (e as { argument?: string }).argument, detail: (e as Error).message?.split("\n").slice(0, 2).join(" ") });
}
