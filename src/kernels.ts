/**
 * Kernel headers: the `kernels/` folder of the package, or the copies embedded in a
 * `bun build --compile` executable. Which kernels exist, and their names, is the catalog's
 * business (kernels/catalog.ts); this module only turns a unit's text into what a backend
 * compiles.
 *
 * `#include "x.h"` lines naming files of `kernels/` are inlined (with `#line` markers, so
 * compiler messages name the real file and line), because Metal compiles source strings with no
 * include path. Metal and msl-cpu receive the identical text.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { unitSource } from "../kernels/catalog.ts";
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

/**
 * The text of `file` with its `#include "x.h"` lines replaced by those files (once each),
 * bracketed by `#line` directives so diagnostics keep pointing at the original lines. A header's
 * `#pragma once` is dropped (an empty line stands in): inlined, it would sit in the main file,
 * where compilers warn about it (`make lint-kernels` fails on that warning).
 */
export function assembleSource(file: string, text?: string, seen = new Set<string>()): string {
  const body = text ?? readKernelFile(file);
  if (body === undefined) throw new Error(`kernel file ${file} not found`);
  seen.add(file);
  const lines = body.split("\n");
  const out: string[] = [`#line 1 "kernels/${file}"`];
  lines.forEach((line, i) => {
    if (file.endsWith(".h") && /^\s*#\s*pragma\s+once\b/.test(line)) return void out.push("");
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

/**
 * The text a backend compiles for catalog compile unit `unit` (see `sourceUnits()`): its header
 * inlined, then one instantiation line per variant. What the registry compiles, and what an
 * ahead-of-time build (every unit of the catalog) would compile.
 *
 * @example
 * for (const unit of sourceUnits()) writeFileSync(`${unit}.metal`, assembleUnit(unit));
 */
export function assembleUnit(unit: string): string {
  return assembleSource(`${unit}.metal`, unitSource(unit));
}
