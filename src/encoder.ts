/**
 * CommandEncoder: one command buffer and, from its first dispatch on, one persistent compute
 * encoder in concurrent dispatch mode. Dependent dispatches need `memoryBarrier()` between them.
 *
 * Every dispatch goes through `dispatch(desc)`, which validates in TS, packs the whole dispatch
 * into one record and makes a single FFI call. Counters, residency commits and labels happen
 * here because they are tied to the commit points; profiling and capture live elsewhere.
 *
 * @example
 * const enc = device.commandEncoder();
 * enc.dispatchThreads(pipeline, [a, b, out, new Uint32Array([n])], [n, 1, 1], [256, 1, 1]);
 * enc.commitAndWait();
 */
import type { Pointer } from "bun:ffi";
import { Buffer, type TypedArray } from "./buffer.ts";
import { CommandBuffer, CommandBufferStatus } from "./commandbuffer.ts";
import { counters } from "./counters.ts";
import type { Device } from "./device.ts";
import { ArgumentError, CommandBufferError, DisposedError } from "./errors.ts";
import { failure, outSlot, takeHandle } from "./ffi/native.ts";
import { Pipeline } from "./registry.ts";

/** What can be bound to `[[buffer(i)]]`: a buffer, a buffer at an offset, or inline bytes. */
export type Binding = Buffer | { buffer: Buffer; offset?: number; length?: number } | TypedArray;

export type Size3 = readonly [number, number, number];

export interface DispatchOptions {
  /** Bytes of threadgroup memory for `[[threadgroup(i)]]` parameters, by index. */
  threadgroupMemory?: readonly number[];
}

/** One dispatch, as every dispatch entry point describes it. */
export interface DispatchDesc extends DispatchOptions {
  pipeline: Pipeline;
  bindings: readonly Binding[];
  /** `threads`: `grid` counts threads (edge threadgroups may be partial); `threadgroups`: it counts groups. */
  kind: "threads" | "threadgroups";
  grid: Size3;
  threadgroup: Size3;
}

const MAX_BINDINGS = 31;
const MAX_INLINE_BYTES = 4096;
const HEADER_WORDS = 12;

/**
 * Reusable record space for packed dispatches, with views of each element type so inline bytes
 * from the common typed arrays are copied without allocating. Large enough for any dispatch:
 * 31 bindings of at most 4 KiB each.
 */
const RECORD_WORDS = HEADER_WORDS + 31 * 6 + 31 * 2 + 31 * (2 + MAX_INLINE_BYTES / 4);
const record = new Uint32Array(RECORD_WORDS);
const recordBytes = new Uint8Array(record.buffer);
const recordViews = new Map<Function, TypedArray>([
  [Uint32Array, record],
  [Int32Array, new Int32Array(record.buffer)],
  [Float32Array, new Float32Array(record.buffer)],
]);

/** Copy the bytes of `src` into the record at word `at`. */
function copyInline(src: TypedArray, at: number): void {
  const alias = recordViews.get(src.constructor);
  if (alias !== undefined) (alias as Uint32Array).set(src as Uint32Array, at);
  else recordBytes.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), at * 4);
}

const KIND_THREADS = 0;
const KIND_THREADGROUPS = 1;
const NO_THREADGROUP_MEMORY: readonly number[] = Object.freeze([]);

function checkSize3(name: string, v: Size3): void {
  if (!Array.isArray(v) || v.length !== 3) throw new ArgumentError(name, `must be [x, y, z] (got ${JSON.stringify(v)})`);
  if (!isDim(v[0]) || !isDim(v[1]) || !isDim(v[2])) throw new ArgumentError(name, `must be three integers in [1, 2^32) (got [${v.join(", ")}])`);
}

function isDim(d: number): boolean {
  return d >= 1 && d <= 0xffffffff && Math.floor(d) === d;
}

export class CommandEncoder {
  readonly device: Device;
  #cb: CommandBuffer;
  #computeEncoder: Pointer | null = null;
  #label = "";
  #disposed = false;

