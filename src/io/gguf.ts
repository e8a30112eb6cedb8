/**
 * GGUF (llama.cpp's model file format), versions 2 and 3: reading with full validation, copying
 * tensors into device buffers, and writing (tests and benchmarks build files with it).
 *
 * Layout, little-endian throughout:
 *   magic "GGUF" | version u32 | tensor count u64 | metadata count u64
 *   metadata: key (string) | value type u32 | value            (strings are u64 length + UTF-8)
 *   tensor infos: name | n_dims u32 | dims u64[n_dims] (ggml order: dims[0] is the row length)
 *                 | ggml type u32 | offset u64 (relative to the data section)
 *   padding to `general.alignment` (default 32) | data section
 *
 * Nothing is trusted: counts, string lengths and array lengths are bounded (as the crate we port
 * bounds them) and checked against the bytes left in the file before anything is allocated, so a
 * corrupt count cannot make the reader allocate or loop beyond the file's size; every tensor must
 * lie inside the file, aligned, without overlapping another, with a byte size that matches its
 * type and shape. Every problem is a `FormatError` naming the file, the field (and the tensor).
 * Only regular files are opened (a FIFO or a device would block or never end).
 *
 * @example
 * const gguf = GgufFile.open("model.gguf");
 * gguf.string("general.architecture");            // "llama"
 * const info = gguf.require("blk.0.attn_q.weight");
 * console.log(info.type.name, info.shape);        // "Q4_K" [4096, 4096]
 */
import { closeSync, fstatSync, openSync, readSync, statSync, writeSync } from "node:fs";
import type { Buffer } from "../buffer.ts";
import type { Device } from "../device.ts";
import { DType } from "../dtype.ts";
import { ArgumentError, FormatError } from "../errors.ts";
import { ggmlType, ggmlTypeById, ggmlTypeIdText, isBlockQuantized, type GgmlType, type GgmlTypeName } from "../ggml_types.ts";
import { ProgressBar, type ProgressOptions } from "./progress.ts";

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Bounds on what a header may declare, as the crate we port has them. */
export const GGUF_LIMITS = Object.freeze({
  maxTensors: 100_000,
  maxMetadata: 1_000_000,
  maxStringBytes: 256 * 1024 * 1024,
  maxArrayElements: 64 * 1024 * 1024,
  maxDims: 8,
  /** Arrays of arrays: deeper nesting is refused (it would only exhaust the stack). */
  maxArrayDepth: 8,
});

/** GGUF metadata value types. */
export const GgufType = Object.freeze({
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
});
export type GgufType = (typeof GgufType)[keyof typeof GgufType];

const TYPE_NAMES = Object.fromEntries(Object.entries(GgufType).map(([k, v]) => [v, k])) as Record<number, string>;
/** Bytes of a fixed-size value type (strings and arrays are variable). */
const FIXED_SIZE: Readonly<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** A metadata value: 64-bit integers are bigints (exact), other numbers are numbers. */
export type GgufValue = number | bigint | boolean | string | GgufArray;

export interface GgufArray {
  readonly itemType: GgufType;
  readonly items: readonly GgufValue[];
}

/** A metadata value with its GGUF type. */
export interface GgufEntry {
  readonly type: GgufType;
  readonly value: GgufValue;
}

/** One tensor of a GGUF file. */
export interface GgufTensorInfo {
  readonly name: string;
  readonly type: GgmlType;
  /** Dimensions in ggml order: dims[0] is the length of a row (the contiguous one). */
  readonly dims: readonly number[];
  /** Row-major shape (dims reversed), e.g. [out, in] for a linear weight. */
  readonly shape: readonly number[];
  readonly elements: number;
  /** Absolute byte offset of the data in the file. */
  readonly offset: number;
  readonly byteLength: number;
  /** Elements per row (dims[0]) and rows (the product of the other dims). */
  readonly rowLength: number;
  readonly rows: number;
}

// ---------------------------------------------------------------------------------------------
// Reading

