/**
 * BufferPool: a bucketing arena for scratch buffers, the policy layer over `device.allocBuffer`
 * (which stays the raw hook: zero-filled memory, byte accounting, residency registration).
 *
 * - Sizes round up to a power of two; each bucket keeps a free list. `alloc` reuses a free
 *   allocation of its bucket or makes a new one, which the device zero-fills; a reused one keeps
 *   whatever the last user left in it.
 * - `alloc` hands out a fresh view (`Buffer`) of exactly the requested size over the pooled
 *   allocation. `release(buf)` returns one, `reset()` returns all of them (the arena pattern: reset
 *   at the start of each decode step). Either way the view is disposed, so a buffer used after it
 *   was returned fails loudly instead of aliasing the next user's data: binding it to a dispatch
 *   is an `ArgumentError`, reading it a `DisposedError`.
 * - Residency: the device registers each new allocation and commits the set once per
 *   command-buffer commit, so a batch of allocations costs one residency commit however large
 *   it is; `allocBatch` exists so a batch is also all-or-nothing.
 * - `registerExisting` adds externally allocated buffers (weights) to the accounting without
 *   bucketing or recycling them: rounding weights up to powers of two would waste up to 2x.
 * - With `limitBytes`, or when the device runs out of memory, the pool first frees its free lists
 *   and retries once; then it throws `OutOfMemoryError` with the requested and in-use bytes.
 *
 * @example
 * const pool = new BufferPool(device);
 * for (const token of tokens) {
 *   pool.reset();                                    // every scratch buffer of the last step returns
 *   const h = pool.alloc(dim * 4, DType.F32, [dim]); // same allocation as last step, no new memory
 *   // ... encode the step ...
 * }
 */
import { Buffer, checkLiveBuffer } from "./buffer.ts";
import { checkDevice, type Device } from "./device.ts";
import { DType, isDType } from "./dtype.ts";
import { ArgumentError, DisposedError, OutOfMemoryError } from "./errors.ts";

/**
 * One allocation request for `allocBatch`.
 *
 * @example
 * const req: AllocRequest = { byteLength: 4096, dtype: DType.F32, shape: [32, 32] };
 */
export interface AllocRequest {
  byteLength: number;
  dtype: DType;
  /** Default: as many `dtype` elements as fit, in one dimension. */
  shape?: readonly number[];
}

/**
 * Options of a `BufferPool`.
 *
 * @example
 * new BufferPool(device, { limitBytes: 256 << 20 });
 */
export interface PoolOptions {
  /** Most bytes the pool may hold (in use plus free). Default: no limit beyond the device's. */
  limitBytes?: number;
}

/**
 * Counts and bytes of one bucket.
 *
 * @example
 * for (const b of pool.stats().buckets) console.log(b.bytes, b.inUse, b.free);
 */
export interface BucketStats {
  /** Allocation size of the bucket. */
  bytes: number;
  inUse: number;
  free: number;
}

/**
 * A snapshot of the pool's accounting. Bytes are allocation (bucket) sizes.
 *
 * @example
 * const { inUseBytes, freeBytes, externalBytes } = pool.stats();
 */
export interface PoolStats {
  inUseCount: number;
  inUseBytes: number;
  /** Bytes callers asked for, of the buffers in use (at most `inUseBytes`). */
  requestedBytes: number;
  freeCount: number;
  freeBytes: number;
  /** Buffers added with `registerExisting` that are still alive. */
  externalCount: number;
  externalBytes: number;
  /** Buckets that hold anything, smallest first. */
  buckets: BucketStats[];
}

interface Lease {
  /** The pool's own view of the whole allocation; never handed out. */
  owner: Buffer;
  bucket: number;
}

/**
 * A bucketing arena over one device's allocations (see the module comment).
 *
 * @example
 * using pool = new BufferPool(device);
 * const tmp = pool.alloc(n * 4, DType.F32, [n]);
 * pool.release(tmp);
 */
export class BufferPool {
  readonly device: Device;
  readonly limitBytes: number;
  /** Free allocations (their owner views) per bucket size. */
  readonly #free = new Map<number, Buffer[]>();
  /** Handed-out views and what they lease. */
  readonly #inUse = new Map<Buffer, Lease>();
  /** Views returned by release or reset, to tell a second release from a foreign buffer. */
  readonly #returned = new WeakSet<Buffer>();
  readonly #external = new Set<Buffer>();
  #inUseBytes = 0;
  #requestedBytes = 0;
  #freeBytes = 0;
  #freeCount = 0;
  #disposed = false;

  /**
   * @example
   * const pool = new BufferPool(device, { limitBytes: 512 << 20 });
   */
  constructor(device: Device, options: PoolOptions = {}) {
    checkDevice("device", device);
    if (options === null || typeof options !== "object") throw new ArgumentError("options", "must be an object like { limitBytes }");
    for (const key of Object.keys(options)) {
      if (key !== "limitBytes") throw new ArgumentError("options", `unknown option "${key}" (known: limitBytes)`);
    }
    const limit = options.limitBytes ?? Infinity;
    if (limit !== Infinity && (!Number.isSafeInteger(limit) || limit <= 0)) {
      throw new ArgumentError("limitBytes", `must be a positive integer (got ${limit})`);
    }
    this.device = device;
    this.limitBytes = limit;
  }

