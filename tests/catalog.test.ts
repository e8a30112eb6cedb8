/**
 * The kernel catalog (kernels/catalog.ts) is the one list of kernel variants: names are unique,
 * each compile unit's source instantiates exactly its variants, every variant compiles on the
 * active backend, and the ops' variant lists come from it.
 *
 * "Compiles" on the cpu backend: one library holding every variant's instantiation line. A
 * library that declares function constants is created by msl-cpu with clang -fsyntax-only
 * (objects are built per specialisation when a pipeline is made), which parses the headers and
 * instantiates and type-checks every template variant without generating code: about 2 s for all
 * of them, where building objects for every unit takes minutes. The object code of the variants
 * the suite runs is built by the conformance tests. On Metal the same library is compiled in full.
 */
import { expect, test } from "bun:test";
import { allVariants, instantiation, sourceUnits, unitSource, unitVariants } from "../kernels/catalog.ts";
import { AFFINE_BITS, AFFINE_GROUP_SIZES, ATTENTION_HEAD_DIMS, DType, FLOATS, KernelRegistry, kernels, MLX_BITS, MLX_GROUP_SIZES, ops } from "../src/index.ts";
import { FLOAT_DTYPES } from "../src/ops/validate.ts";
import { fixture } from "./support/fixtures.ts";

test("kernel names are unique and every variant belongs to one compile unit", () => {
  const names = allVariants().map((v) => v.name);
  expect(new Set(names).size).toBe(names.length);
  const inUnits = sourceUnits().flatMap((u) => unitVariants(u).map((v) => v.name));
  expect(inUnits.sort()).toEqual([...names].sort());
  for (const v of allVariants()) expect(v.spec.has(v.variant)).toBe(true);
});

test("a unit's source instantiates exactly its variants, after its header", () => {
  for (const unit of sourceUnits()) {
    const text = unitSource(unit);
    const members = unitVariants(unit);
    expect(text).toContain(`#include "${members[0]!.spec.header}"`);
    const lines = text.split("\n").filter((l) => l.startsWith("template [[host_name("));
    expect(lines).toEqual(members.map((m) => instantiation(m.spec, m.variant)));
  }
});

test("the variant lists of ops, quantization and models are the catalog's", () => {
  expect(FLOAT_DTYPES).toBe(FLOATS);
  expect(MLX_BITS).toBe(AFFINE_BITS);
  expect(MLX_GROUP_SIZES).toBe(AFFINE_GROUP_SIZES);
  expect(ops.ATTENTION_HEAD_DIMS).toBe(ATTENTION_HEAD_DIMS);
  expect(FLOATS).toEqual([DType.F32, DType.F16, DType.BF16]);
  expect(kernels.sdpaDecode.variants().length).toBe(FLOATS.length ** 2 * ATTENTION_HEAD_DIMS.length);
});

test(
  "every catalog variant compiles on the active backend (one library)",
  () => {
    const { device } = fixture();
    const headers = [...new Set(allVariants().map((v) => v.spec.header))];
    // Declared so that msl-cpu checks this library without building objects (see the module comment).
    const text = [
      ...headers.map((h) => `#include "${h}"`),
      "constant bool catalog_check_syntax_only [[function_constant(0)]];",
      ...allVariants().map((v) => instantiation(v.spec, v.variant)),
    ].join("\n");
    const { assembleSource } = require("../src/kernels.ts") as typeof import("../src/kernels.ts");
    const registry = new KernelRegistry(device);
    registry.registerSource("catalog_check", assembleSource("catalog_check.metal", text));
    try {
      // The library is compiled when the first pipeline is asked for; the name is not a kernel.
      expect(() => registry.getPipeline("catalog_check")).toThrow(/no kernel function 'catalog_check'/);
      expect(registry.libraryCount).toBe(1);
    } finally {
      registry.dispose();
    }
  },
  120_000,
);
