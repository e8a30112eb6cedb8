/**
 * A command buffer as the user sees it: label, status, error, GPU times, a blocking wait and a
 * non-blocking one (`completed()`). Encoding goes through `CommandEncoder`; this object only observes. The native handle is freed
 * by `dispose()` or, as a backstop, when the object is collected; the backend keeps a committed
 * command buffer alive until it completes either way.
 */
import { ArgumentError, CommandBufferError, DisposedError } from "./errors.ts";
import type { Pointer } from "bun:ffi";
import { CommandBufferStatus } from "./ffi/abi.ts";
import { fromNative } from "./internal.ts";
import type { Native } from "./ffi/loader.ts";

export { CommandBufferStatus };

const finalizer = new FinalizationRegistry<{ native: Native; handle: Pointer }>((h) => h.native.mlxn_command_buffer_free(h.handle));

export class CommandBuffer {
  readonly #native: Native;
  readonly #handle: Pointer;
  #committed = false;
  #disposed = false;
  #label = "";

  /** @internal Made by CommandEncoder; a handle from anywhere else is refused. */
  constructor(token: typeof fromNative, native: Native, handle: Pointer) {
    if (token !== fromNative) throw new ArgumentError("CommandBuffer", "is made by CommandEncoder; it cannot be constructed from a handle");
    this.#native = native;
    this.#handle = handle;
    finalizer.register(this, { native, handle }, this);
  }

  /** @internal */
  get handle(): Pointer {
    if (this.#disposed) throw new DisposedError("command buffer");
    return this.#handle;
  }

  get committed(): boolean {
    return this.#committed;
  }

  /** @internal Called by the encoder right after a successful commit. */
  markCommitted(): void {
    this.#committed = true;
  }

  /** The label, as the backend reports it ("" when unset). */
  get label(): string {
    return (this.#native.mlxn_command_buffer_label(this.handle) as string | null) ?? "";
  }

  set label(value: string) {
    this.#label = value;
    this.#native.mlxn_command_buffer_set_label(this.handle, value);
  }

  /** A `CommandBufferStatus` value. */
  get status(): number {
    return this.#native.mlxn_command_buffer_status(this.handle);
  }

  /** Error text of a failed command buffer, "" otherwise. */
  get error(): string {
    return (this.#native.mlxn_command_buffer_error(this.handle) as string | null) ?? "";
  }

  /** GPU execution time in nanoseconds once completed, else 0. */
  get gpuTimeNs(): number {
    const start = this.#native.mlxn_command_buffer_gpu_start_time(this.handle);
    const end = this.#native.mlxn_command_buffer_gpu_end_time(this.handle);
    return end > start ? Math.round((end - start) * 1e9) : 0;
  }

  /** GPU start and end as host times in seconds (0 until completed). */
  get gpuTimes(): { start: number; end: number } {
    return {
      start: this.#native.mlxn_command_buffer_gpu_start_time(this.handle),
      end: this.#native.mlxn_command_buffer_gpu_end_time(this.handle),
    };
  }

  /**
   * Block until the command buffer completes; throws `CommandBufferError` if it failed or was
   * never committed (waiting on an uncommitted command buffer would block forever).
   */
  waitUntilCompleted(): void {
    const handle = this.handle;
    if (!this.#committed) {
      throw new CommandBufferError(this.#label, CommandBufferStatus.NotEnqueued, "waitUntilCompleted() on a command buffer that was never committed");
    }
    this.#native.mlxn_command_buffer_wait(handle);
    const status = this.#native.mlxn_command_buffer_status(handle);
    if (status === CommandBufferStatus.Completed) return;
    const detail = status === CommandBufferStatus.Error ? this.error || "completed with error status" : `unexpected status ${status} after wait`;
    throw new CommandBufferError(this.#label, status, detail);
  }

  /**
   * Wait for the command buffer without blocking the JS thread: the promise settles once it has
   * completed (rejecting with `CommandBufferError` as `waitUntilCompleted` throws), and timers,
   * I/O and other requests run meanwhile.
   *
   * The ABI has no callbacks into JS, so this polls the status. Timers below a millisecond fire
   * at once in Bun and whole ones take about 1.1 ms, so it sleeps in whole milliseconds while the
   * work is expected to take longer (`expectedMs`, e.g. the last similar command buffer's time),
   * then checks on every turn of the event loop, which costs a few microseconds of the JS thread
   * each. Do not dispose the command buffer before the promise settles.
   *
   * @example
   * enc.commit();
   * await enc.commandBuffer.completed({ expectedMs: 12 });
   */
  async completed(options: { expectedMs?: number } = {}): Promise<void> {
    const handle = this.handle;
    if (!this.#committed) {
      throw new CommandBufferError(this.#label, CommandBufferStatus.NotEnqueued, "completed() on a command buffer that was never committed");
    }
    const native = this.#native;
    const start = performance.now();
    const expected = options.expectedMs ?? 0;
    // Sleep while more than a timer's granularity of the expected time is left; spin after,
    // but fall back to sleeping once the work has overrun its estimate by a lot (a cold kernel
    // compile, a slow machine), so a long wait does not keep a core busy.
    // The first check comes after one turn of the event loop, so a caller awaiting a chain of
    // command buffers always lets other work run between them.
    for (;;) {
      const elapsed = performance.now() - start;
      const left = expected - elapsed;
      if (left > 1.5 || elapsed > Math.max(2, 2 * expected)) await Bun.sleep(1);
      else await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#disposed) throw new DisposedError("command buffer");
      if (native.mlxn_command_buffer_status(handle) >= CommandBufferStatus.Completed) break;
    }
    this.waitUntilCompleted();
  }

  /** Release the native handle. Idempotent; an in-flight command buffer still completes. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    finalizer.unregister(this);
    this.#native.mlxn_command_buffer_free(this.#handle);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
