/** BufferPool: power-of-two buckets, reuse, arena reset, accounting, residency and misuse. */
import { describe, expect, test } from "bun:test";
import {
  BufferPool,
  DisposedError,
  DType,
  OutOfMemoryError,
  ops,
  residencyAddCount,
  residencyCommitCount,
  resetCounters,
} from "../src/index.ts";
import { expectArgumentError } from "./support/errors.ts";
import { download, fixture, floatBuffer, upload, addPipeline } from "./support/fixtures.ts";

const { device } = fixture();

/** Commit whatever residency work is staged, so a test starts from a clean set. */
function settle(): void {
  const enc = device.commandEncoder();
  enc.commitAndWait();
  enc.dispose();
}

describe("buckets", () => {
  test("sizes round up to the next power of two", () => {
    const cases: [number, number][] = [[0, 1], [1, 1], [2, 2], [3, 4], [100, 128], [200, 256], [1023, 1024], [1024, 1024], [1025, 2048], [(1 << 20) + 1, 1 << 21]];
    for (const [size, bucket] of cases) expect(BufferPool.bucketSize(size)).toBe(bucket);
  });
  test("a request past the largest allocatable power of two keeps its exact size", () => {
    expect(BufferPool.bucketSize(3000, 4000)).toBe(3000);
    expect(BufferPool.bucketSize(2000, 4000)).toBe(2048);
  });
});

describe("reuse and accounting", () => {
  test("a released buffer's allocation serves the next request of its bucket without new memory", () => {
    using pool = new BufferPool(device);
    const before = device.bytesInUse;
    const a = pool.alloc(100, DType.F32, [25]);
    const allocation = a.handle;
    expect(device.bytesInUse - before).toBe(128);
    expect(a.byteLength).toBe(100); // the view is exactly what was asked for
    expect(a.shape).toEqual([25]);
    pool.release(a);
    expect(pool.freeCount).toBe(1);
    expect(pool.freeBytes).toBe(128);
    const b = pool.alloc(120, DType.F32, [30]);
    expect(b.handle).toBe(allocation);
    expect(device.bytesInUse - before).toBe(128);
    expect(pool.freeCount).toBe(0);
    const c = pool.alloc(129, DType.U8);
    expect(c.handle).not.toBe(allocation); // another bucket
    expect(c.shape).toEqual([129]);
    expect(device.bytesInUse - before).toBe(128 + 256);
  });

  test("counts and bytes, overall and per bucket, match the device's accounting", () => {
    const before = device.bytesInUse;
    const pool = new BufferPool(device);
    const sizes = [4, 5, 100, 120, 128, 1000];
    const bufs = sizes.map((s) => pool.alloc(s, DType.U8));
    const buckets = sizes.map((s) => BufferPool.bucketSize(s));
    const total = buckets.reduce((a, b) => a + b, 0);
    expect(pool.inUseCount).toBe(6);
    expect(pool.inUseBytes).toBe(total);
    expect(device.bytesInUse - before).toBe(total);
    pool.release(bufs[1]!);
    pool.release(bufs[3]!);
    const s = pool.stats();
    expect(s.inUseCount).toBe(4);
    expect(s.inUseBytes).toBe(total - 8 - 128);
    expect(s.requestedBytes).toBe(4 + 100 + 128 + 1000);
    expect(s.freeCount).toBe(2);
    expect(s.freeBytes).toBe(8 + 128);
    expect(s.buckets).toEqual([
      { bytes: 4, inUse: 1, free: 0 },
      { bytes: 8, inUse: 0, free: 1 },
      { bytes: 128, inUse: 2, free: 1 },
      { bytes: 1024, inUse: 1, free: 0 },
    ]);
    expect(s.inUseBytes + s.freeBytes).toBe(device.bytesInUse - before);
    pool.dispose();
    for (const b of bufs) b.dispose();
    expect(device.bytesInUse).toBe(before);
  });

  test("reset returns every buffer (arena): the next step reuses all allocations", () => {
    using pool = new BufferPool(device);
    const step = () => [pool.alloc(64, DType.F32, [16]), pool.alloc(64, DType.F32, [16]), pool.alloc(1000, DType.F32, [250])];
    const first = step();
    const handles = first.map((b) => b.handle).sort();
    const bytes = device.bytesInUse;
    pool.reset();
    expect(pool.inUseCount).toBe(0);
    expect(pool.freeCount).toBe(3);
    expect(first.every((b) => b.disposed)).toBe(true);
    const second = step();
    expect(second.map((b) => b.handle).sort()).toEqual(handles);
    expect(device.bytesInUse).toBe(bytes);
    expect(pool.freeCount).toBe(0);
  });

  test("first use of an allocation is zero-filled; reuse keeps the last contents", () => {
    using pool = new BufferPool(device);
    const a = pool.alloc(4096, DType.U8);
    expect(a.view(Uint8Array).every((x) => x === 0)).toBe(true);
    a.view(Uint8Array).fill(7);
    pool.release(a);
    const b = pool.alloc(4000, DType.U8);
    expect(b.view(Uint8Array)[0]).toBe(7);
  });

  test("clear frees the free lists back to the device and leaves buffers in use alone", () => {
    using pool = new BufferPool(device);
    const before = device.bytesInUse;
    const keep = pool.alloc(256, DType.F32, [64]);
    const drop = [pool.alloc(512, DType.U8), pool.alloc(2048, DType.U8)];
    for (const b of drop) pool.release(b);
    const residents = device.residency.size;
    pool.clear();
    expect(pool.freeCount).toBe(0);
    expect(device.bytesInUse - before).toBe(256);
    expect(device.residency.size).toBe(residents - 2);
    expect(keep.disposed).toBe(false);
    keep.view(Float32Array)[0] = 1;
    expect(pool.inUseCount).toBe(1);
  });

  test("pooled buffers work in dispatches", () => {
    using pool = new BufferPool(device);
    const n = 100;
    const [a, b, out] = pool.allocBatch([0, 1, 2].map(() => ({ byteLength: n * 4, dtype: DType.F32 })));
    const av = Array.from({ length: n }, (_, i) => i);
    const bv = Array.from({ length: n }, (_, i) => 1000 - 3 * i);
    upload(a!, av);
    upload(b!, bv);
    const enc = device.commandEncoder();
    ops.elementwiseAdd(enc, a!, b!, out!);
    enc.commitAndWait();
    expect([...download(out!, n)]).toEqual(av.map((x, i) => x + bv[i]!));
  });
});

