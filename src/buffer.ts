/**
 * Device buffers. A `Buffer` is a typed view (dtype, shape, byte range) of one native
 * allocation; views made with `slice()` share the allocation. The allocation is registered for
 * residency once and freed when the last view is disposed.
 *
 * Contents are exposed zero-copy through `view()`. When the allocation is freed its ArrayBuffer
 * is detached, so a typed array that outlived its buffer reads as empty instead of reading freed
 * memory. A FinalizationRegistry releases views that were never disposed; it is a backstop, not
 * a substitute for `dispose()` (the JS GC cannot see GPU memory).
 */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import type { DType } from "./dtype.ts";
import { ArgumentError, DisposedError } from "./errors.ts";
import type { Native } from "./ffi/loader.ts";
import { fromNative } from "./internal.ts";
import type { Residency } from "./residency.ts";

/** Typed arrays `Buffer.view` can produce. */
export type TypedArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array;

export interface TypedArrayConstructor<T extends TypedArray> {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** Owner of a device's allocations, as seen by its buffers. */
export interface BufferOwner {
  readonly native: Native;
  readonly residency: Residency;
  /** Called when an allocation is freed, for byte accounting. */
  onFree(bytes: number): void;
}

/** One native allocation shared by every view of it. */
class Storage {
  #refs = 1;
  #arrayBuffer: ArrayBuffer | undefined;

  constructor(
    readonly owner: BufferOwner,
    readonly handle: Pointer,
    readonly length: number,
  ) {}

  get freed(): boolean {
    return this.#refs === 0;
  }

  arrayBuffer(): ArrayBuffer {
    if (!this.#arrayBuffer) {
      const contents = this.owner.native.mlxn_buffer_contents(this.handle);
      if (contents === null) throw new ArgumentError("buffer", "the backend returned no contents pointer");
      const ab = toArrayBuffer(contents, 0, this.length);
      // Views keep the storage reachable, so a GC'd Buffer object cannot free memory under them.
      (ab as ArrayBuffer & { owner?: Storage }).owner = this;
      this.#arrayBuffer = ab;
    }
    return this.#arrayBuffer;
  }

  retain(): void {
    this.#refs++;
  }

  release(): void {
    if (this.#refs === 0 || --this.#refs > 0) return;
    this.owner.residency.remove(this.handle);
    // Detach before freeing: stale typed arrays become empty rather than dangling.
    this.#arrayBuffer?.transfer(0);
    this.#arrayBuffer = undefined;
    this.owner.native.mlxn_buffer_free(this.handle);
    this.owner.onFree(this.length);
  }
}

const finalizer = new FinalizationRegistry<Storage>((storage) => storage.release());

/**
 * A typed view of device memory.
 *
 * @example
 * using a = device.allocBuffer(16, DType.F32, [4]);
 * a.view(Float32Array).set([1, 2, 3, 4]);
 */
export class Buffer {
  readonly #storage: Storage;
  #disposed = false;
  /** @internal Low and high 32 bits of the native handle, split once for the packed dispatch record. */
  readonly handleLo: number;
  /** @internal */
  readonly handleHi: number;

  /** @internal Use `Device.allocBuffer` or `Buffer.slice`. */
  constructor(
    storage: Storage,
    readonly device: object,
    readonly dtype: DType,
    readonly shape: readonly number[],
    /** Start of this view within the allocation, in bytes. */
    readonly byteOffset: number,
    /** Length of this view in bytes. */
    readonly byteLength: number,
  ) {
    if (!(storage instanceof Storage)) throw new ArgumentError("Buffer", "is made by Device.allocBuffer or Buffer.slice; it cannot be constructed from a handle");
    this.#storage = storage;
    this.elementCount = shape.reduce((a, b) => a * b, 1);
    this.handleLo = storage.handle >>> 0;
    this.handleHi = Math.floor(storage.handle / 0x100000000);
    finalizer.register(this, storage, this);
  }

  /** @internal */
  static allocate(token: typeof fromNative, owner: BufferOwner, device: object, handle: Pointer, byteLength: number, dtype: DType, shape: readonly number[]): Buffer {
    if (token !== fromNative) throw new ArgumentError("Buffer", "is made by Device.allocBuffer; it cannot be constructed from a handle");
    owner.residency.add(handle);
    return new Buffer(new Storage(owner, handle, byteLength), device, dtype, Object.freeze([...shape]), 0, byteLength);
  }

