/**
 * File formats the fuzzer mutates. Each format makes a valid file and loads one; the fuzzer
 * feeds the loader mutated copies and requires a result or a typed error (FormatError, or an
 * MlxnError for sizes the device refuses), never a crash, hang or foreign error.
 *
 * Another format (GGUF) joins by appending an entry to FORMATS.
 */
import { Device, SafetensorsArchive, writeSafetensors } from "../../src/index.ts";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface FileFormat {
  name: string;
  /** Bytes of a small valid file. */
  valid(): Uint8Array;
  /** Load `path` (in `dir`) as a user would; returns something or throws. */
  load(path: string, device: Device): unknown;
}

const safetensors: FileFormat = {
  name: "safetensors",
  valid() {
    const dir = process.env.TMPDIR ?? "/tmp";
    const path = join(dir, `mlxn-fuzz-valid-${process.pid}.safetensors`);
    writeSafetensors(path, [
      ["a", { dtype: "F32", shape: [2, 3], data: new Uint8Array(24).fill(1) }],
      ["b", { dtype: "F16", shape: [4], data: new Uint8Array(8).fill(2) }],
      ["c", { dtype: "U32", shape: [1, 2], data: new Uint8Array(8).fill(3) }],
    ]);
    const bytes = new Uint8Array(readFileSync(path));
    rmSync(path, { force: true });
    return bytes;
  },
  load(path, device) {
    const archive = SafetensorsArchive.open(path);
    const buffers = archive.load(device, archive.names, { progress: false });
    for (const b of buffers.values()) b.dispose();
    return buffers.size;
  },
};

export const FORMATS: FileFormat[] = [safetensors];

/** Writes `bytes` as `name` in `dir`, returning the path. */
export function place(dir: string, name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}
