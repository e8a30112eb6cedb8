/**
 * CommandEncoder: one command buffer and, from its first dispatch on, one persistent compute
 * encoder in concurrent dispatch mode: dispatches between two barriers may run in any order or
 * overlap.
 *
 * Every dispatch goes through one path (`#encode`): validate in TS, pack the whole dispatch into
 * one record, decide on a barrier, make a single FFI call. Counters, residency commits and labels
 * happen here because they are tied to the commit points. Hazard rules live in hazards.ts,
 * graph capture and replay in graph.ts, profiling in profile.ts; this class only calls them.
 *
 * **Automatic barriers** (on by default): each dispatch may declare which bindings it reads and
 * writes (`reads`/`writes` in the options, by binding index, optionally narrowed to a byte
 * range). Before a dispatch whose ranges conflict with a dispatch since the last barrier
 * (read-after-write, write-after-read, write-after-write on overlapping bytes of one allocation)
 * the encoder inserts a barrier; reads of the same bytes never need one. A dispatch that declares
 * nothing is treated as reading and writing every buffer it binds. Ops declare their accesses,
 * so chains of ops are correct without a single manual barrier. `memoryBarrier()` still works
 * and starts a new group. Turn tracking off per encoder with `enc.autoBarrier = false` (the
 * caller then places every barrier); `MLXN_AUTO_BARRIER=1` forces it on for every encoder.
 *
 * @example
 * const enc = device.commandEncoder();
 * enc.dispatchThreads(pipeline, [a, b, out, new Uint32Array([n])], [n, 1, 1], [256, 1, 1], { reads: [0, 1], writes: [2] });
 * enc.dispatchThreads(pipeline, [out, b, out2, new Uint32Array([n])], [n, 1, 1], [256, 1, 1], { reads: [0, 1], writes: [2] }); // barrier inserted: reads out
 * enc.commitAndWait();
 */
import type { Pointer } from "bun:ffi";
import { Buffer, type TypedArray } from "./buffer.ts";
import { CommandBuffer, CommandBufferStatus } from "./commandbuffer.ts";
import { config } from "./config.ts";
import { counters } from "./counters.ts";
import { checkDevice, type Device } from "./device.ts";
import { ArgumentError, CommandBufferError, DisposedError } from "./errors.ts";
import { MAX_BUFFER_BINDINGS, MAX_INLINE_BYTES } from "./ffi/abi.ts";
import { failure, outSlot, takeHandle } from "./ffi/native.ts";
import { Hazard, HazardTracker } from "./hazards.ts";
import { fromNative } from "./internal.ts";
import { profileCommandBuffer, type CommandBufferProfile } from "./profile.ts";
import { DISPATCH_THREADGROUPS, DISPATCH_THREADS, INLINE_HEADER_WORDS, firstInlineWord, maxRecordWords, writeBuffer, writeHeader, writeInlineHeader, writeThreadgroupMemory } from "./dispatch_record.ts";
import { checkLivePipeline, type Pipeline } from "./registry.ts";

/** What can be bound to `[[buffer(i)]]`: a buffer, a buffer at an offset, or inline bytes. */
export type Binding = Buffer | { buffer: Buffer; offset?: number; length?: number } | TypedArray;

export type Size3 = readonly [number, number, number];

/**
 * One declared access: a binding index (the whole binding), or a byte range within a binding,
 * `offset` bytes from the start of what is bound and `length` bytes long (default: to its end).
 *
 * @example
 * const access: DispatchOptions = { reads: [0, { binding: 1, offset: 0, length: 256 }], writes: [2] };
 */
export type Access = number | { binding: number; offset?: number; length?: number };

/**
 * Per-dispatch options: threadgroup memory and the access declaration for automatic barriers.
 * Ops keep one options object per kernel signature in a module constant, so declaring costs no
 * allocation per dispatch. Do not `Object.freeze` the arrays in it: JSC reads frozen arrays on a
 * slower path, which shows in the per-dispatch cost.
 *
 * @example
 * const ADD_ACCESS: DispatchOptions = { reads: [0, 1], writes: [2] };
 * enc.dispatchThreads(pipeline, [a, b, out, n], grid, tg, ADD_ACCESS);
 */
