/**
 * The conformance harness: every op family lists its cases in a table (op, dtype, shape,
 * parameters, tolerance) and runs each against a float64 reference from
 * tests/support/reference/. A case's id reads like a call, `rmsNorm(dtype=bf16,rows=7,cols=257)`,
 * so `bun test -t 'rmsNorm(dtype=bf16'` selects it.
 *
 * Cases whose kernels need barriers, SIMD-group functions or threadgroup memory are skipped
 * (with the reason in the test name) while the backend cannot run them.
 *
 * On a GPU (threads in hardware lanes, truly concurrent) each case runs REPEATS times and every
 * run must give the same bits: a race in threadgroup memory or a missing barrier shows up as runs
 * that differ, which a tolerance against the reference could hide.
 */
import { describe, expect, test } from "bun:test";
import { type Buffer, type CommandEncoder, DType, type Device, type KernelRegistry } from "../../src/index.ts";
import { FIBERS_REASON, MATRIX_REASON, supportsBarriers, supportsSimdgroupMatrix } from "../support/fibers.ts";
import { download, fixture, floatBuffer, randomFloats, roundTo } from "../support/fixtures.ts";

/** A case passes when every |got - want| ≤ atol + rtol · |want|. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/** Tolerances of one op family, per output dtype. */
export type DTypeTolerances = Readonly<Record<"f32" | "f16" | "bf16", Tolerance>>;

export interface Case<P> {
  op: string;
  dtype: DType;
  /** Sizes, printed in the id after the dtype. */
  shape: Readonly<Record<string, number>>;
  /** Other parameters, printed after the shape. */
  params: P;
  tolerance: Tolerance;
}

/** The printable id of a case: `op(dtype=…,shape…,params…)`. */
export function caseId(c: Case<object>): string {
  const parts = [`dtype=${c.dtype.name}`];
  for (const [k, v] of Object.entries(c.shape)) parts.push(`${k}=${v}`);
  for (const [k, v] of Object.entries(c.params)) {
    if (v === undefined) continue;
    parts.push(`${k}=${typeof v === "object" && v !== null ? (isDType(v) ? v.name : JSON.stringify(v).replaceAll(",", ";")) : String(v)}`);
  }
  return `${c.op}(${parts.join(",")})`;
}

function isDType(v: unknown): v is DType {
  return Object.values(DType).includes(v as DType);
}

/** What a case run hands back for comparison. */
export interface Outcome {
  got: ArrayLike<number>;
  want: ArrayLike<number>;
  /** Named extra checks that must hold exactly, as [got, expected] (e.g. "nothing written past n"). */
  exact?: Readonly<Record<string, readonly unknown[]>>;
}

/**
 * Per-case resources: buffers made through it are disposed when the case ends, and `encode`
 * runs one command buffer to completion.
 */
export class CaseContext {
  readonly device: Device;
  readonly registry: KernelRegistry;
  readonly #buffers: Buffer[] = [];

  constructor(device: Device, registry: KernelRegistry) {
    this.device = device;
    this.registry = registry;
  }

  /**
   * A float buffer of shape `shape` (a number: 1-D) holding `values` (or zeros), with `spare`
   * guard elements allocated past the shape.
   */
  floats(dtype: DType, shape: number | readonly number[], values?: ArrayLike<number>, spare = 0): Buffer {
    return this.keep(floatBuffer(this.device, dtype, shape, values, spare));
  }

  /** Random values in [lo, hi), already rounded to `dtype` so the reference sees what the kernel sees. */
  random(dtype: DType, shape: number | readonly number[], seed: number, lo = -1, hi = 1): { buffer: Buffer; values: Float64Array } {
    const n = typeof shape === "number" ? shape : shape.reduce((a, b) => a * b, 1);
    const values = randomFloats(n, seed, lo, hi).map((v) => roundTo(dtype, v));
    return { buffer: this.floats(dtype, shape, values), values };
  }

  /** A U32 buffer holding `values` (shape [values.length] unless given). */
  u32(values: ArrayLike<number>, shape: readonly number[] = [values.length]): Buffer {
    const buf = this.keep(this.device.allocBuffer(Math.max(1, values.length) * 4, DType.U32, shape));
    buf.view(Uint32Array).set(values);
    return buf;
  }

