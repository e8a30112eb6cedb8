/** safetensors: the MLX-style writer, header validation, sharded directories, loading into device buffers. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DType } from "../../src/index.ts";
import { encodeFloats } from "../../src/io/floats.ts";
import {
  encodeSafetensorsHeader,
  INDEX_FILE,
  MAX_HEADER_BYTES,
  readSafetensorsHeader,
  SafetensorsArchive,
  writeModelSafetensors,
  writeSafetensors,
  type TensorData,
  type TensorStream,
} from "../../src/io/safetensors.ts";
import { fixture } from "../support/fixtures.ts";
import { expectFormatError } from "../models/support.ts";

const { device } = fixture();
const root = mkdtempSync(join(tmpdir(), "mlxn-safetensors-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const tmp = (name = "t.safetensors") => join(root, `${counter++}-${name}`);

const f32 = (values: number[], shape = [values.length]): TensorData => ({ dtype: "F32", shape, data: encodeFloats(values, DType.F32) });
const u8 = (values: number[]): TensorData => ({ dtype: "U8", shape: [values.length], data: Uint8Array.from(values) });

/** A file from a raw header (object or text) and data bytes, with an optional forged length. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: number): string {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const bytes = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerLength ?? json.byteLength), true);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.byteLength);
  const path = tmp();
  writeFileSync(path, bytes);
  return path;
}

describe("writer", () => {
  test("MLX layout: unpadded header, format metadata, data back to back in the given order", () => {
    const path = tmp();
    writeSafetensors(path, [
      ["b", u8([1, 2, 3])],
      ["a", f32([1.5, -2])],
    ]);
    const bytes = readFileSync(path);
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const json = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
    expect(json.__metadata__).toEqual({ format: "mlx" });
    expect(json.b).toEqual({ dtype: "U8", shape: [3], data_offsets: [0, 3] });
    expect(json.a).toEqual({ dtype: "F32", shape: [2], data_offsets: [3, 11] });
    expect(bytes.byteLength).toBe(8 + n + 11);
    // No padding: the header's last byte is its closing brace.
    expect(bytes[8 + n - 1]).toBe("}".charCodeAt(0));

    const header = readSafetensorsHeader(path);
    expect(header.metadata).toEqual({ format: "mlx" });
    expect([...header.tensors.keys()]).toEqual(["b", "a"]);
    // "a" starts at an odd file offset: the loader must not assume alignment.
    expect(header.tensors.get("a")!.offset % 4).not.toBe(0);
  });

  test("round trip through device buffers, including an unaligned tensor, a 0-d and an empty one", () => {
    const path = tmp();
    writeSafetensors(path, [
      ["odd", u8([7, 8, 9])],
      ["w", f32([1, 2, 3, 4, 5, 6], [2, 3])],
      ["scalar", f32([42], [])],
      ["empty", f32([], [0, 4])],
      ["h", { dtype: "F16", shape: [2], data: encodeFloats([0.5, -1], DType.F16) }],
    ]);
    const archive = SafetensorsArchive.open(path);
    const before = device.bytesInUse;
    const bufs = archive.load(device);
    expect([...bufs.keys()]).toEqual(["odd", "w", "scalar", "empty", "h"]);
    const w = bufs.get("w")!;
    expect(w.dtype).toBe(DType.F32);
    expect(w.shape).toEqual([2, 3]);
    expect([...w.view(Float32Array)]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...bufs.get("odd")!.view(Uint8Array)]).toEqual([7, 8, 9]);
    expect(bufs.get("scalar")!.shape).toEqual([]);
    expect(bufs.get("scalar")!.view(Float32Array)[0]).toBe(42);
    expect(bufs.get("empty")!.shape).toEqual([0, 4]);
    expect([...bufs.get("h")!.view(Uint16Array)]).toEqual([0x3800, 0xbc00]);
    expect([...archive.read("w")]).toEqual([...encodeFloats([1, 2, 3, 4, 5, 6], DType.F32)]);
    for (const b of bufs.values()) b.dispose();
    expect(device.bytesInUse).toBe(before);
  });

  test("bad tensors are argument errors", () => {
    expect(() => writeSafetensors(tmp(), [["x", { dtype: "F32", shape: [3], data: new Uint8Array(8) }]])).toThrow(/needs 12 bytes, data has 8/);
    expect(() => writeSafetensors(tmp(), [["x", { dtype: "F99" as never, shape: [1], data: new Uint8Array(4) }]])).toThrow(/unknown dtype/);
    expect(() => writeSafetensors(tmp(), [["__metadata__", f32([1])]])).toThrow(/invalid tensor name/);
    expect(() => encodeSafetensorsHeader([["x", f32([1])], ["x", f32([2])]])).toThrow(/duplicate tensor name "x"/);
    expect(() => writeModelSafetensors(join(root, "never"), [], { maxShardBytes: 0 })).toThrow(/maxShardBytes/);
  });

  test("streamed tensors: offsets from the shape in the header, bytes chunk by chunk, the same file as in memory", () => {
    const values = Array.from({ length: 10 }, (_, i) => i - 4.5);
    const bytes = encodeFloats(values, DType.F32);
    // One buffer refilled for every chunk: each is written before the next is made.
    const refilled = (): TensorStream => ({
      dtype: "F32",
      shape: [2, 5],
      *chunks() {
        const scratch = new Uint8Array(12);
        for (let at = 0; at < bytes.byteLength; at += 12) {
          const part = bytes.subarray(at, at + 12);
          scratch.set(part);
          yield scratch.subarray(0, part.byteLength);
        }
      },
    });
    const [streamed, inMemory] = [tmp(), tmp()];
    writeSafetensors(streamed, [["odd", u8([1, 2, 3])], ["w", refilled()]]);
    writeSafetensors(inMemory, [["odd", u8([1, 2, 3])], ["w", { dtype: "F32", shape: [2, 5], data: bytes }]]);
    expect(readFileSync(streamed)).toEqual(readFileSync(inMemory));
    expect(readSafetensorsHeader(streamed).tensors.get("w")!.byteLength).toBe(40);
  });

  test("a stream that yields fewer or more bytes than its shape needs is an argument error", () => {
    const stream = (n: number): TensorStream => ({ dtype: "U32", shape: [4], *chunks() { yield new Uint8Array(n); } });
    expect(() => writeSafetensors(tmp(), [["x", stream(12)]])).toThrow(/tensor "x": its chunks ended after 12 of the 16 bytes/);
    expect(() => writeSafetensors(tmp(), [["x", stream(20)]])).toThrow(/tensor "x": its chunks run past the 16 bytes/);
    expect(() => writeSafetensors(tmp(), [["x", { dtype: "F4", shape: [3], *chunks() {} }]])).toThrow(/not a whole number of bytes/);
  });
});

describe("malformed files: a FormatError naming the file and the tensor, nothing allocated", () => {
  test("shorter than the length prefix", () => {
    const path = tmp();
    writeFileSync(path, new Uint8Array(5));
    expectFormatError(() => readSafetensorsHeader(path), path, /5 bytes, too short/);
  });

  test("header length beyond the file, and beyond the 100 MB bound", () => {
    expectFormatError(() => readSafetensorsHeader(rawFile({}, undefined, 1000)), /header length 1000 runs past the end of the \d+-byte file/);
    expectFormatError(() => readSafetensorsHeader(rawFile({}, undefined, MAX_HEADER_BYTES + 1)), /exceeds the 100000000-byte limit/);
  });

  test("truncated file: a tensor's range runs past the data section", () => {
    const good = tmp();
    writeSafetensors(good, [["a", f32([1, 2])], ["b", f32([3, 4, 5])]]);
    const bytes = readFileSync(good);
    const cut = tmp();
    writeFileSync(cut, bytes.subarray(0, bytes.byteLength - 4));
    const e = expectFormatError(() => SafetensorsArchive.open(cut), cut, /data_offsets \[8, 20\) run past the end of the 16-byte data section/);
    expect(e.tensor).toBe("b");
  });

  test("not JSON, not UTF-8, not an object", () => {
    expectFormatError(() => readSafetensorsHeader(rawFile("{not json")), /header is not valid JSON/);
    const bad = tmp();
    const bytes = new Uint8Array(8 + 2);
    bytes[0] = 2;
    bytes.set([0xc3, 0x28], 8);
    writeFileSync(bad, bytes);
    expectFormatError(() => readSafetensorsHeader(bad), /not valid UTF-8/);
    expectFormatError(() => readSafetensorsHeader(rawFile("[1, 2]")), /must be a JSON object/);
  });

  test("unknown dtype lists the known ones", () => {
    const e = expectFormatError(() => readSafetensorsHeader(rawFile({ x: { dtype: "Q4_K", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1))), /unknown dtype "Q4_K" \(known: BOOL, U8/);
    expect(e.tensor).toBe("x");
  });

  test("shape x dtype size must equal the byte range", () => {
    const e = expectFormatError(() => readSafetensorsHeader(rawFile({ x: { dtype: "F32", shape: [2, 2], data_offsets: [0, 12] } }, new Uint8Array(12))), /shape \[2, 2\] of F32 needs 16 bytes but data_offsets \[0, 12\) hold 12/);
    expect(e.tensor).toBe("x");
    expectFormatError(() => readSafetensorsHeader(rawFile({ x: { dtype: "F4", shape: [3], data_offsets: [0, 2] } }, new Uint8Array(2))), /not a whole number of bytes/);
  });

  test("overlapping ranges", () => {
    const header = {
      a: { dtype: "U8", shape: [4], data_offsets: [0, 4] },
      b: { dtype: "U8", shape: [4], data_offsets: [2, 6] },
    };
    const e = expectFormatError(() => readSafetensorsHeader(rawFile(header, new Uint8Array(6))), /data range \[2, 6\) overlaps "a" \[0, 4\)/);
    expect(e.tensor).toBe("b");
  });

  test("bad shapes, offsets and metadata", () => {
    const file = (entry: unknown) => rawFile({ x: entry }, new Uint8Array(4));
    expectFormatError(() => readSafetensorsHeader(file({ dtype: "U8", shape: [-1], data_offsets: [0, 4] })), /shape must be an array of non-negative integers/);
    expectFormatError(() => readSafetensorsHeader(file({ dtype: "U8", shape: [4], data_offsets: [4, 0] })), /data_offsets must be \[begin, end\]/);
    expectFormatError(() => readSafetensorsHeader(file({ dtype: "U8", shape: [4] })), /data_offsets must be/);
    expectFormatError(() => readSafetensorsHeader(file("U8")), /entry must be an object/);
    expectFormatError(() => readSafetensorsHeader(rawFile({ __metadata__: { format: 1 } })), /__metadata__ must map strings to strings/);
  });

  test("a dtype the device cannot hold fails before anything is allocated", () => {
    const path = tmp();
    writeSafetensors(path, [["ok", f32([1, 2])], ["wide", { dtype: "F64", shape: [1], data: new Uint8Array(8) }]]);
    const archive = SafetensorsArchive.open(path);
    const before = device.bytesInUse;
    const e = expectFormatError(() => archive.load(device), /dtype F64 cannot be loaded into a device buffer/);
    expect(e.tensor).toBe("wide");
    expect(device.bytesInUse).toBe(before);
  });

  test("missing files and tensors", () => {
    expectFormatError(() => SafetensorsArchive.open(join(root, "nope")), /no such file or directory/);
    const path = tmp();
    writeSafetensors(path, [["a", f32([1])]]);
    const e = expectFormatError(() => SafetensorsArchive.open(path).require("b"), /missing/);
    expect(e.tensor).toBe("b");
  });
});

describe("model directories", () => {
  const tensors: [string, TensorData][] = [
    ["model.a", f32([1, 2, 3, 4])],
    ["model.b", f32([5, 6, 7, 8])],
    ["model.c", u8([9, 10, 11])],
  ];

  test("sharded like mlx-lm: numbered shards and a sorted index", () => {
    const dir = join(root, `sharded-${counter++}`);
    const files = writeModelSafetensors(dir, tensors, { maxShardBytes: 20, totalParameters: 11 });
    expect(files).toEqual(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", INDEX_FILE]);
    const index = JSON.parse(readFileSync(join(dir, INDEX_FILE), "utf8"));
    expect(index.metadata).toEqual({ total_size: 35, total_parameters: 11 });
    expect(index.weight_map).toEqual({ "model.a": files[0], "model.b": files[1], "model.c": files[1] });
    const archive = SafetensorsArchive.open(dir);
    expect(archive.files.length).toBe(2);
    expect(archive.names.sort()).toEqual(["model.a", "model.b", "model.c"]);
    expect(archive.byteLength).toBe(35);
    const bufs = archive.load(device, ["model.c", "model.b"], { progress: false });
    expect([...bufs.get("model.c")!.view(Uint8Array)]).toEqual([9, 10, 11]);
    expect([...bufs.get("model.b")!.view(Float32Array)]).toEqual([5, 6, 7, 8]);
    for (const b of bufs.values()) b.dispose();
  });

  test("loading reports progress in bytes to the bar", () => {
    const dir = join(root, `progress-${counter++}`);
    writeModelSafetensors(dir, tensors, { maxShardBytes: 20 });
    const out: string[] = [];
    const bufs = SafetensorsArchive.open(dir).load(device, undefined, {
      label: "weights",
      progress: { enabled: true, delayMs: 0, now: () => 0, stream: { write: (t) => out.push(t) } },
    });
    expect(out[0]).toMatch(/^\rweights \[#+-*\] +\d+% 0\.0 kB \/ 0\.0 kB$/);
    expect(out.slice(-2)).toEqual([`\rweights [${"#".repeat(30)}] 100% 0.0 kB / 0.0 kB`, "\n"]);
    for (const b of bufs.values()) b.dispose();
  });

  test("one shard is model.safetensors; without an index every model*.safetensors is read", () => {
    const dir = join(root, `single-${counter++}`);
    expect(writeModelSafetensors(dir, tensors)).toEqual(["model.safetensors", INDEX_FILE]);
    rmSync(join(dir, INDEX_FILE));
    writeSafetensors(join(dir, "model-extra.safetensors"), [["model.d", u8([1])]]);
    writeSafetensors(join(dir, "other.safetensors"), [["ignored", u8([1])]]);
    expect(SafetensorsArchive.open(dir).names.sort()).toEqual(["model.a", "model.b", "model.c", "model.d"]);
  });

  test("index problems: missing shard, tensor not in its shard, bad file names, bad JSON", () => {
    const dir = join(root, `badindex-${counter++}`);
    writeModelSafetensors(dir, tensors, { maxShardBytes: 20 });
    const indexPath = join(dir, INDEX_FILE);
    const index = JSON.parse(readFileSync(indexPath, "utf8"));
    const writeIndex = (weightMap: Record<string, string>) => writeFileSync(indexPath, JSON.stringify({ ...index, weight_map: weightMap }));

    writeIndex({ ...index.weight_map, "model.a": "model-00009-of-00009.safetensors" });
    expect(expectFormatError(() => SafetensorsArchive.open(dir), indexPath, /names shard "model-00009-of-00009.safetensors", which does not exist/).tensor).toBe("model.a");
    writeIndex({ ...index.weight_map, "model.a": index.weight_map["model.b"] });
    expectFormatError(() => SafetensorsArchive.open(dir), /which does not contain it/);
    writeIndex({ ...index.weight_map, "model.a": "../model-00001-of-00002.safetensors" });
    expectFormatError(() => SafetensorsArchive.open(dir), /must be a file name in the model directory/);
    writeFileSync(indexPath, "{");
    expectFormatError(() => SafetensorsArchive.open(dir), /is not valid JSON/);
    writeFileSync(indexPath, JSON.stringify({ weight_map: [] }));
    expectFormatError(() => SafetensorsArchive.open(dir), /weight_map must be an object/);
  });

  test("a tensor in two shards, and a directory without weights", () => {
    const dir = join(root, `dup-${counter++}`);
    mkdirSync(dir);
    writeSafetensors(join(dir, "model-1.safetensors"), [["x", u8([1])]]);
    writeSafetensors(join(dir, "model-2.safetensors"), [["x", u8([2])]]);
    expect(expectFormatError(() => SafetensorsArchive.open(dir), /also present in/).tensor).toBe("x");
    const empty = join(root, `empty-${counter++}`);
    mkdirSync(empty);
    expectFormatError(() => SafetensorsArchive.open(empty), /no model\*\.safetensors files/);
  });
});
