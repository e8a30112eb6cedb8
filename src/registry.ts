/**
 * Kernel registry: compiles kernel families lazily and caches pipelines.
 *
 * Names need no registration: `getPipeline("elementwise_add_f32")` finds the family file that
 * instantiates it (see kernels.ts), compiles that file once into a library, and caches the
 * pipeline under a key derived from the name and its function constants in exactly one function
 * (`pipelineKey`). `compilePipeline` builds a fresh, uncached pipeline (as bun:sqlite separates
 * `query()` from `prepare()`). `registerSource` adds run-time kernels.
 *
 * @example
 * const registry = new KernelRegistry(device);
 * const p = registry.getPipeline("elementwise_add_f32");
 * const q = registry.getPipeline("my_kernel", { bools: [[300, true]], ints: [[301, 7]] });
 */
import type { Pointer } from "bun:ffi";
import type { Device } from "./device.ts";
import { ArgumentError, DisposedError, KernelNotFoundError } from "./errors.ts";
import { failure, outSlot, takeHandle } from "./ffi/native.ts";
import { assembleSource, familyOf } from "./kernels.ts";

/** Function-constant values for one pipeline, by constant index. */
export interface FunctionConstants {
  bools?: readonly (readonly [number, boolean])[];
  ints?: readonly (readonly [number, number])[];
  uints?: readonly (readonly [number, number])[];
  floats?: readonly (readonly [number, number])[];
}

const CONSTANT_BOOL = 0;
const CONSTANT_INT = 1;
const CONSTANT_UINT = 2;
const CONSTANT_FLOAT = 3;

/** A compiled compute pipeline. Owned by its registry; disposed with it. */
export class Pipeline {
  constructor(
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
    this.handleLo = handle >>> 0;
    this.handleHi = Math.floor(handle / 0x100000000);
  }

  /** @internal Low and high 32 bits of the handle, split once for the packed dispatch record. */
  readonly handleLo: number;
  /** @internal */
  readonly handleHi: number;
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
  /** Family files compiled so far, by file name. */
  readonly #families = new Map<string, SourceUnit>();
  /** Pipelines from `compilePipeline` already freed by `releasePipeline`. */
  readonly #released = new WeakSet<Pipeline>();
  #compileSeconds = 0;
  /**
   * Called after each library compile with its label (e.g. "kernels/attention.metal") and its
   * seconds; `loadModel` points it at a line on stderr for compiles that took a while.
   */
  onCompile: ((label: string, seconds: number) => void) | undefined;
  #disposed = false;

  constructor(device: Device) {
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
    for (const [key, p] of this.#pipelines) {
      if (p.name === name) {
        this.device.native.mlxn_pipeline_free(p.handle);
        this.#pipelines.delete(key);
      }
    }
  }

  /** The pipeline for `name` specialised with `constants`, compiled on first use and cached. */
  getPipeline(name: string, constants?: FunctionConstants): Pipeline {
    const key = constants ? pipelineKey(name, constants) : name;
    const hit = this.#pipelines.get(key);
    if (hit) return hit;
    this.#check();
    const pipeline = this.compilePipeline(name, constants);
    this.#pipelines.set(key, pipeline);
    return pipeline;
  }

  /** A fresh pipeline, bypassing the cache (the caller owns it; free with `releasePipeline`). */
  compilePipeline(name: string, constants?: FunctionConstants): Pipeline {
    this.#check();
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
    const handle = takeHandle();
    return new Pipeline(
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
    // Cached pipelines belong to the registry; a released one must not be freed twice.
    if (this.#pipelines.get(pipeline.key) === pipeline || this.#released.has(pipeline)) return;
    this.#released.add(pipeline);
    this.device.native.mlxn_pipeline_free(pipeline.handle);
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

  /** Libraries compiled so far (family files and registered sources). */
  get libraryCount(): number {
    let n = 0;
    for (const u of [...this.#families.values(), ...this.#registered.values()]) if (u.library !== undefined) n++;
    return n;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const native = this.device.native;
    for (const p of this.#pipelines.values()) native.mlxn_pipeline_free(p.handle);
    this.#pipelines.clear();
    for (const u of [...this.#families.values(), ...this.#registered.values()]) this.#freeLibrary(u);
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
    const file = familyOf(name);
    if (!file) throw new KernelNotFoundError(name, ": not in kernels/ and not registered with registerSource()");
    let unit = this.#families.get(file);
    if (!unit) {
      unit = { label: `kernels/${file}`, text: assembleSource(file) };
      this.#families.set(file, unit);
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