const CHUNK = 1 << 20;

/** Sequential, buffered reads of the header, never past the end of the file. */
class HeaderCursor {
  #buf = new Uint8Array(0);
  #view = new DataView(this.#buf.buffer);
  /** File offset of #buf[0]. */
  #bufStart = 0;
  /** File offset of the next byte to read. */
  pos = 0;
  readonly #decoder = new TextDecoder("utf-8");
  readonly #strictDecoder = new TextDecoder("utf-8", { fatal: true });

  constructor(
    readonly fd: number,
    readonly fileSize: number,
    readonly path: string,
  ) {}

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  /** Make `n` bytes at `pos` readable from the buffer; returns their index in it (read #view after calling: it may be replaced). */
  #take(n: number, what: string): number {
    if (n > this.remaining) {
      throw new FormatError(this.path, `${what}: needs ${n} bytes at offset ${this.pos}, but the file ends at ${this.fileSize} (truncated?)`);
    }
    if (this.pos + n > this.#bufStart + this.#buf.byteLength || this.pos < this.#bufStart) {
      const size = Math.min(Math.max(n, CHUNK), this.remaining);
      const buf = new Uint8Array(size);
      readFully(this.fd, buf, this.pos, this.path);
      this.#buf = buf;
      this.#view = new DataView(buf.buffer);
      this.#bufStart = this.pos;
    }
    const at = this.pos - this.#bufStart;
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    const at = this.#take(1, what);
    return this.#view.getUint8(at);
  }
  i8(what: string): number {
    const at = this.#take(1, what);
    return this.#view.getInt8(at);
  }
  u16(what: string): number {
    const at = this.#take(2, what);
    return this.#view.getUint16(at, true);
  }
  i16(what: string): number {
    const at = this.#take(2, what);
    return this.#view.getInt16(at, true);
  }
  u32(what: string): number {
    const at = this.#take(4, what);
    return this.#view.getUint32(at, true);
  }
  i32(what: string): number {
    const at = this.#take(4, what);
    return this.#view.getInt32(at, true);
  }
  f32(what: string): number {
    const at = this.#take(4, what);
    return this.#view.getFloat32(at, true);
  }
  f64(what: string): number {
    const at = this.#take(8, what);
    return this.#view.getFloat64(at, true);
  }
  u64(what: string): bigint {
    const at = this.#take(8, what);
    return this.#view.getBigUint64(at, true);
  }
  i64(what: string): bigint {
    const at = this.#take(8, what);
    return this.#view.getBigInt64(at, true);
  }

  /** A u64 that must be at most `max` (and so a safe number). */
  count(what: string, max: number): number {
    const at = this.pos;
    const v = this.u64(what);
    if (v > BigInt(max)) throw new FormatError(this.path, `${what} is ${v} (at offset ${at}), above the limit of ${max}`);
    return Number(v);
  }

  /** A length-prefixed string; `strict` refuses invalid UTF-8 (keys and names). */
  string(what: string, strict = false): string {
    const length = this.count(`${what} (string length)`, GGUF_LIMITS.maxStringBytes);
    const at = this.#take(length, what);
    const bytes = this.#buf.subarray(at, at + length);
    if (!strict) return this.#decoder.decode(bytes);
    try {
      return this.#strictDecoder.decode(bytes);
    } catch {
      throw new FormatError(this.path, `${what} is not valid UTF-8`);
    }
  }
}

function readFully(fd: number, target: Uint8Array, position: number, path: string, onRead?: (bytes: number) => void): void {
  const MAX_READ = 64 << 20;
  let done = 0;
  while (done < target.byteLength) {
    const n = readSync(fd, target, done, Math.min(MAX_READ, target.byteLength - done), position + done);
    if (n <= 0) throw new FormatError(path, `file ended at byte ${position + done}, expected ${target.byteLength - done} more bytes (truncated or changed while reading?)`);
    done += n;
    onRead?.(n);
  }
}

