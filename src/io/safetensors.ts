/**
 * safetensors: reading (header validation, sharded model directories, tensors copied into device
 * buffers) and writing in the layout MLX produces.
 *
 * File layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each tensor
 * name to `{dtype, shape, data_offsets: [begin, end)}` (offsets relative to the data section at
 * byte 8 + N), an optional `__metadata__` string map, then the data. MLX's writer does not pad
 * the header, so tensor data is not aligned in the file: each tensor is read into its own device
 * buffer rather than mapped.
 *
 * Every header is validated before any device memory is allocated: the length is bounded, the
 * JSON parses, dtypes are known, shape x dtype size equals the byte range, and ranges lie inside
 * the file without overlapping. Problems are `FormatError`s naming the file and the tensor.
 *
 * @example
 * const archive = SafetensorsArchive.open("path/to/model");   // a directory or one file
 * const buffers = archive.load(device);                       // Map<name, Buffer>
 */
import type { FileHandle } from "node:fs/promises";
import { closeSync, fstatSync, readdirSync, readSync, writeSync } from "node:fs";
import { fileError, isDirectory, isRegularFile, makeDirectory, openForWrite, openRegularFile, openRegularFileAsync, pathExists, readTextFile, writeTextFile } from "./files.ts";
import { basename, join } from "node:path";
import type { Buffer } from "../buffer.ts";
import type { Device } from "../device.ts";
import { DType } from "../dtype.ts";
import { ArgumentError, FormatError } from "../errors.ts";
import { ProgressBar, type ProgressOptions } from "./progress.ts";

/** Bits per element of every dtype the safetensors format defines. */
export const SAFETENSORS_DTYPE_BITS = Object.freeze({
  BOOL: 8,
  U8: 8,
  I8: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  F64: 64,
  I64: 64,
  U64: 64,
  C64: 64,
  F8_E4M3: 8,
  F8_E5M2: 8,
  F8_E8M0: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
});

export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPE_BITS;

/** Largest header accepted, as in the reference reader. */
export const MAX_HEADER_BYTES = 100_000_000;
/** Index file of a sharded model directory. */
export const INDEX_FILE = "model.safetensors.index.json";

const DEVICE_DTYPES: Partial<Record<SafetensorsDType, DType>> = {
  F32: DType.F32,
  F16: DType.F16,
  BF16: DType.BF16,
  U8: DType.U8,
  U16: DType.U16,
  U32: DType.U32,
  I32: DType.I32,
};

/** The device dtype a safetensors dtype loads as, or undefined when the device has none. */
export function deviceDType(dtype: SafetensorsDType): DType | undefined {
  return DEVICE_DTYPES[dtype];
}

/** The safetensors name of a device dtype. */
export function safetensorsDType(dtype: DType): SafetensorsDType {
  const name = dtype.name.toUpperCase() as SafetensorsDType;
  if (DEVICE_DTYPES[name] !== dtype) throw new ArgumentError("dtype", `has no safetensors name (got ${String(dtype)})`);
  return name;
}

function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === "string" && Object.hasOwn(SAFETENSORS_DTYPE_BITS, s);
}

/** One tensor of a file: where its bytes are and what they hold. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** The file holding the data. */
  readonly file: string;
  /** Absolute byte offset of the data in `file`. */
  readonly offset: number;
  readonly byteLength: number;
}

