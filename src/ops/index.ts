/** Ops: each validates its arguments, picks a pipeline and encodes its dispatches. */
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
  type BinaryOptions,
  type CopyOptions,
  type StridedCopyParams,
  type ConcatInput,
  type TransposeParams,
} from "./elementwise.ts";
export { silu, sigmoid, gelu, softcap, swiglu, sigmoidMul, geglu, type GeluApproximation } from "./activations.ts";
export { rope, ropeFrequencies, MAX_ROPE_POSITION, type RopeParams, type RopeScaling } from "./rope.ts";
export { embedding, embeddingAffine, AFFINE_BITS, AFFINE_GROUP_SIZES, type EmbeddingParams, type AffineTable, type AffineEmbeddingParams } from "./embedding.ts";
export { kvCacheAppend, kvCacheCopy, type KvAppendParams, type KvCopyParams } from "./kvcache.ts";
export { rmsNorm, addRmsNorm, l2Norm, layerNorm, type NormParams } from "./norms.ts";
export { softmax, type SoftmaxParams, type CausalMask } from "./softmax.ts";
export { argmax, topK, sample, TOP_K_MAX, type SelectParams, type TopKParams, type SampleParams } from "./sampling.ts";
export { quantize, dequantize, type QuantizeParams } from "./quantize.ts";
export { matmul, quantizedMatmul, MATVEC_MAX_ROWS, type MatmulParams, type QuantizedMatmulParams, type MatmulPath } from "./matmul.ts";
export { attentionDecode, attentionPrefill, attentionDecodeScratchBytes, ATTENTION_HEAD_DIMS, DECODE_MAX_SPLITS, type AttentionParams, type PrefillParams, type AttentionMask } from "./attention.ts";
export { processLogits, logprobChosen, type ProcessLogitsParams, type LogitLists } from "./logits.ts";