/** Open `path` for reading, refusing anything but a regular file (before opening it). */
function openRegularFile(path: string): number {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (e) {
    throw new FormatError(path, `cannot open (${(e as Error).message})`);
  }
  if (!isFile) throw new FormatError(path, "is not a regular file");
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new FormatError(path, `cannot open (${(e as Error).message})`);
  }
  // The path may have been replaced between stat and open.
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new FormatError(path, "is not a regular file");
  }
  return fd;
}

function readValue(c: HeaderCursor, type: number, what: string, depth: number): GgufValue {
  switch (type) {
    case GgufType.UINT8:
      return c.u8(what);
    case GgufType.INT8:
      return c.i8(what);
    case GgufType.UINT16:
      return c.u16(what);
    case GgufType.INT16:
      return c.i16(what);
    case GgufType.UINT32:
      return c.u32(what);
    case GgufType.INT32:
      return c.i32(what);
    case GgufType.FLOAT32:
      return c.f32(what);
    case GgufType.FLOAT64:
      return c.f64(what);
    case GgufType.UINT64:
      return c.u64(what);
    case GgufType.INT64:
      return c.i64(what);
    case GgufType.BOOL: {
      const at = c.pos;
      const b = c.u8(what);
      if (b > 1) throw new FormatError(c.path, `${what}: a bool must be 0 or 1 (got ${b} at offset ${at})`);
      return b === 1;
    }
    case GgufType.STRING:
      return c.string(what);
    case GgufType.ARRAY: {
      if (depth >= GGUF_LIMITS.maxArrayDepth) throw new FormatError(c.path, `${what}: arrays nested more than ${GGUF_LIMITS.maxArrayDepth} deep`);
      const itemType = c.u32(`${what} (array item type)`);
      if (!Object.hasOwn(TYPE_NAMES, itemType)) throw new FormatError(c.path, `${what}: unknown array item type ${itemType}`);
      const n = c.count(`${what} (array length)`, GGUF_LIMITS.maxArrayElements);
      // Every item takes at least this many bytes: a length beyond the file fails here, before any allocation.
      const minItem = FIXED_SIZE[itemType] ?? (itemType === GgufType.STRING ? 8 : 12);
      if (n * minItem > c.remaining) {
        throw new FormatError(c.path, `${what}: array of ${n} ${TYPE_NAMES[itemType]} needs at least ${n * minItem} bytes, but only ${c.remaining} remain (truncated?)`);
      }
      const items: GgufValue[] = new Array(n);
      for (let i = 0; i < n; i++) items[i] = readValue(c, itemType, `${what}[${i}]`, depth + 1);
      return Object.freeze({ itemType: itemType as GgufType, items: Object.freeze(items) });
    }
    default:
      throw new FormatError(c.path, `${what}: unknown value type ${type}`);
  }
}

