/**
 * The macOS release that introduced Metal API newer than the shim's floor (macOS 14), for the
 * stand-in headers of shim/metal/api/generate.ts.
 *
 * metal-cpp carries no availability, so this table is where it comes from: Apple's API reference
 * ("macOS 15.0+" on each page) for what WWDC24 (macOS 15) and WWDC25 (macOS 26) added around
 * compilation, command submission, residency and logging, the corners of Metal the shim touches.
 * It is not a full inventory of Metal: an API missing here is treated as available on macOS 14,
 * so the availability half of `make check-metal-api` is only as complete as this table (a Mac
 * build with `-Wunguarded-availability-new` is the full check).
 *
 * Keys: an Objective-C type (class, protocol or enum), `Type.selector` for one method, or
 * `Enum.enumerator` for one value. Availability also follows from types: a method whose
 * signature names a macOS 15 type is macOS 15 too (generate.ts derives that), and everything of
 * Metal 4 (the MTL4 prefix, MTLTensor) is macOS 26.
 */
export const INTRODUCED: Readonly<Record<string, string>> = {
  // Residency sets (WWDC24).
  MTLResidencySet: "15.0",
  MTLResidencySetDescriptor: "15.0",
  // Shader logging (WWDC24).
  MTLLogState: "15.0",
  MTLLogStateDescriptor: "15.0",
  MTLLogLevel: "15.0",
  MTLLogStateError: "15.0",
  MTLCommandQueueDescriptor: "15.0",
  "MTLCommandBufferDescriptor.logState": "15.0",
  "MTLCommandBufferDescriptor.setLogState:": "15.0",
  "MTLCompileOptions.enableLogging": "15.0",
  "MTLCompileOptions.setEnableLogging:": "15.0",
  // Math modes replace fastMathEnabled (WWDC24).
  MTLMathMode: "15.0",
  MTLMathFloatingPointFunctions: "15.0",
  // Shader validation per pipeline (WWDC24).
  MTLShaderValidation: "15.0",
  // Language versions.
  "MTLLanguageVersion.MTLLanguageVersion3_2": "15.0",
  "MTLLanguageVersion.MTLLanguageVersion4_0": "26.0",
  // Metal 4 outside the MTL4 prefix (WWDC25).
  MTLTensor: "26.0",
  MTLTensorDescriptor: "26.0",
  MTLTensorExtents: "26.0",
  MTLTensorDataType: "26.0",
  MTLTensorUsage: "26.0",
  MTLTensorError: "26.0",
  MTLTextureViewPool: "26.0",
  MTLResourceViewPool: "26.0",
  MTLResourceViewPoolDescriptor: "26.0",
  MTLTextureViewDescriptor: "26.0",
  "MTLGPUFamily.MTLGPUFamilyMetal4": "26.0",
};

/** Availability every Objective-C name with this prefix gets (Metal 4: macOS 26). */
export const INTRODUCED_BY_PREFIX: ReadonlyArray<readonly [prefix: string, version: string]> = [["MTL4", "26.0"]];

/** The deployment target the shim is built for (shim/metal/metal.mk: -mmacosx-version-min). */
export const DEPLOYMENT_TARGET = "14.0";

/** Compares dotted versions ("15.0" > "14.4"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number), pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