describe("residency", () => {
  test("a batch of 4 registers 4 allocations and costs exactly one residency commit", () => {
    using pool = new BufferPool(device);
    settle();
    resetCounters();
    const bufs = pool.allocBatch([16, 100, 1000, 5000].map((byteLength) => ({ byteLength, dtype: DType.U8 })));
    expect(bufs.length).toBe(4);
    expect(residencyAddCount()).toBe(4);
    expect(residencyCommitCount()).toBe(0); // deferred until the next command-buffer commit
    settle();
    expect(residencyCommitCount()).toBe(1);
    settle();
    expect(residencyCommitCount()).toBe(1);
  });

  test("an empty batch and reuse from the free list cost no residency work", () => {
    using pool = new BufferPool(device);
    const warm = pool.alloc(64, DType.U8);
    pool.release(warm);
    settle();
    resetCounters();
    expect(pool.allocBatch([])).toEqual([]);
    pool.alloc(60, DType.U8);
    settle();
    expect(residencyAddCount()).toBe(0);
    expect(residencyCommitCount()).toBe(0);
  });
});

describe("registerExisting", () => {
  test("external buffers are counted, never bucketed, recycled or cleared", () => {
    using pool = new BufferPool(device);
    const weight = floatBuffer(device, DType.F32, 300); // 1200 bytes, not a power of two
    const before = device.bytesInUse;
    pool.registerExisting(weight);
    pool.registerExisting(weight); // idempotent
    let s = pool.stats();
    expect([s.externalCount, s.externalBytes]).toEqual([1, 1200]);
    expect([s.inUseCount, s.freeCount]).toEqual([0, 0]);
    expect(device.bytesInUse).toBe(before); // no copy, no new allocation
    expectArgumentError(() => pool.release(weight), "buffer", "registerExisting");
    pool.reset();
    pool.clear();
    expect(weight.disposed).toBe(false);
    weight.dispose();
    s = pool.stats();
    expect([s.externalCount, s.externalBytes]).toEqual([0, 0]);
  });

  test("bad buffers are rejected", () => {
    using pool = new BufferPool(device);
    const gone = floatBuffer(device, DType.F32, 4);
    gone.dispose();
    expectArgumentError(() => pool.registerExisting(gone), "buffer", "disposed");
    expectArgumentError(() => pool.registerExisting({} as never), "buffer");
    expectArgumentError(() => pool.registerExisting(pool.alloc(16, DType.U8)), "buffer", "allocated by this pool");
  });
});

