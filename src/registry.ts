/**
 * Kernel registry: builds catalog kernels on demand and caches pipelines.
 *
 * `pipeline(spec, variant)` asks for a variant of a catalog entry (kernels/catalog.ts): the
 * registry builds the source of the variant's compile unit (the entry's header plus one explicit
 * instantiation line per variant of the unit), compiles it once into a library, and caches the
 * pipeline under a key derived from the kernel name and its function constants in exactly one
 * function (`pipelineKey`). `compilePipeline` builds a fresh, uncached pipeline (as bun:sqlite
 * separates `query()` from `prepare()`). `registerSource` adds run-time kernels, found by name
 * with `getPipeline`.
 *
 * Ops use the registry every Device owns (`device.kernels`); make one yourself for kernels of
 * your own.
 *
 * @example
 * const p = device.kernels.pipeline(kernels.gemv, { x: DType.F32, w: DType.BF16 });
 * const registry = new KernelRegistry(device);
 * registry.registerSource("my_kernel", source);
 * const q = registry.getPipeline("my_kernel", { bools: [[300, true]], ints: [[301, 7]] });
 */
import type { Pointer } from "bun:ffi";
import { findVariant, type Axes, type FunctionConstants, type KernelSpec, type Variant } from "../kernels/catalog.ts";
import { checkDevice, type Device } from "./device.ts";
import { ArgumentError, DisposedError, KernelNotFoundError } from "./errors.ts";
import { ConstantType } from "./ffi/abi.ts";
import { failure, outSlot, takeHandle } from "./ffi/native.ts";
import { assembleUnit } from "./kernels.ts";
import { config } from "./config.ts";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fromNative } from "./internal.ts";

export type { FunctionConstants } from "../kernels/catalog.ts";

const { BOOL: CONSTANT_BOOL, INT: CONSTANT_INT, UINT: CONSTANT_UINT, FLOAT: CONSTANT_FLOAT } = ConstantType;


/**
 * A compiled compute pipeline. Owned by its registry and made only by it (`getPipeline`,
 * `compilePipeline`); it dies with the registry, with `releasePipeline`, or when
 * `registerSource` replaces its kernel, and any later dispatch or graph replay using it throws
 * a `DisposedError` instead of handing the backend a freed handle.
 */
export class Pipeline {
  #live = true;

  /** @internal Made by KernelRegistry only; a raw handle from anywhere else is refused. */
  constructor(
    token: typeof fromNative,
    readonly handle: Pointer,
    /** Kernel function name. */
    readonly name: string,
    /** Cache key and label: the name plus its function constants. */
    readonly key: string,
    /** Threads per SIMD group (32 on Apple GPUs and msl-cpu). */
    readonly threadExecutionWidth: number,
    readonly maxTotalThreadsPerThreadgroup: number,
    readonly staticThreadgroupMemoryLength: number,
  ) {
    if (token !== fromNative) throw new ArgumentError("Pipeline", "is made by KernelRegistry.getPipeline or compilePipeline; it cannot be constructed from a handle");
    this.handleLo = handle >>> 0;
    this.handleHi = Math.floor(handle / 0x100000000);
  }

