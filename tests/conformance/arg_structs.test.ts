/**
 * The TS layout description of every kernel argument struct (src/ops/args.ts) agrees with the
 * struct its kernels/ header declares: for each header, a generated probe kernel reads every
 * field of its structs from inline bytes written by `ArgStruct.write` and returns the raw bits
 * and `sizeof`, so a field out of order, a wrong type or a size mismatch fails here on every
 * backend, before it can corrupt an op.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DType, KernelRegistry, ops } from "../../src/index.ts";
import { assembleSource } from "../../src/kernels.ts";
import { type ArgStruct, describedArgStructs } from "../../src/ops/args.ts";
import { fixture } from "../support/fixtures.ts";

void ops; // importing the ops describes their structs
const kernelsDir = join(import.meta.dir, "..", "..", "kernels");
const headers = readdirSync(kernelsDir).filter((f) => f.endsWith(".h"));

/** The header of kernels/ that declares `struct name {`. */
function headerOf(name: string): string | undefined {
  const pattern = new RegExp(`\\bstruct\\s+${name}\\s*\\{`);
  return headers.find((h) => pattern.test(readFileSync(join(kernelsDir, h), "utf8")));
}

/** Distinct test values per field: u32 1000 + i, i32 -(i + 1), f32 i + 0.25. */
function sampleValues(s: ArgStruct<string>): Record<string, number> {
  return Object.fromEntries(s.fields.map(([k, t], i) => [k, t === "u32" ? 1000 + i : t === "i32" ? -(i + 1) : i + 0.25]));
}

const byHeader = new Map<string, ArgStruct<string>[]>();
for (const s of describedArgStructs()) {
  const h = headerOf(s.name);
  if (h === undefined) throw new Error(`no kernels/*.h declares struct ${s.name}`);
  byHeader.set(h, [...(byHeader.get(h) ?? []), s]);
}

describe("kernel argument structs: TS layout = MSL layout", () => {
  const { device } = fixture();
  for (const [header, structs] of byHeader) {
    test(`${header}: ${structs.map((s) => s.name).join(", ")}`, () => {
      // One probe kernel per header: binding i is struct i, the last binding the output words.
      const params = structs.map((s, i) => `constant ${s.name}& a${i} [[buffer(${i})]]`);
      const body: string[] = [];
      let at = 0;
      structs.forEach((s, i) => {
        body.push(`  out[${at++}] = uint(sizeof(${s.name}));`);
        for (const [field] of s.fields) body.push(`  out[${at++}] = as_type<uint>(a${i}.${field});`);
      });
      const source = [
        "#include <metal_stdlib>",
        `#include "${header}"`,
        "using namespace metal;",
        `kernel void arg_struct_probe(${params.join(", ")}, device uint* out [[buffer(${structs.length})]], uint i [[thread_position_in_grid]]) {`,
        "  if (i != 0) return;",
        ...body,
        "}",
      ].join("\n");
      const registry = new KernelRegistry(device);
      // Headers are inlined as for a family file (Metal compiles sources with no include path).
      registry.registerSource("arg_struct_probe", assembleSource("arg_struct_probe.metal", source));
      const out = device.allocBuffer(4 * at, DType.U32, [at]);
      const enc = device.commandEncoder();
      // Each write() reuses its struct's scratch, which the encoder copies at once.
      const bindings = [...structs.map((s) => s.write(sampleValues(s)).slice()), out];
      enc.dispatchThreads(registry.getPipeline("arg_struct_probe"), bindings, [1, 1, 1], [1, 1, 1]);
      enc.commitAndWait();
      const got = [...out.view(Uint32Array)];
      const want: number[] = [];
      structs.forEach((s, i) => {
        want.push(s.byteLength);
        want.push(...(bindings[i] as Uint32Array));
      });
      expect(got).toEqual(want);
      out.dispose();
      registry.dispose();
    }, 180_000);
  }
});