export interface DispatchOptions {
  /** Bytes of threadgroup memory for `[[threadgroup(i)]]` parameters, by index. */
  threadgroupMemory?: readonly number[];
  /**
   * Bindings the kernel reads, for automatic barriers. When `reads` or `writes` is given, every
   * buffer binding must appear in one of them (a binding both read and written goes in
   * `writes`). Without either, every buffer binding counts as read and written.
   */
  reads?: readonly Access[];
  /** Bindings the kernel writes (see `reads`). */
  writes?: readonly Access[];
}

/**
 * @internal Where dispatches go instead of the backend while a graph is recorded (graph.ts).
 * `record[0, words)` is the packed dispatch exactly as it would have been sent; `options` carries
 * its access declaration, if any.
 */
export interface DispatchSink {
  dispatch(pipeline: Pipeline, record: Uint32Array, words: number, bindings: readonly Binding[], options: DispatchOptions | undefined): void;
  barrier(): void;
}

/** @internal One recorded step for `CommandEncoder.encodeSteps`: a packed record, or `null` for a barrier. */
export type Step = Uint32Array | null;

/** One dispatch, as every dispatch entry point describes it. */
export interface DispatchDesc extends DispatchOptions {
  pipeline: Pipeline;
  bindings: readonly Binding[];
  /** `threads`: `grid` counts threads (edge threadgroups may be partial); `threadgroups`: it counts groups. */
  kind: "threads" | "threadgroups";
  grid: Size3;
  threadgroup: Size3;
}

const MAX_BINDINGS = MAX_BUFFER_BINDINGS;

/**
 * Reusable record space for packed dispatches (layout: dispatch_record.ts), with views of each
 * element type so inline bytes from the common typed arrays are copied without allocating. Large
 * enough for any dispatch: 31 bindings of at most 4 KiB each.
 */
const record = new Uint32Array(maxRecordWords(MAX_BINDINGS, MAX_INLINE_BYTES));
const recordBytes = new Uint8Array(record.buffer);
const recordF32 = new Float32Array(record.buffer);
const recordViews = new Map<Function, TypedArray>([
  [Uint32Array, record],
  [Int32Array, new Int32Array(record.buffer)],
  [Float32Array, recordF32],
]);

/** Copy the bytes of `src` into the record at word `at`. */
function copyInline(src: TypedArray, at: number): void {
  // Most inline bindings are a few 32-bit scalars: element stores beat a lookup and a native set().
  if (src.length <= 4) {
    if (src instanceof Uint32Array || src instanceof Int32Array) {
      for (let i = 0; i < src.length; i++) record[at + i] = src[i]!;
      return;
    }
    if (src instanceof Float32Array) {
      for (let i = 0; i < src.length; i++) recordF32[at + i] = src[i]!;
      return;
    }
  }
  const alias = recordViews.get(src.constructor);
  if (alias !== undefined) (alias as Uint32Array).set(src as Uint32Array, at);
  else recordBytes.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), at * 4);
}

/**
 * Per-binding facts `packDispatch` leaves for the hazard check: allocation id (the low 32 bits of
 * the handle, see hazards.ts; 0 for inline bytes) and the bound byte range `[start, end)` within
 * the allocation.
 */
const bindAlloc = new Int32Array(MAX_BINDINGS);
const bindStart = new Float64Array(MAX_BINDINGS);
const bindEnd = new Float64Array(MAX_BINDINGS);
/** An undeclared dispatch reads and writes every buffer it binds. */
const ALL_WRITES = new Uint8Array(MAX_BINDINGS).fill(1);

/** The ranges a dispatch declares, as `addAccesses` resolves them for the hazard tracker. */
const MAX_ACCESSES = 64;
const accAlloc = new Int32Array(MAX_ACCESSES);
const accStart = new Float64Array(MAX_ACCESSES);
const accEnd = new Float64Array(MAX_ACCESSES);
const accWrite = new Uint8Array(MAX_ACCESSES);