  /**
   * The allocation size for a request of `byteLength` bytes: the next power of two (0 and 1 give
   * 1). A request past the largest power of two the device can allocate gets its exact size.
   *
   * @example
   * BufferPool.bucketSize(100); // 128
   */
  static bucketSize(byteLength: number, maxBufferLength = Number.MAX_SAFE_INTEGER): number {
    let bucket = 1;
    while (bucket < byteLength) bucket *= 2;
    return bucket > maxBufferLength ? byteLength : bucket;
  }

  /**
   * A zero-filled (on first use of its allocation) buffer of `byteLength` bytes, described as
   * `shape` elements of `dtype`. Return it with `release()` or `reset()`.
   *
   * @example
   * const scratch = pool.alloc(4096, DType.F32, [1024]);
   */
  alloc(byteLength: number, dtype: DType, shape?: readonly number[]): Buffer {
    this.#check();
    checkRequest("byteLength", byteLength, dtype, this.device.limits.maxBufferLength);
    return this.#lease(byteLength, dtype, shape);
  }

  /**
   * Several buffers at once, all or nothing: if one cannot be allocated, those already taken are
   * returned and the error is thrown. However many there are, they cost one residency commit (at
   * the next command-buffer commit).
   *
   * @example
   * const [q, k, v] = pool.allocBatch([
   *   { byteLength: 4096, dtype: DType.F32 },
   *   { byteLength: 1024, dtype: DType.F32 },
   *   { byteLength: 1024, dtype: DType.F32 },
   * ]);
   */
  allocBatch(requests: readonly AllocRequest[]): Buffer[] {
    this.#check();
    if (!Array.isArray(requests)) throw new ArgumentError("requests", "must be an array of { byteLength, dtype, shape? }");
    const max = this.device.limits.maxBufferLength;
    requests.forEach((r, i) => {
      if (r === null || typeof r !== "object") throw new ArgumentError(`requests[${i}]`, "must be { byteLength, dtype, shape? }");
      checkRequest(`requests[${i}].byteLength`, r.byteLength, r.dtype, max);
    });
    const out: Buffer[] = [];
    try {
      for (const r of requests) out.push(this.#lease(r.byteLength, r.dtype, r.shape));
    } catch (e) {
      for (const b of out) this.release(b);
      throw e;
    }
    return out;
  }

  /**
   * Return a buffer from `alloc` to its bucket's free list. The buffer is disposed: it must not
   * be used afterwards, nor released again.
   *
   * @example
   * pool.release(scratch);
   */
  release(buffer: Buffer): void {
    this.#check();
    const lease = this.#inUse.get(buffer);
    if (lease === undefined) {
      if (!(buffer instanceof Buffer)) throw new ArgumentError("buffer", `must be a Buffer from this pool's alloc (got ${typeof buffer})`);
      if (this.#returned.has(buffer)) throw new ArgumentError("buffer", "was already released to this pool");
      if (this.#external.has(buffer)) throw new ArgumentError("buffer", "was added with registerExisting; the pool does not recycle it");
      throw new ArgumentError("buffer", "was not allocated by this pool");
    }
    this.#return(buffer, lease);
    this.#inUse.delete(buffer);
  }

  /**
   * Return every buffer handed out since the last reset (the arena pattern). All of them are
   * disposed; allocations stay in the free lists for reuse.
   *
   * @example
   * pool.reset(); // start of a decode step
   */
  reset(): void {
    this.#check();
    for (const [buffer, lease] of this.#inUse) this.#return(buffer, lease);
    this.#inUse.clear();
  }

  /**
   * Count an externally allocated buffer (weights) in this pool's accounting, without rounding it
   * to a bucket or ever recycling it. Idempotent. The device already registered it for residency
   * when it was allocated.
   *
   * @example
   * for (const w of weights) pool.registerExisting(w);
   */
  registerExisting(buffer: Buffer): void {
    this.#check();
    checkLiveBuffer("buffer", buffer, this.device);
    if (this.#inUse.has(buffer)) throw new ArgumentError("buffer", "was allocated by this pool; only external buffers are registered");
    this.#external.add(buffer);
  }

  /**
   * Free every allocation in the free lists (their memory returns to the device). Buffers in use
   * and registered ones are unaffected.
   *
   * @example
   * pool.clear(); // after a long prompt, drop the large prefill scratch
   */
  clear(): void {
    this.#check();
    for (const list of this.#free.values()) for (const owner of list) owner.dispose();
    this.#free.clear();
    this.#freeBytes = 0;
    this.#freeCount = 0;
  }

  /** Buffers handed out and not yet returned. */
  get inUseCount(): number {
    return this.#inUse.size;
  }

  /** Allocation bytes of the buffers in use. */
  get inUseBytes(): number {
    return this.#inUseBytes;
  }

  /** Allocations waiting in free lists. */
  get freeCount(): number {
    return this.#freeCount;
  }

  /** Bytes of the allocations waiting in free lists. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /**
   * A snapshot of counts and bytes, overall and per bucket.
   *
   * @example
   * const { inUseBytes, freeBytes, buckets } = pool.stats();
   */
  stats(): PoolStats {
    const buckets = new Map<number, BucketStats>();
    const bucket = (bytes: number) => {
      let b = buckets.get(bytes);
      if (b === undefined) buckets.set(bytes, (b = { bytes, inUse: 0, free: 0 }));
      return b;
    };
    for (const lease of this.#inUse.values()) bucket(lease.bucket).inUse++;
    for (const [bytes, list] of this.#free) if (list.length > 0) bucket(bytes).free += list.length;
    let externalCount = 0;
    let externalBytes = 0;
    for (const b of this.#external) {
      if (b.disposed) {
        this.#external.delete(b);
        continue;
      }
      externalCount++;
      externalBytes += b.byteLength;
    }
    return {
      inUseCount: this.#inUse.size,
      inUseBytes: this.#inUseBytes,
      requestedBytes: this.#requestedBytes,
      freeCount: this.#freeCount,
      freeBytes: this.#freeBytes,
      externalCount,
      externalBytes,
      buckets: [...buckets.values()].sort((a, b) => a.bytes - b.bytes),
    };
  }

  /**
   * Free the free lists and let go of everything: buffers still in use stay valid until their
   * holders dispose them (each view keeps its allocation alive). Idempotent.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.clear();
    for (const [buffer, lease] of this.#inUse) {
      lease.owner.dispose();
      this.#returned.add(buffer);
    }
    this.#inUse.clear();
    this.#inUseBytes = 0;
    this.#requestedBytes = 0;
    this.#external.clear();
    this.#disposed = true;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #lease(byteLength: number, dtype: DType, shape: readonly number[] | undefined): Buffer {
    const bucket = BufferPool.bucketSize(byteLength, this.device.limits.maxBufferLength);
    const owner = this.#take(bucket);
    let view: Buffer;
    try {
      view = owner.slice(0, byteLength, dtype, shape ?? [Math.floor(byteLength / dtype.size)]);
    } catch (e) {
      this.#pushFree(owner, bucket);
      throw e;
    }
    this.#inUse.set(view, { owner, bucket });
    this.#inUseBytes += bucket;
    this.#requestedBytes += byteLength;
    return view;
  }
  /** A free allocation of `bucket` bytes, or a new one. */
  #take(bucket: number): Buffer {
    const list = this.#free.get(bucket);
    if (list !== undefined && list.length > 0) {
      this.#freeBytes -= bucket;
      this.#freeCount--;
      return list.pop()!;
    }
    return this.#allocate(bucket);
  }

  #allocate(bucket: number): Buffer {
    if (this.#inUseBytes + this.#freeBytes + bucket > this.limitBytes) this.clear();
    if (this.#inUseBytes + bucket > this.limitBytes) {
      throw new OutOfMemoryError(bucket, this.#inUseBytes, `the pool's limit is ${this.limitBytes} bytes`);
    }
    try {
      return this.device.allocBuffer(bucket, DType.U8, [bucket]);
    } catch (e) {
      if (!(e instanceof OutOfMemoryError) || this.#freeCount === 0) throw e;
      this.clear();
      return this.device.allocBuffer(bucket, DType.U8, [bucket]);
    }
  }

  #return(buffer: Buffer, lease: Lease): void {
    buffer.dispose();
    this.#returned.add(buffer);
    this.#inUseBytes -= lease.bucket;
    this.#requestedBytes -= buffer.byteLength;
    this.#pushFree(lease.owner, lease.bucket);
  }

  #pushFree(owner: Buffer, bucket: number): void {
    const list = this.#free.get(bucket);
    if (list === undefined) this.#free.set(bucket, [owner]);
    else list.push(owner);
    this.#freeBytes += bucket;
    this.#freeCount++;
  }

  #check(): void {
    if (this.#disposed) throw new DisposedError("buffer pool");
  }
}

/** A request's size and dtype are valid (the shape is checked when the view is made). */
function checkRequest(name: string, byteLength: number, dtype: DType, max: number): void {
  if (!Number.isSafeInteger(byteLength) || byteLength <= 0) throw new ArgumentError(name, `must be a positive integer (got ${byteLength})`);
  if (byteLength > max) throw new ArgumentError(name, `${byteLength} bytes exceeds the device's largest buffer (${max} bytes)`);
  if (!isDType(dtype)) throw new ArgumentError("dtype", `must be a DType (got ${String(dtype)})`);
}