/** A validated header. */
export interface SafetensorsHeader {
  readonly path: string;
  readonly fileSize: number;
  /** Length of the JSON header (N). */
  readonly headerLength: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors in the order the header lists them. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function shapeText(shape: readonly unknown[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * Validate the JSON header of a file whose data section is `dataLength` bytes long.
 * `path` is only used in error messages.
 */
export function parseSafetensorsHeader(json: Uint8Array, dataLength: number, path: string): Pick<SafetensorsHeader, "metadata" | "tensors"> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    throw new FormatError(path, "header is not valid UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new FormatError(path, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(parsed)) throw new FormatError(path, "header must be a JSON object");

  let metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  const dataStart = 8 + json.byteLength;
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === "__metadata__") {
      if (!isPlainObject(entry) || Object.values(entry).some((v) => typeof v !== "string")) {
        throw new FormatError(path, "__metadata__ must map strings to strings");
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    tensors.set(name, parseEntry(name, entry, dataStart, dataLength, path));
  }
  checkOverlaps([...tensors.values()], dataStart, path);
  return { metadata: Object.freeze(metadata), tensors };
}

function parseEntry(name: string, entry: unknown, dataStart: number, dataLength: number, path: string): TensorInfo {
  if (!isPlainObject(entry)) throw new FormatError(path, "entry must be an object with dtype, shape and data_offsets", name);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (!isSafetensorsDType(dtype)) {
    throw new FormatError(path, `unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(SAFETENSORS_DTYPE_BITS).join(", ")})`, name);
  }
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new FormatError(path, `shape must be an array of non-negative integers (got ${JSON.stringify(shape)})`, name);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0) || offsets[0] > offsets[1]) {
    throw new FormatError(path, `data_offsets must be [begin, end] with 0 <= begin <= end (got ${JSON.stringify(offsets)})`, name);
  }
  const [begin, end] = offsets as [number, number];
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  const bits = elements * SAFETENSORS_DTYPE_BITS[dtype];
  if (!Number.isSafeInteger(bits) || bits % 8 !== 0) {
    throw new FormatError(path, `shape ${shapeText(shape)} of ${dtype} is not a whole number of bytes`, name);
  }
  if (bits / 8 !== end - begin) {
    throw new FormatError(path, `shape ${shapeText(shape)} of ${dtype} needs ${bits / 8} bytes but data_offsets [${begin}, ${end}) hold ${end - begin}`, name);
  }
  if (end > dataLength) {
    throw new FormatError(path, `data_offsets [${begin}, ${end}) run past the end of the ${dataLength}-byte data section (truncated file?)`, name);
  }
  return Object.freeze({ name, dtype, shape: Object.freeze([...(shape as number[])]), file: path, offset: dataStart + begin, byteLength: end - begin });
}

function checkOverlaps(tensors: TensorInfo[], dataStart: number, path: string): void {
  const sorted = tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.offset < prev.offset + prev.byteLength) {
      const range = (t: TensorInfo) => `[${t.offset - dataStart}, ${t.offset - dataStart + t.byteLength})`;
      throw new FormatError(path, `data range ${range(cur)} overlaps "${prev.name}" ${range(prev)}`, cur.name);
    }
  }
}

/** Read exactly `target.byteLength` bytes at `position`, in chunks that bound each read call. */
function readExact(fd: number, target: Uint8Array, position: number, path: string, onRead?: (bytes: number) => void): void {
  const CHUNK = 64 << 20;
  let done = 0;
  while (done < target.byteLength) {
    let n: number;
    try {
      n = readSync(fd, target, done, Math.min(CHUNK, target.byteLength - done), position + done);
    } catch (e) {
      throw fileError(path, e, "read");
    }
    if (n <= 0) throw new FormatError(path, `file ended at byte ${position + done}, expected ${target.byteLength - done} more bytes (truncated or changed while reading?)`);
    done += n;
    onRead?.(n);
  }
}

function withFile<T>(path: string, fn: (fd: number) => T): T {
  const fd = openRegularFile(path);
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Read and validate the header of one safetensors file (the data is not read).
 *
 * @example
 * const h = readSafetensorsHeader("model.safetensors");
 * for (const t of h.tensors.values()) console.log(t.name, t.dtype, t.shape);
 */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  return withFile(path, (fd) => {
    const fileSize = fstatSync(fd).size;
    if (fileSize < 8) throw new FormatError(path, `file is ${fileSize} bytes, too short for the 8-byte header length`);
    const lengthBytes = new Uint8Array(8);
    readExact(fd, lengthBytes, 0, path);
    const n = new DataView(lengthBytes.buffer).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_BYTES)) throw new FormatError(path, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    const headerLength = Number(n);
    if (8 + headerLength > fileSize) {
      throw new FormatError(path, `header length ${headerLength} runs past the end of the ${fileSize}-byte file`);
    }
    const json = new Uint8Array(headerLength);
    readExact(fd, json, 8, path);
    const { metadata, tensors } = parseSafetensorsHeader(json, fileSize - 8 - headerLength, path);
    return { path, fileSize, headerLength, metadata, tensors };
  });
}

