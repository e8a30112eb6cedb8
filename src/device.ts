/**
 * Device: the system GPU (or the cpu backend) with one command queue, its residency set and the
 * accounting of its allocations.
 *
 * @example
 * const device = Device.open();
 * console.log(device.backend, device.name);
 * const a = device.allocBuffer(16, DType.F32, [4]);
 */
import { Buffer, checkShape, type BufferOwner } from "./buffer.ts";
import { GpuCapture } from "./capture.ts";
import { config } from "./config.ts";
import { isDType, type DType } from "./dtype.ts";
import { CommandEncoder } from "./encoder.ts";
import { ArgumentError, DisposedError, OutOfMemoryError } from "./errors.ts";
import { loadBackend, type Backend, type Native } from "./ffi/loader.ts";
import { Limit, Status } from "./ffi/abi.ts";
import { failure, outSlot, takeHandle } from "./ffi/native.ts";
import { KernelRegistry } from "./registry.ts";
import { fromNative } from "./internal.ts";
import { Residency } from "./residency.ts";
import { EncoderSession } from "./session.ts";
import { join } from "node:path";
import type { Pointer } from "bun:ffi";

/** Limits and capabilities the backend reports. */
export interface DeviceLimits {
  maxBufferLength: number;
  maxThreadsPerThreadgroup: number;
  maxThreadgroupMemory: number;
  recommendedWorkingSet: number;
  simdWidth: number;
  hasResidencySets: boolean;
  hasUnifiedMemory: boolean;
  maxInlineBytes: number;
  maxBufferBindings: number;
  workerThreads: number;
  /**
   * True when a threadgroup's threads run in parallel GPU lanes (Metal); false when msl-cpu runs
   * them in turns on one core. Ops read it to pick kernel shapes (threads per row, tiled vs
   * matrix-vector products); nothing else about the backend is visible to them.
   */
  lanesInHardware: boolean;
}

function readLimits(native: Native, handle: Pointer): DeviceLimits {
  const limit = (key: number) => Number(native.mlxn_device_limit(handle, key));
  return Object.freeze({
    maxBufferLength: limit(Limit.MAX_BUFFER_LENGTH),
    maxThreadsPerThreadgroup: limit(Limit.MAX_THREADS_PER_THREADGROUP),
    maxThreadgroupMemory: limit(Limit.MAX_THREADGROUP_MEMORY),
    recommendedWorkingSet: limit(Limit.RECOMMENDED_WORKING_SET),
    simdWidth: limit(Limit.SIMD_WIDTH),
    hasResidencySets: limit(Limit.HAS_RESIDENCY_SETS) === 1,
    hasUnifiedMemory: limit(Limit.HAS_UNIFIED_MEMORY) === 1,
    maxInlineBytes: limit(Limit.MAX_INLINE_BYTES),
    maxBufferBindings: limit(Limit.MAX_BUFFER_BINDINGS),
    workerThreads: limit(Limit.WORKER_THREADS),
    lanesInHardware: limit(Limit.LANES_IN_HARDWARE) === 1,
  });
}

export class Device implements BufferOwner {
  readonly native: Native;
  readonly backend: Backend;
  readonly handle: Pointer;
  readonly name: string;
  readonly limits: DeviceLimits;
  readonly residency: Residency;
  #bytesInUse = 0;
  #peakBytes = 0;
  #disposed = false;
  /** The capture `MLXN_CAPTURE` started, stopped with the device. */
  #envCapture: GpuCapture | undefined;
  #kernels: KernelRegistry | undefined;

  private constructor(native: Native, backend: Backend, handle: Pointer) {
    this.native = native;
    this.backend = backend;
    this.handle = handle;
    this.name = (native.mlxn_device_name(handle) as string | null) ?? "";
    this.limits = readLimits(native, handle);
    this.residency = new Residency(native, handle);
  }

  /** Open the device of the backend chosen by `MLXN_BACKEND`, or the platform default. */
  static open(): Device {
    const cfg = config();
    const { backend, native } = loadBackend();
    const status = native.mlxn_device_open(outSlot);
    if (status !== 0) throw failure(native, status, "device");
    const handle = takeHandle();
    // Backends ignore keys they do not know, so options are set without asking which one this is.
    const options: [string, string | undefined][] = [
      ["msl_cpu.cache_dir", join(cfg.cacheDir, "msl-cpu")],
      ["msl_cpu.cxx", cfg.cxx],
      ["msl_cpu.sanitize", cfg.mslCpuSanitize ? "1" : "0"],
      ["msl_cpu.threads", cfg.mslCpuThreads?.toString()],
      ["cuda.cache_dir", join(cfg.cacheDir, "cuda")],
      ["cuda.cxx", cfg.cxx],
      ["msl_cpu.compile_timeout_ms", String(Math.ceil(cfg.compileTimeoutSeconds * 1000))],
      ["capture.path", cfg.capturePath],
    ];
    for (const [key, value] of options) {
      if (value === undefined) continue;
      const s = native.mlxn_device_set_option(handle, key, value);
      if (s !== 0) {
        const err = failure(native, s, key);
        native.mlxn_device_free(handle);
        throw err;
      }
    }
    const device = new Device(native, backend, handle);
    if (cfg.capturePath) device.#startEnvCapture(cfg.capturePath);
    return device;
  }