  /** True once the registry freed it (disposed, released, or its kernel re-registered). */
  get disposed(): boolean {
    return !(#live in this) || !this.#live;
  }

  /** @internal The registry frees the native pipeline right after this. */
  markFreed(): void {
    this.#live = false;
  }

  /** @internal Low and high 32 bits of the handle, split once for the packed dispatch record. */
  readonly handleLo: number;
  /** @internal */
  readonly handleHi: number;
}

/** Throws unless `p` is a Pipeline whose native pipeline is still alive. */
export function checkLivePipeline(name: string, p: unknown): asserts p is Pipeline {
  if (!(p instanceof Pipeline)) throw new ArgumentError(name, "must be a Pipeline from KernelRegistry.getPipeline");
  if (p.disposed) throw new DisposedError(`pipeline "${p.key}" (its registry was disposed, it was released, or registerSource replaced its kernel)`);
}

/**
 * The cache key of a pipeline: `name`, then `|idx:b0|idx:b1` for bools, `|idx:iN` for ints,
 * `|idx:uN` for uints and `|idx:fX` for floats, each in the caller's order.
 */
export function pipelineKey(name: string, c?: FunctionConstants): string {
  if (!c) return name;
  let key = name;
  for (const [i, v] of c.bools ?? []) key += `|${i}:b${v ? 1 : 0}`;
  for (const [i, v] of c.ints ?? []) key += `|${i}:i${v}`;
  for (const [i, v] of c.uints ?? []) key += `|${i}:u${v}`;
  for (const [i, v] of c.floats ?? []) key += `|${i}:f${v}`;
  return key;
}

/** Constants as the ABI's [index, type, value] uint32 triplets, and how many there are. */
function packConstants(c: FunctionConstants | undefined): { words: Uint32Array; count: number } {
  const entries: [number, number, number][] = [];
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  const index = (i: number) => {
    if (!Number.isInteger(i) || i < 0 || i > 65535) throw new ArgumentError("constants", `function constant index must be an integer in [0, 65535] (got ${i})`);
    return i;
  };
  for (const [i, v] of c?.bools ?? []) entries.push([index(i), CONSTANT_BOOL, v ? 1 : 0]);
  for (const [i, v] of c?.ints ?? []) {
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new ArgumentError("constants", `int constant ${i} must be a 32-bit integer (got ${v})`);
    entries.push([index(i), CONSTANT_INT, v >>> 0]);
  }
  for (const [i, v] of c?.uints ?? []) {
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32) throw new ArgumentError("constants", `uint constant ${i} must be in [0, 2^32) (got ${v})`);
    entries.push([index(i), CONSTANT_UINT, v]);
  }
  for (const [i, v] of c?.floats ?? []) {
    f32[0] = v;
    entries.push([index(i), CONSTANT_FLOAT, u32[0]!]);
  }
  // The shim may read through the pointer even for zero constants: never pass an empty array.
  return { words: new Uint32Array(entries.length ? entries.flat() : [0]), count: entries.length };
}

/**
 * Writes what a backend compiled for one pipeline (library label and text, constant triplets) to
 * `dir`, named by content, so `bun run precompile --backend cuda --recorded dir` can compile the
 * same PTX ahead on a machine with clang (MLXN_RECORD_KERNELS; a debug switch).
 */
