/**
 * Kernel sources: the `kernels/` folder of the package, or the copies embedded in a
 * `bun build --compile` executable. Kernel names are derived from the sources themselves
 * (`[[host_name("...")]]` instantiations and plain `kernel void name(`), so there is no
 * registration table to keep in step.
 *
 * Sources are handed to the backend as one text per family: `#include "x.h"` lines naming files
 * of `kernels/` are inlined (with `#line` markers, so compiler messages name the real file and
 * line), because Metal compiles source strings with no include path. Metal and msl-cpu receive
 * the identical text.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { embeddedName, embeddedPath } from "./ffi/loader.ts";

const kernelsDir = resolve(import.meta.dir, "..", "kernels");

/** The package's `kernels/` folder (what `bun-mlx-native build-exe` embeds). */
export function kernelsDirectory(): string {
  return kernelsDir;
}

/** Raw text of one file of `kernels/`, or undefined. */
function readKernelFile(name: string): string | undefined {
  const local = join(kernelsDir, name);
  if (existsSync(local)) return readFileSync(local, "utf8");
  const blob = Bun.embeddedFiles.find((f) => embeddedName(f).endsWith(name) && isKernelFileName(embeddedName(f)));
  return blob ? readFileSync(embeddedPath(blob), "utf8") : undefined;
}

function isKernelFileName(name: string): boolean {
  return name.endsWith(".metal") || name.endsWith(".h");
}

/** Names of the `.metal` family files available. */
function familyFiles(): string[] {
  const names = new Set<string>();
  if (existsSync(kernelsDir)) for (const f of readdirSync(kernelsDir)) if (f.endsWith(".metal")) names.add(f);
  for (const blob of Bun.embeddedFiles) {
    // Embedded names carry a content hash before the extension: "elementwise-1a2b3c.metal".
    const m = /([A-Za-z0-9_]+?)(?:-[0-9a-z]+)?\.metal$/.exec(embeddedName(blob));
    if (m) names.add(`${m[1]}.metal`);
  }
  return [...names].sort();
}

const hostNamePattern = /\[\[\s*host_name\(\s*"([^"]+)"\s*\)\s*\]\]/g;
const plainKernelPattern = /(?:^|[\s;}])kernel\s+void\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(/g;
const templateKernelPattern = /template\s*<[^>]*>\s*(?:\[\[kernel\]\]\s*)?kernel\s+void\s+([A-Za-z_][A-Za-z0-9_]*)/g;

/** Every kernel name a source defines: its host names and its non-template kernels. */
export function kernelNamesIn(source: string): string[] {
  const text = stripComments(source);
  const names = new Set<string>();
  for (const m of text.matchAll(hostNamePattern)) names.add(m[1]!);
  const templates = new Set([...text.matchAll(templateKernelPattern)].map((m) => m[1]!));
  for (const m of text.matchAll(plainKernelPattern)) if (!templates.has(m[1]!)) names.add(m[1]!);
  return [...names];
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, "");
}

/**
 * The text of `file` with its `#include "x.h"` lines replaced by those files (once each),
 * bracketed by `#line` directives so diagnostics keep pointing at the original lines.
 */
export function assembleSource(file: string, text?: string, seen = new Set<string>()): string {
  const body = text ?? readKernelFile(file);
  if (body === undefined) throw new Error(`kernel file ${file} not found`);
  seen.add(file);
  const lines = body.split("\n");
  const out: string[] = [`#line 1 "kernels/${file}"`];
  lines.forEach((line, i) => {
    const m = /^\s*#\s*include\s+"([^"]+)"/.exec(line);
    if (!m) return void out.push(line);
    const inc = m[1]!;
    if (!seen.has(inc)) {
      if (readKernelFile(inc) === undefined) return void out.push(line);
      out.push(assembleSource(inc, undefined, seen));
    }
    out.push(`#line ${i + 2} "kernels/${file}"`);
  });
  return out.join("\n");
}

let index: Map<string, string> | undefined;

/** The family file (e.g. "elementwise.metal") that defines `kernel`, or undefined. */
export function familyOf(kernel: string): string | undefined {
  if (!index) {
    index = new Map();
    for (const file of familyFiles()) {
      for (const name of kernelNamesIn(assembleSource(file))) if (!index.has(name)) index.set(name, file);
    }
  }
  return index.get(kernel);
}
