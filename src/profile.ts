/**
 * Profiling: while a `Profiler` is running on a device, every command buffer created on it is
 * followed from creation to completion: its label, dispatches per kernel, barriers, and the GPU
 * time the backend reports (`GPUStartTime`/`GPUEndTime`; the cpu backend fills them too).
 *
 * Numbers come in three tables: per command buffer, per label (count, total, min, max GPU time),
 * and per kernel (dispatches, and GPU time where it can honestly be attributed). Neither backend
 * times single dispatches (Apple GPUs sample counters only at stage boundaries), so a kernel is
 * credited with GPU time only from command buffers that ran nothing but that kernel; its other
 * dispatches are reported as untimed, and a kernel with no such command buffer shows "n/a".
 *
 * Profiling never changes how work is submitted: an asynchronous commit stays asynchronous. A
 * command buffer's time is read once it has completed — when it is waited on, or the next time
 * the profiler is queried or a command buffer is created. Barrier encode time is measured into
 * `counters.barrierNs` only with `{ barriers: true }`.
 *
 * The encoder calls in through one object per command buffer (`CommandBufferProfile`); nothing
 * else of profiling lives in encoder.ts.
 *
 * @example
 * using prof = Profiler.start(device, { barriers: true });
 * runForwardPass();
 * console.log(prof.toTable());
 */
import type { CommandBuffer } from "./commandbuffer.ts";
import type { Device } from "./device.ts";
import { CommandBufferStatus } from "./commandbuffer.ts";
import { counters } from "./counters.ts";
import { ArgumentError } from "./errors.ts";

/**
 * What a profiler knows about one command buffer.
 *
 * @example
 * const slowest = prof.commandBuffers().toSorted((a, b) => (b.gpuNs ?? 0) - (a.gpuNs ?? 0))[0];
 */
export interface CommandBufferRecord {
  /** Label at commit ("" if none). */
  readonly label: string;
  readonly dispatches: number;
  readonly barriers: number;
  /** Nanoseconds spent encoding barriers (0 unless barrier profiling is on). */
  readonly barrierNs: number;
  /** GPU time once completed; undefined while encoding or in flight, or if it failed. */
  readonly gpuNs: number | undefined;
  readonly status: "encoding" | "pending" | "completed" | "failed" | "discarded";
  /** Dispatches per kernel name. */
  readonly kernels: ReadonlyMap<string, number>;
}

/**
 * GPU time of the command buffers that carried one label.
 *
 * @example
 * const attn = prof.labels().find((l) => l.label === "attn");
 */
export interface LabelTotal {
  label: string;
  count: number;
  totalNs: number;
  minNs: number;
  maxNs: number;
}

/**
 * Dispatches of one kernel, and the GPU time attributable to it.
 *
 * @example
 * const top = prof.kernels()[0]; // the most dispatched kernel
 */
export interface KernelTotal {
  kernel: string;
  dispatches: number;
  /** Dispatches that ran in command buffers holding only this kernel. */
  timedDispatches: number;
  /** GPU time of those command buffers; undefined when none ("n/a"). */
  gpuNs: number | undefined;
}

/**
 * Options of `Profiler.start`.
 *
 * @example
 * Profiler.start(device, { barriers: true });
 */
export interface ProfilerOptions {
  /** Also time each barrier's encoding into `counters.barrierNs` (default false). */
  barriers?: boolean;
}

const running = new WeakMap<object, Profiler>();

/**
 * @internal Called by the encoder for each new command buffer: the object to report to, or null
 * when no profiler is running on `device`.
 */
export function profileCommandBuffer(device: object, cb: CommandBuffer): CommandBufferProfile | null {
  const p = running.get(device);
  return p === undefined ? null : p.follow(cb);
}

/** @internal The encoder's view of one profiled command buffer. */
export class CommandBufferProfile implements CommandBufferRecord {
  label = "";
  dispatches = 0;
  barriers = 0;
  barrierNs = 0;
  gpuNs: number | undefined;
  status: CommandBufferRecord["status"] = "encoding";
  readonly kernels = new Map<string, number>();
  readonly timeBarriers: boolean;
  #cb: CommandBuffer | undefined;
  /** True when the encoder handed over disposal of the command buffer. */
  #owned = false;

  constructor(cb: CommandBuffer, timeBarriers: boolean) {
    this.#cb = cb;
    this.timeBarriers = timeBarriers;
  }

  dispatch(kernel: string): void {
    this.dispatches++;
    this.kernels.set(kernel, (this.kernels.get(kernel) ?? 0) + 1);
  }

