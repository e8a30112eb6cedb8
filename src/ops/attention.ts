/**
 * Scaled dot-product attention over a KV cache, with grouped-query heads (kernels/attention.h,
 * kernels/attention_prefill.h): `out = softmax(scale · q kᵀ + mask) v` per query head, reading KV
 * head `h / (heads / kvHeads)`.
 *
 * Layouts, read from the buffers' shapes: q and out are [..., tokens, heads, headDim] (as a
 * projection writes them; decode has one token); the caches k and v are [kvHeads, capacity,
 * headDim] with `kvLen` valid rows (as `kvCacheAppend` writes them); q and out share one dtype,
 * k and v another. The `qLen` queries are the last `qLen` positions of the cache.
 * A key at position j is attended by the query at position p when j ≤ p (causal), and
 * j > p − window when a sliding window is set; an optional additive mask (of q's type,
 * −inf to mask) is added to the scaled scores. A query with no attended key yields zeros.
 *
 * Decode splits the cache across threadgroups and combines the partial results in a second
 * dispatch; the partials go to a caller-owned scratch buffer of `attentionDecodeScratchBytes`.
 */
import { ATTENTION_HEAD_DIMS, kernels, TILED_ATTENTION_HEAD_DIMS } from "../../kernels/catalog.ts";
import type { Buffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { Binding, CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import { argStruct } from "./args.ts";
import { access, groupFor } from "./common.ts";
import { checkBuffer, checkCount, checkElements, checkFloat, checkInt, checkNumber, checkOneOf, checkOptions, checkRank, checkSameDType, checkStrided, MAX_ELEMENTS } from "./validate.ts";

export { ATTENTION_HEAD_DIMS, TILED_ATTENTION_HEAD_DIMS };
/** Most partial results per head decode makes (bounds the scratch buffer). */
export const DECODE_MAX_SPLITS = 128;
/**
 * Positions per decode split the op aims for: enough threadgroups for a long cache, few partials
 * for a short one. Where lanes are in hardware (a GPU) the aim is threadgroups for every core: at
 * 256 positions a 4k cache of 8 KV heads was 32 threadgroups for the H100's 132 cores (3.7 % of
 * its bandwidth); at 32 it is 256. Up to `cpu` positions there is no split on either, as the
 * reduction is one more dispatch (about 4 µs on the H100, more than the split saves there). On
 * msl-cpu each split costs a pass of the reduction, and 256 suits its few cores.
 */
const DECODE_SPLIT_POSITIONS = { cpu: 256, gpu: 32 } as const;
/** Geometry of the kernels. */
const DEC_SIMDGROUPS = 4; // = kernels/attention.h: DEC_SIMDGROUPS
const DEC_MAX_HEADS = 8; // = kernels/attention.h: DEC_MAX_HEADS
const PF_QUERIES = 32; // = kernels/attention_prefill.h: PF_BQ
const THREADS = 128;

/** The argument struct of the attention kernels (kernels/attention.h). */
export const AttentionArgs = argStruct("AttentionArgs", {
  n_heads: "u32",
  n_kv_heads: "u32",
  head_dim: "u32",
  q_len: "u32",
  kv_len: "u32",
  q_head_stride: "u32",
  q_tok_stride: "u32",
  kv_head_stride: "u32",
  causal: "u32",
  window: "u32",
  has_mask: "u32",
  mask_head_stride: "u32",
  mask_row_stride: "u32",
  scale_log2: "f32",
  kv_start: "u32",
  chunk: "u32",
  n_splits: "u32",
});

// Bindings: 0 q, 1 k, 2 v, 3 mask (q when there is none), 4 out, 5 partial (decode).
const DECODE_DIRECT_ACCESS = access([0, 1, 2, 3, 5], [4]);
const DECODE_SPLIT_ACCESS = access([0, 1, 2, 3, 4], [5]);
const REDUCE_ACCESS = access([0], [1]);
const PREFILL_ACCESS = access([0, 1, 2, 3], [4]);

/** An additive mask: element (h, i, j) at `h · headStride + i · rowStride + j`. */
export interface AttentionMask {
  /** Of the queries' type; 0 to attend, −inf to mask. */
  buffer: Buffer;
  /** Elements between heads; 0 (the default) shares one mask between all heads. */
  headStride?: number;
  /** Elements between query rows (prefill; default `kvLen`). */
  rowStride?: number;
}

export interface AttentionParams {
  /** Valid rows of the cache, the new tokens included (≤ the caches' capacity). */
  kvLen: number;
  /** Softmax scale (default 1/√headDim). */
  scale?: number;
  /** Sliding window: a query attends the last `window` positions up to its own (default: all). */
  window?: number;
  mask?: AttentionMask;
}

export interface PrefillParams extends AttentionParams {
  /** Restrict each query to keys at or before its position (default true). */
  causal?: boolean;
  /**
   * Kernel: "tiled" (simdgroup-matrix flash attention; the default on GPUs) or "vector" (the
   * decode kernel once per query; the default on the cpu backend, where msl-cpu runs simdgroup
   * matrices as SIMD-group collectives and the tiled kernel measured about 8× slower: 0.8
   * against 6.9 GFLOP/s, 32 heads of 128, 256 and 1024 tokens).
   */
  path?: "tiled" | "vector";
}

const PREFILL_PATHS = ["tiled", "vector"] as const;

const COMMON_KEYS = ["kvLen", "scale", "window", "mask"] as const;
const REQUIRED_KEYS = ["kvLen"] as const;

/** Bytes of scratch `attentionDecode` needs for `heads` query heads of `headDim`. */
export function attentionDecodeScratchBytes(heads: number, headDim: number): number {
  return heads * DECODE_MAX_SPLITS * (headDim + 2) * 4;
}

interface Checked {
  dtype: DType;
  kvDType: DType;
  heads: number;
  kvHeads: number;
  headDim: number;
  qLen: number;
  kvLen: number;
  capacity: number;
  scaleLog2: number;
  window: number;
  mask: Buffer | undefined;
  maskHeadStride: number;
  maskRowStride: number;
}

/** Validate the buffers and what decode and prefill share. */
function checkCommon(p: AttentionParams, q: Buffer, k: Buffer, v: Buffer, out: Buffer): Checked {
  const dtype = checkFloat("q", q);
  checkSameDType("out", out, dtype, "q");
  const kvDType = checkFloat("k", k);
  checkSameDType("v", v, kvDType, "k");
  if (k.shape.length !== 3) throw new ArgumentError("k", `must be 3-D [kvHeads, capacity, headDim] (got shape [${k.shape.join(", ")}])`);
  if (v.shape.length !== 3 || v.shape.some((d, i) => d !== k.shape[i])) throw new ArgumentError("v", `shape mismatch: must be k's [${k.shape.join(", ")}] (got [${v.shape.join(", ")}])`);
  const [kvHeads, capacity, headDim] = k.shape as [number, number, number];
  checkOneOf("k (last dimension: headDim)", headDim, ATTENTION_HEAD_DIMS);
  checkCount("k (kvHeads)", kvHeads);
  checkCount("k (capacity)", capacity);
  checkRank("q", q, 2, "[..., tokens, heads, headDim]");
  const heads = q.shape[q.shape.length - 2]!;
  if (q.shape[q.shape.length - 1] !== headDim) throw new ArgumentError("q", `shape mismatch: its last dimension must be k's headDim ${headDim} (got shape [${q.shape.join(", ")}])`);
  checkCount("q (heads)", heads);
  const qLen = q.elementCount / (heads * headDim);
  checkCount("q (tokens)", qLen);
  checkElements("out", out, q.elementCount, "as many as q");
  const { kvLen } = p;
  if (heads % kvHeads !== 0) throw new ArgumentError("k", `its kvHeads (${kvHeads}) must divide q's heads (${heads})`);
  checkInt("params.kvLen", kvLen, 1, capacity);
  if (qLen > kvLen) throw new ArgumentError("params.kvLen", `must be at least q's ${qLen} tokens: the queries are the last positions of the cache (got ${kvLen})`);
  const scale = p.scale ?? 1 / Math.sqrt(headDim);
  checkNumber("params.scale", scale);
  const window = p.window ?? 0;
  checkInt("params.window", window, 0, 0xffffffff);
  if (kvHeads * capacity * headDim > MAX_ELEMENTS || q.elementCount > MAX_ELEMENTS) throw new ArgumentError("k", "a cache or q exceeds the kernels' 32-bit element index");
  let maskHeadStride = 0;
  let maskRowStride = kvLen;
  if (p.mask !== undefined) {
    checkOptions("params.mask", p.mask, ["buffer", "headStride", "rowStride"], ["buffer"]);
    maskHeadStride = p.mask.headStride ?? 0;
    maskRowStride = p.mask.rowStride ?? kvLen;
    checkInt("params.mask.headStride", maskHeadStride, 0, 0xffffffff);
    checkInt("params.mask.rowStride", maskRowStride, 0, 0xffffffff);
    checkStrided("params.mask.buffer", p.mask.buffer, dtype, 0, [heads, qLen, kvLen], [maskHeadStride, maskRowStride, 1]);
  }
  return { dtype, kvDType, heads, kvHeads, headDim, qLen, kvLen, capacity, scaleLog2: scale * Math.LOG2E, window, mask: p.mask?.buffer, maskHeadStride, maskRowStride };
}

function argsFor(c: Checked, causal: boolean, kvStart: number, chunk: number, splits: number): Uint32Array {
  return AttentionArgs.write({
    n_heads: c.heads,
    n_kv_heads: c.kvHeads,
    head_dim: c.headDim,
    q_len: c.qLen,
    kv_len: c.kvLen,
    q_head_stride: c.headDim,
    q_tok_stride: c.heads * c.headDim,
    kv_head_stride: c.capacity * c.headDim,
    causal: causal ? 1 : 0,
    window: c.window,
    has_mask: c.mask ? 1 : 0,
    mask_head_stride: c.maskHeadStride,
    mask_row_stride: c.maskRowStride,
    scale_log2: c.scaleLog2,
    kv_start: kvStart,
    chunk,
    n_splits: splits,
  });
}

/** Encode the vector kernel for `qLen` queries (one threadgroup row per query) and, when split, its reduction. */
function encodeVector(enc: CommandEncoder, q: Buffer, k: Buffer, v: Buffer, out: Buffer, scratch: Buffer | undefined, c: Checked, causal: boolean, start: number, splits: number): void {
  const { heads, kvHeads, headDim, kvLen, dtype, qLen } = c;
  const positions = kvLen - start;
  const chunk = Math.ceil(positions / splits / 32) * 32;
  splits = Math.ceil(positions / chunk);
  const args = argsFor(c, causal, start, chunk, splits);
  const bindings: Binding[] = [q, k, v, c.mask ?? q, out, scratch ?? out, args];
  const pipeline = enc.device.kernels.pipeline(kernels.sdpaDecode, { q: dtype, kv: c.kvDType, headDim });
  const groups = [kvHeads * Math.ceil(heads / kvHeads / DEC_MAX_HEADS), Math.ceil(splits / DEC_SIMDGROUPS), qLen] as const;
  enc.dispatchThreadgroups(pipeline, bindings, groups, [THREADS, 1, 1], splits === 1 ? DECODE_DIRECT_ACCESS : DECODE_SPLIT_ACCESS);
  if (splits === 1) return;
  // The reduction reads the partials: with automatic barriers the encoder orders it from the
  // declared accesses; without them this op places the barrier its two dispatches need.
  if (!enc.autoBarrier) enc.memoryBarrier();
  const reduce = enc.device.kernels.pipeline(kernels.sdpaDecodeReduce, { dtype });
  const grid = [headDim, heads, qLen] as const;
  enc.dispatchThreads(reduce, [scratch!, out, args], grid, groupFor(reduce, grid), REDUCE_ACCESS);
}

/**
 * Attention of one new token (`q` [1, heads, headDim] or [heads, headDim]) against the cache,
 * into `out` (q's shape). `scratch` is an f32 buffer of at least
 * `attentionDecodeScratchBytes(heads, headDim) / 4` elements for the per-split partial results.
 *
 * @example
 * const scratch = device.allocBuffer(ops.attentionDecodeScratchBytes(32, 128), DType.F32, [ops.attentionDecodeScratchBytes(32, 128) / 4]);
 * ops.attentionDecode(enc, q, kCache, vCache, out, scratch, { kvLen: pos + 1 }); // q [1, 32, 128] f32, caches [8, 4096, 128] f16
 */
export function attentionDecode(enc: CommandEncoder, q: Buffer, k: Buffer, v: Buffer, out: Buffer, scratch: Buffer, params: AttentionParams): void {
  checkOptions("params", params, COMMON_KEYS, REQUIRED_KEYS);
  const c = checkCommon(params, q, k, v, out);
  if (c.qLen !== 1) throw new ArgumentError("q", `decode takes one token: [1, heads, headDim] (got shape [${q.shape.join(", ")}]); use attentionPrefill for more`);
  checkBuffer("scratch", scratch, DType.F32, attentionDecodeScratchBytes(c.heads, c.headDim) / 4);
  // Positions before the window are never attended: the splits start at the window.
  const start = c.window > 0 ? Math.max(0, c.kvLen - c.window) : 0;
  const positions = c.kvLen - start;
  const perSplit = enc.device.limits.lanesInHardware && positions > DECODE_SPLIT_POSITIONS.cpu ? DECODE_SPLIT_POSITIONS.gpu : DECODE_SPLIT_POSITIONS.cpu;
  const splits = Math.min(DECODE_MAX_SPLITS, Math.ceil(positions / perSplit));
  encodeVector(enc, q, k, v, out, scratch, c, true, start, splits);
}

/**
 * Attention of the new tokens (`q` [qLen, heads, headDim], the last qLen positions of the
 * kvLen) against the cache, into `out` (q's shape).
 *
 * @example
 * ops.attentionPrefill(enc, q, kCache, vCache, out, { kvLen: 512 }); // q [512, 32, 128] f32, caches [8, 4096, 128] f16
 */
export function attentionPrefill(enc: CommandEncoder, q: Buffer, k: Buffer, v: Buffer, out: Buffer, params: PrefillParams): void {
  checkOptions("params", params, [...COMMON_KEYS, "causal", "path"], REQUIRED_KEYS);
  const causal = params.causal ?? true;
  if (typeof causal !== "boolean") throw new ArgumentError("params.causal", `must be a boolean (got ${typeof causal})`);
  const c = checkCommon(params, q, k, v, out);
  // The tiled kernel is built up to head dim 256 (its tiles of 512 would exceed 32 KB of threadgroup memory).
  const tiledOk = TILED_ATTENTION_HEAD_DIMS.includes(c.headDim);
  const path = params.path ?? (enc.device.limits.lanesInHardware && tiledOk ? "tiled" : "vector");
  checkOneOf("params.path", path, PREFILL_PATHS);
  if (path === "tiled" && !tiledOk) throw new ArgumentError("params.path", `the tiled kernel is built for head dims up to 256 (got ${c.headDim}); use "vector"`);
  if (path === "vector") return encodeVector(enc, q, k, v, out, undefined, c, causal, 0, 1);
  const args = argsFor(c, causal, 0, 0, 1);
  const pipeline = enc.device.kernels.pipeline(kernels.sdpaPrefill, { q: c.dtype, kv: c.kvDType, headDim: c.headDim });
  enc.dispatchThreadgroups(pipeline, [q, k, v, c.mask ?? q, out, args], [Math.ceil(c.qLen / PF_QUERIES), c.heads, 1], [THREADS, 1, 1], PREFILL_ACCESS);
}