  /** Any buffer made elsewhere, disposed with the case. */
  keep(buf: Buffer): Buffer {
    this.#buffers.push(buf);
    return buf;
  }

  read(buf: Buffer, n: number): Float64Array {
    return download(buf, n);
  }

  /** Encode with `fn` into a fresh command encoder, commit and wait. */
  encode(fn: (enc: CommandEncoder) => void): void {
    const enc = this.device.commandEncoder();
    try {
      fn(enc);
      enc.commitAndWait();
    } finally {
      enc.dispose();
    }
  }

  dispose(): void {
    for (const b of this.#buffers) b.dispose();
    this.#buffers.length = 0;
  }
}

/** Index and size of the worst violation of `tol`, or undefined when all pass. */
export function worstViolation(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): { index: number; got: number; want: number; allowed: number } | undefined {
  let worst: { index: number; got: number; want: number; allowed: number } | undefined;
  let worstExcess = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const allowed = tol.atol + tol.rtol * Math.abs(w);
    const err = g === w ? 0 : Math.abs(g - w);
    const excess = Number.isNaN(err) ? Infinity : err - allowed;
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = { index: i, got: g, want: w, allowed };
    }
  }
  return worst;
}

/**
 * Per-case time limit: the first case of a family compiles the family's kernels, which on a cold
 * msl-cpu cache takes seconds (tens on a loaded 2-core machine), past bun's default of 5 s.
 */
const CASE_TIMEOUT_MS = 180_000;

/** Runs of each case on a GPU, compared bit for bit. */
const REPEATS = 3;

/** The bits of each result element (float64 views of f16/bf16/f32 values are exact). */
function bitsOf(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values);
}

export interface FamilyOptions {
  /** The family's kernels use barriers / SIMD-group functions / threadgroup memory. */
  needsFibers?: boolean;
  /** The family's kernels also use simdgroup_matrix (implies needsFibers). */
  needsSimdgroupMatrix?: boolean;
}

/**
 * Register one test per case of `cases`, under `describe(family)`. `run` executes a case on the
 * active backend and returns what to compare.
 */
export function conformance<P extends object>(family: string, cases: readonly Case<P>[], run: (c: Case<P>, ctx: CaseContext) => Outcome, options: FamilyOptions = {}): void {
  const { device, registry } = fixture();
  const reason = options.needsSimdgroupMatrix === true && !supportsSimdgroupMatrix() ? (supportsBarriers() ? MATRIX_REASON : FIBERS_REASON) : options.needsFibers === true && !supportsBarriers() ? FIBERS_REASON : undefined;
  const skip = reason !== undefined;
  describe(skip ? `${family} [skipped: ${reason}]` : family, () => {
    for (const c of cases) {
      test.skipIf(skip)(caseId(c as Case<object>), () => {
        const ctx = new CaseContext(device, registry);
        try {
          const { got, want, exact } = run(c, ctx);
          expect(got.length).toBe(want.length);
          const bad = worstViolation(got, want, c.tolerance);
          if (bad) {
            throw new Error(`${caseId(c as Case<object>)}: element ${bad.index} is ${bad.got}, reference ${bad.want} (allowed ±${bad.allowed.toExponential(2)}; tolerance atol=${c.tolerance.atol}, rtol=${c.tolerance.rtol})`);
          }
          for (const [what, [g, w]] of Object.entries(exact ?? {}) as [string, readonly unknown[]][]) {
            if (!Bun.deepEquals(g, w)) throw new Error(`${caseId(c as Case<object>)}: ${what}: got ${JSON.stringify(g)}, expected ${JSON.stringify(w)}`);
          }
          const first = new Uint8Array(bitsOf(got).buffer);
          for (let r = 1; r < (device.limits.lanesInHardware ? REPEATS : 1); r++) {
            const again = new CaseContext(device, registry);
            try {
              const bits = new Uint8Array(bitsOf(run(c, again).got).buffer);
              const at = bits.findIndex((b, i) => b !== first[i]);
              if (at >= 0 || bits.length !== first.length) throw new Error(`${caseId(c as Case<object>)}: run ${r + 1} differs from run 1 at element ${Math.floor(Math.max(at, 0) / 8)} (a race between threads?)`);
            } finally {
              again.dispose();
            }
          }
        } finally {
          ctx.dispose();
        }
      }, CASE_TIMEOUT_MS);
    }
  });
}
