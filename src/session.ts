/**
 * EncoderSession: a chain of command buffers fenced by one shared event, so the CPU can encode
 * stage N+1 while the GPU runs stage N, and so a forward pass needs few command buffers.
 *
 * States (as in the crate we port):
 *
 * | state    | drained | fencePending | entered by                                  |
 * |----------|---------|--------------|---------------------------------------------|
 * | empty    | false   | false        | construction; `resetForNextStage()`         |
 * | encoding | false   | false        | the first dispatch through `encoder`        |
 * | drained  | true    | false        | `commitStage()` or `commitAndWait()`        |
 * | fenced   | true    | true         | `fenceStage()`                              |
 *
 * `fenceStage` signals the event to `fenceValue + 1` and commits without waiting;
 * `resetForNextStage` starts a new command buffer that waits for the current fence value. Calls
 * that do not apply in the current state are no-ops, as in the crate; encoding into a drained
 * session throws (the crate left that to Metal's validation layer). `fenceValue` only grows.
 * After `commitAndWait` fails, the session refuses work until `resetForNextStage()`.
 *
 * Within a stage, the encoder's automatic barriers order dependent ops (see CommandEncoder);
 * across stages, the fence does. Each new stage starts a fresh hazard group.
 *
 * @example
 * const sess = device.encoderSession();
 * ops.elementwiseAdd(sess.encoder, a, b, out);
 * sess.fenceStage("layer0");
 * sess.resetForNextStage();
 * ops.elementwiseAdd(sess.encoder, out, b, out2);
 * sess.commitAndWait();
 */
import type { Pointer } from "bun:ffi";
import { fromNative } from "./internal.ts";
import { checkDevice, type Device } from "./device.ts";
import { CommandEncoder } from "./encoder.ts";
import { CommandBufferError, DisposedError } from "./errors.ts";
import { CommandBufferStatus, type CommandBuffer } from "./commandbuffer.ts";
import { failure, outSlot, takeHandle } from "./ffi/native.ts";

export class EncoderSession {
  readonly #device: Device;
  readonly #encoder: CommandEncoder;
  #event: Pointer | null = null;
  #fenceValue = 0;
  #stageLabel = "";
  #drained = false;
  #fencePending = false;
  #failed: Error | undefined;
  #waitCount = 0;
  #waitValue = 0;
  #disposed = false;

  /** @internal Use `device.encoderSession()`. */
  constructor(device: Device) {
    checkDevice("device", device);
    this.#device = device;
    this.#encoder = new CommandEncoder(device);
  }

  /** The encoder of the current stage. Do not call its `commit*` methods directly. */
  get encoder(): CommandEncoder {
    if (this.#disposed) throw new DisposedError("encoder session");
    if (this.#failed) throw new CommandBufferError(this.#stageLabel, CommandBufferStatus.Error, `session failed earlier (${this.#failed.message}); call resetForNextStage() first`);
    return this.#encoder;
  }

  /** The current command buffer: the fenced or committed one until reset, then the fresh one. */
  get commandBuffer(): CommandBuffer {
    return this.#encoder.commandBuffer;
  }

  /** Name the current stage; used as the label when it is committed. */
  beginStage(label: string): void {
    this.#stageLabel = label;
  }

  /** Commit the stage without waiting. */
  commitStage(): void {
    if (this.#drained) return;
    this.#drained = true;
    this.#fencePending = false;
    if (this.#stageLabel) this.#encoder.commitLabeled(this.#stageLabel);
    else this.#encoder.commit();
  }

  /** Commit the stage and wait; throws `CommandBufferError` if the GPU work failed. */
  commitAndWait(): void {
    if (this.#drained) return;
    this.#drained = true;
    this.#fencePending = false;
    try {
      if (this.#stageLabel) this.#encoder.commitAndWaitLabeled(this.#stageLabel);
      else this.#encoder.commitAndWait();
    } catch (e) {
      this.#failed = e as Error;
      throw e;
    }
  }

  /** Signal the fence to `fenceValue + 1` when this stage completes, and commit without waiting. */
  fenceStage(label?: string): void {
    if (this.#drained) return;
    if (label !== undefined) this.#stageLabel = label;
    this.#event ??= this.#newEvent();
    const value = this.#fenceValue + 1;
    this.#encoder.fenceSignalAndCommit(fromNative, this.#event, value, this.#stageLabel || undefined);
    this.#fenceValue = value;
    this.#drained = true;
    this.#fencePending = true;
  }

  /** Start the next stage in a new command buffer, waiting for the last fence if there was one. */
  resetForNextStage(): void {
    if (!this.#drained && !this.#failed) return;
    const waitFor = this.#fencePending ? this.#fenceValue : 0;
    this.#encoder.resetCommandBuffer();
    if (waitFor > 0) {
      this.#encoder.encodeWaitForEvent(fromNative, this.#event!, waitFor);
      this.#waitCount++;
      this.#waitValue = waitFor;
    }
    this.#drained = false;
    this.#fencePending = false;
    this.#failed = undefined;
    this.#stageLabel = "";
  }

  get isDrained(): boolean {
    return this.#drained;
  }
  get isFencePending(): boolean {
    return this.#fencePending;
  }
  /** True once the first fence created the shared event. */
  get hasEvent(): boolean {
    return this.#event !== null;
  }
  /** Value the last fence signals; grows by one per effective `fenceStage`. */
  get fenceValue(): number {
    return this.#fenceValue;
  }
  /** Number of waits encoded by `resetForNextStage`. */
  get waitCount(): number {
    return this.#waitCount;
  }
  /** Fence value the last wait waited for. */
  get waitValue(): number {
    return this.#waitValue;
  }
  /** The event's value as the device reports it (how far the GPU has got). */
  get signaledValue(): number {
    return this.#event === null ? 0 : Number(this.#device.native.mlxn_event_signaled_value(this.#event));
  }

  /**
   * Release the session. Work already committed still completes; an uncommitted stage is
   * discarded. Idempotent; never waits.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#encoder.dispose();
    if (this.#event !== null) this.#device.native.mlxn_event_free(this.#event);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #newEvent(): Pointer {
    const native = this.#device.native;
    const status = native.mlxn_event_new(this.#device.handle, outSlot);
    if (status !== 0) throw failure(native, status, "fenceStage");
    return takeHandle();
  }
}
