/**
 * bun-mlx-native: MLX-compatible LLM inference compute for Bun, on Apple GPUs through Metal and
 * on any CPU through msl-cpu.
 *
 * This module is the public API, and only that: what an application, a user kernel or a demo
 * needs. Internals (hazard tracking, the packed dispatch record, FFI constants, weight-loading
 * helpers) are imported from their own modules by the library and its tests.
 * `tests/public_api.test.ts` lists every name exported here, so an addition is a decision.
 *
 * @example
 * import { Device, DType, KernelRegistry, ops } from "bun-mlx-native";
 * const device = Device.open();
 * const registry = new KernelRegistry(device);
 */

// Devices, memory and kernels.
export { Device, type DeviceLimits } from "./device.ts";
export { type Backend } from "./ffi/loader.ts";
export { GpuCapture } from "./capture.ts";
export { Buffer, type TypedArray, type TypedArrayConstructor } from "./buffer.ts";
export { DType } from "./dtype.ts";
export { BufferPool, type AllocRequest, type BucketStats, type PoolOptions, type PoolStats } from "./pool.ts";
export { KernelRegistry, Pipeline, type FunctionConstants } from "./registry.ts";
export { QuantizedTable, type QuantizedTableParts } from "./ops/quantized.ts";

// Encoding and submitting work.
export { CommandEncoder, type Access, type Binding, type DispatchDesc, type DispatchOptions, type Size3 } from "./encoder.ts";
export { CommandBuffer, CommandBufferStatus } from "./commandbuffer.ts";
export { EncoderSession } from "./session.ts";
export { Graph, type GraphBuffers, type ReplayReport } from "./graph.ts";
export * as ops from "./ops/index.ts";

// Observing: counters and profiles.
export { Profiler, type CommandBufferRecord, type KernelTotal, type LabelTotal, type ProfilerOptions } from "./profile.ts";
export {
  cmdBufCount,
  dispatchCount,
  barrierCount,
  barrierTotalNs,
  syncCount,
  autoBarrierCount,
  autoBarrierConcurrentCount,
  residencyAddCount,
  residencyRemoveCount,
  residencyCommitCount,
  resetCounters,
} from "./counters.ts";

// Errors and configuration.
export {
  MlxnError,
  ArgumentError,
  DisposedError,
  KernelNotFoundError,
  CompileError,
  OutOfMemoryError,
  CommandBufferError,
  BackendError,
  FormatError,
  FileError,
} from "./errors.ts";
export { config, withConfig, type Config } from "./config.ts";

// Weights: files and quantization.
export { SafetensorsArchive, readSafetensorsHeader, writeSafetensors, writeModelSafetensors, type TensorInfo, type TensorData, type TensorStream, type SafetensorsDType } from "./io/safetensors.ts";
export { quantize, dequantize, type Quantized } from "./quant.ts";
export { GgufFile, encodeGguf, writeGguf, ggufValue, GgufType, type GgufValue, type GgufArray, type GgufEntry, type GgufTensorInfo, type GgufTensorData, type GgufWriteOptions } from "./io/gguf.ts";

// Models: loading, generating, tokenizing, and synthetic models for demos.
export { loadModel, Model, Generation, type LoadModelOptions, type GenerateOptions, type GeneratedToken, type GenerationStats, type FinishReason } from "./models/model.ts";
export { KVCache, type KVCacheOptions, type SamplingParams } from "./models/decoder.ts";
export { SUPPORTED_MODEL_TYPES, type ModelConfig, type ModelType } from "./models/config.ts";
export { Tokenizer, StreamDecoder, type ChatMessage } from "./models/tokenizer.ts";
export { createSyntheticModel, writeSyntheticModel, syntheticPreset, type SyntheticModelSpec, type SyntheticPreset, type SyntheticModel } from "./models/synthetic.ts";
export { loadModelSync } from "./models/model.ts";
export { type LogitProcessing } from "./models/decoder.ts";
export { ChatSession, commonPrefixLength, type ChatSessionOptions, type ChatGenerateOptions } from "./models/chat.ts";
export { serveOpenAI, type OpenAIServer, type ServeOptions } from "./server/openai.ts";
export { precompile, type PrecompileOptions, type PrecompileReport } from "./package/precompile.ts";
export { buildExecutable, type BuildExecutableOptions } from "./package/build_exe.ts";
