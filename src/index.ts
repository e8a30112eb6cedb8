/**
 * bun-mlx-native: MLX-compatible LLM inference compute for Bun, on Apple GPUs through Metal and
 * on any CPU through msl-cpu.
 *
 * @example
 * import { Device, DType, KernelRegistry, ops } from "bun-mlx-native";
 * const device = Device.open();
 * const registry = new KernelRegistry(device);
 */
export { Device, type DeviceLimits } from "./device.ts";
export { GpuCapture } from "./capture.ts";
export { Buffer, type TypedArray, type TypedArrayConstructor } from "./buffer.ts";
export { DType, isDType } from "./dtype.ts";
export { KernelRegistry, Pipeline, pipelineKey, type FunctionConstants } from "./registry.ts";
export { CommandEncoder, type Access, type Binding, type DispatchDesc, type DispatchOptions, type Size3 } from "./encoder.ts";
export { BufferPool, type AllocRequest, type BucketStats, type PoolOptions, type PoolStats } from "./pool.ts";
export { Hazard, HazardTracker } from "./hazards.ts";
export { Graph, type GraphBuffers, type ReplayReport } from "./graph.ts";
export { Profiler, type CommandBufferRecord, type KernelTotal, type LabelTotal, type ProfilerOptions } from "./profile.ts";
export { CommandBuffer, CommandBufferStatus } from "./commandbuffer.ts";
export { EncoderSession } from "./session.ts";
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
} from "./errors.ts";
export { config, withConfig, type Config } from "./config.ts";
export { defaultBackend, type Backend } from "./ffi/loader.ts";
export * as ops from "./ops/index.ts";
export { SafetensorsArchive, readSafetensorsHeader, writeSafetensors, writeModelSafetensors, type TensorInfo, type TensorData, type SafetensorsDType } from "./io/safetensors.ts";
export { ProgressBar, type ProgressOptions } from "./io/progress.ts";
export { quantize, dequantize, MLX_BITS, MLX_GROUP_SIZES, type Quantized } from "./quant.ts";
export { readModelConfig, parseModelConfig, moduleQuantization, countParameters, SUPPORTED_MODEL_TYPES, type ModelConfig, type ModelType, type QuantSpec, type RopeScaling } from "./models/config.ts";
export { loadModelWeights, ModelWeights, modelModules, type LinearWeights, type LayerWeights, type AttentionWeights, type MlpWeights } from "./models/weights.ts";
export { Tokenizer, StreamDecoder, type ChatMessage } from "./models/tokenizer.ts";
export { createSyntheticModel, writeSyntheticModel, syntheticPreset, type SyntheticModelSpec, type SyntheticPreset, type SyntheticModel } from "./models/synthetic.ts";
export { Decoder, KVCache, type DecoderOptions, type KVCacheOptions, type SamplingParams, type LogitProcessing, type StepResult, type FloatName } from "./models/decoder.ts";
export { loadModel, loadModelSync, Model, Generation, type LoadModelOptions, type GenerateOptions, type GeneratedToken, type GenerationStats, type FinishReason } from "./models/model.ts";
export { ChatSession, commonPrefixLength, type ChatSessionOptions, type ChatGenerateOptions } from "./models/chat.ts";
export { serveOpenAI, type OpenAIServer, type ServeOptions } from "./server/openai.ts";
export { precompile, type PrecompileOptions, type PrecompileReport } from "./package/precompile.ts";
export { buildExecutable, type BuildExecutableOptions } from "./package/build_exe.ts";