  #startEnvCapture(path: string): void {
    try {
      this.#envCapture = GpuCapture.start(this, path);
    } catch (e) {
      // A debug switch must not stop the program it is debugging: say why, run uncaptured.
      console.error(`bun-mlx-native: MLXN_CAPTURE=${path} ignored: ${(e as Error).message}`);
      return;
    }
    process.once("exit", () => this.#envCapture?.stop());
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * The device's kernel registry, created on first use and disposed with the device: ops take
   * their pipelines from it (catalog kernels, compiled once per compile unit). Make a
   * `KernelRegistry` of your own for kernels you register.
   *
   * @example
   * const p = device.kernels.pipeline(kernels.elementwiseBinary, { op: "add", dtype: DType.F32 });
   */
  get kernels(): KernelRegistry {
    if (this.#kernels !== undefined) return this.#kernels;
    this.#check();
    this.#kernels = new KernelRegistry(this);
    return this.#kernels;
  }

  /** Bytes held by live allocations of this device. */
  get bytesInUse(): number {
    return this.#bytesInUse;
  }

  /** Most bytes held at once since the device was opened. */
  get peakBytes(): number {
    return this.#peakBytes;
  }

  /**
   * A zero-filled buffer of `byteLength` bytes described as `shape` elements of `dtype`.
   * The shape must fit in the buffer; it may describe fewer bytes than allocated.
   */
  allocBuffer(byteLength: number, dtype: DType, shape: readonly number[]): Buffer {
    this.#check();
    if (!Number.isSafeInteger(byteLength) || byteLength <= 0) {
      throw new ArgumentError("byteLength", `must be a positive integer (got ${byteLength})`);
    }
    if (byteLength > this.limits.maxBufferLength) {
      throw new ArgumentError("byteLength", `${byteLength} bytes exceeds the device's largest buffer (${this.limits.maxBufferLength} bytes)`);
    }
    if (!isDType(dtype)) throw new ArgumentError("dtype", `must be a DType (got ${String(dtype)})`);
    checkShape(shape, dtype, byteLength);
    const status = this.native.mlxn_buffer_new(this.handle, byteLength, outSlot);
    if (status === Status.OUT_OF_MEMORY) {
      throw new OutOfMemoryError(byteLength, this.#bytesInUse, (this.native.mlxn_last_error() as string | null) ?? "");
    }
    if (status !== 0) throw failure(this.native, status, "byteLength");
    this.#bytesInUse += byteLength;
    if (this.#bytesInUse > this.#peakBytes) this.#peakBytes = this.#bytesInUse;
    return Buffer.allocate(fromNative, this, this, takeHandle(), byteLength, dtype, shape);
  }

  /** @internal Accounting callback of freed allocations. */
  onFree(bytes: number): void {
    this.#bytesInUse -= bytes;
  }

  /**
   * A new command encoder (one command buffer). `autoBarrier: false` leaves every barrier to the
   * caller (see `CommandEncoder.autoBarrier`).
   *
   * @example
   * const enc = device.commandEncoder({ autoBarrier: false });
   */
  commandEncoder(options?: { autoBarrier?: boolean }): CommandEncoder {
    this.#check();
    const enc = new CommandEncoder(this);
    if (options?.autoBarrier !== undefined) enc.autoBarrier = options.autoBarrier;
    return enc;
  }

  /** A new encoder session. Unlike the crate, no environment variable gates it: it is always available. */
  encoderSession(): EncoderSession {
    this.#check();
    return new EncoderSession(this);
  }

  /**
   * Release the device. Buffers and command buffers still alive keep working memory valid until
   * they are disposed; new work on this device throws. Idempotent.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#envCapture?.stop();
    this.#kernels?.dispose();
    this.residency.dispose();
    this.native.mlxn_device_free(this.handle);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #check(): void {
    if (this.#disposed) throw new DisposedError("device");
  }
}

/**
 * Throws unless `v` is an open Device (made by `Device.open()`, whose constructor is private):
 * a fake object with a `handle` never reaches the backend.
 */
export function checkDevice(name: string, v: unknown): asserts v is Device {
  if (!(v instanceof Device)) throw new ArgumentError(name, `must be a Device from Device.open() (got ${v === null ? "null" : typeof v === "object" ? ((v as object).constructor?.name ?? "object") : typeof v})`);
  if (v.disposed) throw new DisposedError("device");
}
