/**
 * Elementwise ops over flat arrays (kernels/elementwise.{h,metal}).
 */
import type { Buffer } from "../buffer.ts";
import { DType } from "../dtype.ts";
import type { CommandEncoder, DispatchOptions } from "../encoder.ts";
import type { KernelRegistry } from "../registry.ts";
import { checkBuffer, checkCount, checkDType } from "./validate.ts";

const FLOAT_TYPES: readonly DType[] = [DType.F32, DType.F16, DType.BF16];
/** Kernel name per dtype, built once: a template string per call costs more than the lookup. */
const ADD_KERNELS = new Map(FLOAT_TYPES.map((d) => [d, `elementwise_add_${d.name}`]));
const THREADGROUP = 256;
const nScratch = new Uint32Array(1);
/** Bindings: a, b read; out written (it may alias a or b: the kernel reads each element before writing it). */
const ADD_ACCESS: DispatchOptions = Object.freeze({ reads: Object.freeze([0, 1]), writes: Object.freeze([2]) });

/**
 * Encode `out[i] = a[i] + b[i]` for `i < n` (accumulated in f32). The dispatch declares that it
 * reads `a` and `b` and writes `out`, so with automatic barriers (the encoder default) a later
 * op that reads `out`, or writes `a` or `b`, is ordered after it; no manual barrier is needed.
 *
 * @example
 * ops.elementwiseAdd(enc, registry, a, b, out, n, DType.F32);
 */
export function elementwiseAdd(enc: CommandEncoder, registry: KernelRegistry, a: Buffer, b: Buffer, out: Buffer, n: number, dtype: DType): void {
  checkDType("dtype", dtype, FLOAT_TYPES);
  checkCount("n", n);
  checkBuffer("a", a, dtype, n);
  checkBuffer("b", b, dtype, n);
  checkBuffer("out", out, dtype, n);
  const pipeline = registry.getPipeline(ADD_KERNELS.get(dtype)!);
  nScratch[0] = n;
  const tg = Math.min(THREADGROUP, pipeline.maxTotalThreadsPerThreadgroup);
  enc.dispatchThreads(pipeline, [a, b, out, nScratch], [n, 1, 1], [tg, 1, 1], ADD_ACCESS);
}