/** Options of `SafetensorsArchive.load`. */
export interface LoadOptions {
  /** Progress bar options; `false` never draws. Default: draw on a terminal for loads over a second. */
  progress?: ProgressOptions | false;
  /** Label of the progress bar. */
  label?: string;
}

/**
 * The tensors of one safetensors file or of a model directory (sharded through
 * `model.safetensors.index.json`, or every `model*.safetensors` file as mlx-lm loads them).
 * Opening reads and validates headers only.
 *
 * @example
 * const archive = SafetensorsArchive.open(modelDir);
 * const info = archive.require("model.norm.weight");
 * using norm = archive.loadTensor(device, info.name);
 */
export class SafetensorsArchive {
  /** The directory or file this archive was opened from. */
  readonly source: string;
  readonly files: readonly SafetensorsHeader[];
  readonly #tensors: Map<string, TensorInfo>;

  private constructor(source: string, files: SafetensorsHeader[], tensors: Map<string, TensorInfo>) {
    this.source = source;
    this.files = Object.freeze(files);
    this.#tensors = tensors;
  }

  /** Open a safetensors file, or a model directory. */
  static open(path: string): SafetensorsArchive {
    if (typeof path !== "string" || path === "") throw new ArgumentError("path", `must be a non-empty string (got ${JSON.stringify(path)})`);
    if (!pathExists(path)) throw fileError(path, { code: "ENOENT" }, "open");
    if (!isDirectory(path)) return SafetensorsArchive.#fromFiles(path, [readSafetensorsHeader(path)]);
    const indexPath = join(path, INDEX_FILE);
    if (pathExists(indexPath)) return SafetensorsArchive.#fromIndex(path, indexPath);
    let entries: string[];
    try {
      entries = readdirSync(path);
    } catch (e) {
      throw fileError(path, e, "list the directory");
    }
    const names = entries
      .filter((f) => f.startsWith("model") && f.endsWith(".safetensors"))
      .sort();
    if (names.length === 0) throw new FormatError(path, `no model*.safetensors files and no ${INDEX_FILE}`);
    return SafetensorsArchive.#fromFiles(path, names.map((f) => readSafetensorsHeader(join(path, f))));
  }