  /** Native handle of the allocation; throws once disposed. */
  get handle(): Pointer {
    if (this.#disposed) throw new DisposedError("buffer");
    return this.#storage.handle;
  }

  /** Bytes of the whole allocation this view belongs to. */
  get allocationLength(): number {
    return this.#storage.length;
  }

  /** True once disposed; also for an object that only pretends to be a Buffer. */
  get disposed(): boolean {
    return !(#disposed in this) || this.#disposed;
  }

  /** Number of elements described by `shape` (computed once: ops read it on every dispatch). */
  readonly elementCount: number;

  /**
   * A zero-copy typed array over this view's bytes. Do not read while the GPU may still write.
   *
   * @example
   * const out = buf.view(Float32Array);
   */
  view<T extends TypedArray>(ctor: TypedArrayConstructor<T>): T {
    if (this.#disposed) throw new DisposedError("buffer");
    const size = (ctor as { BYTES_PER_ELEMENT?: unknown } | null)?.BYTES_PER_ELEMENT;
    if (typeof ctor !== "function" || typeof size !== "number" || !(ctor.prototype instanceof Object.getPrototypeOf(Uint8Array))) {
      throw new ArgumentError("ctor", "must be a typed array class such as Float32Array");
    }
    if (this.byteOffset % size !== 0) {
      throw new ArgumentError("ctor", `a ${size}-byte element view needs a byte offset that is a multiple of ${size} (offset is ${this.byteOffset})`);
    }
    return new ctor(this.#storage.arrayBuffer(), this.byteOffset, Math.floor(this.byteLength / size));
  }

  /**
   * A view of part of this buffer sharing its allocation (and its residency registration).
   * Dispose it like any buffer; the allocation lives until its last view is disposed.
   */
  slice(byteOffset: number, byteLength: number, dtype: DType = this.dtype, shape?: readonly number[]): Buffer {
    if (this.#disposed) throw new DisposedError("buffer");
    if (!Number.isSafeInteger(byteOffset) || byteOffset < 0) {
      throw new ArgumentError("byteOffset", `must be a non-negative integer (got ${byteOffset})`);
    }
    if (!Number.isSafeInteger(byteLength) || byteLength <= 0 || byteOffset + byteLength > this.byteLength) {
      throw new ArgumentError("byteLength", `view [${byteOffset}, ${byteOffset + byteLength}) must be non-empty and inside the buffer's ${this.byteLength} bytes`);
    }
    const viewShape = shape ?? [Math.floor(byteLength / dtype.size)];
    checkShape(viewShape, dtype, byteLength);
    this.#storage.retain();
    return new Buffer(this.#storage, this.device, dtype, Object.freeze([...viewShape]), this.byteOffset + byteOffset, byteLength);
  }

  /** Release this view; the allocation is freed with its last view. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    finalizer.unregister(this);
    this.#storage.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Buffer(${this.dtype.name}, [${this.shape.join(", ")}], ${this.byteLength} bytes${this.byteOffset ? ` at +${this.byteOffset}` : ""})`;
  }
}

/**
 * Check that `b` is a live Buffer (and, given `device`, one of that device), naming the
 * argument `name` in the error otherwise.
 */
export function checkLiveBuffer(name: string, b: Buffer, device?: object): void {
  if (!(b instanceof Buffer)) throw new ArgumentError(name, `must be a Buffer (got ${b === null ? "null" : typeof b})`);
  if (b.disposed) throw new ArgumentError(name, "buffer was disposed");
  if (device !== undefined && b.device !== device) throw new ArgumentError(name, "belongs to another device");
}

/** Check that `shape` is a list of non-negative integers whose size fits in `byteLength`. */
export function checkShape(shape: readonly number[], dtype: DType, byteLength: number): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new ArgumentError("shape", `must be an array of non-negative integers (got ${JSON.stringify(shape)})`);
  }
  const bytes = shape.reduce((a, b) => a * b, 1) * dtype.size;
  if (bytes > byteLength) {
    throw new ArgumentError("shape", `[${shape.join(", ")}] of ${dtype.name} needs ${bytes} bytes but the buffer has ${byteLength}`);
  }
}
