/** Helpers shared by the io and models tests: FormatError assertions and model-directory surgery. */
import { expect } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FormatError } from "../../src/index.ts";
import { SafetensorsArchive, writeModelSafetensors, type TensorData } from "../../src/io/safetensors.ts";

/** `fn` throws a `FormatError` whose message matches every fragment; returns it. */
export function expectFormatError(fn: () => unknown, ...fragments: (string | RegExp)[]): FormatError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(FormatError);
  for (const f of fragments) expect((caught as Error).message).toMatch(f);
  return caught as FormatError;
}

/** All tensors of a model directory, in memory, by name. */
export function readTensors(dir: string): Map<string, TensorData> {
  const archive = SafetensorsArchive.open(dir);
  return new Map(archive.names.map((n) => [n, { ...archive.require(n), data: archive.read(n) }]));
}

/** Rewrite a model directory's weights after `edit` changes the tensor map. */
export function editTensors(dir: string, edit: (tensors: Map<string, TensorData>) => void): void {
  const tensors = readTensors(dir);
  edit(tensors);
  writeModelSafetensors(dir, tensors);
}

/** Rewrite a model directory's config.json after `edit` changes it. */
export function editConfig(dir: string, edit: (json: Record<string, unknown>) => void): void {
  const path = join(dir, "config.json");
  const json = JSON.parse(readFileSync(path, "utf8"));
  edit(json);
  writeFileSync(path, JSON.stringify(json));
}