  barrierTimed(ns: number): void {
    this.barriers++;
    this.barrierNs += ns;
    counters.barrierNs += ns;
  }

  committed(label: string): void {
    this.label = label;
    this.status = "pending";
  }

  /** The command buffer was replaced or dropped before a commit: nothing ran. */
  discardIfUncommitted(): void {
    if (this.status !== "encoding") return;
    this.status = "discarded";
    this.#cb = undefined;
  }

  /**
   * The encoder is being disposed: take over disposal of an in-flight command buffer so its
   * time can still be read. Returns true if the profiler now owns it.
   */
  adopt(): boolean {
    this.discardIfUncommitted();
    if (this.status !== "pending" || this.poll()) return false;
    this.#owned = true;
    return true;
  }

  /** Read the GPU time if the command buffer has finished; true once it has. */
  poll(): boolean {
    if (this.status !== "pending") return true;
    const cb = this.#cb!;
    const status = cb.status;
    if (status === CommandBufferStatus.Completed) {
      this.gpuNs = cb.gpuTimeNs;
      this.status = "completed";
    } else if (status === CommandBufferStatus.Error) {
      this.status = "failed";
    } else {
      return false;
    }
    if (this.#owned) cb.dispose();
    this.#cb = undefined;
    return true;
  }
}

/**
 * Collects per-command-buffer GPU time, per-label totals and a per-kernel dispatch table for one
 * device, from `start()` until `stop()`. One profiler runs per device at a time.
 *
 * @example
 * const prof = Profiler.start(device);
 * const enc = device.commandEncoder();
 * ops.elementwiseAdd(enc, a, b, out);
 * enc.commitAndWaitLabeled("add");
 * prof.stop();
 * console.log(prof.labels()[0]); // { label: "add", count: 1, totalNs: …, … }
 * console.log(prof.toTable());
 */
export class Profiler {
  readonly device: Device;
  readonly #timeBarriers: boolean;
  #records: CommandBufferProfile[] = [];
  /** Index of the oldest record that may still be in flight. */
  #pendingFrom = 0;
  #running = true;

  private constructor(device: Device, options: ProfilerOptions) {
    this.device = device;
    this.#timeBarriers = options.barriers === true;
  }

  /**
   * Start profiling the command buffers created on `device` from now on.
   *
   * @example
   * using prof = Profiler.start(device, { barriers: true }); // stopped at the end of the scope
   */
  static start(device: Device, options: ProfilerOptions = {}): Profiler {
    if (options === null || typeof options !== "object") throw new ArgumentError("options", "must be an object like { barriers: true }");
    for (const key of Object.keys(options)) {
      if (key !== "barriers") throw new ArgumentError("options", `unknown option "${key}" (known: barriers)`);
    }
    if (running.has(device)) throw new ArgumentError("device", "already has a running Profiler; stop() it first");
    const p = new Profiler(device, options);
    running.set(device, p);
    return p;
  }

  /** True between `start()` and `stop()`. */
  get running(): boolean {
    return this.#running;
  }

  /** @internal A new command buffer on the device. */
  follow(cb: CommandBuffer): CommandBufferProfile {
    this.#harvest();
    const r = new CommandBufferProfile(cb, this.#timeBarriers);
    this.#records.push(r);
    return r;
  }

  /**
   * Stop following new command buffers. Those already followed are still measured when they
   * complete. Idempotent.
   */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    if (running.get(this.device) === this) running.delete(this.device);
  }

  [Symbol.dispose](): void {
    this.stop();
  }

  /** Forget everything measured so far (keeps running if it was). */
  reset(): void {
    this.#records = [];
    this.#pendingFrom = 0;
  }

  /**
   * Every followed command buffer that was committed, in creation order.
   *
   * @example
   * for (const cb of prof.commandBuffers()) console.log(cb.label, cb.gpuNs);
   */
  commandBuffers(): readonly CommandBufferRecord[] {
    this.#harvest(true);
    return this.#records.filter((r) => r.status !== "discarded" && r.status !== "encoding");
  }