function recordPipeline(dir: string, unit: SourceUnit, constants: Uint32Array): void {
  const entry = JSON.stringify({ label: unit.label, text: unit.text, constants: [...constants] });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${Bun.hash(entry).toString(16)}.json`), entry);
}

interface SourceUnit {
  label: string;
  text: string;
  library?: Pointer;
}

export class KernelRegistry {
  readonly device: Device;
  readonly #pipelines = new Map<string, Pipeline>();
  /** Sources registered at run time, by kernel name. */
  readonly #registered = new Map<string, SourceUnit>();
  /** Catalog compile units built so far, by unit name. */
  readonly #units = new Map<string, SourceUnit>();
  /** Catalog pipelines by entry, axis values and constants object (see `pipeline`). */
  readonly #fast = new Map<object, Map<unknown, unknown>>();
  /** Pipelines from `compilePipeline` not released yet: freed with the registry. */
  readonly #compiled = new Set<Pipeline>();
  #compileSeconds = 0;
  /**
   * Called after each library compile with its label (e.g. "kernels/attention.metal") and its
   * seconds; `loadModel` points it at a line on stderr for compiles that took a while.
   */
  onCompile: ((label: string, seconds: number) => void) | undefined;
  #disposed = false;

  constructor(device: Device) {
    checkDevice("device", device);
    this.device = device;
  }

  /**
   * Make `name` resolve to kernel `name` in `source` (MSL). Replaces an earlier registration and
   * drops pipelines cached for that name.
   */
  registerSource(name: string, source: string): void {
    this.#check();
    if (typeof name !== "string" || name === "") throw new ArgumentError("name", "must be a non-empty string");
    if (typeof source !== "string" || source.trim() === "") throw new ArgumentError("source", `must be non-empty MSL source (for kernel "${name}")`);
    const old = this.#registered.get(name);
    if (old?.library !== undefined) this.#freeLibrary(old);
    this.#registered.set(name, { label: `registered:${name}`, text: source });
    this.#fast.clear();
    for (const [key, p] of this.#pipelines) {
      if (p.name === name) {
        this.#free(p);
        this.#pipelines.delete(key);
      }
    }
    for (const p of this.#compiled) {
      if (p.name === name) {
        this.#free(p);
        this.#compiled.delete(p);
      }
    }
  }

  /**
   * The pipeline of catalog entry `spec` for `variant` (a value per axis), specialised with
   * `constants` (build them once with `spec.specialize`), compiled on first use and cached.
   *
   * @example
   * const p = registry.pipeline(kernels.qmv, { x: DType.F32, scales: DType.BF16, bits: 4 }, ONE_ROW);
   */
  pipeline<A extends Axes>(spec: KernelSpec<A>, variant: Variant<A>, constants?: FunctionConstants): Pipeline {
    // Hot path (every op dispatch): a walk of small maps keyed by the axis values, then by the
    // constants object, instead of building the name and key strings.
    if (typeof spec !== "object" || spec === null || !Array.isArray((spec as { axisNames?: unknown }).axisNames)) throw new ArgumentError("spec", "must be a catalog entry (kernels/catalog.ts)");
    if (typeof variant !== "object" || variant === null) throw new ArgumentError("variant", `must be an object of axis values (got ${variant === null ? "null" : typeof variant})`);
    let node = this.#fast.get(spec);
    if (node === undefined) this.#fast.set(spec, (node = new Map()));
    for (const axis of spec.axisNames) {
      const value = (variant as Readonly<Record<string, unknown>>)[axis];
      let next = node.get(value) as Map<unknown, unknown> | undefined;
      if (next === undefined) node.set(value, (next = new Map()));
      node = next;
    }
    const hit = node.get(constants) as Pipeline | undefined;
    if (hit !== undefined && !this.#disposed) return hit;
    const pipeline = this.#catalogPipeline(spec, variant, constants);
    node.set(constants, pipeline);
    return pipeline;
  }

  #catalogPipeline<A extends Axes>(spec: KernelSpec<A>, variant: Variant<A>, constants?: FunctionConstants): Pipeline {
    const name = spec.name(variant);
    if (!spec.has(variant)) {
      const values = Object.entries(variant).map(([k, v]) => `${k}=${typeof v === "object" && v !== null ? (v as { name: string }).name : String(v)}`);
      throw new KernelNotFoundError(name, `: the catalog does not build ${spec.family} for ${values.join(", ")}`);
    }
    return this.getPipeline(name, constants);
  }

  /**
   * The pipeline for kernel `name` (a registered source, else a catalog variant) specialised with
   * `constants`, compiled on first use and cached.
   */
  getPipeline(name: string, constants?: FunctionConstants): Pipeline {
    const key = constants ? pipelineKey(name, constants) : name;
    const hit = this.#pipelines.get(key);
    if (hit) return hit;
    this.#check();
    const pipeline = this.#compile(name, constants);
    this.#pipelines.set(key, pipeline);
    return pipeline;
  }

  /** A fresh pipeline, bypassing the cache (the caller owns it; free with `releasePipeline`). */
  compilePipeline(name: string, constants?: FunctionConstants): Pipeline {
    const pipeline = this.#compile(name, constants);
    this.#compiled.add(pipeline);
    return pipeline;
  }

  #compile(name: string, constants?: FunctionConstants): Pipeline {
    this.#check();
    if (constants !== undefined && (constants === null || typeof constants !== "object")) {
      throw new ArgumentError("constants", `must be an object of bools, ints, uints and floats (got ${constants === null ? "null" : typeof constants})`);
    }
    if (typeof name !== "string" || name === "") throw new ArgumentError("name", "must be a non-empty kernel name");
    const unit = this.#unitFor(name);
    const library = this.#library(unit, name);
    const native = this.device.native;
    const key = pipelineKey(name, constants);
    const { words, count } = packConstants(constants);
    const t0 = performance.now();
    const status = native.mlxn_pipeline_new(library, name, words, count, key, outSlot);
    this.#compileSeconds += (performance.now() - t0) / 1000;
    if (status !== 0) throw failure(native, status, name);
    const record = config().recordKernels;
    if (record) recordPipeline(record, unit, words.subarray(0, count * 3));
    const handle = takeHandle();
    return new Pipeline(
      fromNative,
      handle,
      name,
      key,
      native.mlxn_pipeline_thread_execution_width(handle),
      native.mlxn_pipeline_max_total_threads_per_threadgroup(handle),
      Number(native.mlxn_pipeline_static_threadgroup_memory_length(handle)),
    );
  }

  /** Free a pipeline made by `compilePipeline`. */
  releasePipeline(pipeline: Pipeline): void {
    if (!(pipeline instanceof Pipeline)) throw new ArgumentError("pipeline", "must be a Pipeline from compilePipeline");
    // Cached pipelines belong to the registry; a released one must not be freed twice.
    if (!this.#compiled.delete(pipeline)) return;
    this.#free(pipeline);
  }

  #free(p: Pipeline): void {
    if (p.disposed) return;
    p.markFreed();
    this.device.native.mlxn_pipeline_free(p.handle);
  }

  /** True when a pipeline for `name` with `constants` is cached. */
  isCached(name: string, constants?: FunctionConstants): boolean {
    return this.#pipelines.has(pipelineKey(name, constants));
  }

  /**
   * Seconds spent compiling libraries and pipelines so far (a disk-cache hit of msl-cpu, or
   * Metal's own shader cache, makes a compile short; it is still counted).
   */
  get compileSeconds(): number {
    return this.#compileSeconds;
  }

  get cachedCount(): number {
    return this.#pipelines.size;
  }

  /** Libraries compiled so far (catalog compile units and registered sources). */
  get libraryCount(): number {
    let n = 0;
    for (const u of [...this.#units.values(), ...this.#registered.values()]) if (u.library !== undefined) n++;
    return n;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const p of this.#pipelines.values()) this.#free(p);
    this.#pipelines.clear();
    this.#fast.clear();
    for (const p of this.#compiled) this.#free(p);
    this.#compiled.clear();
    for (const u of [...this.#units.values(), ...this.#registered.values()]) this.#freeLibrary(u);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #check(): void {
    if (this.#disposed) throw new DisposedError("registry");
    if (this.device.disposed) throw new DisposedError("device");
  }

  #unitFor(name: string): SourceUnit {
    const registered = this.#registered.get(name);
    if (registered) return registered;
    const found = findVariant(name);
    if (!found) throw new KernelNotFoundError(name, ": not in the kernel catalog (kernels/catalog.ts) and not registered with registerSource()");
    let unit = this.#units.get(found.unit);
    if (!unit) {
      unit = { label: `kernels/${found.unit}`, text: assembleUnit(found.unit) };
      this.#units.set(found.unit, unit);
    }
    return unit;
  }

  #library(unit: SourceUnit, kernel: string): Pointer {
    if (unit.library !== undefined) return unit.library;
    const native = this.device.native;
    const bytes = new TextEncoder().encode(unit.text);
    const t0 = performance.now();
    const status = native.mlxn_library_new_source(this.device.handle, bytes, bytes.byteLength, unit.label, outSlot);
    const seconds = (performance.now() - t0) / 1000;
    this.#compileSeconds += seconds;
    if (status === 0) this.onCompile?.(unit.label, seconds);
    if (status !== 0) throw failure(native, status, kernel);
    unit.library = takeHandle();
    return unit.library;
  }

  #freeLibrary(unit: SourceUnit): void {
    if (unit.library === undefined) return;
    this.device.native.mlxn_library_free(unit.library);
    unit.library = undefined;
  }
}
