/** Bad input gets a typed error naming the argument, before anything reaches the backend. */
import { describe, expect, test } from "bun:test";
import {
  ArgumentError,
  CommandBufferError,
  CompileError,
  DisposedError,
  DType,
  Device,
  KernelNotFoundError,
  KernelRegistry,
  ops,
} from "../src/index.ts";
import { OutOfMemoryError } from "../src/errors.ts";
import { Status } from "../src/ffi/abi.ts";
import { failure } from "../src/ffi/native.ts";
import { fixture, floatBuffer, addPipeline } from "./support/fixtures.ts";
import { NO_RUNTIME_COMPILER, testUnless } from "./support/backend.ts";

const { device, registry } = fixture();

function expectArgumentError(fn: () => unknown, argument: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ArgumentError);
    expect((e as ArgumentError).argument).toBe(argument);
    return;
  }
  throw new Error(`expected an ArgumentError naming "${argument}"`);
}

describe("allocation", () => {
  test("zero, negative, fractional and oversized lengths", () => {
    expectArgumentError(() => device.allocBuffer(0, DType.F32, [0]), "byteLength");
    expectArgumentError(() => device.allocBuffer(-4, DType.F32, [1]), "byteLength");
    expectArgumentError(() => device.allocBuffer(2.5, DType.F32, [1]), "byteLength");
    expectArgumentError(() => device.allocBuffer(device.limits.maxBufferLength + 1, DType.F32, [1]), "byteLength");
  });
  test("a shape that does not fit, and a bad dtype", () => {
    expectArgumentError(() => device.allocBuffer(8, DType.F32, [3]), "shape");
    expectArgumentError(() => device.allocBuffer(8, DType.F32, [-1]), "shape");
    expectArgumentError(() => device.allocBuffer(8, "f32" as never, [2]), "dtype");
  });
  test("a fresh buffer is zero-filled", () => {
    const buf = device.allocBuffer(4096, DType.U8, [4096]);
    expect(buf.view(Uint8Array).every((x) => x === 0)).toBe(true);
    buf.dispose();
  });
});

describe("bindings", () => {
  const pipeline = addPipeline(device);
  const a = floatBuffer(device, DType.F32, 16);
  const n = new Uint32Array([16]);

  test("offset + length past the end of the buffer", () => {
    const enc = device.commandEncoder();
    expectArgumentError(() => enc.dispatchThreads(pipeline, [a, { buffer: a, offset: 60, length: 8 }, a, n], [16, 1, 1], [16, 1, 1]), "bindings[1]");
    expectArgumentError(() => enc.dispatchThreads(pipeline, [a, { buffer: a, offset: 64 }, a, n], [16, 1, 1], [16, 1, 1]), "bindings[1]");
    enc.dispose();
  });
  test("a disposed buffer", () => {
    const gone = floatBuffer(device, DType.F32, 16);
    gone.dispose();
    const enc = device.commandEncoder();
    expectArgumentError(() => enc.dispatchThreads(pipeline, [a, gone, a, n], [16, 1, 1], [16, 1, 1]), "bindings[1]");
    expectArgumentError(() => ops.elementwiseAdd(enc, a, gone, a), "b");
    expect(() => gone.view(Float32Array)).toThrow(DisposedError);
    enc.dispose();
  });
  test("a buffer from another device", () => {
    const other = Device.open();
    const foreign = other.allocBuffer(64, DType.F32, [16]);
    const enc = device.commandEncoder();
    expectArgumentError(() => enc.dispatchThreads(pipeline, [a, foreign, a, n], [16, 1, 1], [16, 1, 1]), "bindings[1]");
    enc.dispose();
    foreign.dispose();
    other.dispose();
  });
  test("oversized inline bytes, bad grid and threadgroup sizes", () => {
    const enc = device.commandEncoder();
    expectArgumentError(() => enc.dispatchThreads(pipeline, [a, a, a, new Uint8Array(4096)], [16, 1, 1], [16, 1, 1]), "bindings[3]");
    expectArgumentError(() => enc.dispatchThreads(pipeline, [a, a, a, n], [0, 1, 1], [16, 1, 1]), "grid");
    expectArgumentError(() => enc.dispatchThreads(pipeline, [a, a, a, n], [16, 1, 1], [2048, 1, 1]), "threadgroup");
    expectArgumentError(() => enc.dispatchThreads(pipeline, [a, a, a, n], [16, 1, 1], [16, 1, 1], { threadgroupMemory: [1 << 20] }), "threadgroupMemory");
    enc.dispose();
  });
  test("op arguments: dtype, shape, too-small output", () => {
    const enc = device.commandEncoder();
    const small = floatBuffer(device, DType.F32, 8);
    const half = floatBuffer(device, DType.F16, 16);
    const words = device.allocBuffer(64, DType.U32, [16]);
    expectArgumentError(() => ops.elementwiseAdd(enc, words, words, words), "a.dtype");
    expectArgumentError(() => ops.elementwiseAdd(enc, a, small, a), "b");
    expectArgumentError(() => ops.elementwiseAdd(enc, a, a, small), "out");
    expectArgumentError(() => ops.elementwiseAdd(enc, a, half, a), "b");
    words.dispose();
    enc.dispose();
  });
});

