/**
 * Graph: a sequence of dispatches recorded once and replayed into any command encoder, with other
 * buffers bound in place of the recorded "parameters".
 *
 * Recording runs the usual op code against an encoder in record mode: every dispatch is
 * validated, packed and hazard-checked exactly as when encoding, but the packed record and the
 * barriers the hazard check (or the caller) placed are kept instead of being sent. Replay
 * substitutes the parameter buffers into the kept records and sends them — one FFI call per
 * dispatch or barrier, with no per-dispatch validation, packing or hazard tracking. What replay
 * checks instead, once per replay:
 *
 * - each replacement is a live buffer of this device with exactly the byte length of the buffer it
 *   replaces (the recorded grids and inline sizes assume it);
 * - a replacement the graph writes (or one overlapping a range the graph writes) does not overlap
 *   another parameter or a fixed (non-parameter) buffer range the graph binds: the recorded
 *   barriers were derived with those apart, and an overlap would create a hazard no recorded
 *   barrier covers. Ranges that are only read may be shared freely. A dispatch that declared no
 *   accesses counts as writing every buffer it binds;
 * - fixed buffers are still alive.
 *
 * A binding is a parameter binding when it lies inside a parameter's buffer (a view or an offset
 * into it keeps its relative position in the replacement); a binding that straddles a
 * parameter's edge is rejected at record time. Everything else is bound as recorded.
 *
 * Counting: recording counts dispatches in `dispatchCount()` as the encoder does; a replay adds
 * its barriers to `barrierCount()` but not its dispatches, which it reports itself.
 *
 * @example
 * const x = pool.alloc(n * 4, DType.F32), y = pool.alloc(n * 4, DType.F32);
 * const graph = Graph.record(device.commandEncoder(), { x, y }, (enc) => {
 *   ops.elementwiseAdd(enc, x, bias, tmp);
 *   ops.elementwiseAdd(enc, tmp, bias, y);
 * });
 * const enc = device.commandEncoder();
 * graph.replay(enc, { x: otherInput, y: otherOutput }); // { dispatches: 2, barriers: 1 }
 * enc.commitAndWait();
 */
import { Buffer, checkLiveBuffer } from "./buffer.ts";
import { CommandEncoder, type Access, type Binding, type DispatchOptions, type DispatchSink, type Step } from "./encoder.ts";
import * as Packed from "./dispatch_record.ts";
import { ArgumentError, DisposedError } from "./errors.ts";
import { fromNative } from "./internal.ts";
import { checkLivePipeline, type Pipeline } from "./registry.ts";

/**
 * Replacement buffers for a replay: by parameter name, or in the order the parameters were given.
 *
 * @example
 * graph.replay(enc, { x: input });   // by name
 * graph.replay(enc, [input, output]); // by position
 */
export type GraphBuffers = Readonly<Record<string, Buffer>> | readonly Buffer[];

/**
 * What one replay encoded.
 *
 * @example
 * const { dispatches, barriers } = graph.replay(enc, { x });
 */
export interface ReplayReport {
  dispatches: number;
  /** Barriers encoded, including one separating the replay from earlier work of the encoder. */
  barriers: number;
}

/** A byte range `[start, end)` of one allocation. */
interface Range {
  alloc: number;
  start: number;
  end: number;
}

/** A range the graph binds, and whether any dispatch writes it. */
interface Bound extends Range {
  written: boolean;
}

interface Param extends Bound {
  name: string;
  placeholder: Buffer;
}

/** A buffer entry of a recorded dispatch that takes a parameter's buffer at replay. */
interface ParamSlot {
  /** Index in the graph's words of the buffer entry (dispatch_record.ts has its layout). */
  word: number;
  param: number;
  /** Offset of the binding from the start of the parameter's buffer. */
  offset: number;
}

const TWO_32 = 0x100000000;

function rangeOf(buffer: Buffer, offset = 0, length = buffer.byteLength - offset): Range {
  const start = buffer.byteOffset + offset;
  return { alloc: buffer.handleHi * TWO_32 + buffer.handleLo, start, end: start + length };
}

function overlaps(a: Range, b: Range): boolean {
  return a.alloc === b.alloc && a.start < b.end && b.start < a.end;
}

/** Collects dispatch records and barriers while an encoder records. */
class Recorder implements DispatchSink {
  words = new Uint32Array(1024);
  used = 0;
  /** Per step: [start word, word count], or undefined for a barrier. */
  steps: ([number, number] | undefined)[] = [];
  kernels: string[] = [];
  /** Every pipeline the records name: each must still be alive when the graph is replayed. */
  readonly pipelines = new Set<Pipeline>();
  slots: ParamSlot[] = [];
  readonly fixed = new Map<Buffer, string>();
  readonly fixedRanges = new Map<number, Bound[]>();

  constructor(
    readonly device: object,
    readonly params: readonly Param[],
  ) {}