  /** @internal Use `device.commandEncoder()`. */
  constructor(device: Device) {
    this.device = device;
    this.#cb = this.#newCommandBuffer();
  }

  /** The command buffer being encoded (or, after a commit, the one last committed). */
  get commandBuffer(): CommandBuffer {
    return this.#cb;
  }

  /** True once the current command buffer has been committed. */
  get committed(): boolean {
    return this.#cb.committed;
  }

  /** Dispatch with the grid given in threads. */
  dispatchThreads(pipeline: Pipeline, bindings: readonly Binding[], grid: Size3, threadgroup: Size3, options?: DispatchOptions): void {
    this.#encode(KIND_THREADS, pipeline, bindings, grid, threadgroup, options?.threadgroupMemory);
  }

  /** Dispatch with the grid given in threadgroups. */
  dispatchThreadgroups(pipeline: Pipeline, bindings: readonly Binding[], groups: Size3, threadgroup: Size3, options?: DispatchOptions): void {
    this.#encode(KIND_THREADGROUPS, pipeline, bindings, groups, threadgroup, options?.threadgroupMemory);
  }

  /** Validate and encode one dispatch described by `desc`. */
  dispatch(desc: DispatchDesc): void {
    const kind = desc.kind === "threads" ? KIND_THREADS : KIND_THREADGROUPS;
    this.#encode(kind, desc.pipeline, desc.bindings, desc.grid, desc.threadgroup, desc.threadgroupMemory);
  }