describe("kernels", () => {
  test("a kernel name with no source", () => {
    expect(() => registry.getPipeline("no_such_kernel")).toThrow(KernelNotFoundError);
  });
  testUnless(NO_RUNTIME_COMPILER)("MSL that fails to compile reports the compiler's line", () => {
    const r = new KernelRegistry(device);
    r.registerSource("broken_kernel", ["#include <metal_stdlib>", "using namespace metal;", "kernel void broken_kernel(device float* x [[buffer(0)]], uint i [[thread_position_in_grid]]) {", "  x[i] = undefined_symbol;", "}"].join("\n"));
    let error: unknown;
    try {
      r.getPipeline("broken_kernel");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CompileError);
    expect((error as CompileError).kernel).toBe("broken_kernel");
    expect((error as CompileError).log).toMatch(/:4:\d+: error/);
    expect((error as CompileError).log).toContain("undefined_symbol");
    r.dispose();
  });
  testUnless(NO_RUNTIME_COMPILER)("a function missing from a registered source", () => {
    const r = new KernelRegistry(device);
    r.registerSource("absent", "#include <metal_stdlib>\nusing namespace metal;\nkernel void present(device float* x [[buffer(0)]], uint i [[thread_position_in_grid]]) { x[i] = 1; }\n");
    expect(() => r.getPipeline("absent")).toThrow(KernelNotFoundError);
    r.dispose();
  });
});

describe("command buffers", () => {
  test("a command buffer whose kernel failed makes commitAndWait throw with the message", () => {
    // Dispatching without binding the buffers the kernel reads is a misuse the backend reports
    // as a failed command buffer, never as a crash.
    const pipeline = addPipeline(device);
    const enc = device.commandEncoder();
    enc.dispatchThreads(pipeline, [], [4, 1, 1], [4, 1, 1]);
    expect(() => enc.commitAndWait()).toThrow(CommandBufferError);
    expect(enc.commandBuffer.error.length).toBeGreaterThan(0);
  });
  test("waiting on a command buffer that was never committed", () => {
    const enc = device.commandEncoder();
    expect(() => enc.waitUntilCompleted()).toThrow(/never committed/);
    enc.dispose();
  });
  test("disposed handles are idempotent and then refuse work", () => {
    const enc = device.commandEncoder();
    enc.dispose();
    enc.dispose();
    expect(() => enc.memoryBarrier()).toThrow(DisposedError);
    const other = Device.open();
    other.dispose();
    other.dispose();
    expect(() => other.allocBuffer(4, DType.F32, [1])).toThrow(DisposedError);
  });
});

describe("out of memory outside buffer allocation", () => {
  test("reports no made-up byte counts", () => {
    const native = { mlxn_last_error: () => "the heap is full" } as unknown as Parameters<typeof failure>[0];
    const e = failure(native, Status.OUT_OF_MEMORY, "commandBuffer");
    expect(e).toBeInstanceOf(OutOfMemoryError);
    expect((e as OutOfMemoryError).requestedBytes).toBeUndefined();
    expect((e as OutOfMemoryError).inUseBytes).toBeUndefined();
    expect(e.message).toBe("[device] out of memory: [commandBuffer] the heap is full");
  });
});
