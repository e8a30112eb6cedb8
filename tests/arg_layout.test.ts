/**
 * The argument structs of the matmul/quantized and attention families, as the kernels' compiler
 * lays them out, agree with the TS layout descriptions that write them (src/ops/args.ts): a kernel
 * generated from each description writes back sizeof and every field's offset.
 */
import { expect, test } from "bun:test";
import { DType } from "../src/index.ts";
import { assembleSource } from "../src/kernels.ts";
import type { ArgStruct } from "../src/ops/args.ts";
import { AttentionArgs } from "../src/ops/attention.ts";
import { MatmulArgs } from "../src/ops/quantize.ts";
import { fixture } from "./support/fixtures.ts";

const structs: [ArgStruct<string>, string][] = [
  [MatmulArgs, "quantized.h"],
  [AttentionArgs, "attention.h"],
];

for (const [layout, header] of structs) {
  test(`${layout.name} (kernels/${header}) matches its TS layout`, () => {
    const { device, registry } = fixture();
    const fields = Object.keys(layout.offsets);
    const name = `layout_probe_${layout.name}`;
    const body = fields.map((f, i) => `  out[${i + 1}] = uint((thread char*)&s.${f} - (thread char*)&s);`).join("\n");
    const source = `#include "${header}"\nkernel void ${name}(device uint* out [[buffer(0)]], uint i [[thread_position_in_grid]]) {\n  if (i != 0) return;\n  ${layout.name} s;\n  out[0] = uint(sizeof(${layout.name}));\n${body}\n}\n`;
    registry.registerSource(name, assembleSource(`${name}.metal`, source));
    const out = device.allocBuffer(4 * (fields.length + 1), DType.U32, [fields.length + 1]);
    const enc = device.commandEncoder();
    enc.dispatchThreads(registry.getPipeline(name), [out], [1, 1, 1], [1, 1, 1]);
    enc.commitAndWait();
    expect([...out.view(Uint32Array)]).toEqual([layout.byteLength, ...fields.map((f) => layout.offsets[f]!)]);
    out.dispose();
  });
}
