/**
 * Ops: `ops.x(enc, inputs…, out, params?)`. Each reads dtypes and shapes from its buffers,
 * validates them (an `ArgumentError` names the buffer that disagrees), takes its pipelines from
 * `enc.device.kernels` and encodes its dispatches with declared reads and writes.
 */
export {
  elementwiseAdd,
  elementwiseSub,
  elementwiseMul,
  elementwiseDiv,
  scalarAdd,
  scalarMul,
  cast,
  copy,
  copyStrided,
  concat,
  transpose,
  type BinaryOp,
  type CopyOptions,
  type StridedCopyParams,
} from "./elementwise.ts";
export { silu, sigmoid, gelu, softcap, swiglu, sigmoidMul, geglu, type GeluApproximation, type GeluParams, type SoftcapParams } from "./activations.ts";
export { rope, ropeFrequencies, MAX_ROPE_POSITION, type RopeParams, type RopeScaling } from "./rope.ts";
export { embedding } from "./embedding.ts";
export { QuantizedTable, type QuantizedTableParts } from "./quantized.ts";
export { BlockTable, type BlockTableParts } from "./block_table.ts";
export { kvCacheAppend, kvCacheCopy, type KvAppendParams, type KvCopyParams } from "./kvcache.ts";
export { rmsNorm, addRmsNorm, l2Norm, layerNorm, type NormParams } from "./norms.ts";
export { softmax, type SoftmaxParams, type CausalMask } from "./softmax.ts";
export { argmax, topK, sample, TOP_K_MAX, MIN_TEMPERATURE, MIN_TOP_P, type SelectParams, type SampleParams } from "./sampling.ts";
export { quantize, dequantize } from "./quantize.ts";
export { matmul, MATVEC_MAX_ROWS, type MatmulParams, type MatmulPath } from "./matmul.ts";
export { moeRoute, gatherMatmul, moeCombine, moeSort, moeGatherRows, groupedMatmul, moeBatchCount, moeBatchElements, MOE_MAX_EXPERTS, MOE_MAX_TOP_K, type MoeRouteParams, type GatherMatmulParams, type MoeCombineParams, type MoeSortParams, type MoeGatherRowsParams, type QuantizedExperts, type StackedExperts } from "./moe.ts";
export { attentionDecode, attentionPrefill, attentionDecodeScratchBytes, ATTENTION_HEAD_DIMS, TILED_ATTENTION_HEAD_DIMS, DECODE_MAX_SPLITS, type AttentionParams, type PrefillParams, type AttentionMask } from "./attention.ts";
export { processLogits, logprobChosen, type ProcessLogitsParams, type LogitLists } from "./logits.ts";