  /** The one dispatch path: validate in TS, pack one record, make one FFI call. */
  #encode(kind: number, pipeline: Pipeline, bindings: readonly Binding[], grid: Size3, threadgroup: Size3, tgMem: readonly number[] | undefined): void {
    if (this.#disposed || this.device.disposed || this.#cb.committed) this.#checkOpen();
    if (!(pipeline instanceof Pipeline)) throw new ArgumentError("pipeline", "must be a Pipeline from KernelRegistry.getPipeline");
    checkSize3("grid", grid);
    checkSize3("threadgroup", threadgroup);
    const threads = threadgroup[0] * threadgroup[1] * threadgroup[2];
    if (threads > pipeline.maxTotalThreadsPerThreadgroup) {
      throw new ArgumentError("threadgroup", `[${threadgroup.join(", ")}] has ${threads} threads; "${pipeline.name}" allows at most ${pipeline.maxTotalThreadsPerThreadgroup}`);
    }
    if (!Array.isArray(bindings)) throw new ArgumentError("bindings", "must be an array of buffers, {buffer, offset} or typed arrays");
    if (bindings.length > MAX_BINDINGS) throw new ArgumentError("bindings", `at most ${MAX_BINDINGS} bindings (got ${bindings.length})`);
    const words = packDispatch(this.device, kind, pipeline, bindings, grid, threadgroup, tgMem ?? NO_THREADGROUP_MEMORY);
    if (this.#computeEncoder === null) this.#openComputeEncoder();
    this.device.native.mlxn_compute_encoder_dispatch_packed(this.#computeEncoder!, record, words * 4);
    counters.dispatch++;
  }

  /**
   * Order every later dispatch after every earlier one (buffer scope). Before the first dispatch
   * there is nothing to order, so it does nothing and is not counted.
   */
  memoryBarrier(): void {
    this.#checkOpen();
    if (this.#computeEncoder === null) return;
    this.device.native.mlxn_compute_encoder_memory_barrier(this.#computeEncoder);
    counters.barrier++;
  }

  /** Submit without waiting. */
  commit(): void {
    this.#checkOpen();
    this.#submit();
  }

  /** Label the command buffer (and its compute encoder), then submit without waiting. */
  commitLabeled(label: string): void {
    this.#checkOpen();
    this.#applyLabel(label);
    this.#submit();
  }

  /** Submit and block until complete; throws `CommandBufferError` if the GPU work failed. */
  commitAndWait(): void {
    this.#checkOpen();
    counters.sync++;
    this.#submit();
    this.#cb.waitUntilCompleted();
  }

  /** Label, submit and block until complete. */
  commitAndWaitLabeled(label: string): void {
    this.#checkOpen();
    this.#applyLabel(label);
    this.commitAndWait();
  }

  /** Block until the committed command buffer completes; throws if it failed. */
  waitUntilCompleted(): void {
    this.#cb.waitUntilCompleted();
  }

  /** Label of the last `commitLabeled`/`commitAndWaitLabeled` ("" if none). */
  get label(): string {
    return this.#label;
  }

  /**
   * End any open compute encoder without committing and release the command buffer handle. An
   * uncommitted command buffer is discarded. Idempotent.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#endComputeEncoder();
    this.#cb.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ───────────── used by EncoderSession: command-buffer rotation and event fences ─────────────

  /** @internal Start a fresh command buffer on the same queue (after a commit). */
  resetCommandBuffer(): void {
    this.#endComputeEncoder();
    this.#cb = this.#newCommandBuffer();
    this.#label = "";
  }

  /** @internal Make work encoded from now on wait for `event` to reach `value`. */
  encodeWaitForEvent(event: Pointer, value: number): void {
    const native = this.device.native;
    const status = native.mlxn_command_buffer_encode_wait_event(this.#cb.handle, event, BigInt(value));
    if (status !== 0) throw failure(native, status, "encodeWaitForEvent");
  }

  /** @internal End encoding, label, signal `event` to `value` when done, and submit. */
  fenceSignalAndCommit(event: Pointer, value: number, label: string | undefined): void {
    this.#checkOpen();
    this.#endComputeEncoder();
    if (label) this.#applyLabel(label);
    const native = this.device.native;
    const status = native.mlxn_command_buffer_encode_signal_event(this.#cb.handle, event, BigInt(value));
    if (status !== 0) throw failure(native, status, "fenceStage");
    this.#submit();
  }

  // ───────────── internals ─────────────

  #newCommandBuffer(): CommandBuffer {
    const native = this.device.native;
    const status = native.mlxn_command_buffer_new(this.device.handle, outSlot);
    if (status !== 0) throw failure(native, status, "commandBuffer");
    counters.commandBuffer++;
    return new CommandBuffer(native, takeHandle());
  }

  #openComputeEncoder(): void {
    const native = this.device.native;
    const status = native.mlxn_compute_encoder_new(this.#cb.handle, outSlot);
    if (status !== 0) throw failure(native, status, "computeEncoder");
    this.#computeEncoder = takeHandle();
  }

  #endComputeEncoder(): void {
    if (this.#computeEncoder === null) return;
    this.device.native.mlxn_compute_encoder_end(this.#computeEncoder);
    this.#computeEncoder = null;
  }

  #applyLabel(label: string): void {
    if (typeof label !== "string") throw new ArgumentError("label", `must be a string (got ${typeof label})`);
    if (label === "") return;
    this.#label = label;
    this.#cb.label = label;
    if (this.#computeEncoder !== null) this.device.native.mlxn_compute_encoder_set_label(this.#computeEncoder, label);
  }

  #submit(): void {
    this.#endComputeEncoder();
    this.device.residency.flush();
    const native = this.device.native;
    const status = native.mlxn_command_buffer_commit(this.#cb.handle);
    if (status !== 0) throw failure(native, status, "commit");
    this.#cb.markCommitted();
  }

  #checkOpen(): void {
    if (this.#disposed) throw new DisposedError("command encoder");
    if (this.device.disposed) throw new DisposedError("device");
    if (this.#cb.committed) {
      throw new CommandBufferError(this.#label, CommandBufferStatus.Committed, "already committed: encode into a new command encoder (or resetForNextStage() in a session)");
    }
  }
}

/**
 * Write one dispatch into `record`; returns the number of 32-bit words used.
 *
 * Bindings are classified with `instanceof Buffer` first: `ArrayBuffer.isView` on a non-view
 * object keeps this loop out of JSC's optimizing tiers (measured 390 ns against 70 ns per
 * four-binding dispatch).
 */
function packDispatch(device: Device, kind: number, pipeline: Pipeline, bindings: readonly Binding[], grid: Size3, threadgroup: Size3, tgMem: readonly number[]): number {
  let nBuffers = 0;
  for (let i = 0; i < bindings.length; i++) if (!isInlineBinding(bindings[i])) nBuffers++;
  const nInline = bindings.length - nBuffers;
  const r = record;
  r[0] = kind;
  r[1] = nBuffers;
  r[2] = nInline;
  r[3] = tgMem.length;
  r[4] = pipeline.handleLo;
  r[5] = pipeline.handleHi;
  r[6] = grid[0];
  r[7] = grid[1];
  r[8] = grid[2];
  r[9] = threadgroup[0];
  r[10] = threadgroup[1];
  r[11] = threadgroup[2];
  let w = HEADER_WORDS;
  let inlineAt = HEADER_WORDS + nBuffers * 6 + tgMem.length * 2;
  for (let i = 0; i < bindings.length; i++) {
    const b = bindings[i];
    let buffer: Buffer;
    let offset = 0;
    if (b instanceof Buffer) {
      buffer = b;
    } else if (isInlineBinding(b)) {
      const len = b.byteLength;
      if (len === 0 || len > MAX_INLINE_BYTES) throw new ArgumentError(`bindings[${i}]`, `inline bytes must be 1..${MAX_INLINE_BYTES} bytes (got ${len})`);
      r[inlineAt] = i;
      r[inlineAt + 1] = len;
      copyInline(b, inlineAt + 2);
      inlineAt += 2 + ((len + 3) >>> 2);
      continue;
    } else if (b !== null && typeof b === "object" && (b as { buffer?: unknown }).buffer instanceof Buffer) {
      const bb = b as { buffer: Buffer; offset?: number; length?: number };
      buffer = bb.buffer;
      offset = bb.offset ?? 0;
      const length = bb.length ?? buffer.byteLength - offset;
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length <= 0 || offset + length > buffer.byteLength) {
        throw new ArgumentError(`bindings[${i}]`, `offset ${offset} + length ${length} exceeds the buffer's ${buffer.byteLength} bytes`);
      }
    } else {
      throw new ArgumentError(`bindings[${i}]`, "must be a Buffer, { buffer, offset?, length? } or a typed array of inline bytes");
    }
    if (buffer.disposed) throw new ArgumentError(`bindings[${i}]`, "buffer was disposed");
    if (buffer.device !== device) throw new ArgumentError(`bindings[${i}]`, "buffer belongs to another device");
    const at = buffer.byteOffset + offset;
    r[w] = i;
    r[w + 1] = 0;
    r[w + 2] = buffer.handleLo;
    r[w + 3] = buffer.handleHi;
    r[w + 4] = at >>> 0;
    r[w + 5] = at > 0xffffffff ? Math.floor(at / 0x100000000) : 0;
    w += 6;
  }
  const words = inlineAt;
  const maxTg = device.limits.maxThreadgroupMemory;
  let tgTotal = pipeline.staticThreadgroupMemoryLength;
  for (let i = 0; i < tgMem.length; i++) {
    const len = tgMem[i]!;
    if (!Number.isInteger(len) || len < 0) throw new ArgumentError(`threadgroupMemory[${i}]`, `must be a non-negative integer (got ${len})`);
    // Metal requires threadgroup memory lengths in multiples of 16 bytes.
    const rounded = Math.ceil(len / 16) * 16;
    tgTotal += rounded;
    r[w] = i;
    r[w + 1] = rounded;
    w += 2;
  }
  if (tgTotal > maxTg) throw new ArgumentError("threadgroupMemory", `${tgTotal} bytes of threadgroup memory exceed the device's ${maxTg}`);
  return words;
}

/** Inline bytes: a typed array that is not a Buffer (checked after `instanceof Buffer`, see above). */
function isInlineBinding(b: Binding | undefined): b is TypedArray {
  return !(b instanceof Buffer) && ArrayBuffer.isView(b);
}