  static #fromIndex(dir: string, indexPath: string): SafetensorsArchive {
    let index: unknown;
    try {
      index = JSON.parse(readTextFile(indexPath));
    } catch (e) {
      if (e instanceof FormatError) throw e;
      throw new FormatError(indexPath, `is not valid JSON (${(e as Error).message})`);
    }
    const weightMap = isPlainObject(index) ? index.weight_map : undefined;
    if (!isPlainObject(weightMap)) throw new FormatError(indexPath, "weight_map must be an object mapping tensor names to file names");
    const shards = new Map<string, SafetensorsHeader>();
    for (const [name, file] of Object.entries(weightMap)) {
      if (typeof file !== "string" || file === "" || basename(file) !== file || file === "." || file === "..") {
        throw new FormatError(indexPath, `weight_map entry must be a file name in the model directory (got ${JSON.stringify(file)})`, name);
      }
      if (!shards.has(file)) {
        if (!isRegularFile(join(dir, file))) {
          throw new FormatError(indexPath, `names shard "${file}", which ${pathExists(join(dir, file)) ? "is not a regular file" : "does not exist"}`, name);
        }
        shards.set(file, readSafetensorsHeader(join(dir, file)));
      }
      if (!shards.get(file)!.tensors.has(name)) throw new FormatError(indexPath, `weight_map places it in "${file}", which does not contain it`, name);
    }
    if (shards.size === 0) throw new FormatError(indexPath, "weight_map is empty");
    return SafetensorsArchive.#fromFiles(dir, [...shards.values()]);
  }

  static #fromFiles(source: string, files: SafetensorsHeader[]): SafetensorsArchive {
    const tensors = new Map<string, TensorInfo>();
    for (const file of files) {
      for (const [name, info] of file.tensors) {
        const other = tensors.get(name);
        if (other) throw new FormatError(file.path, `also present in ${other.file}`, name);
        tensors.set(name, info);
      }
    }
    return new SafetensorsArchive(source, files, tensors);
  }

  /** Tensor names, in file order. */
  get names(): string[] {
    return [...this.#tensors.keys()];
  }

  /** Bytes of tensor data over all files. */
  get byteLength(): number {
    let n = 0;
    for (const t of this.#tensors.values()) n += t.byteLength;
    return n;
  }

  has(name: string): boolean {
    return this.#tensors.has(name);
  }

  /** The tensor's description, or undefined. */
  info(name: string): TensorInfo | undefined {
    return this.#tensors.get(name);
  }

  /** The tensor's description; a `FormatError` naming it when it is missing. */
  require(name: string): TensorInfo {
    const info = this.#tensors.get(name);
    if (!info) throw new FormatError(this.source, "missing", name);
    return info;
  }

  /** A host copy of the tensor's bytes. */
  read(name: string): Uint8Array<ArrayBuffer> {
    const info = this.require(name);
    const out = new Uint8Array(info.byteLength);
    withFile(info.file, (fd) => readExact(fd, out, info.offset, info.file));
    return out;
  }

  /** One tensor copied into a new device buffer of its dtype and shape. */
  loadTensor(device: Device, name: string): Buffer {
    return this.load(device, [name], { progress: false }).get(name)!;
  }

  /**
   * Copy tensors (default: all) into device buffers, one buffer each. Every dtype is checked
   * before anything is allocated; on failure, buffers allocated so far are released.
   */
  load(device: Device, names: readonly string[] = this.names, options: LoadOptions = {}): Map<string, Buffer> {
    const infos = names.map((n) => this.require(n));
    const dtypes = infos.map((info) => {
      const dtype = deviceDType(info.dtype);
      if (!dtype) throw new FormatError(info.file, `dtype ${info.dtype} cannot be loaded into a device buffer (supported: ${Object.keys(DEVICE_DTYPES).join(", ")})`, info.name);
      return dtype;
    });
    const total = infos.reduce((a, t) => a + t.byteLength, 0);
    const bar = options.progress === false ? undefined : new ProgressBar(options.label ?? "loading weights", total, options.progress);
    const out = new Map<string, Buffer>();
    const fds = new Map<string, number>();
    try {
      infos.forEach((info, i) => {
        const dtype = dtypes[i]!;
        // Empty tensors still get a (minimal) buffer, so every name maps to one.
        const buf = device.allocBuffer(Math.max(info.byteLength, dtype.size), dtype, info.shape);
        out.set(info.name, buf);
        let fd = fds.get(info.file);
        if (fd === undefined) {
          fd = openRegularFile(info.file);
          fds.set(info.file, fd);
        }
        readExact(fd, buf.view(Uint8Array).subarray(0, info.byteLength), info.offset, info.file, bar && ((n) => bar.advance(n)));
      });
    } catch (e) {
      for (const buf of out.values()) buf.dispose();
      throw e;
    } finally {
      for (const fd of fds.values()) closeSync(fd);
      bar?.finish();
    }
    return out;
  }

  /**
   * `load`, reading through the asynchronous file API: the JS thread stays free while the bytes
   * arrive (reads run on Bun's I/O threads, 16 MiB at a time), so timers and requests keep being
   * served during a long load.
   *
   * @example
   * const buffers = await archive.loadAsync(device);
   */
  async loadAsync(device: Device, names: readonly string[] = this.names, options: LoadOptions = {}): Promise<Map<string, Buffer>> {
    const infos = names.map((n) => this.require(n));
    const dtypes = infos.map((info) => {
      const dtype = deviceDType(info.dtype);
      if (!dtype) throw new FormatError(info.file, `dtype ${info.dtype} cannot be loaded into a device buffer (supported: ${Object.keys(DEVICE_DTYPES).join(", ")})`, info.name);
      return dtype;
    });
    const total = infos.reduce((a, t) => a + t.byteLength, 0);
    const bar = options.progress === false ? undefined : new ProgressBar(options.label ?? "loading weights", total, options.progress);
    const out = new Map<string, Buffer>();
    const files = new Map<string, FileHandle>();
    const CHUNK = 16 << 20;
    try {
      for (const [i, info] of infos.entries()) {
        const dtype = dtypes[i]!;
        const buf = device.allocBuffer(Math.max(info.byteLength, dtype.size), dtype, info.shape);
        out.set(info.name, buf);
        let file = files.get(info.file);
        if (file === undefined) {
          file = await openRegularFileAsync(info.file);
          files.set(info.file, file);
        }
        const target = buf.view(Uint8Array).subarray(0, info.byteLength);
        for (let done = 0; done < target.byteLength; ) {
          const { bytesRead } = await file.read(target, done, Math.min(CHUNK, target.byteLength - done), info.offset + done);
          if (bytesRead <= 0) throw new FormatError(info.file, `file ended at byte ${info.offset + done}, expected ${target.byteLength - done} more bytes (truncated or changed while reading?)`);
          done += bytesRead;
          bar?.advance(bytesRead);
        }
      }
    } catch (e) {
      for (const buf of out.values()) buf.dispose();
      throw e;
    } finally {
      for (const f of files.values()) await f.close();
      bar?.finish();
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Bytes of one tensor to write. */
export interface TensorData {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Little-endian, row-major: exactly shape x dtype size bytes. */
  readonly data: Uint8Array;
}

/**
 * A tensor whose bytes are made while it is written, chunk by chunk, so that a file larger than
 * memory can be written: its byte length comes from the shape, which is all the header needs.
 *
 * @example
 * const zeros: TensorStream = { dtype: "U32", shape: [1 << 28], *chunks() { for (let i = 0; i < 16; i++) yield new Uint8Array(1 << 26); } };
 */
export interface TensorStream {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /**
   * Exactly shape x dtype size bytes, in order. Each chunk is written before the next is asked
   * for, so a generator may refill one buffer.
   */
  chunks(): Iterable<Uint8Array>;
}

/** Tensors to write, in data order. */
export type TensorEntries = Iterable<readonly [string, TensorData | TensorStream]>;

function isStream(t: TensorData | TensorStream): t is TensorStream {
  return typeof (t as Partial<TensorStream>).chunks === "function";
}

/** Bytes of a tensor's data: the data's length, or what the shape needs for a stream. */
function tensorBytes(name: string, t: TensorData | TensorStream): number {
  if (name === "" || name === "__metadata__") throw new ArgumentError("tensors", `invalid tensor name ${JSON.stringify(name)}`);
  if (!isSafetensorsDType(t.dtype)) throw new ArgumentError("tensors", `tensor "${name}": unknown dtype ${JSON.stringify(t.dtype)}`);
  if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new ArgumentError("tensors", `tensor "${name}": shape must be non-negative integers (got ${JSON.stringify(t.shape)})`);
  }
  const bits = t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BITS[t.dtype];
  if (!Number.isSafeInteger(bits) || bits % 8 !== 0) throw new ArgumentError("tensors", `tensor "${name}": shape ${shapeText(t.shape)} of ${t.dtype} is not a whole number of bytes`);
  if (!isStream(t) && bits !== t.data.byteLength * 8) {
    throw new ArgumentError("tensors", `tensor "${name}": shape ${shapeText(t.shape)} of ${t.dtype} needs ${bits / 8} bytes, data has ${t.data.byteLength}`);
  }
  return bits / 8;
}

/**
 * The header bytes (length prefix + JSON) for `tensors` laid out back to back in the given
 * order, unpadded as MLX writes it.
 */
export function encodeSafetensorsHeader(tensors: readonly (readonly [string, TensorData | TensorStream])[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = tensorBytes(name, t);
    if (Object.hasOwn(header, name)) throw new ArgumentError("tensors", `duplicate tensor name "${name}"`);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

/**
 * Write one safetensors file as MLX does: unpadded header, `{"format": "mlx"}` metadata by
 * default, tensor data back to back in the given order. The header goes first, with every
 * offset computed from the shapes, so a `TensorStream`'s bytes are made only as they are written.
 *
 * @example
 * writeSafetensors("w.safetensors", [["w", { dtype: "F32", shape: [2], data: new Uint8Array(8) }]]);
 */
export function writeSafetensors(path: string, tensors: TensorEntries, metadata: Record<string, string> = { format: "mlx" }): void {
  const list = [...tensors];
  const header = encodeSafetensorsHeader(list, metadata);
  const fd = openForWrite(path);
  try {
    writeAll(fd, header);
    for (const [name, t] of list) {
      if (!isStream(t)) {
        writeAll(fd, t.data);
        continue;
      }
      const expected = tensorBytes(name, t);
      let written = 0;
      for (const chunk of t.chunks()) {
        if (written + chunk.byteLength > expected) {
          throw new ArgumentError("tensors", `tensor "${name}": its chunks run past the ${expected} bytes its shape needs`);
        }
        writeAll(fd, chunk);
        written += chunk.byteLength;
      }
      if (written !== expected) throw new ArgumentError("tensors", `tensor "${name}": its chunks ended after ${written} of the ${expected} bytes its shape needs`);
    }
  } catch (e) {
    if (e instanceof ArgumentError) throw e;
    throw fileError(path, e, "write");
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}

/** Options of `writeModelSafetensors`. */
export interface ShardOptions {
  /** Largest shard in bytes of tensor data; a tensor larger than this gets a shard of its own. Default 5 GB (mlx-lm's). */
  maxShardBytes?: number;
  /** Per-file metadata. Default `{"format": "mlx"}`. */
  metadata?: Record<string, string>;
  /** Written as `metadata.total_parameters` in the index when given. */
  totalParameters?: number;
}

/**
 * Write a model's tensors into `dir` the way mlx-lm saves a model: `model.safetensors`, or
 * `model-0000i-of-0000N.safetensors` shards when they exceed `maxShardBytes`, plus
 * `model.safetensors.index.json` (`metadata.total_size` and a name-sorted `weight_map`).
 * Returns the file names written.
 */
export function writeModelSafetensors(dir: string, tensors: TensorEntries, options: ShardOptions = {}): string[] {
  const maxShardBytes = options.maxShardBytes ?? 5e9;
  if (!(maxShardBytes > 0)) throw new ArgumentError("maxShardBytes", `must be positive (got ${maxShardBytes})`);
  const shards: (readonly [string, TensorData | TensorStream])[][] = [[]];
  let shardBytes = 0;
  let totalSize = 0;
  for (const entry of tensors) {
    const size = tensorBytes(entry[0], entry[1]);
    if (shards.at(-1)!.length > 0 && shardBytes + size > maxShardBytes) {
      shards.push([]);
      shardBytes = 0;
    }
    shards.at(-1)!.push(entry);
    shardBytes += size;
    totalSize += size;
  }
  makeDirectory(dir);
  const count = shards.length;
  const pad = (i: number) => String(i).padStart(5, "0");
  const files = shards.map((_, i) => (count === 1 ? "model.safetensors" : `model-${pad(i + 1)}-of-${pad(count)}.safetensors`));
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    writeSafetensors(join(dir, files[i]!), shard, options.metadata);
    for (const [name] of shard) weightMap[name] = files[i]!;
  });
  const sortedMap = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]!]));
  const metadata: Record<string, number> = { total_size: totalSize };
  if (options.totalParameters !== undefined) metadata.total_parameters = options.totalParameters;
  writeTextFile(join(dir, INDEX_FILE), JSON.stringify({ metadata, weight_map: sortedMap }, null, 4));
  return [...files, INDEX_FILE];
}
