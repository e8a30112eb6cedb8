/**
 * Fuzz cases over the public API: random arguments from WEIRD for every method of the live
 * objects (property: a typed error or a result, never a crash, hang or foreign error), plus
 * targeted cases for each class of hole: dangling handles, out-of-bounds kernels, silent wrong
 * results, null encoders and registries, leaks of abandoned generations.
 */
import { BufferPool, CommandBufferError, Device, DType, EncoderSession, Graph, KernelRegistry, ops, Pipeline, type Buffer, type Model } from "../../src/index.ts";
import * as rawOps from "../../src/ops/all.ts";
import { loadModelSync } from "../../src/models/model.ts";
import { createSyntheticModel, syntheticPreset } from "../../src/models/synthetic.ts";
import { Rng, WEIRD, type FuzzCase } from "./cases.ts";

const FILL = `
#include <metal_stdlib>
using namespace metal;
kernel void fuzz_fill(device float* out [[buffer(0)]], constant uint& n [[buffer(1)]],
                      uint gid [[thread_position_in_grid]]) {
  if (gid < n) out[gid] = float(gid);
}`;

/** Own methods along the prototype chain (no constructor, no dispose). */
function methodsOf(o: object): string[] {
  const names = new Set<string>();
  for (let p = Object.getPrototypeOf(o); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, name)!;
      if (typeof d.value === "function" && name !== "constructor" && name !== "dispose") names.add(name);
    }
  }
  return [...names];
}

function randomArgs(rng: Rng, valid: readonly unknown[]): unknown[] {
  const n = rng.int(Math.max(valid.length, 1) + 2);
  return Array.from({ length: n }, (_, i) => (i < valid.length && rng.next() < 0.5 ? valid[i] : rng.pick(WEIRD)));
}

/** Each call fails with a typed error or succeeds; never anything else. */
function methodCases(label: string, target: () => object, rng: Rng, perMethod: number, valid: Record<string, readonly unknown[]> = {}): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const probe = target();
  for (const name of methodsOf(probe)) {
    for (let i = 0; i < perMethod; i++) {
      const args = randomArgs(rng, valid[name] ?? []);
      cases.push({
        id: `${label}.${name}#${i}`,
        expect: "either",
        run: () => {
          const o = target() as Record<string, (...a: unknown[]) => unknown>;
          const r = o[name]!(...args);
          // Async methods (generations) are drained one step so their errors surface too.
          if (r && typeof (r as { next?: unknown }).next === "function" && Symbol.asyncIterator in (r as object)) {
            return (r as AsyncIterator<unknown>).next().then(() => (r as AsyncIterator<unknown>).return?.());
          }
          return r;
        },
      });
    }
  }
  return cases;
}

export interface ApiContext {
  device: Device;
  registry: KernelRegistry;
  model: Model;
  modelDir: string;
  dispose(): void;
}

export function apiContext(): ApiContext {
  const device = Device.open();
  const registry = new KernelRegistry(device);
  registry.registerSource("fuzz_fill", FILL);
  const synthetic = createSyntheticModel(syntheticPreset("llama", { headDim: 64 }));
  const model = loadModelSync(synthetic.dir, { device, progress: false });
  return {
    device,
    registry,
    model,
    modelDir: synthetic.dir,
    dispose() {
      model.dispose();
      registry.dispose();
      device.dispose();
      synthetic.dispose();
    },
  };
}

function fill(device: Device, p: Pipeline, out: Buffer, n: number, grid = n): Float32Array {
  const enc = device.commandEncoder();
  enc.dispatchThreads(p, [out, new Uint32Array([n])], [grid, 1, 1], [Math.min(grid, 64), 1, 1]);
  enc.commitAndWait();
  return Float32Array.from(out.view(Float32Array));
}

function expectFilled(values: Float32Array, n: number): string | undefined {
  for (let i = 0; i < n; i++) if (values[i] !== i) return `element ${i} is ${values[i]}, expected ${i}`;
  return undefined;
}

