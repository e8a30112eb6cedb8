/**
 * Shared by the msl-cpu conformance tests: run one registered MSL kernel on the test device and
 * read its output back. Every test checks values computed independently in TS, so the same
 * assertions hold on Metal.
 *
 * @example
 * const out = run("k", src, { grid: [64, 1, 1], group: [32, 1, 1], out: new Float32Array(64) });
 */
import { CommandBufferError, DType, type Binding, type Buffer } from "../../src/index.ts";
import { fixture } from "../support/fixtures.ts";

type Typed = Float32Array | Int32Array | Uint32Array | Uint16Array | Uint8Array | Int16Array | BigUint64Array;

export interface RunOptions<T extends Typed> {
  /** Threads (`dispatchThreads`) or threadgroups (`threadgroups: true`) per grid. */
  grid: readonly [number, number, number];
  group: readonly [number, number, number];
  threadgroups?: boolean;
  /** The output array: bound at `[[buffer(0)]]`, initial contents uploaded, result returned. */
  out: T;
  /** Further bindings from `[[buffer(1)]]` on: arrays are uploaded into fresh buffers. */
  inputs?: readonly (Typed | Binding)[];
  threadgroupMemory?: readonly number[];
  constants?: Parameters<ReturnType<typeof fixture>["registry"]["getPipeline"]>[1];
}

const registered = new Map<string, string>();

/** Registers `source` as kernel `name` (once per distinct source) and returns the registry. */
export function kernel(name: string, source: string) {
  const { registry } = fixture();
  if (registered.get(name) !== source) {
    registry.registerSource(name, source);
    registered.set(name, source);
  }
  return registry;
}

/** A buffer holding a copy of `array`. */
export function upload(array: Typed): Buffer {
  const { device } = fixture();
  const bytes = Math.max(array.byteLength, 4);
  const buf = device.allocBuffer(bytes, DType.U8, [bytes]);
  buf.view(Uint8Array).set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  return buf;
}

function isTyped(x: unknown): x is Typed {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

/** Runs kernel `name` from `source` once and returns the output array (a fresh copy). */
export function run<T extends Typed>(name: string, source: string, o: RunOptions<T>): T {
  const { device } = fixture();
  const pipeline = kernel(name, source).getPipeline(name, o.constants);
  const out = upload(o.out);
  const owned = [out];
  const bindings: Binding[] = [out];
  for (const x of o.inputs ?? []) {
    if (isTyped(x)) {
      const b = upload(x);
      owned.push(b);
      bindings.push(b);
    } else {
      bindings.push(x as Binding);
    }
  }
  const enc = device.commandEncoder();
  try {
    const options = { threadgroupMemory: o.threadgroupMemory };
    if (o.threadgroups) enc.dispatchThreadgroups(pipeline, bindings, o.grid, o.group, options);
    else enc.dispatchThreads(pipeline, bindings, o.grid, o.group, options);
    enc.commitAndWait();
    const bytes = out.view(Uint8Array);
    const copy = new (o.out.constructor as new (n: number) => T)(o.out.length);
    new Uint8Array(copy.buffer).set(bytes.subarray(0, o.out.byteLength));
    return copy;
  } finally {
    for (const b of owned) b.dispose();
  }
}

/** The message of the CommandBufferError `fn` throws (fails the test if it throws none). */
export function commandBufferError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof CommandBufferError) return e.message;
    throw e;
  }
  throw new Error("expected a CommandBufferError");
}

/** Line (1-based) of the first line of `source` containing `marker`. */
export function lineOf(source: string, marker: string): number {
  const i = source.split("\n").findIndex((l) => l.includes(marker));
  if (i < 0) throw new Error(`marker ${marker} not in source`);
  return i + 1;
}

/** Metal's SIMD-groups of one threadgroup of `n` threads: [first thread, count] per group. */
export function simdgroups(n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += 32) out.push([s, Math.min(32, n - s)]);
  return out;
}
