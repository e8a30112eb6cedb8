// make lint-kernels (shim/cpu/msl_cpu/lint.cpp): each rule fails a kernel that breaks it, a kernel
// written the way Metal wants passes, and every family as the registry assembles it is clean.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { sourceUnits } from "../kernels/catalog.ts";
import { assembleUnit } from "../src/kernels.ts";
import { lintFiles } from "../shim/cpu/msl_cpu/lint_kernels.ts";
import { modernClang, testUnless } from "./support/backend.ts";

const ROOT = resolve(import.meta.dir, "..");
const LINT = join(ROOT, "build", "msl_cpu_lint");
const work = mkdtempSync(join(tmpdir(), "mlxn-msl-lint-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PRELUDE = "#include <metal_stdlib>\n#include <metal_simdgroup_matrix>\nusing namespace metal;\n";
/** A kernel around `body` (writes out[i]), with `decls` before it. */
const kernel = (decls: string, body: string) =>
  `${PRELUDE}${decls}\nkernel void k(device float* out [[buffer(0)]], uint i [[thread_position_in_grid]]) {\n${body}\n}\n`;

/** Each source breaks one rule; the pattern is what the lint must say about it. */
const BROKEN: Record<string, { source: string; says: RegExp }> = {
  program_scope_not_constant: {
    source: kernel("constexpr float SCALE = 2.0f;", "out[i] = SCALE;"),
    says: /'SCALE' has static storage duration but is not in the constant address space/,
  },
  static_member_not_constant: {
    source: kernel("struct Rows { static constexpr int CHUNK = 8; };", "out[i] = float(Rows::CHUNK);"),
    says: /'CHUNK' has static storage duration but is not in the constant address space/,
  },
  static_local_not_constant: {
    source: kernel("", "static const float table[2] = {1.0f, 2.0f};\nout[i] = table[i & 1];"),
    says: /'table' has static storage duration/,
  },
  pragma_once_in_assembled_source: {
    source: `#pragma once\n${kernel("", "out[i] = 1.0f;")}`,
    says: /#pragma once in main file/,
  },
  const_matrix_operand: {
    source: kernel("", "const simdgroup_float8x8 zero = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);\n" +
      "simdgroup_float8x8 a, b, d;\nsimdgroup_load(a, out, 8);\nsimdgroup_load(b, out, 8);\n" +
      "simdgroup_multiply_accumulate(d, a, b, zero);\nsimdgroup_store(d, out, 8);"),
    says: /no matching function for call to 'simdgroup_multiply_accumulate'/,
  },
  kernel_warning: {
    source: kernel("", "float unused = 1.0f;\nout[i] = 0.0f;"),
    says: /unused variable 'unused'.*-Werror/,
  },
  device_pointer_as_thread_pointer: {
    source: kernel("inline float first(thread float* p) { return p[0]; }", "out[i] = first(out);"),
    says: /no matching function for call to 'first'|cannot initialize|address space/,
  },
  cxx20_feature: {
    source: kernel("struct Pair { float a, b; };", "Pair p{.a = 1.0f, .b = 2.0f};\nout[i] = p.a + p.b;"),
    says: /incompatible with C\+\+ standards before C\+\+20/,
  },
  cxx20_concept: {
    source: kernel("template <typename T> concept Floating = sizeof(T) >= 2;\ntemplate <Floating T> inline T twice(T x) { return x + x; }",
      "out[i] = twice(1.0f);"),
    says: /concepts and requires-expressions are C\+\+20/,
  },
  goto_statement: {
    source: kernel("", "if (i == 0) goto done;\nout[i] = 1.0f;\ndone:\nreturn;"),
    says: /goto is not supported in Metal/,
  },
  new_and_delete: {
    source: kernel("struct Box { float v; };\ninline float boxed() { Box* b = new Box{1.0f}; float v = b->v; delete b; return v; }",
      "out[i] = boxed();"),
    says: /new and delete are not supported in Metal/,
  },
  noexcept_operator: {
    source: kernel("inline float f() { return 1.0f; }", "out[i] = noexcept(f()) ? 1.0f : 0.0f;"),
    says: /the noexcept operator is not supported in Metal/,
  },
  thread_local_variable: {
    source: kernel("thread_local float last = 0.0f;", "last = float(i);\nout[i] = last;"),
    says: /thread_local is not supported in Metal/,
  },
  virtual_function: {
    source: kernel("struct Op { virtual float apply(float x) const { return x; } };", "Op op;\nout[i] = op.apply(1.0f);"),
    says: /virtual functions are not supported in Metal/,
  },
  function_named_main: {
    source: kernel("inline float main() { return 1.0f; }", "out[i] = 1.0f;"),
    says: /cannot be named main|'main'/,
  },
};

/** Written as Metal wants it: the spellings the rules ask for must pass. */
const CLEAN = kernel(
  "constant constexpr float SCALE = 2.0f;\nconstant bool use_scale [[function_constant(0)]];\n" +
    "struct Rows { static constant constexpr int CHUNK = 8; };",
  "simdgroup_float8x8 zero = make_filled_simdgroup_matrix<float, 8, 8>(0.0f), a, d;\n" +
    "simdgroup_load(a, out, 8);\nsimdgroup_multiply_accumulate(d, a, a, zero);\nsimdgroup_multiply(d, a, a);\n" +
    "simdgroup_store(d, out, 8);\nout[i] = use_scale ? SCALE * float(Rows::CHUNK) : 1.0f;",
);

let verdicts: Map<string, string>;

const NO_CLANG = modernClang ? "" : "needs clang 17+ (make setup installs clang-19)";

beforeAll(async () => {
  if (NO_CLANG !== "") return;
  if (!existsSync(LINT)) {
    const make = Bun.spawnSync(["make", "-s", "build/msl_cpu_lint"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (make.exitCode !== 0) throw new Error(`building msl_cpu_lint failed:\n${make.stderr.toString()}`);
  }
  const files = [...Object.entries(BROKEN).map(([name, c]) => [name, c.source] as const), ["clean", CLEAN] as const].map(
    ([name, source]) => {
      const path = join(work, `${name}.metal`);
      writeFileSync(path, `#line 1 "tests/${name}.metal"\n${source}`);
      return path;
    },
  );
  const { output } = await lintFiles(LINT, files);
  // Diagnostics of one file run from its header line to the next file's.
  verdicts = new Map();
  const chunks = output.split(/^(?=msl-cpu(?: lint)?: |ok   )/m);
  for (const chunk of chunks) {
    const m = /^(?:ok {3}(\S+)|msl-cpu(?: lint)?: (?:compiling )?'([^']+)')/.exec(chunk);
    if (!m) continue;
    const name = (m[1] ?? m[2])!.replace(/^.*\//, "").replace(/\.metal$/, "");
    verdicts.set(name, (verdicts.get(name) ?? "") + chunk);
  }
}, 600000);

describe("lint-kernels rules", () => {
  const test = testUnless(NO_CLANG);
  test("a kernel written as Metal wants it passes", () => {
    expect(verdicts.get("clean")).toStartWith("ok");
  });
  for (const [name, { says }] of Object.entries(BROKEN)) {
    test(`fails: ${name.replaceAll("_", " ")}`, () => {
      const verdict = verdicts.get(name) ?? "(no output)";
      expect(verdict).not.toStartWith("ok");
      expect(verdict).toMatch(says);
    });
  }
});

describe("assembled units", () => {
  test("no catalog unit keeps a #pragma once after assembly", () => {
    const units = sourceUnits();
    expect(units.length).toBeGreaterThan(10);
    for (const unit of units) expect(assembleUnit(unit)).not.toMatch(/^\s*#\s*pragma\s+once/m);
  });
});
