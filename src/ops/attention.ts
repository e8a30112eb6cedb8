/**
 * Scaled dot-product attention over a KV cache, with grouped-query heads (kernels/attention.h,
 * kernels/attention_prefill.h): `out = softmax(scale · q kᵀ + mask) v` per query head, reading KV
 * head `h / (heads / kvHeads)`.
 *
 * Layouts: q and out are [tokens, heads, headDim] (as a projection writes them; decode has one
 * token); the caches k and v are [kvHeads, capacity, headDim] with `kvLen` valid rows (as
 * `kvCacheAppend` writes them). The `qLen` queries are the last `qLen` positions of the cache.
 * A key at position j is attended by the query at position p when j ≤ p (causal), and
 * j > p − window when a sliding window is set; an optional additive mask (of q's type,
 * −inf to mask) is added to the scaled scores. A query with no attended key yields zeros.
 *
 * Decode splits the cache across threadgroups and combines the partial results in a second
 * dispatch; the partials go to a caller-owned scratch buffer of `attentionDecodeScratchBytes`.
 */
import type { Buffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { Binding, CommandEncoder } from "../encoder.ts";
import { ArgumentError } from "../errors.ts";
import type { KernelRegistry } from "../registry.ts";
import { argStruct } from "./args.ts";
import { access, groupFor } from "./common.ts";
import { checkBuffer, checkCounts, checkDType, checkInt, checkNumber, checkOneOf, checkOptions, checkStrided, FLOAT_DTYPES, MAX_ELEMENTS } from "./validate.ts";

/** Head dims the attention kernels are built for. */
export const ATTENTION_HEAD_DIMS: readonly number[] = Object.freeze([16, 32, 48, 64, 72, 80, 96, 128, 256, 512]);
/** Head dims the tiled prefill kernel is built for; larger ones prefill on the vector kernel. */
export const TILED_ATTENTION_HEAD_DIMS: readonly number[] = Object.freeze(ATTENTION_HEAD_DIMS.filter((d) => d <= 256));
/** Most partial results per head decode makes (bounds the scratch buffer). */
export const DECODE_MAX_SPLITS = 128;
/** Positions per decode split the op aims for: enough threadgroups for a long cache, few partials for a short one. */
const DECODE_SPLIT_POSITIONS = 256;
/** Geometry of the kernels. */
const DEC_SIMDGROUPS = 4;
const DEC_MAX_HEADS = 8;
const PF_QUERIES = 32;
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

type Names = ReadonlyMap<number, ReadonlyMap<DType, ReadonlyMap<DType, string>>>;

/** `prefix_<q dtype>_<kv dtype>_d<headDim>`, looked up as `get(headDim).get(dtype).get(kvDType)`. */
function names(prefix: string, dims: readonly number[] = ATTENTION_HEAD_DIMS): Names {
  return new Map(dims.map((d) => [d, new Map(FLOAT_DTYPES.map((t) => [t, new Map(FLOAT_DTYPES.map((kv) => [kv, `${prefix}_${t.name}_${kv.name}_d${d}`]))]))]));
}

const DECODE = names("sdpa_decode");
const PREFILL = names("sdpa_prefill", TILED_ATTENTION_HEAD_DIMS);
const REDUCE = new Map(FLOAT_DTYPES.map((t) => [t, `sdpa_decode_reduce_${t.name}`]));
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
  /** Query heads. */
  heads: number;
  /** KV heads; divides `heads`. */
  kvHeads: number;
  /** One of ATTENTION_HEAD_DIMS (16 to 512). */
  headDim: number;
  /** Valid rows of the cache, the new tokens included. */
  kvLen: number;
  /** Rows per head the cache buffers hold (≥ kvLen). */
  capacity: number;
  /** Type of q and out. */
  dtype: DType;
  /** Type of the caches (default `dtype`). */
  kvDType?: DType;
  /** Softmax scale (default 1/√headDim). */
  scale?: number;
  /** Sliding window: a query attends the last `window` positions up to its own (default: all). */
  window?: number;
  mask?: AttentionMask;
}