const KIND_THREADS = DISPATCH_THREADS;
const KIND_THREADGROUPS = DISPATCH_THREADGROUPS;
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
  #autoOption = true;
  /** Effective auto-barrier switch: the option, or forced on by `MLXN_AUTO_BARRIER=1`. */
  #auto: boolean;
  #tracker = new HazardTracker();
  /** The encoder's own tracker, set aside while a graph records with a fresh one. */
  #encoderTracker: HazardTracker | undefined;
  #sink: DispatchSink | null = null;
  #prof: CommandBufferProfile | null = null;

  /** @internal Use `device.commandEncoder()`. */
  constructor(device: Device) {
    checkDevice("device", device);
    this.device = device;
    this.#auto = this.#autoOption || config().autoBarrier;
    this.#cb = this.#newCommandBuffer();
  }

  /**
   * Whether this encoder inserts barriers from declared reads and writes (default true). Set it
   * to false to place every barrier by hand; `MLXN_AUTO_BARRIER=1` keeps it on regardless.
   *
   * @example
   * const enc = device.commandEncoder();
   * enc.autoBarrier = false; // hand-placed barriers only
   */
  get autoBarrier(): boolean {
    return this.#auto;
  }

  set autoBarrier(on: boolean) {
    if (typeof on !== "boolean") throw new ArgumentError("autoBarrier", `must be a boolean (got ${typeof on})`);
    this.#autoOption = on;
    this.#auto = on || config().autoBarrier;
    // Dispatches encoded while tracking was off are unknown to the tracker: order after them.
    this.#tracker.reset();
    if (this.#auto && this.#computeEncoder !== null) this.#tracker.markOpaque();
  }

  /** Ranges the hazard tracker holds for the current concurrent group (diagnostic). */
  get trackedRanges(): number {
    return this.#tracker.length;
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
    this.#encode(KIND_THREADS, pipeline, bindings, grid, threadgroup, options);
  }

  /** Dispatch with the grid given in threadgroups. */
  dispatchThreadgroups(pipeline: Pipeline, bindings: readonly Binding[], groups: Size3, threadgroup: Size3, options?: DispatchOptions): void {
    this.#encode(KIND_THREADGROUPS, pipeline, bindings, groups, threadgroup, options);
  }

  /** Validate and encode one dispatch described by `desc`. */
  dispatch(desc: DispatchDesc): void {
    if (desc === null || typeof desc !== "object") throw new ArgumentError("desc", `must be a dispatch description object (got ${desc === null ? "null" : typeof desc})`);
    if (desc.kind !== "threads" && desc.kind !== "threadgroups") throw new ArgumentError("desc.kind", `must be "threads" or "threadgroups" (got ${JSON.stringify(desc.kind)})`);
    const kind = desc.kind === "threads" ? KIND_THREADS : KIND_THREADGROUPS;
    this.#encode(kind, desc.pipeline, desc.bindings, desc.grid, desc.threadgroup, desc);
  }

  /** The one dispatch path: validate in TS, pack one record, decide on a barrier, make one FFI call. */
  #encode(kind: number, pipeline: Pipeline, bindings: readonly Binding[], grid: Size3, threadgroup: Size3, options: DispatchOptions | undefined): void {
    if (this.#disposed || this.device.disposed || this.#cb.committed) this.#checkOpen();
    checkLivePipeline("pipeline", pipeline);
    checkSize3("grid", grid);
    checkSize3("threadgroup", threadgroup);
    const threads = threadgroup[0] * threadgroup[1] * threadgroup[2];
    if (threads > pipeline.maxTotalThreadsPerThreadgroup) {
      throw new ArgumentError("threadgroup", `[${threadgroup.join(", ")}] has ${threads} threads; "${pipeline.name}" allows at most ${pipeline.maxTotalThreadsPerThreadgroup}`);
    }
    if (!Array.isArray(bindings)) throw new ArgumentError("bindings", "must be an array of buffers, {buffer, offset} or typed arrays");
    if (bindings.length > MAX_BINDINGS) throw new ArgumentError("bindings", `at most ${MAX_BINDINGS} bindings (got ${bindings.length})`);
    const words = packDispatch(this.device, kind, pipeline, bindings, grid, threadgroup, options?.threadgroupMemory ?? NO_THREADGROUP_MEMORY);
    if (this.#sink === null && this.#computeEncoder === null) this.#openComputeEncoder();
    if (this.#auto) this.#checkHazards(bindings.length, options?.reads, options?.writes);
    counters.dispatch++;
    if (this.#sink !== null) return this.#sink.dispatch(pipeline, record, words, bindings, options);
    this.device.native.mlxn_compute_encoder_dispatch_packed(this.#computeEncoder!, record, words * 4);
    if (this.#prof !== null) this.#prof.dispatch(pipeline.name);
  }

  /**
   * The single hazard decision: add this dispatch's ranges to the tracker and insert a barrier
   * if they conflict with the current concurrent group (hazards.ts has the rules).
   */
  #checkHazards(nBindings: number, reads: readonly Access[] | undefined, writes: readonly Access[] | undefined): void {
    let outcome: number;
    if (reads === undefined && writes === undefined) {
      outcome = this.#tracker.track(nBindings, bindAlloc, bindStart, bindEnd, ALL_WRITES);
    } else {
      let n = 0;
      let declared = 0;
      if (reads !== undefined) {
        n = addAccesses("reads", reads, nBindings, 0, n);
        declared = accessedSlots;
      }
      if (writes !== undefined) {
        n = addAccesses("writes", writes, nBindings, 1, n);
        declared |= accessedSlots;
      }
      for (let i = 0; i < nBindings; i++) {
        if (bindAlloc[i] !== 0 && (declared & (1 << i)) === 0) {
          throw new ArgumentError("reads", `buffer binding ${i} is in neither reads nor writes; declare every buffer the kernel uses`);
        }
      }
      outcome = this.#tracker.track(n, accAlloc, accStart, accEnd, accWrite);
    }
    if (outcome === Hazard.Barrier) {
      this.#barrier();
      counters.autoBarrier++;
    } else if (outcome === Hazard.Concurrent) {
      counters.autoConcurrent++;
    }
  }

  /**
   * Order every later dispatch after every earlier one (buffer scope), and start a new group for
   * the hazard tracker. Before the first dispatch there is nothing to order, so it does nothing
   * and is not counted. Ops never call it: automatic barriers cover them.
   */
  memoryBarrier(): void {
    this.#checkOpen();
    this.#tracker.reset();
    if (this.#sink !== null) return this.#sink.barrier();
    if (this.#computeEncoder === null) return;
    this.#barrier();
  }

  /** Encode one barrier: into the recording graph, or the compute encoder (counted, optionally timed). */
  #barrier(): void {
    if (this.#sink !== null) return this.#sink.barrier();
    const prof = this.#prof;
    if (prof !== null && prof.timeBarriers) {
      const t0 = Bun.nanoseconds();
      this.device.native.mlxn_compute_encoder_memory_barrier(this.#computeEncoder!);
      prof.barrierTimed(Bun.nanoseconds() - t0);
    } else {
      this.device.native.mlxn_compute_encoder_memory_barrier(this.#computeEncoder!);
      if (prof !== null) prof.barriers++;
    }
    counters.barrier++;
  }

  // ───────────── used by graph.ts: recording and replay ─────────────

  /**
   * @internal Send dispatches and barriers to `sink` (a graph recorder) instead of the backend,
   * tracking hazards among them with a fresh tracker, until `stopRecording()`.
   */
  startRecording(token: typeof fromNative, sink: DispatchSink): void {
    checkToken(token, "startRecording");
    this.#checkOpen();
    if (this.#sink !== null) throw new ArgumentError("encoder", "is already recording a graph");
    this.#sink = sink;
    this.#encoderTracker = this.#tracker;
    this.#tracker = new HazardTracker();
  }

  /** @internal End recording; the encoder's own hazard state is as it was before. */
  stopRecording(): void {
    if (this.#sink === null) return;
    this.#sink = null;
    this.#tracker = this.#encoderTracker!;
    this.#encoderTracker = undefined;
  }

  /**
   * @internal Encode recorded steps as they are, without validation (graph.ts checked what it
   * substituted). With automatic barriers, a barrier first separates them from earlier
   * dispatches of the group, and the next tracked dispatch is ordered after them. Returns the
   * number of barriers encoded.
   */
  encodeSteps(token: typeof fromNative, steps: readonly Step[], kernels: readonly string[]): number {
    checkToken(token, "encodeSteps");
    this.#checkOpen();
    if (this.#sink !== null) throw new ArgumentError("encoder", "is recording a graph; replay into another encoder");
    if (this.#computeEncoder === null) this.#openComputeEncoder();
    let barriers = 0;
    if (this.#auto && !this.#tracker.empty) {
      this.#barrier();
      counters.autoBarrier++;
      barriers++;
    }
    const native = this.device.native;
    const ce = this.#computeEncoder!;
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i]!;
      if (s === null) {
        this.#barrier();
        barriers++;
      } else {
        native.mlxn_compute_encoder_dispatch_packed(ce, s, s.byteLength);
      }
    }
    if (this.#prof !== null) for (const k of kernels) this.#prof.dispatch(k);
    this.#tracker.reset();
    if (this.#auto) this.#tracker.markOpaque();
    return barriers;
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

  /**
   * Label, submit and wait without blocking the JS thread (see `CommandBuffer.completed`);
   * rejects with `CommandBufferError` if the GPU work failed.
   *
   * @example
   * await enc.commitAndWaitAsync("decode", { expectedMs: 8 });
   */
  async commitAndWaitAsync(label?: string, options: { expectedMs?: number } = {}): Promise<void> {
    this.#checkOpen();
    if (label !== undefined) this.#applyLabel(label);
    counters.sync++;
    this.#submit();
    await this.#cb.completed(options);
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
    if (this.#prof === null || !this.#prof.adopt()) this.#cb.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ───────────── used by EncoderSession: command-buffer rotation and event fences ─────────────

  /** @internal Start a fresh command buffer on the same queue (after a commit). */
  resetCommandBuffer(): void {
    this.#endComputeEncoder();
    this.#prof?.discardIfUncommitted();
    this.#cb = this.#newCommandBuffer();
    this.#label = "";
    this.#auto = this.#autoOption || config().autoBarrier;
  }

  /** @internal Make work encoded from now on wait for `event` to reach `value`. */
  encodeWaitForEvent(token: typeof fromNative, event: Pointer, value: number): void {
    checkToken(token, "encodeWaitForEvent");
    const native = this.device.native;
    const status = native.mlxn_command_buffer_encode_wait_event(this.#cb.handle, event, BigInt(value));
    if (status !== 0) throw failure(native, status, "encodeWaitForEvent");
  }

  /** @internal End encoding, label, signal `event` to `value` when done, and submit. */
  fenceSignalAndCommit(token: typeof fromNative, event: Pointer, value: number, label: string | undefined): void {
    checkToken(token, "fenceSignalAndCommit");
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
    const cb = new CommandBuffer(fromNative, native, takeHandle());
    this.#prof = profileCommandBuffer(this.device, cb);
    return cb;
  }

  #openComputeEncoder(): void {
    const native = this.device.native;
    const status = native.mlxn_compute_encoder_new(this.#cb.handle, outSlot);
    if (status !== 0) throw failure(native, status, "computeEncoder");
    this.#computeEncoder = takeHandle();
  }

  #endComputeEncoder(): void {
    this.#tracker.reset();
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
    if (this.#sink !== null) throw new ArgumentError("encoder", "cannot commit while recording a graph");
    this.#endComputeEncoder();
    this.device.residency.flush();
    const native = this.device.native;
    const status = native.mlxn_command_buffer_commit(this.#cb.handle);
    if (status !== 0) throw failure(native, status, "commit");
    this.#cb.markCommitted();
    if (this.#prof !== null) this.#prof.committed(this.#label);
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
  let w = writeHeader(r, kind, pipeline, nBuffers, nInline, tgMem.length, grid, threadgroup);
  let inlineAt = firstInlineWord(nBuffers, tgMem.length);
  for (let i = 0; i < bindings.length; i++) {
    const b = bindings[i];
    let buffer: Buffer;
    let offset = 0;
    let length: number;
    if (b instanceof Buffer) {
      buffer = b;
      length = b.byteLength;
    } else if (isInlineBinding(b)) {
      const len = b.byteLength;
      if (len === 0 || len > MAX_INLINE_BYTES) throw new ArgumentError(`bindings[${i}]`, `inline bytes must be 1..${MAX_INLINE_BYTES} bytes (got ${len})`);
      bindAlloc[i] = 0;
      copyInline(b, inlineAt + INLINE_HEADER_WORDS);
      inlineAt = writeInlineHeader(r, inlineAt, i, len);
      continue;
    } else if (b !== null && typeof b === "object" && (b as { buffer?: unknown }).buffer instanceof Buffer) {
      const bb = b as { buffer: Buffer; offset?: number; length?: number };
      buffer = bb.buffer;
      offset = bb.offset ?? 0;
      length = bb.length ?? buffer.byteLength - offset;
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length <= 0 || offset + length > buffer.byteLength) {
        throw new ArgumentError(`bindings[${i}]`, `offset ${offset} + length ${length} exceeds the buffer's ${buffer.byteLength} bytes`);
      }
    } else {
      throw new ArgumentError(`bindings[${i}]`, "must be a Buffer, { buffer, offset?, length? } or a typed array of inline bytes");
    }
    if (buffer.disposed) throw new ArgumentError(`bindings[${i}]`, "buffer was disposed");
    if (buffer.device !== device) throw new ArgumentError(`bindings[${i}]`, "buffer belongs to another device");
    const at = buffer.byteOffset + offset;
    bindAlloc[i] = buffer.handleLo | 0 || 1;
    bindStart[i] = at;
    bindEnd[i] = at + length;
    w = writeBuffer(r, w, i, buffer.handleLo, buffer.handleHi, at);
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
    w = writeThreadgroupMemory(r, w, i, rounded);
  }
  if (tgTotal > maxTg) throw new ArgumentError("threadgroupMemory", `${tgTotal} bytes of threadgroup memory exceed the device's ${maxTg}`);
  return words;
}

/** Binding slots (bit mask) the last `addAccesses` call covered. */
let accessedSlots = 0;

/**
 * Resolve the declared accesses `list` (named `name` in errors) into the `acc*` arrays from
 * entry `at` on, using the binding ranges `packDispatch` left; returns the next free entry and
 * leaves the binding slots covered in `accessedSlots`.
 */
function addAccesses(name: string, list: readonly Access[], nBindings: number, write: number, at: number): number {
  if (!Array.isArray(list)) throw new ArgumentError(name, "must be an array of binding indices or { binding, offset?, length? }");
  if (at + list.length > MAX_ACCESSES) throw new ArgumentError(name, `at most ${MAX_ACCESSES} declared accesses per dispatch`);
  let mask = 0;
  for (let k = 0; k < list.length; k++, at++) {
    const a = list[k];
    accWrite[at] = write;
    // The common case, a whole binding by index: no range arithmetic.
    if (typeof a === "number" && a >>> 0 === a && a < nBindings && bindAlloc[a] !== 0) {
      accAlloc[at] = bindAlloc[a]!;
      accStart[at] = bindStart[a]!;
      accEnd[at] = bindEnd[a]!;
      mask |= 1 << a;
      continue;
    }
    const slot = typeof a === "number" ? a : a !== null && typeof a === "object" ? a.binding : NaN;
    if (!Number.isInteger(slot) || slot < 0 || slot >= nBindings || bindAlloc[slot] === 0) {
      throw new ArgumentError(`${name}[${k}]`, `must be a buffer binding index or { binding, offset?, length? } naming one (got ${typeof a === "object" ? JSON.stringify(a) : String(a)}; this dispatch has ${nBindings} bindings)`);
    }
    const range = a as Exclude<Access, number>;
    const start = bindStart[slot]!;
    const bound = bindEnd[slot]! - start;
    const offset = range.offset ?? 0;
    const length = range.length ?? bound - offset;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length <= 0 || offset + length > bound) {
      throw new ArgumentError(`${name}[${k}]`, `range offset ${offset} + length ${length} must be non-empty and inside binding ${slot}'s ${bound} bytes`);
    }
    accAlloc[at] = bindAlloc[slot]!;
    accStart[at] = start + offset;
    accEnd[at] = start + offset + length;
    mask |= 1 << slot;
  }
  accessedSlots = mask;
  return at;
}

/** Inline bytes: a typed array that is not a Buffer (checked after `instanceof Buffer`, see above). */
function isInlineBinding(b: Binding | undefined): b is TypedArray {
  return !(b instanceof Buffer) && ArrayBuffer.isView(b);
}

/** Internal entry points that take raw handles or packed records refuse callers outside the library. */
function checkToken(token: unknown, method: string): void {
  if (token !== fromNative) throw new ArgumentError(method, "is internal to the library (graphs and encoder sessions call it)");
}
