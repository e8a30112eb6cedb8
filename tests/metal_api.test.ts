// make check-metal-api (shim/metal/api/check.ts): the shim passes against metal-cpp's API, and
// each kind of mistake the check exists for fails it, planted in a copy of the shim.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkMetalApi, findClang, findMetalCpp } from "../shim/metal/api/check.ts";
import { generateMetalHeader, type GeneratedMetal } from "../shim/metal/api/generate.ts";

const SHIM = join(import.meta.dir, "..", "shim", "metal");
const metalCpp = findMetalCpp();
const clang = findClang();
const skip = !metalCpp || !clang;
if (skip) console.warn(`metal_api.test.ts skipped: ${!metalCpp ? "metal-cpp not found (MLXN_METAL_CPP or ../shared/third_party/metal-cpp)" : "no clang"}`);

const work = mkdtempSync(join(tmpdir(), "mlxn-metal-api-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let generated: GeneratedMetal | undefined;
const header = () => (generated ??= generateMetalHeader(metalCpp!));

/** Checks a copy of internal.h and `file` with `from` replaced by `to` (which must occur); the
 * unchanged shim passes (first test), so a failure is the planted mistake's. */
function checkPlanted(name: string, file: string, from: string, to: string) {
  const dir = join(work, name);
  const original = readFileSync(join(SHIM, file), "utf8");
  expect(original).toContain(from);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(SHIM, "internal.h"), join(dir, "internal.h"));
  writeFileSync(join(dir, file), original.replace(from, to));
  return checkMetalApi({ metalCpp: metalCpp!, clang: clang!, shimDir: dir, outDir: join(dir, "out"), generated: header() });
}

describe.skipIf(skip)("check-metal-api", () => {
  test("shim/metal passes, and every availability.ts entry names a declaration of metal-cpp", () => {
    const result = checkMetalApi({ metalCpp: metalCpp!, clang: clang!, shimDir: SHIM, outDir: join(work, "out"), generated: header() });
    expect(result.output).toBe("");
    expect(result.ok).toBe(true);
    expect(result.files.length).toBeGreaterThan(5);
    expect(result.unmatchedAvailability).toEqual([]);
    // The generator found Metal's API, not a fragment of it.
    expect(result.counts.methods).toBeGreaterThan(2000);
    expect(result.counts.enums).toBeGreaterThan(100);
  });

  test("the generated header carries selectors, types, enum values and availability", () => {
    const h = header().header;
    expect(h).toContain("- (id<MTLBuffer>)newBufferWithLength:(NSUInteger)a0 options:(MTLResourceOptions)a1;");
    expect(h).toMatch(/@protocol MTLComputeCommandEncoder <MTLCommandEncoder>/);
    expect(h).toMatch(/@interface MTLCompileOptions : NSObject <NSCopying>/);
    expect(h).toMatch(/MTLLanguageVersion3_1 = 196609,/);
    expect(h).toMatch(/API_AVAILABLE\(macos\(15\.0\)\)\n@protocol MTLResidencySet /);
    // Derived availability: the method returns a macOS 15 type.
    expect(h).toMatch(/newResidencySetWithDescriptor:\(MTLResidencySetDescriptor \*\)a0 error:\(NSError \*\*\)a1 API_AVAILABLE\(macos\(15\.0\)\);/);
  });

  test("a misspelled selector fails", () => {
    const planted = checkPlanted("selector", "buffer.m", "newBufferWithLength:length", "newBufferWithLenght:length");
    expect(planted.ok).toBe(false);
    expect(planted.output).toMatch(/newBufferWithLenght/);
  });

  test("an argument of the wrong type fails", () => {
    const planted = checkPlanted("argument", "encoder.m", "[enc.encoder setBuffer:b offset:offset atIndex:index];",
      "[enc.encoder setBuffer:enc.pipeline offset:offset atIndex:index];");
    expect(planted.ok).toBe(false);
    expect(planted.output).toMatch(/MTLComputePipelineState.*MTLBuffer|incompatible/);
  });

  test("a macOS 15 API outside @available fails", () => {
    const planted = checkPlanted("availability", "library.m", "if (@available(macOS 15.0, *)) {\n    options.mathMode", "if (1) {\n    options.mathMode");
    expect(planted.ok).toBe(false);
    expect(planted.output).toMatch(/only available on macOS 15\.0 or newer/);
  });

  test("an enum value of another enum type fails", () => {
    const planted = checkPlanted("enum", "buffer.m", "options:MTLResourceStorageModeShared", "options:MTLStorageModeShared");
    expect(planted.ok).toBe(false);
    expect(planted.output).toMatch(/MTLStorageMode.*MTLResourceOptions|enumeration type/);
  });
});