describe("misuse gets typed errors", () => {
  test("releasing twice, or a buffer the pool did not allocate", () => {
    using pool = new BufferPool(device);
    const a = pool.alloc(64, DType.F32, [16]);
    pool.release(a);
    expectArgumentError(() => pool.release(a), "buffer", "already released");
    const foreign = floatBuffer(device, DType.F32, 16);
    expectArgumentError(() => pool.release(foreign), "buffer", "not allocated by this pool");
    using other = new BufferPool(device);
    expectArgumentError(() => other.release(pool.alloc(64, DType.U8)), "buffer", "not allocated by this pool");
    expect(pool.freeCount).toBe(0); // the failed releases changed nothing: the reused allocation is in use
    expect(pool.inUseCount).toBe(1);
  });

  test("a buffer used after release or reset fails instead of aliasing the next user", () => {
    using pool = new BufferPool(device);
    const stale = pool.alloc(64, DType.F32, [16]);
    pool.release(stale);
    const next = pool.alloc(64, DType.F32, [16]); // same allocation as `stale`
    expect(() => stale.view(Float32Array)).toThrow(DisposedError);
    const out = pool.alloc(64, DType.F32, [16]);
    const enc = device.commandEncoder();
    expectArgumentError(() => ops.elementwiseAdd(enc, stale, next, out), "a", "disposed");
    pool.reset();
    expect(() => next.view(Float32Array)).toThrow(DisposedError);
    const pipeline = addPipeline(device);
    expectArgumentError(() => enc.dispatchThreads(pipeline, [out, out, out, new Uint32Array([16])], [16, 1, 1], [16, 1, 1]), "bindings[0]", "disposed");
    enc.dispose();
  });

  test("bad requests, and a batch that fails part-way leaves nothing taken", () => {
    using pool = new BufferPool(device);
    expectArgumentError(() => pool.alloc(0, DType.F32), "byteLength");
    expectArgumentError(() => pool.alloc(2.5, DType.F32), "byteLength");
    expectArgumentError(() => pool.alloc(device.limits.maxBufferLength + 1, DType.U8), "byteLength");
    expectArgumentError(() => pool.alloc(16, "f32" as never), "dtype");
    expectArgumentError(() => pool.alloc(8, DType.F32, [3]), "shape");
    expectArgumentError(() => pool.allocBatch([{ byteLength: 16, dtype: DType.F32 }, { byteLength: -1, dtype: DType.F32 }]), "requests[1].byteLength");
    expectArgumentError(() => pool.allocBatch([{ byteLength: 16, dtype: DType.F32 }, { byteLength: 8, dtype: DType.F32, shape: [3] }]), "shape");
    expect(pool.inUseCount).toBe(0);
    expectArgumentError(() => new BufferPool(device, { limit: 5 } as never), "options");
    expectArgumentError(() => new BufferPool(device, { limitBytes: -1 }), "limitBytes");
  });

  test("a pool limit frees the free lists first, then reports requested and in-use bytes", () => {
    using pool = new BufferPool(device, { limitBytes: 1024 });
    const a = pool.alloc(512, DType.U8);
    pool.release(a);
    const b = pool.alloc(1000, DType.U8); // 512 free + 1024 > limit: the free list goes first
    expect(pool.freeCount).toBe(0);
    expect(pool.inUseBytes).toBe(1024);
    let error: unknown;
    try {
      pool.alloc(16, DType.U8);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OutOfMemoryError);
    expect((error as OutOfMemoryError).requestedBytes).toBe(16);
    expect((error as OutOfMemoryError).inUseBytes).toBe(1024);
    pool.release(b);
    expect(pool.alloc(16, DType.U8).byteLength).toBe(16);
  });

  test("a disposed pool refuses work; its buffers stay valid until disposed", () => {
    const pool = new BufferPool(device);
    const held = pool.alloc(16, DType.F32, [4]);
    held.view(Float32Array).set([1, 2, 3, 4]);
    pool.dispose();
    pool.dispose();
    expect(() => pool.alloc(16, DType.U8)).toThrow(DisposedError);
    expect(() => pool.release(held)).toThrow(DisposedError);
    expect([...held.view(Float32Array)]).toEqual([1, 2, 3, 4]);
    held.dispose();
  });
});