/** Targeted cases, one or more per class of hole. */
function targetedCases(ctx: ApiContext, rng: Rng): FuzzCase[] {
  const { device, registry, model } = ctx;
  const cases: FuzzCase[] = [];
  const add = (c: FuzzCase) => cases.push(c);

  // ── dangling native handles ──
  add({
    id: "pipeline after registry.dispose()", expect: "error", errorClass: "DisposedError",
    run: () => {
      const r = new KernelRegistry(device);
      r.registerSource("fuzz_fill", FILL);
      const p = r.getPipeline("fuzz_fill");
      r.dispose();
      using out = device.allocBuffer(256, DType.F32, [64]);
      fill(device, p, out, 64);
    },
  });
  add({
    id: "pipeline after registerSource replaced its kernel", expect: "error", errorClass: "DisposedError",
    run: () => {
      const r = new KernelRegistry(device);
      r.registerSource("fuzz_fill", FILL);
      const p = r.getPipeline("fuzz_fill");
      r.registerSource("fuzz_fill", FILL + "\n// v2");
      using out = device.allocBuffer(256, DType.F32, [64]);
      try {
        fill(device, p, out, 64);
      } finally {
        r.dispose();
      }
    },
  });
  add({
    id: "compilePipeline after releasePipeline", expect: "error", errorClass: "DisposedError",
    run: () => {
      const p = registry.compilePipeline("fuzz_fill");
      registry.releasePipeline(p);
      using out = device.allocBuffer(256, DType.F32, [64]);
      fill(device, p, out, 64);
    },
  });
  add({
    id: "graph replay after its registry was disposed", expect: "error", errorClass: "DisposedError",
    run: () => {
      const r = new KernelRegistry(device);
      r.registerSource("fuzz_fill", FILL);
      const p = r.getPipeline("fuzz_fill");
      using out = device.allocBuffer(256, DType.F32, [64]);
      const enc = device.commandEncoder();
      const g = Graph.record(enc, { out }, (e) => e.dispatchThreads(p, [out, new Uint32Array([64])], [64, 1, 1], [64, 1, 1]));
      r.dispose();
      try {
        g.replay(enc, { out });
      } finally {
        enc.dispose();
      }
    },
  });
  for (const handle of [0, 1, 0xdeadbeef, 2 ** 40]) {
    add({
      id: `new Pipeline(handle ${handle})`, expect: "error", argument: "Pipeline",
      run: () => new (Pipeline as unknown as new (...a: unknown[]) => Pipeline)(handle, "x", "x", 32, 1024, 0),
    });
    add({
      id: `forged pipeline object (handle ${handle})`, expect: "error", argument: "pipeline",
      run: () => {
        using out = device.allocBuffer(256, DType.F32, [64]);
        const forged = Object.assign(Object.create(Pipeline.prototype) as object, { handle, handleLo: handle >>> 0, handleHi: 0, maxTotalThreadsPerThreadgroup: 1024, name: "x", key: "x" });
        fill(device, forged as Pipeline, out, 64);
      },
    });
  }
  add({ id: "dispatch with a disposed buffer", expect: "error", argument: /disposed|dispose\(\)/, run: () => {
    const out = device.allocBuffer(256, DType.F32, [64]);
    out.dispose();
    fill(device, registry.getPipeline("fuzz_fill"), out, 64);
  } });

  // ── out-of-bounds writes from raw kernels: a CommandBufferError, then the device still works ──
  // Only msl-cpu checks bounds (the child runs with sanitize builds). A GPU writes past a small
  // buffer into its allocation's padding unnoticed, and a fault poisons the context every later
  // case shares (tests/cuda_backend.test.ts checks faults in a process of their own).
  const checksBounds = device.backend === "cpu";
  for (const grid of checksBounds ? [65, 1000, 1 << 16, 1 << 20, 1 << 22] : []) {
    add({
      id: `raw kernel writes ${grid} floats into a 64-byte buffer`, expect: "error", errorClass: "CommandBufferError",
      run: () => {
        using out = device.allocBuffer(64, DType.F32, [16]);
        fill(device, registry.getPipeline("fuzz_fill"), out, grid, grid);
      },
    });
    add({
      id: `device works after the ${grid}-float overrun`, expect: "ok",
      run: () => {
        using out = device.allocBuffer(256, DType.F32, [64]);
        return fill(device, registry.getPipeline("fuzz_fill"), out, 64);
      },
      check: (r) => expectFilled(r as Float32Array, 64),
    });
  }
  if (checksBounds) add({
    id: "raw kernel overrun of a slice at an offset", expect: "error", errorClass: "CommandBufferError",
    run: () => {
      using big = device.allocBuffer(4096, DType.F32, [1024]);
      const enc = device.commandEncoder();
      enc.dispatchThreads(registry.getPipeline("fuzz_fill"), [{ buffer: big, offset: 4000 }, new Uint32Array([1 << 20])], [1 << 20, 1, 1], [64, 1, 1]);
      enc.commitAndWait();
    },
  });

  // ── null encoder, and other non-objects where objects belong (ops.x(enc, inputs…, out, params?)) ──
  for (const [name, fn] of Object.entries(ops)) {
    if (typeof fn !== "function" || /^class\b/.test(Function.prototype.toString.call(fn))) continue;
    // Ops take the encoder first (read from the unguarded op's source: the public one is a
    // wrapper); helpers (frequencies, scratch sizes) must still fail typed.
    const raw = (rawOps as Record<string, unknown>)[name];
    const takesEncoder = typeof raw === "function" && /^[^(]*\(\s*enc\b/.test(Function.prototype.toString.call(raw));
    for (const bad of [null, undefined, {}, 42]) {
      add({ id: `ops.${name}(${String(bad)} encoder)`, expect: takesEncoder ? "error" : "either", run: () => (fn as (...a: unknown[]) => unknown)(bad) });
    }
    add({ id: `ops.${name}(encoder, null input)`, expect: "either", run: () => {
      using enc = device.commandEncoder();
      return (fn as (...a: unknown[]) => unknown)(enc, null);
    } });
  }
  for (const bad of [null, undefined, {}, 7, "device"]) {
    add({ id: `new KernelRegistry(${String(bad)})`, expect: "error", argument: "device", run: () => new KernelRegistry(bad as unknown as Device) });
    add({ id: `new BufferPool(${String(bad)})`, expect: "error", run: () => new BufferPool(bad as unknown as Device) });
    add({ id: `new EncoderSession(${String(bad)})`, expect: "error", run: () => new EncoderSession(bad as unknown as Device) });
    add({ id: `Graph.record(${String(bad)})`, expect: "error", run: () => Graph.record(bad as never, {}, () => {}) });
  }

  // ── silent wrong results ──
  const greedy = async (topP: number, temperature: number) => {
    const g = model.generate([1, 2, 3], { maxTokens: 4, temperature, topP, seed: 7 });
    return (await g.complete()).tokens;
  };
  let reference: number[] | undefined;
  add({ id: "greedy reference tokens", expect: "ok", run: async () => void (reference = await greedy(1, 0)) });
  for (const topP of [1e-300, 5e-324, 1e-45, 1e-30, 1e-12]) {
    add({
      id: `topP ${topP} keeps only the most probable token`, expect: "ok",
      run: () => greedy(topP, 1),
      check: (r) => (JSON.stringify(r) === JSON.stringify(reference) ? undefined : `tokens ${JSON.stringify(r)}, greedy gives ${JSON.stringify(reference)}`),
    });
  }
  for (const temperature of [1e-300, 1e-45, 1e-9]) {
    add({
      id: `temperature ${temperature} is greedy`, expect: "ok",
      run: () => greedy(1, temperature),
      check: (r) => (JSON.stringify(r) === JSON.stringify(reference) ? undefined : `tokens ${JSON.stringify(r)}, greedy gives ${JSON.stringify(reference)}`),
    });
  }
  for (const tokens of [{ length: -1 }, { length: 2 ** 53 }, { length: 1.5 }, { length: NaN }, { length: 1 }, [], [1, -1], [0.5], [1e9], ["1"], null, 5]) {
    add({
      id: `model.forward(${JSON.stringify(tokens)}, cache)`, expect: "error", argument: /tokens/,
      run: () => {
        using cache = model.newCache();
        return model.forward(tokens as unknown as number[], cache);
      },
    });
    add({ id: `model.forward(${JSON.stringify(tokens)})`, expect: "error", argument: /tokens/, run: () => model.forward(tokens as unknown as number[]) });
  }
  for (const layer of [99, -1, 0.5, NaN, "0", null, model.config.numHiddenLayers]) {
    for (const which of ["keys", "values"] as const) {
      add({
        id: `cache.${which}(${String(layer)})`, expect: "error", argument: "layer",
        run: () => {
          using cache = model.newCache();
          return cache[which](layer as number);
        },
      });
    }
  }
  const badOptions: Record<string, unknown[]> = {
    maxTokens: [0, -1, 0.5, NaN, Infinity, "3", 2 ** 53 + 2],
    temperature: [-1, NaN, Infinity, "1"],
    topK: [-1, 0.5, NaN, "2"],
    topP: [0, -0, -1, 1.0000001, NaN, Infinity, "0.5"],
    seed: [-1, 2 ** 32, 0.5, NaN],
    stop: ["x", [""], [1], {}],
  };
  for (const [key, values] of Object.entries(badOptions)) {
    for (const v of values) {
      add({ id: `generate({${key}: ${String(v)}})`, expect: "error", argument: `options.${key}`, run: () => model.generate([1, 2], { [key]: v }) });
    }
  }
  add({ id: "generate with an unknown option", expect: "error", run: () => model.generate([1, 2], { topp: 0.5 } as never) });

  // ── abandoned generations release their KV cache ──
  add({
    id: "200 abandoned generations: device memory back to baseline", expect: "ok",
    run: async () => {
      const base = device.bytesInUse;
      // Each generation lives in its own (finished) frame: a `const g` of this loop's frame can
      // stay reachable from it after the loop, which would keep the last dropped one alive.
      const once = async (i: number) => {
        const g = model.generate([1, 2, 3], { maxTokens: 64 });
        await g.next();
        if (i % 2 === 0) await g.return();
        // odd ones are dropped half-way: the FinalizationRegistry backstop releases them
      };
      for (let i = 0; i < 200; i++) await once(i);
      for (let i = 0; i < 20 && device.bytesInUse > base; i++) {
        Bun.gc(true);
        await new Promise((r) => setTimeout(r, 10));
      }
      return device.bytesInUse - base;
    },
    check: (r) => ((r as number) <= 0 ? undefined : `${r} bytes still held after GC`),
  });
  add({
    id: "load, forward, generate, dispose: device memory back to baseline", expect: "ok",
    run: async () => {
      const base = device.bytesInUse;
      const m = loadModelSync(ctx.modelDir, { device, progress: false });
      m.forward([1, 2, 3]);
      for await (const _ of m.generate([1, 2, 3], { maxTokens: 8 })) break;
      m.dispose();
      return device.bytesInUse - base;
    },
    check: (r) => (r === 0 ? undefined : `${r} bytes still held after dispose`),
  });
  add({
    id: "generation that throws releases its cache", expect: "ok",
    run: async () => {
      const base = device.bytesInUse;
      const g = model.generate([1, 2, 3], { maxTokens: 64 });
      await g.next();
      await g.throw(new Error("stop")).catch(() => undefined);
      return device.bytesInUse - base;
    },
    check: (r) => (r === 0 ? undefined : `${r} bytes still held`),
  });
  void rng;
  return cases;
}

/** Every API case: targeted ones, then random calls on every method of the live objects. */
export function apiCases(ctx: ApiContext, seed: number, perMethod: number): FuzzCase[] {
  const rng = new Rng(seed);
  const { device, registry, model } = ctx;
  const scratch = device.allocBuffer(256, DType.F32, [64]);
  const pool = new BufferPool(device);
  return [
    ...targetedCases(ctx, rng),
    ...methodCases("device", () => device, rng, perMethod, { allocBuffer: [64, DType.F32, [16]] }),
    ...methodCases("buffer", () => scratch, rng, perMethod, { slice: [0, 64, DType.F32, [16]], view: [Float32Array] }),
    ...methodCases("registry", () => registry, rng, perMethod, { getPipeline: ["fuzz_fill"], compilePipeline: ["fuzz_fill"] }),
    ...methodCases("encoder", () => device.commandEncoder(), rng, perMethod, {
      dispatchThreads: [registry.getPipeline("fuzz_fill"), [scratch, new Uint32Array([64])], [64, 1, 1], [64, 1, 1]],
      dispatchThreadgroups: [registry.getPipeline("fuzz_fill"), [scratch, new Uint32Array([64])], [1, 1, 1], [64, 1, 1]],
    }),
    ...methodCases("pool", () => pool, rng, perMethod, { alloc: [64, DType.F32] }),
    ...methodCases("session", () => new EncoderSession(device), rng, perMethod),
    ...methodCases("model", () => model, rng, perMethod, { generate: [[1, 2], { maxTokens: 2 }], forward: [[1, 2]], promptTokens: [[1, 2]] }),
    ...methodCases("cache", () => model.newCache(), rng, perMethod),
    ...methodCases("tokenizer", () => model.tokenizer!, rng, perMethod, { encode: ["hello"], decode: [[1, 2]] }),
  ];
}