function checkedAlignment(metadata: Map<string, GgufEntry>, path: string): number {
  const entry = metadata.get("general.alignment");
  if (entry === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const v = entry.value;
  if (entry.type !== GgufType.UINT32 || typeof v !== "number" || v === 0 || (v & (v - 1)) !== 0) {
    throw new FormatError(path, `general.alignment must be a UINT32 power of two (got ${TYPE_NAMES[entry.type]} ${String(v)})`);
  }
  return v;
}

interface GgufHeaderParts {
  readonly path: string;
  readonly fileSize: number;
  readonly version: number;
  readonly alignment: number;
  readonly dataOffset: number;
  readonly metadata: ReadonlyMap<string, GgufEntry>;
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
}

/**
 * A validated GGUF file: metadata and tensor descriptions are in memory, tensor data is read on
 * demand.
 *
 * @example
 * const gguf = GgufFile.open(path);
 * const layers = gguf.uint("llama.block_count");
 * using norm = gguf.loadTensor(device, "output_norm.weight");
 */
export class GgufFile {
  readonly path: string;
  readonly fileSize: number;
  readonly version: number;
  readonly alignment: number;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  readonly metadata: ReadonlyMap<string, GgufEntry>;
  /** Tensors in the order the file lists them. */
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;

  private constructor(parts: GgufHeaderParts) {
    this.path = parts.path;
    this.fileSize = parts.fileSize;
    this.version = parts.version;
    this.alignment = parts.alignment;
    this.dataOffset = parts.dataOffset;
    this.metadata = parts.metadata;
    this.tensors = parts.tensors;
  }

  /** Read and validate the header of the GGUF file at `path` (the tensor data is not read). */
  static open(path: string): GgufFile {
    if (typeof path !== "string" || path === "") throw new ArgumentError("path", `must be a file path (got ${JSON.stringify(path)})`);
    const fd = openRegularFile(path);
    try {
      return GgufFile.#parse(new HeaderCursor(fd, fstatSync(fd).size, path));
    } finally {
      closeSync(fd);
    }
  }

  static #parse(c: HeaderCursor): GgufFile {
    const path = c.path;
    if (c.fileSize < 24) throw new FormatError(path, `file is ${c.fileSize} bytes, too short for the 24-byte GGUF header`);
    const magic = c.u32("magic");
    if (magic !== GGUF_MAGIC) throw new FormatError(path, `magic is 0x${magic.toString(16).padStart(8, "0")}, not "GGUF" (not a GGUF file)`);
    const version = c.u32("version");
    if (version === 0x02000000 || version === 0x03000000) throw new FormatError(path, "big-endian GGUF files are not supported");
    if (version !== 2 && version !== 3) throw new FormatError(path, `version ${version} is not supported (supported: 2, 3)`);
    const tensorCount = c.count("tensor count", GGUF_LIMITS.maxTensors);
    const metadataCount = c.count("metadata count", GGUF_LIMITS.maxMetadata);
    // A key (8-byte length) and a type take 12 bytes at least; a tensor info 8 + 4 + 8 + 4 + 8.
    if (metadataCount * 13 + tensorCount * 32 > c.remaining) {
      throw new FormatError(path, `${metadataCount} metadata pairs and ${tensorCount} tensors cannot fit in the ${c.remaining} bytes after the header (truncated?)`);
    }

    const metadata = new Map<string, GgufEntry>();
    for (let i = 0; i < metadataCount; i++) {
      const key = c.string(`metadata[${i}] key`, true);
      if (key === "") throw new FormatError(path, `metadata[${i}] key is empty`);
      if (metadata.has(key)) throw new FormatError(path, `metadata key "${key}" appears twice`);
      const type = c.u32(`metadata "${key}" value type`);
      const value = readValue(c, type, `metadata "${key}"`, 0);
      metadata.set(key, Object.freeze({ type: type as GgufType, value }));
    }
    const alignment = checkedAlignment(metadata, path);

    const raw: { name: string; type: GgmlType; dims: number[]; elements: number; relOffset: number }[] = [];
    const names = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      const name = c.string(`tensor[${i}] name`, true);
      const fail = (detail: string): never => {
        throw new FormatError(path, detail, name);
      };
      if (name === "") throw new FormatError(path, `tensor[${i}] name is empty`);
      if (names.has(name)) fail("appears twice in the tensor infos");
      names.add(name);
      const nDims = c.u32(`tensor "${name}" n_dims`);
      if (nDims < 1 || nDims > GGUF_LIMITS.maxDims) fail(`n_dims is ${nDims}, must be 1 to ${GGUF_LIMITS.maxDims}`);
      const dims: number[] = [];
      let elements = 1;
      for (let d = 0; d < nDims; d++) {
        const v = c.u64(`tensor "${name}" dims[${d}]`);
        if (v === 0n) fail(`dims[${d}] is 0 (empty tensors are not valid)`);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || elements * Number(v) > Number.MAX_SAFE_INTEGER) fail(`dims [${[...dims, v].join(", ")}] hold more than 2^53 elements`);
        dims.push(Number(v));
        elements *= Number(v);
      }
      const typeId = c.u32(`tensor "${name}" type`);
      const type = ggmlTypeById(typeId) ?? fail(`type is ${ggmlTypeIdText(typeId)}, which this library cannot run`);
      if (dims[0]! % type.blockElements !== 0) fail(`row length dims[0] = ${dims[0]} is not a multiple of the ${type.name} block size ${type.blockElements}`);
      const relOffset = c.u64(`tensor "${name}" offset`);
      if (relOffset > BigInt(Number.MAX_SAFE_INTEGER)) fail(`offset ${relOffset} is beyond any file`);
      raw.push({ name, type, dims, elements, relOffset: Number(relOffset) });
    }

    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    if (tensorCount > 0 && dataOffset > c.fileSize) throw new FormatError(path, `the data section would start at ${dataOffset}, past the end of the ${c.fileSize}-byte file`);
    const tensors = new Map<string, GgufTensorInfo>();
    for (const t of raw) {
      const byteLength = (t.elements / t.type.blockElements) * t.type.blockBytes;
      if (t.relOffset % alignment !== 0) throw new FormatError(path, `offset ${t.relOffset} is not a multiple of the alignment ${alignment}`, t.name);
      const end = dataOffset + t.relOffset + byteLength;
      if (end > c.fileSize) {
        throw new FormatError(path, `data [${t.relOffset}, ${t.relOffset + byteLength}) of the data section (${t.type.name} [${t.dims.join(", ")}] = ${byteLength} bytes) runs past the end of the ${c.fileSize}-byte file (truncated?)`, t.name);
      }
      tensors.set(
        t.name,
        Object.freeze({
          name: t.name,
          type: t.type,
          dims: Object.freeze(t.dims),
          shape: Object.freeze([...t.dims].reverse()),
          elements: t.elements,
          offset: dataOffset + t.relOffset,
          byteLength,
          rowLength: t.dims[0]!,
          rows: t.elements / t.dims[0]!,
        }),
      );
    }
    checkOverlaps([...tensors.values()], dataOffset, path);
    return new GgufFile({ path, fileSize: c.fileSize, version, alignment, dataOffset, metadata, tensors });
  }

  // ───────────── metadata ─────────────

  /** The value of `key`, or undefined. */
  get(key: string): GgufValue | undefined {
    return this.metadata.get(key)?.value;
  }

  #wrong(key: string, expected: string): never {
    const e = this.metadata.get(key);
    throw new FormatError(this.path, `metadata "${key}" must be ${expected} (got ${e ? `${TYPE_NAMES[e.type]} ${describe(e.value)}` : "nothing"})`);
  }

  /** A string value; `fallback` when absent, a `FormatError` when absent without one or of another type. */
  string(key: string, fallback?: string): string {
    const v = this.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== "string") this.#wrong(key, "a string");
    return v;
  }

  /** A non-negative integer of any integer type, as a number. */
  uint(key: string, fallback?: number): number {
    const v = this.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    const n = typeof v === "bigint" && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    const e = this.metadata.get(key);
    const isInt = e !== undefined && e.type !== GgufType.FLOAT32 && e.type !== GgufType.FLOAT64 && e.type !== GgufType.BOOL;
    if (!isInt || typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) this.#wrong(key, "a non-negative integer");
    return n as number;
  }

  /** A number of any numeric type. */
  float(key: string, fallback?: number): number {
    const v = this.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n)) this.#wrong(key, "a finite number");
    return n;
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== "boolean") this.#wrong(key, "a bool");
    return v;
  }

  /** An array whose items are of `itemType` (any type when omitted); undefined when absent. */
  array(key: string, itemType?: GgufType): GgufArray | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "object" || (itemType !== undefined && v.itemType !== itemType)) {
      this.#wrong(key, itemType === undefined ? "an array" : `an array of ${TYPE_NAMES[itemType]}`);
    }
    return v;
  }

  // ───────────── tensors ─────────────

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): GgufTensorInfo | undefined {
    return this.tensors.get(name);
  }

  /** The tensor's description; a `FormatError` naming it when it is missing. */
  require(name: string): GgufTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new FormatError(this.path, "missing", name);
    return t;
  }

  /** Bytes of tensor data. */
  get byteLength(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.byteLength;
    return n;
  }

  /** A host copy of the tensor's bytes, as stored. */
  read(name: string): Uint8Array<ArrayBuffer> {
    const info = this.require(name);
    const out = new Uint8Array(info.byteLength);
    this.readInto([{ info, target: out }]);
    return out;
  }

  /**
   * Read tensors into `target`s (each exactly the tensor's byteLength). With `rowOrder`, row r of
   * the target is row rowOrder[r] of the stored tensor (rows are whole blocks, so this works for
   * every type).
   */
  readInto(requests: readonly { info: GgufTensorInfo; target: Uint8Array; rowOrder?: ArrayLike<number> }[], onRead?: (bytes: number) => void): void {
    const fd = openRegularFile(this.path);
    try {
      for (const { info, target, rowOrder } of requests) {
        if (target.byteLength !== info.byteLength) throw new ArgumentError("target", `holds ${target.byteLength} bytes, tensor "${info.name}" has ${info.byteLength}`);
        if (rowOrder === undefined) {
          readFully(fd, target, info.offset, this.path, onRead);
          continue;
        }
        if (rowOrder.length !== info.rows) throw new ArgumentError("rowOrder", `has ${rowOrder.length} entries, tensor "${info.name}" has ${info.rows} rows`);
        const stored = new Uint8Array(info.byteLength);
        readFully(fd, stored, info.offset, this.path, onRead);
        const rowBytes = info.byteLength / info.rows;
        for (let r = 0; r < info.rows; r++) {
          const src = rowOrder[r]!;
          if (!Number.isInteger(src) || src < 0 || src >= info.rows) throw new ArgumentError(`rowOrder[${r}]`, `must be a row index in [0, ${info.rows}) (got ${src})`);
          target.set(stored.subarray(src * rowBytes, (src + 1) * rowBytes), r * rowBytes);
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** One tensor in a new device buffer (see `load`). */
  loadTensor(device: Device, name: string): Buffer {
    return this.load(device, [{ name }], { progress: false }).get(name)!;
  }

  /**
   * Copy tensors into device buffers, one each, in their stored form: F32/F16/BF16 tensors as
   * that dtype with their row-major shape, block-quantized ones as U8 `[rows, rowBytes]`.
   * On failure, buffers allocated so far are released.
   */
  load(device: Device, requests: readonly { name: string; rowOrder?: ArrayLike<number> }[], options: { progress?: ProgressOptions | false; label?: string } = {}): Map<string, Buffer> {
    const infos = requests.map((r) => this.require(r.name));
    const total = infos.reduce((a, t) => a + t.byteLength, 0);
    const bar = options.progress === false ? undefined : new ProgressBar(options.label ?? "loading weights", total, options.progress);
    const out = new Map<string, Buffer>();
    try {
      const reads = infos.map((info, i) => {
        const { dtype, shape } = deviceLayout(info);
        const buf = device.allocBuffer(info.byteLength, dtype, shape);
        out.set(info.name, buf);
        return { info, target: buf.view(Uint8Array).subarray(0, info.byteLength), rowOrder: requests[i]!.rowOrder };
      });
      this.readInto(reads, bar && ((n) => bar.advance(n)));
    } catch (e) {
      for (const b of out.values()) b.dispose();
      throw e;
    } finally {
      bar?.finish();
    }
    return out;
  }
}

/** The device dtype and shape a tensor loads as. */
export function deviceLayout(info: Pick<GgufTensorInfo, "type" | "shape" | "rows" | "byteLength">): { dtype: DType; shape: number[] } {
  if (isBlockQuantized(info.type)) return { dtype: DType.U8, shape: [info.rows, info.byteLength / info.rows] };
  const dtype = info.type.name === "F32" ? DType.F32 : info.type.name === "F16" ? DType.F16 : DType.BF16;
  return { dtype, shape: [...info.shape] };
}

function describe(v: GgufValue): string {
  if (typeof v === "object") return `array of ${v.items.length} ${TYPE_NAMES[v.itemType]}`;
  const s = typeof v === "string" ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v);
  return s;
}

function checkOverlaps(tensors: GgufTensorInfo[], dataOffset: number, path: string): void {
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.offset < prev.offset + prev.byteLength) {
      const range = (t: GgufTensorInfo) => `[${t.offset - dataOffset}, ${t.offset - dataOffset + t.byteLength})`;
      throw new FormatError(path, `data ${range(cur)} overlaps tensor "${prev.name}" ${range(prev)}`, cur.name);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** A tensor to write. `dims` are in ggml order (row length first). */
export interface GgufTensorData {
  readonly name: string;
  readonly type: GgmlType | GgmlTypeName;
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

export interface GgufWriteOptions {
  /** Default 3. */
  readonly version?: 2 | 3;
  /** Metadata in file order. `general.alignment` (UINT32), when present, sets the data alignment. */
  readonly metadata?: readonly (readonly [string, GgufEntry])[];
  readonly tensors?: readonly GgufTensorData[];
}

/** Little-endian byte sink. */
class ByteWriter {
  #buf = new Uint8Array(1 << 16);
  #view = new DataView(this.#buf.buffer);
  length = 0;

  #grow(n: number): number {
    if (this.length + n > this.#buf.byteLength) {
      const next = new Uint8Array(Math.max(this.#buf.byteLength * 2, this.length + n));
      next.set(this.#buf.subarray(0, this.length));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // #grow may replace #buf and #view: call it before reading them.
  u8(v: number): void {
    const at = this.#grow(1);
    this.#view.setUint8(at, v);
  }
  u32(v: number): void {
    const at = this.#grow(4);
    this.#view.setUint32(at, v, true);
  }
  u64(v: number | bigint): void {
    const at = this.#grow(8);
    this.#view.setBigUint64(at, BigInt(v), true);
  }
  bytes(b: Uint8Array): void {
    const at = this.#grow(b.byteLength);
    this.#buf.set(b, at);
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.byteLength);
    this.bytes(b);
  }
  pad(alignment: number): void {
    this.#grow((alignment - (this.length % alignment)) % alignment);
  }
  value(type: number, v: GgufValue): void {
    const size = FIXED_SIZE[type];
    const pos = size === undefined ? 0 : this.#grow(size);
    const view = this.#view;
    const at = () => pos;
    switch (type) {
      case GgufType.UINT8:
        return view.setUint8(at(), v as number);
      case GgufType.INT8:
        return view.setInt8(at(), v as number);
      case GgufType.UINT16:
        return view.setUint16(at(), v as number, true);
      case GgufType.INT16:
        return view.setInt16(at(), v as number, true);
      case GgufType.UINT32:
        return view.setUint32(at(), v as number, true);
      case GgufType.INT32:
        return view.setInt32(at(), v as number, true);
      case GgufType.FLOAT32:
        return view.setFloat32(at(), v as number, true);
      case GgufType.FLOAT64:
        return view.setFloat64(at(), v as number, true);
      case GgufType.UINT64:
        return view.setBigUint64(at(), BigInt(v as number | bigint), true);
      case GgufType.INT64:
        return view.setBigInt64(at(), BigInt(v as number | bigint), true);
      case GgufType.BOOL:
        return view.setUint8(at(), v ? 1 : 0);
      case GgufType.STRING:
        return this.string(v as string);
      case GgufType.ARRAY: {
        const a = v as GgufArray;
        this.u32(a.itemType);
        this.u64(a.items.length);
        for (const item of a.items) this.value(a.itemType, item);
        return;
      }
      default:
        throw new ArgumentError("metadata", `unknown value type ${type}`);
    }
  }
  result(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

/**
 * The bytes of a GGUF file: header, metadata, tensor infos, padding, and each tensor's data at
 * the next aligned offset, in the given order. Tensor sizes are checked against type and dims.
 *
 * @example
 * const bytes = encodeGguf({ metadata: [["general.architecture", { type: GgufType.STRING, value: "llama" }]],
 *   tensors: [{ name: "w", type: "F32", dims: [4], data: new Uint8Array(16) }] });
 */
export function encodeGguf(options: GgufWriteOptions): Uint8Array {
  const metadata = options.metadata ?? [];
  const tensors = options.tensors ?? [];
  const alignmentEntry = metadata.find(([k]) => k === "general.alignment")?.[1];
  const asked = alignmentEntry?.value;
  // An invalid alignment is still written (tests need such files); the data is then padded to the default.
  const alignment = typeof asked === "number" && asked > 0 && (asked & (asked - 1)) === 0 ? asked : GGUF_DEFAULT_ALIGNMENT;
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(options.version ?? 3);
  w.u64(tensors.length);
  w.u64(metadata.length);
  for (const [key, entry] of metadata) {
    w.string(key);
    w.u32(entry.type);
    w.value(entry.type, entry.value);
  }
  let offset = 0;
  for (const t of tensors) {
    const type = typeof t.type === "string" ? ggmlType(t.type, `tensors["${t.name}"].type`) : t.type;
    const elements = t.dims.reduce((a, b) => a * b, 1);
    const bytes = (elements / type.blockElements) * type.blockBytes;
    if (t.dims[0]! % type.blockElements !== 0 || bytes !== t.data.byteLength) {
      throw new ArgumentError("tensors", `tensor "${t.name}": ${type.name} [${t.dims.join(", ")}] needs ${bytes} bytes in whole blocks, data has ${t.data.byteLength}`);
    }
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(type.id);
    w.u64(offset);
    offset += Math.ceil(bytes / alignment) * alignment;
  }
  w.pad(alignment);
  // The data section starts aligned, so aligning absolute positions aligns the offsets too.
  tensors.forEach((t, i) => {
    w.bytes(t.data);
    if (i < tensors.length - 1) w.pad(alignment);
  });
  return w.result();
}

/** Write a GGUF file (see `encodeGguf`). */
export function writeGguf(path: string, options: GgufWriteOptions): void {
  const bytes = encodeGguf(options);
  const fd = openSync(path, "w");
  try {
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
  } finally {
    closeSync(fd);
  }
}

/** Metadata entry helpers for writers: `gguf.str("x")`, `gguf.u32(4)`, `gguf.strings([...])`. */
export const ggufValue = Object.freeze({
  str: (value: string): GgufEntry => ({ type: GgufType.STRING, value }),
  u32: (value: number): GgufEntry => ({ type: GgufType.UINT32, value }),
  i32: (value: number): GgufEntry => ({ type: GgufType.INT32, value }),
  u64: (value: number | bigint): GgufEntry => ({ type: GgufType.UINT64, value: BigInt(value) }),
  f32: (value: number): GgufEntry => ({ type: GgufType.FLOAT32, value }),
  bool: (value: boolean): GgufEntry => ({ type: GgufType.BOOL, value }),
  array: (itemType: GgufType, items: readonly GgufValue[]): GgufEntry => ({ type: GgufType.ARRAY, value: { itemType, items } }),
  strings: (items: readonly string[]): GgufEntry => ({ type: GgufType.ARRAY, value: { itemType: GgufType.STRING, items } }),
  f32s: (items: readonly number[]): GgufEntry => ({ type: GgufType.ARRAY, value: { itemType: GgufType.FLOAT32, items } }),
  i32s: (items: readonly number[]): GgufEntry => ({ type: GgufType.ARRAY, value: { itemType: GgufType.INT32, items } }),
});
