/** GGUF: the writer and the reader round trip every value type; malformed files get typed errors. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { DType, FormatError } from "../../src/index.ts";
import { encodeGguf, GGUF_LIMITS, GGUF_MAGIC, GgufFile, GgufType, ggufValue, writeGguf, type GgufTensorData } from "../../src/io/gguf.ts";
import { GGML_TYPES, type GgmlTypeName } from "../../src/ggml_types.ts";
import { fixture } from "../support/fixtures.ts";
import { expectFormatError } from "../models/support.ts";
import { dequantizeRows, quantizeRows } from "../support/ggml_quants.ts";

const { device } = fixture();
const root = mkdtempSync(join(tmpdir(), "mlxn-gguf-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const tmp = (name = "t.gguf") => join(root, `${counter++}-${name}`);

function fileOf(bytes: Uint8Array): string {
  const path = tmp();
  writeFileSync(path, bytes);
  return path;
}

/** Raw little-endian header bytes, for files the writer would never produce. */
class Raw {
  parts: number[] = [];
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: number | bigint): this {
    const b = BigInt(v);
    for (let i = 0n; i < 8n; i++) this.parts.push(Number((b >> (8n * i)) & 0xffn));
    return this;
  }
  str(s: string, length?: number): this {
    const b = new TextEncoder().encode(s);
    this.u64(length ?? b.byteLength);
    this.parts.push(...b);
    return this;
  }
  header(tensors: number | bigint, kvs: number | bigint, version = 3): this {
    return this.u32(GGUF_MAGIC).u32(version).u64(tensors).u64(kvs);
  }
  pad(n: number): this {
    this.parts.push(...new Array(n).fill(0));
    return this;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

const f32Tensor = (name: string, values: number[], dims = [values.length]): GgufTensorData => ({ name, type: "F32", dims, data: new Uint8Array(Float32Array.from(values).buffer) });

describe("round trip", () => {
  test("every metadata value type, nested arrays, v2 and v3", () => {
    for (const version of [2, 3] as const) {
      const metadata = [
        ["u8", { type: GgufType.UINT8, value: 200 }],
        ["i8", { type: GgufType.INT8, value: -100 }],
        ["u16", { type: GgufType.UINT16, value: 60000 }],
        ["i16", { type: GgufType.INT16, value: -30000 }],
        ["u32", ggufValue.u32(4_000_000_000)],
        ["i32", ggufValue.i32(-2_000_000_000)],
        ["f32", ggufValue.f32(1.5)],
        ["bool", ggufValue.bool(true)],
        ["str", ggufValue.str("héllo")],
        ["u64", ggufValue.u64(2n ** 63n + 5n)],
        ["i64", { type: GgufType.INT64, value: -(2n ** 62n) }],
        ["f64", { type: GgufType.FLOAT64, value: Math.PI }],
        ["arr", ggufValue.strings(["a", "", "c"])],
        ["nested", ggufValue.array(GgufType.ARRAY, [{ itemType: GgufType.INT32, items: [1, 2] }, { itemType: GgufType.INT32, items: [] }])],
      ] as const;
      const path = tmp();
      writeGguf(path, { version, metadata, tensors: [f32Tensor("w", [1, 2, 3, 4, 5, 6], [3, 2])] });
      const g = GgufFile.open(path);
      expect(g.version).toBe(version);
      for (const [key, entry] of metadata) {
        expect(g.metadata.get(key)?.type).toBe(entry.type);
        expect(g.get(key)).toEqual(entry.value);
      }
      expect(g.uint("u32")).toBe(4_000_000_000);
      expect(g.float("f32")).toBe(1.5);
      expect(() => g.uint("u64")).toThrow(FormatError); // beyond 2^53
      expect(() => g.string("u8")).toThrow(/metadata "u8" must be a string \(got UINT8 200\)/);
      const w = g.require("w");
      expect(w.dims).toEqual([3, 2]);
      expect(w.shape).toEqual([2, 3]);
      expect([w.rows, w.rowLength, w.byteLength]).toEqual([2, 3, 24]);
      expect(w.offset % 32).toBe(0);
      expect([...new Float32Array(g.read("w").buffer)]).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  test("general.alignment places the data; every block type loads as stored, rows reordered on request", () => {
    const types = Object.keys(GGML_TYPES) as GgmlTypeName[];
    const rows = 3;
    const tensors = types.map((t, i) => {
      const cols = GGML_TYPES[t].blockElements === 1 ? 32 : GGML_TYPES[t].blockElements;
      const values = Array.from({ length: rows * cols }, (_, k) => Math.sin(k * 0.3 + i));
      return { name: `t.${t}`, type: t, dims: [cols, rows], data: quantizeRows(t, values, rows, cols) };
    });
    const path = tmp();
    writeGguf(path, { metadata: [["general.alignment", ggufValue.u32(64)]], tensors });
    const g = GgufFile.open(path);
    expect(g.alignment).toBe(64);
    expect(g.dataOffset % 64).toBe(0);
    const buffers = g.load(
      device,
      tensors.map((t) => ({ name: t.name, rowOrder: [2, 0, 1] })),
      { progress: false },
    );
    try {
      for (const t of tensors) {
        const info = g.require(t.name);
        expect(info.offset % 64).toBe(0);
        const buf = buffers.get(t.name)!;
        const rowBytes = t.data.byteLength / rows;
        const expected = new Uint8Array(t.data.byteLength);
        [2, 0, 1].forEach((src, r) => expected.set(t.data.subarray(src * rowBytes, (src + 1) * rowBytes), r * rowBytes));
        expect(buf.view(Uint8Array).subarray(0, t.data.byteLength)).toEqual(expected);
        if (info.type.blockElements === 1) expect(buf.dtype).toBe(info.type.name === "F32" ? DType.F32 : info.type.name === "F16" ? DType.F16 : DType.BF16);
        else expect([buf.dtype, ...buf.shape]).toEqual([DType.U8, rows, rowBytes]);
        // The exact dequantization of what was loaded equals that of what was written.
        expect(dequantizeRows(t.type, buf.view(Uint8Array).subarray(0, t.data.byteLength), rows, t.dims[0]!)).toEqual(dequantizeRows(t.type, expected, rows, t.dims[0]!));
      }
    } finally {
      for (const b of buffers.values()) b.dispose();
    }
  });
});

test("loading draws a byte-count progress bar when asked to", () => {
  const path = tmp();
  writeGguf(path, { tensors: [f32Tensor("a", [1, 2, 3, 4]), f32Tensor("b", [5, 6])] });
  const out: string[] = [];
  let t = 0;
  const buffers = GgufFile.open(path).load(device, [{ name: "a" }, { name: "b" }], {
    label: "weights",
    progress: { enabled: true, delayMs: 0, now: () => (t += 200), stream: { write: (s) => void out.push(s) } },
  });
  for (const b of buffers.values()) b.dispose();
  expect(out.join("")).toContain("weights [");
  expect(out.at(-2)).toContain("100%");
  expect(out.at(-1)).toBe("\n");
});

describe("malformed files get a FormatError naming the problem", () => {
  const good = () => encodeGguf({ metadata: [["general.architecture", ggufValue.str("llama")]], tensors: [f32Tensor("a", [1, 2, 3, 4, 5, 6, 7, 8]), f32Tensor("b", [1, 2])] });

  test("empty file, short header, wrong magic, version, big-endian", () => {
    expectFormatError(() => GgufFile.open(fileOf(new Uint8Array(0))), "0 bytes, too short");
    expectFormatError(() => GgufFile.open(fileOf(good().subarray(0, 20))), "too short");
    expectFormatError(() => GgufFile.open(fileOf(new TextEncoder().encode("GGML".padEnd(64, "\0")))), 'not "GGUF"');
    expectFormatError(() => GgufFile.open(fileOf(new Raw().header(0, 0, 1).bytes())), "version 1 is not supported");
    expectFormatError(() => GgufFile.open(fileOf(new Raw().header(0, 0, 4).bytes())), "version 4 is not supported");
    expectFormatError(() => GgufFile.open(fileOf(new Raw().header(0, 0, 0x03000000).bytes())), "big-endian");
  });

  test("truncated anywhere: never a crash or a hang", () => {
    const bytes = good();
    for (let n = 0; n < bytes.byteLength; n += 3) {
      expect(() => GgufFile.open(fileOf(bytes.subarray(0, n)))).toThrow(FormatError);
    }
  });

  test("counts beyond the bounds or the file", () => {
    expectFormatError(() => GgufFile.open(fileOf(new Raw().header(GGUF_LIMITS.maxTensors + 1, 0).bytes())), "tensor count is 100001", "limit of 100000");
    expectFormatError(() => GgufFile.open(fileOf(new Raw().header(0, 2n ** 64n - 1n).bytes())), "metadata count", "above the limit");
    expectFormatError(() => GgufFile.open(fileOf(new Raw().header(0, 1000).bytes())), "cannot fit");
    const bigArray = new Raw().header(0, 1).str("k").u32(GgufType.ARRAY).u32(GgufType.UINT32).u64(GGUF_LIMITS.maxArrayElements + 1).bytes();
    expectFormatError(() => GgufFile.open(fileOf(bigArray)), "array length", "above the limit");
    const longArray = new Raw().header(0, 1).str("k").u32(GgufType.ARRAY).u32(GgufType.STRING).u64(1_000_000).pad(16).bytes();
    expectFormatError(() => GgufFile.open(fileOf(longArray)), "array of 1000000 STRING needs at least 8000000 bytes");
  });

  test("strings past the end or beyond the limit; invalid UTF-8 keys", () => {
    expectFormatError(() => GgufFile.open(fileOf(new Raw().header(0, 1).str("key", 1000).pad(20).bytes())), 'metadata[0] key: needs 1000 bytes', "truncated");
    expectFormatError(() => GgufFile.open(fileOf(new Raw().header(0, 1).str("k").u32(GgufType.STRING).u64(GGUF_LIMITS.maxStringBytes + 1).pad(8).bytes())), 'metadata "k" (string length)', "above the limit");
    const bad = new Raw().header(0, 1).u64(2);
    bad.parts.push(0xff, 0xfe);
    expectFormatError(() => GgufFile.open(fileOf(bad.u32(GgufType.UINT8).pad(12).bytes())), "not valid UTF-8");
  });

  test("unknown value type, bad bool, duplicate key, deep nesting, bad alignment", () => {
    expectFormatError(() => GgufFile.open(fileOf(new Raw().header(0, 1).str("k").u32(13).pad(16).bytes())), 'metadata "k": unknown value type 13');
    expectFormatError(() => GgufFile.open(fileOf(new Raw().header(0, 1).str("k").u32(GgufType.BOOL).u32(7).pad(12).bytes())), "bool must be 0 or 1");
    const dup = encodeGguf({ metadata: [["k", ggufValue.u32(1)], ["k", ggufValue.u32(2)]] });
    expectFormatError(() => GgufFile.open(fileOf(dup)), 'metadata key "k" appears twice');
    const deep = new Raw().header(0, 1).str("k").u32(GgufType.ARRAY);
    for (let i = 0; i < 20; i++) deep.u32(GgufType.ARRAY).u64(1);
    expectFormatError(() => GgufFile.open(fileOf(deep.pad(64).bytes())), "nested more than 8 deep");
    for (const value of [ggufValue.u32(48), ggufValue.u32(0), ggufValue.u64(32)]) {
      expectFormatError(() => GgufFile.open(fileOf(encodeGguf({ metadata: [["general.alignment", value]] }))), "general.alignment must be a UINT32 power of two");
    }
  });

  /** A file with one tensor info written by hand, and `dataBytes` of data. */
  const oneTensor = (name: string, dims: (number | bigint)[], type: number, offset: number | bigint, dataBytes = 64) => {
    const r = new Raw().header(1, 0).str(name).u32(dims.length);
    for (const d of dims) r.u64(d);
    r.u32(type).u64(offset);
    r.pad((32 - (r.parts.length % 32)) % 32).pad(dataBytes);
    return fileOf(r.bytes());
  };

  test("tensor infos: zero dim, too many dims, unknown or unsupported type, partial blocks, out of the file, misaligned", () => {
    expectFormatError(() => GgufFile.open(oneTensor("w", [4, 0], 0, 0)), 'tensor "w"', "dims[1] is 0");
    expectFormatError(() => GgufFile.open(oneTensor("w", [1, 1, 1, 1, 1, 1, 1, 1, 1], 0, 0)), "n_dims is 9, must be 1 to 8");
    expectFormatError(() => GgufFile.open(oneTensor("w", [], 0, 0)), "n_dims is 0");
    expectFormatError(() => GgufFile.open(oneTensor("w", [4], 99, 0)), "unknown type id 99");
    expectFormatError(() => GgufFile.open(oneTensor("w", [256], 16, 0)), "IQ2_XXS (id 16)");
    expectFormatError(() => GgufFile.open(oneTensor("w", [16], GGML_TYPES.Q4_0.id, 0)), "not a multiple of the Q4_0 block size 32");
    expectFormatError(() => GgufFile.open(oneTensor("w", [32], 0, 0)), "runs past the end", "truncated");
    expectFormatError(() => GgufFile.open(oneTensor("w", [4], 0, 8)), "offset 8 is not a multiple of the alignment 32");
    expectFormatError(() => GgufFile.open(oneTensor("w", [2n ** 40n, 2n ** 20n], 0, 0)), "more than 2^53 elements");
  });

  test("overlapping tensors and duplicate names", () => {
    const r = new Raw().header(2, 0);
    for (const name of ["a", "b"]) r.str(name).u32(1).u64(16).u32(0).u64(32);
    r.pad((32 - (r.parts.length % 32)) % 32).pad(256);
    expectFormatError(() => GgufFile.open(fileOf(r.bytes())), "overlaps tensor");
    const d = new Raw().header(2, 0);
    for (const offset of [0, 32]) d.str("a").u32(1).u64(4).u32(0).u64(offset);
    expectFormatError(() => GgufFile.open(fileOf(d.pad(256).bytes())), 'tensor "a": appears twice');
  });

  test("only regular files are opened", () => {
    expectFormatError(() => GgufFile.open(root), "is not a regular file");
    expectFormatError(() => GgufFile.open(join(root, "missing.gguf")), "cannot open");
    const fifo = join(root, "fifo.gguf");
    try {
      execFileSync("mkfifo", [fifo]);
    } catch {
      return; // no mkfifo here: the directory case above covers the check
    }
    expectFormatError(() => GgufFile.open(fifo), "is not a regular file");
  });
});
