/**
 * The public API is exactly the names below: src/index.ts (values and types) and the `ops`
 * namespace. A name added to or dropped from either fails here, so that every change to the
 * surface users import is a decision: update the list in the same commit, and keep internals
 * (hazard tracking, the packed record, FFI constants, loader helpers) out of src/index.ts — tests
 * import those from their own modules.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as api from "../src/index.ts";

const VALUES = `
  ArgumentError BackendError Buffer BufferPool CommandBuffer CommandBufferError CommandBufferStatus
  CommandEncoder CompileError DType Device DisposedError EncoderSession FormatError Generation
  GpuCapture Graph KVCache KernelNotFoundError KernelRegistry MlxnError Model OutOfMemoryError
  Pipeline Profiler QuantizedTable SUPPORTED_MODEL_TYPES SafetensorsArchive StreamDecoder Tokenizer
  autoBarrierConcurrentCount autoBarrierCount barrierCount barrierTotalNs cmdBufCount config
  createSyntheticModel dequantize dispatchCount loadModel ops quantize readSafetensorsHeader
  resetCounters residencyAddCount residencyCommitCount residencyRemoveCount syncCount
  syntheticPreset withConfig writeModelSafetensors writeSafetensors writeSyntheticModel
  FileError GgufFile GgufType encodeGguf ggufValue writeGguf
  loadModelSync ChatSession commonPrefixLength serveOpenAI precompile buildExecutable
`;

const TYPES = `
  Access AllocRequest Backend Binding BucketStats ChatMessage CommandBufferRecord Config
  DeviceLimits DispatchDesc DispatchOptions FinishReason FunctionConstants GenerateOptions
  GeneratedToken GenerationStats GraphBuffers KVCacheOptions KernelTotal LabelTotal
  LoadModelOptions ModelConfig ModelType PoolOptions PoolStats ProfilerOptions Quantized QuantizedTableParts
  ReplayReport SafetensorsDType SamplingParams Size3 SyntheticModel SyntheticModelSpec
  SyntheticPreset TensorData TensorInfo TensorStream TypedArray TypedArrayConstructor
  LogitProcessing ChatSessionOptions ChatGenerateOptions OpenAIServer ServeOptions
  PrecompileOptions PrecompileReport BuildExecutableOptions
  GgufArray GgufEntry GgufTensorData GgufTensorInfo GgufValue GgufWriteOptions
`;

const OPS = `
  ATTENTION_HEAD_DIMS DECODE_MAX_SPLITS MATVEC_MAX_ROWS QuantizedTable
  MAX_ROPE_POSITION TOP_K_MAX addRmsNorm argmax attentionDecode attentionDecodeScratchBytes
  attentionPrefill cast concat copy copyStrided dequantize elementwiseAdd elementwiseDiv
  elementwiseMul elementwiseSub embedding geglu gelu kvCacheAppend kvCacheCopy
  l2Norm layerNorm matmul quantize rmsNorm rope ropeFrequencies sample scalarAdd
  scalarMul sigmoid sigmoidMul silu softcap softmax swiglu topK transpose
  BlockTable MIN_TEMPERATURE MIN_TOP_P MOE_MAX_EXPERTS MOE_MAX_TOP_K TILED_ATTENTION_HEAD_DIMS
  gatherMatmul groupedMatmul moeBatchCount moeBatchElements moeCombine moeGatherRows moeRoute moeSort
  logprobChosen processLogits
`;

const list = (text: string) => text.split(/\s+/).filter(Boolean).sort();
const indexSource = readFileSync(join(import.meta.dir, "../src/index.ts"), "utf8");

/** The names src/index.ts exports as types only (`type X` inside an export list). */
function typeExports(source: string): string[] {
  const names: string[] = [];
  for (const m of source.matchAll(/export\s*\{([^}]*)\}\s*from/g)) {
    for (const part of m[1]!.split(",")) {
      const t = /^\s*type\s+(\w+)(?:\s+as\s+(\w+))?\s*$/.exec(part);
      if (t) names.push(t[2] ?? t[1]!);
    }
  }
  return names.sort();
}

test("src/index.ts exports exactly the public values", () => {
  expect(Object.keys(api).sort()).toEqual(list(VALUES));
});

test("src/index.ts exports exactly the public types", () => {
  // Only re-export lists and `export * as ops`: a bare `export *` or a local declaration would
  // add names this test cannot see in the text.
  const statements = indexSource.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, "").match(/\bexport\b[^;]*;/g) ?? [];
  for (const s of statements) expect(s).toMatch(/^export\s*(\{[^}]*\}\s*from\s*"[^"]+"|\*\s+as\s+ops\s+from\s*"\.\/ops\/index\.ts");$/);
  expect(typeExports(indexSource)).toEqual(list(TYPES));
});

test("ops exports exactly the public ops and their constants", () => {
  expect(Object.keys(api.ops).sort()).toEqual(list(OPS));
});