  dispatch(pipeline: Pipeline, record: Uint32Array, words: number, bindings: readonly Binding[], options: DispatchOptions | undefined): void {
    const written = writtenSlots(options);
    const at = this.used;
    if (at + words > this.words.length) {
      const grown = new Uint32Array(Math.max(this.words.length * 2, at + words));
      grown.set(this.words);
      this.words = grown;
    }
    this.words.set(record.subarray(0, words), at);
    this.used += words;
    const dispatch = this.kernels.length;
    this.steps.push([at, words]);
    this.kernels.push(pipeline.name);
    this.pipelines.add(pipeline);
    const nBuffers = Packed.bufferCount(record);
    for (let j = 0; j < nBuffers; j++) {
      const w = Packed.bufferEntryWord(j);
      const slot = Packed.bufferIndex(record, w);
      const b = bindings[slot]!;
      const buffer = b instanceof Buffer ? b : (b as { buffer: Buffer }).buffer;
      const start = Packed.bufferOffset(record, w);
      const length = b instanceof Buffer ? b.byteLength : ((b as { length?: number }).length ?? buffer.byteLength - ((b as { offset?: number }).offset ?? 0));
      const range: Bound = { alloc: buffer.handleHi * TWO_32 + buffer.handleLo, start, end: start + length, written: (written & (1 << slot)) !== 0 };
      const p = this.params.findIndex((q) => overlaps(q, range));
      if (p === -1) {
        this.#addFixed(buffer, range, `dispatch ${dispatch} (${pipeline.name}) binding ${slot}`);
        continue;
      }
      const param = this.params[p]!;
      if (range.start < param.start || range.end > param.end) {
        throw new ArgumentError(`params.${param.name}`, `binding ${slot} of dispatch ${dispatch} (${pipeline.name}) covers bytes [${range.start}, ${range.end}) of its allocation, which straddle the parameter's [${param.start}, ${param.end})`);
      }
      this.slots.push({ word: at + w, param: p, offset: range.start - param.start });
      param.written ||= range.written;
    }
  }

  barrier(): void {
    // Barriers before the first dispatch or right after another order nothing.
    if (this.steps.length > 0 && this.steps[this.steps.length - 1] !== undefined) this.steps.push(undefined);
  }

  #addFixed(buffer: Buffer, range: Bound, where: string): void {
    if (!this.fixed.has(buffer)) this.fixed.set(buffer, where);
    const list = this.fixedRanges.get(range.alloc);
    const same = list?.find((r) => r.start === range.start && r.end === range.end);
    if (same !== undefined) same.written ||= range.written;
    else if (list === undefined) this.fixedRanges.set(range.alloc, [range]);
    else list.push(range);
  }
}

/**
 * A recorded sequence of dispatches and barriers; see the module comment.
 *
 * @example
 * const graph = Graph.record(enc, { x }, (e) => ops.elementwiseAdd(e, x, x, y));
 * graph.replay(enc, { x: nextInput });
 */
export class Graph {
  /** Parameter names, in the order given to `record` (the order for array replacements). */
  readonly params: readonly string[];
  readonly #device: object;
  readonly #params: readonly Param[];
  readonly #words: Uint32Array;
  readonly #steps: readonly Step[];
  readonly #kernels: readonly string[];
  readonly #slots: readonly ParamSlot[];
  readonly #fixed: ReadonlyMap<Buffer, string>;
  readonly #fixedRanges: ReadonlyMap<number, readonly Bound[]>;
  readonly #pipelines: readonly Pipeline[];
  readonly #barriers: number;

  private constructor(rec: Recorder) {
    const steps = rec.steps;
    while (steps.length > 0 && steps[steps.length - 1] === undefined) steps.pop();
    this.#device = rec.device;
    this.#params = rec.params;
    this.params = Object.freeze(rec.params.map((p) => p.name));
    this.#words = rec.words.slice(0, rec.used);
    // Each step is a view of its own record, made once, so a replay allocates nothing per step.
    this.#steps = Object.freeze(steps.map((s) => (s === undefined ? null : this.#words.subarray(s[0], s[0] + s[1]))));
    this.#kernels = Object.freeze(rec.kernels);
    this.#slots = rec.slots;
    this.#fixed = rec.fixed;
    this.#fixedRanges = rec.fixedRanges;
    this.#barriers = steps.length - rec.kernels.length;
    this.#pipelines = [...rec.pipelines];
  }