export interface PrefillParams extends AttentionParams {
  /** Queries (new tokens), the last `qLen` of the kvLen positions. */
  qLen: number;
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

const COMMON_KEYS = ["heads", "kvHeads", "headDim", "kvLen", "capacity", "dtype", "kvDType", "scale", "window", "mask"] as const;
const REQUIRED_KEYS = ["heads", "kvHeads", "headDim", "kvLen", "capacity", "dtype"] as const;

/** Bytes of scratch `attentionDecode` needs for `heads` query heads of `headDim`. */
export function attentionDecodeScratchBytes(heads: number, headDim: number): number {
  return heads * DECODE_MAX_SPLITS * (headDim + 2) * 4;
}

interface Checked {
  kvDType: DType;
  scaleLog2: number;
  window: number;
  mask: Buffer | undefined;
  maskHeadStride: number;
  maskRowStride: number;
}

/** Validate what decode and prefill share; `qLen` is 1 for decode. */
function checkCommon(p: AttentionParams, qLen: number, q: Buffer, k: Buffer, v: Buffer, out: Buffer): Checked {
  const { heads, kvHeads, headDim, kvLen, capacity, dtype } = p;
  checkCounts("params", { heads, kvHeads, kvLen, capacity }, ["heads", "kvHeads", "kvLen", "capacity"]);
  checkOneOf("params.headDim", headDim, ATTENTION_HEAD_DIMS);
  if (heads % kvHeads !== 0) throw new ArgumentError("params.kvHeads", `must divide heads (${heads}) (got ${kvHeads})`);
  if (kvLen > capacity) throw new ArgumentError("params.kvLen", `must be at most capacity (${capacity}) (got ${kvLen})`);
  if (qLen > kvLen) throw new ArgumentError("params.qLen", `must be at most kvLen (${kvLen}): the queries are the last positions of the cache (got ${qLen})`);
  const kvDType = p.kvDType ?? dtype;
  checkDType("params.dtype", dtype, FLOAT_DTYPES);
  checkDType("params.kvDType", kvDType, FLOAT_DTYPES);
  const scale = p.scale ?? 1 / Math.sqrt(headDim);
  checkNumber("params.scale", scale);
  const window = p.window ?? 0;
  checkInt("params.window", window, 0, 0xffffffff);
  const kvElements = kvHeads * capacity * headDim;
  if (kvElements > MAX_ELEMENTS || qLen * heads * headDim > MAX_ELEMENTS) throw new ArgumentError("params", "a cache or q exceeds the kernels' 32-bit element index");
  checkBuffer("q", q, dtype, qLen * heads * headDim);
  checkBuffer("k", k, kvDType, kvElements);
  checkBuffer("v", v, kvDType, kvElements);
  checkBuffer("out", out, dtype, qLen * heads * headDim);
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
  return { kvDType, scaleLog2: scale * Math.LOG2E, window, mask: p.mask?.buffer, maskHeadStride, maskRowStride };
}

function argsFor(p: AttentionParams, c: Checked, qLen: number, causal: boolean, kvStart: number, chunk: number, splits: number): Uint32Array {
  return AttentionArgs.write({
    n_heads: p.heads,
    n_kv_heads: p.kvHeads,
    head_dim: p.headDim,
    q_len: qLen,
    kv_len: p.kvLen,
    q_head_stride: p.headDim,
    q_tok_stride: p.heads * p.headDim,
    kv_head_stride: p.capacity * p.headDim,
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
function encodeVector(enc: CommandEncoder, registry: KernelRegistry, q: Buffer, k: Buffer, v: Buffer, out: Buffer, scratch: Buffer | undefined, p: AttentionParams, c: Checked, qLen: number, causal: boolean, start: number, splits: number): void {
  const { heads, kvHeads, headDim, kvLen, dtype } = p;
  const positions = kvLen - start;
  const chunk = Math.ceil(positions / splits / 32) * 32;
  splits = Math.ceil(positions / chunk);
  const args = argsFor(p, c, qLen, causal, start, chunk, splits);
  const bindings: Binding[] = [q, k, v, c.mask ?? q, out, scratch ?? out, args];
  const pipeline = registry.getPipeline(DECODE.get(headDim)!.get(dtype)!.get(c.kvDType)!);
  const groups = [kvHeads * Math.ceil(heads / kvHeads / DEC_MAX_HEADS), Math.ceil(splits / DEC_SIMDGROUPS), qLen] as const;
  enc.dispatchThreadgroups(pipeline, bindings, groups, [THREADS, 1, 1], splits === 1 ? DECODE_DIRECT_ACCESS : DECODE_SPLIT_ACCESS);
  if (splits === 1) return;
  // The reduction reads the partials: with automatic barriers the encoder orders it from the
  // declared accesses; without them this op places the barrier its two dispatches need.
  if (!enc.autoBarrier) enc.memoryBarrier();
  const reduce = registry.getPipeline(REDUCE.get(dtype)!);
  const grid = [headDim, heads, qLen] as const;
  enc.dispatchThreads(reduce, [scratch!, out, args], grid, groupFor(reduce, grid), REDUCE_ACCESS);
}

/**
 * Attention of one new token (`q` [heads, headDim]) against the cache, into `out`
 * [heads, headDim]. `scratch` is an f32 buffer of at least
 * `attentionDecodeScratchBytes(heads, headDim)` bytes for the per-split partial results.
 *
 * @example
 * const scratch = device.allocBuffer(ops.attentionDecodeScratchBytes(32, 128), DType.F32, [...]);
 * ops.attentionDecode(enc, registry, q, kCache, vCache, out, scratch,
 *   { heads: 32, kvHeads: 8, headDim: 128, kvLen: pos + 1, capacity: 4096, dtype: DType.F32, kvDType: DType.F16 });
 */
export function attentionDecode(enc: CommandEncoder, registry: KernelRegistry, q: Buffer, k: Buffer, v: Buffer, out: Buffer, scratch: Buffer, params: AttentionParams): void {
  checkOptions("params", params, COMMON_KEYS, REQUIRED_KEYS);
  const c = checkCommon(params, 1, q, k, v, out);
  const { heads, headDim, kvLen } = params;
  checkBuffer("scratch", scratch, DType.F32, attentionDecodeScratchBytes(heads, headDim) / 4);
  // Positions before the window are never attended: the splits start at the window.
  const start = c.window > 0 ? Math.max(0, kvLen - c.window) : 0;
  const splits = Math.min(DECODE_MAX_SPLITS, Math.ceil((kvLen - start) / DECODE_SPLIT_POSITIONS));
  encodeVector(enc, registry, q, k, v, out, scratch, params, c, 1, true, start, splits);
}

/**
 * Attention of `qLen` new tokens (`q` [qLen, heads, headDim]) against the cache, into `out`
 * [qLen, heads, headDim].
 *
 * @example
 * ops.attentionPrefill(enc, registry, q, kCache, vCache, out,
 *   { qLen: 512, heads: 32, kvHeads: 8, headDim: 128, kvLen: 512, capacity: 4096, dtype: DType.F32, kvDType: DType.F16 });
 */
export function attentionPrefill(enc: CommandEncoder, registry: KernelRegistry, q: Buffer, k: Buffer, v: Buffer, out: Buffer, params: PrefillParams): void {
  checkOptions("params", params, [...COMMON_KEYS, "qLen", "causal", "path"], [...REQUIRED_KEYS, "qLen"]);
  checkCounts("params", { qLen: params.qLen }, ["qLen"]);
  const causal = params.causal ?? true;
  if (typeof causal !== "boolean") throw new ArgumentError("params.causal", `must be a boolean (got ${typeof causal})`);
  const tiledOk = TILED_ATTENTION_HEAD_DIMS.includes(params.headDim);
  const path = params.path ?? (enc.device.limits.lanesInHardware && tiledOk ? "tiled" : "vector");
  checkOneOf("params.path", path, PREFILL_PATHS);
  if (path === "tiled" && !tiledOk && ATTENTION_HEAD_DIMS.includes(params.headDim)) {
    throw new ArgumentError("params.path", `the tiled kernel is built for head dims up to 256 (got ${params.headDim}); use "vector"`);
  }
  const c = checkCommon(params, params.qLen, q, k, v, out);
  const { heads, headDim, dtype, qLen } = params;
  if (path === "vector") return encodeVector(enc, registry, q, k, v, out, undefined, params, c, qLen, causal, 0, 1);
  const args = argsFor(params, c, qLen, causal, 0, 0, 1);
  const pipeline = registry.getPipeline(PREFILL.get(headDim)!.get(dtype)!.get(c.kvDType)!);
  enc.dispatchThreadgroups(pipeline, [q, k, v, c.mask ?? q, out, args], [Math.ceil(qLen / PF_QUERIES), heads, 1], [THREADS, 1, 1], PREFILL_ACCESS);
}
