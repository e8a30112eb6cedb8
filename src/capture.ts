/**
 * Programmatic GPU capture: everything the device's queue runs between `start` and `stop` is
 * written to a `.gputrace` document that Xcode opens. Metal only; on the cpu backend `start`
 * throws a BackendError saying so. Outside Xcode, Metal allows capture only when
 * `MTL_CAPTURE_ENABLED=1` was set before the process started.
 *
 * With `MLXN_CAPTURE=path` set, `Device.open()` starts a capture into that path and
 * `device.dispose()` (or process exit) stops it.
 *
 * @example
 * using capture = GpuCapture.start(device, "/tmp/decode.gputrace");
 * model.forward(tokens);
 * // capture.stop() runs at the end of the scope
 */
import type { Pointer } from "bun:ffi";
import { ArgumentError } from "./errors.ts";
import type { Native } from "./ffi/loader.ts";
import { failure } from "./ffi/native.ts";

/** What a capture needs of its device. */
export interface CaptureTarget {
  readonly native: Native;
  readonly handle: Pointer;
}

export class GpuCapture {
  #target: CaptureTarget | undefined;

  private constructor(target: CaptureTarget) {
    this.#target = target;
  }

  /** Start capturing `device`'s queue into `path` (a `.gputrace` file that does not exist yet). */
  static start(device: CaptureTarget, path: string): GpuCapture {
    if (typeof path !== "string" || !path.endsWith(".gputrace")) {
      throw new ArgumentError("path", `must name a .gputrace file (got ${JSON.stringify(path)})`);
    }
    const { native, handle } = device;
    const set = native.mlxn_device_set_option(handle, "capture.path", path);
    if (set !== 0) throw failure(native, set, "capture.path");
    const begun = native.mlxn_capture_begin(handle);
    if (begun !== 0) throw failure(native, begun, "capture");
    return new GpuCapture(device);
  }

  get active(): boolean {
    return this.#target !== undefined;
  }

  /** Stop and write the trace. Idempotent. */
  stop(): void {
    const target = this.#target;
    if (!target) return;
    this.#target = undefined;
    const status = target.native.mlxn_capture_end(target.handle);
    if (status !== 0) throw failure(target.native, status, "capture");
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}