  /**
   * Record what `fn` encodes into `enc` (nothing reaches the backend while it runs). `params`
   * names the buffers that replays may replace; they must not overlap one another.
   *
   * @example
   * const graph = Graph.record(enc, { input, output }, (e) => layer(e, input, output));
   */
  static record(enc: CommandEncoder, params: Readonly<Record<string, Buffer>>, fn: (enc: CommandEncoder) => void): Graph {
    if (!(enc instanceof CommandEncoder)) throw new ArgumentError("encoder", "must be a CommandEncoder");
    if (params === null || typeof params !== "object" || Array.isArray(params)) throw new ArgumentError("params", "must be an object of named buffers, like { x, y }");
    if (typeof fn !== "function") throw new ArgumentError("fn", "must be a function that encodes into the encoder it is given");
    const list: Param[] = [];
    for (const [name, buffer] of Object.entries(params)) {
      checkLiveBuffer(`params.${name}`, buffer, enc.device);
      const param = { name, placeholder: buffer, written: false, ...rangeOf(buffer) };
      const other = list.find((q) => overlaps(q, param));
      if (other) throw new ArgumentError(`params.${name}`, `overlaps params.${other.name}; parameters must be disjoint`);
      list.push(param);
    }
    const rec = new Recorder(enc.device, list);
    enc.startRecording(fromNative, rec);
    try {
      const result: unknown = fn(enc);
      if (result instanceof Promise) throw new ArgumentError("fn", "must encode synchronously (it returned a promise)");
    } finally {
      enc.stopRecording();
    }
    return new Graph(rec);
  }

  /** Dispatches one replay encodes. */
  get dispatchCount(): number {
    return this.#kernels.length;
  }

  /** Barriers recorded between the dispatches. */
  get barrierCount(): number {
    return this.#barriers;
  }

  /** Kernel names of the dispatches, in order. */
  get kernels(): readonly string[] {
    return this.#kernels;
  }

  /**
   * Encode the recorded dispatches and barriers into `enc`, with `buffers` bound in place of the
   * parameters they name (parameters not named keep their recorded buffer).
   *
   * @example
   * const report = graph.replay(enc, { x: tokenInput }); // or graph.replay(enc, [tokenInput])
   * console.log(report.dispatches, report.barriers);
   */
  replay(enc: CommandEncoder, buffers: GraphBuffers = {}): ReplayReport {
    if (!(enc instanceof CommandEncoder)) throw new ArgumentError("encoder", "must be a CommandEncoder");
    if (enc.device !== this.#device) throw new ArgumentError("encoder", "belongs to another device than the graph");
    const bound = this.#resolve(buffers);
    for (const [buffer, where] of this.#fixed) if (buffer.disposed) throw new DisposedError(`graph buffer at ${where}`);
    for (const p of this.#pipelines) checkLivePipeline("graph pipeline", p);
    const words = this.#words;
    for (const s of this.#slots) {
      const b = bound[s.param]!;
      Packed.setBufferEntry(words, s.word, b.handleLo, b.handleHi, b.byteOffset + s.offset);
    }
    const barriers = enc.encodeSteps(fromNative, this.#steps, this.#kernels);
    return { dispatches: this.#kernels.length, barriers };
  }

  /** The buffer for each parameter, checked; see the module comment for the rules. */
  #resolve(buffers: GraphBuffers): Buffer[] {
    if (buffers === null || typeof buffers !== "object") throw new ArgumentError("buffers", "must be an object of named buffers or an array");
    const params = this.#params;
    const given: (Buffer | undefined)[] = new Array(params.length).fill(undefined);
    if (Array.isArray(buffers)) {
      if (buffers.length > params.length) throw new ArgumentError("buffers", `has ${buffers.length} entries; the graph has ${params.length} parameters (${this.params.join(", ")})`);
      buffers.forEach((b, i) => (given[i] = b));
    } else {
      for (const [name, b] of Object.entries(buffers)) {
        const i = this.params.indexOf(name);
        if (i === -1) throw new ArgumentError(`buffers.${name}`, `is not a parameter of this graph (parameters: ${this.params.join(", ") || "none"})`);
        given[i] = b;
      }
    }
    const bound: Buffer[] = [];
    const ranges: Bound[] = [];
    params.forEach((p, i) => {
      const name = `buffers.${p.name}`;
      const b = given[i] ?? p.placeholder;
      checkLiveBuffer(name, b, this.#device);
      if (b.byteLength !== p.placeholder.byteLength) {
        throw new ArgumentError(name, `has ${b.byteLength} bytes; the graph was recorded with ${p.placeholder.byteLength} bytes for "${p.name}"`);
      }
      const r = { ...rangeOf(b), written: p.written };
      const j = ranges.findIndex((q) => (q.written || r.written) && overlaps(q, r));
      if (j !== -1) throw new ArgumentError(name, `overlaps buffers.${params[j]!.name} and one of them is written; the recorded barriers assume they are disjoint`);
      if (this.#fixedRanges.get(r.alloc)?.some((q) => (q.written || r.written) && overlaps(q, r))) {
        throw new ArgumentError(name, "overlaps a buffer the graph binds as recorded, and one of them is written; the recorded barriers assume they are disjoint");
      }
      bound.push(b);
      ranges.push(r);
    });
    return bound;
  }
}

/** Bit mask of the binding slots a dispatch may write: its declared writes, or all if it declared nothing. */
function writtenSlots(options: DispatchOptions | undefined): number {
  if (options?.reads === undefined && options?.writes === undefined) return -1;
  let mask = 0;
  for (const a of options.writes ?? []) mask |= 1 << (typeof a === "number" ? a : (a as Exclude<Access, number>).binding);
  return mask;
}