  /**
   * GPU time per command-buffer label ("(unlabeled)" for none), most total time first. Only
   * completed command buffers count.
   *
   * @example
   * const [top] = prof.labels();
   */
  labels(): LabelTotal[] {
    const byLabel = new Map<string, LabelTotal>();
    for (const r of this.commandBuffers()) {
      if (r.gpuNs === undefined) continue;
      const label = r.label || "(unlabeled)";
      const t = byLabel.get(label);
      if (t === undefined) byLabel.set(label, { label, count: 1, totalNs: r.gpuNs, minNs: r.gpuNs, maxNs: r.gpuNs });
      else {
        t.count++;
        t.totalNs += r.gpuNs;
        t.minNs = Math.min(t.minNs, r.gpuNs);
        t.maxNs = Math.max(t.maxNs, r.gpuNs);
      }
    }
    return [...byLabel.values()].sort((a, b) => b.totalNs - a.totalNs);
  }

  /**
   * Dispatches per kernel, most dispatched first, with GPU time where it can be attributed (see
   * the module comment).
   *
   * @example
   * for (const k of prof.kernels()) console.log(k.kernel, k.dispatches, k.gpuNs ?? "n/a");
   */
  kernels(): KernelTotal[] {
    const byKernel = new Map<string, KernelTotal>();
    for (const r of this.commandBuffers()) {
      const single = r.kernels.size === 1 && r.gpuNs !== undefined;
      for (const [kernel, n] of r.kernels) {
        let k = byKernel.get(kernel);
        if (k === undefined) byKernel.set(kernel, (k = { kernel, dispatches: 0, timedDispatches: 0, gpuNs: undefined }));
        k.dispatches += n;
        if (single) {
          k.timedDispatches += n;
          k.gpuNs = (k.gpuNs ?? 0) + r.gpuNs!;
        }
      }
    }
    return [...byKernel.values()].sort((a, b) => b.dispatches - a.dispatches || a.kernel.localeCompare(b.kernel));
  }

  /**
   * Totals over the committed command buffers: how many, how many are timed (completed) and
   * still pending, dispatches, barriers, barrier encode time and GPU time.
   *
   * @example
   * const { gpuNs, dispatches } = prof.summary();
   */
  summary(): { commandBuffers: number; completed: number; pending: number; dispatches: number; barriers: number; barrierNs: number; gpuNs: number } {
    const s = { commandBuffers: 0, completed: 0, pending: 0, dispatches: 0, barriers: 0, barrierNs: 0, gpuNs: 0 };
    for (const r of this.commandBuffers()) {
      s.commandBuffers++;
      if (r.status === "completed") s.completed++;
      if (r.status === "pending") s.pending++;
      s.dispatches += r.dispatches;
      s.barriers += r.barriers;
      s.barrierNs += r.barrierNs;
      s.gpuNs += r.gpuNs ?? 0;
    }
    return s;
  }

  /**
   * The summary, the label table and the kernel table as aligned text.
   *
   * @example
   * console.log(prof.toTable());
   */
  toTable(): string {
    const ms = (ns: number) => (ns / 1e6).toFixed(3);
    const s = this.summary();
    const lines = [
      `${s.commandBuffers} command buffers (${s.completed} completed, ${s.pending} pending), GPU ${ms(s.gpuNs)} ms, ` +
        `${s.dispatches} dispatches, ${s.barriers} barriers` +
        (this.#timeBarriers ? ` (barrier encoding ${ms(s.barrierNs)} ms)` : ""),
      "",
      table(
        ["label", "count", "total ms", "mean ms", "min ms", "max ms"],
        this.labels().map((t) => [t.label, String(t.count), ms(t.totalNs), ms(t.totalNs / t.count), ms(t.minNs), ms(t.maxNs)]),
      ),
      "",
      table(
        ["kernel", "dispatches", "timed", "GPU ms", "ms/dispatch"],
        this.kernels().map((k) => [
          k.kernel,
          String(k.dispatches),
          String(k.timedDispatches),
          k.gpuNs === undefined ? "n/a" : ms(k.gpuNs),
          k.gpuNs === undefined ? "n/a" : ms(k.gpuNs / k.timedDispatches),
        ]),
      ),
      "(timed: dispatches in command buffers that ran only that kernel; per-dispatch GPU time is not available)",
    ];
    return lines.join("\n");
  }

  /** Read the times of finished command buffers; `all` polls every pending one, not just the oldest run. */
  #harvest(all = false): void {
    const records = this.#records;
    while (this.#pendingFrom < records.length) {
      const r = records[this.#pendingFrom]!;
      if (r.status === "encoding" || !r.poll()) break;
      this.#pendingFrom++;
    }
    if (all) for (let i = this.#pendingFrom; i < records.length; i++) records[i]!.poll();
  }
}

/** Left-aligned first column, right-aligned numbers. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}
