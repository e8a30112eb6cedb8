/**
 * The public `ops` namespace: the ops of ./all.ts, each checked by ./guard.ts for its encoder
 * argument first (a null or plain object is an ArgumentError naming `enc`, not a TypeError from
 * inside the op). The library itself calls ./all.ts directly.
 */
import * as all from "./all.ts";
import { guardOps } from "./guard.ts";

export type * from "./all.ts";
export { BlockTable, QuantizedTable } from "./all.ts";
export { ATTENTION_HEAD_DIMS, DECODE_MAX_SPLITS, MATVEC_MAX_ROWS, MAX_ROPE_POSITION, MIN_TEMPERATURE, MIN_TOP_P, MOE_MAX_EXPERTS, MOE_MAX_TOP_K, TILED_ATTENTION_HEAD_DIMS, TOP_K_MAX } from "./all.ts";

const guarded = guardOps(all);
export const addRmsNorm = guarded.addRmsNorm;
export const argmax = guarded.argmax;
export const attentionDecode = guarded.attentionDecode;
export const attentionDecodeScratchBytes = guarded.attentionDecodeScratchBytes;
export const attentionPrefill = guarded.attentionPrefill;
export const cast = guarded.cast;
export const concat = guarded.concat;
export const copy = guarded.copy;
export const copyStrided = guarded.copyStrided;
export const dequantize = guarded.dequantize;
export const elementwiseAdd = guarded.elementwiseAdd;
export const elementwiseDiv = guarded.elementwiseDiv;
export const elementwiseMul = guarded.elementwiseMul;
export const elementwiseSub = guarded.elementwiseSub;
export const embedding = guarded.embedding;
export const gatherMatmul = guarded.gatherMatmul;
export const geglu = guarded.geglu;
export const gelu = guarded.gelu;
export const groupedMatmul = guarded.groupedMatmul;
export const kvCacheAppend = guarded.kvCacheAppend;
export const kvCacheCopy = guarded.kvCacheCopy;
export const l2Norm = guarded.l2Norm;
export const layerNorm = guarded.layerNorm;
export const matmul = guarded.matmul;
export const moeBatchCount = guarded.moeBatchCount;
export const moeBatchElements = guarded.moeBatchElements;
export const moeCombine = guarded.moeCombine;
export const moeGatherRows = guarded.moeGatherRows;
export const moeRoute = guarded.moeRoute;
export const moeSort = guarded.moeSort;
export const quantize = guarded.quantize;
export const rmsNorm = guarded.rmsNorm;
export const rope = guarded.rope;
export const ropeFrequencies = guarded.ropeFrequencies;
export const sample = guarded.sample;
export const scalarAdd = guarded.scalarAdd;
export const scalarMul = guarded.scalarMul;
export const sigmoid = guarded.sigmoid;
export const sigmoidMul = guarded.sigmoidMul;
export const silu = guarded.silu;
export const softcap = guarded.softcap;
export const softmax = guarded.softmax;
export const swiglu = guarded.swiglu;
export const topK = guarded.topK;
export const transpose = guarded.transpose;
export const logprobChosen = guarded.logprobChosen;
export const processLogits = guarded.processLogits;
