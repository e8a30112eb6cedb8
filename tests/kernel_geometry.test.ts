/**
 * Kernel geometry the host must know (tile sizes, rows per threadgroup, table bounds) is defined
 * in the kernel headers; a TS constant that repeats one carries a marker naming its source:
 *
 *   const MM_THREADS = 128; // = kernels/matmul.h: MM_THREADS
 *
 * The part after the colon is a C expression over that header's `constexpr` constants, or several
 * separated by commas when the TS value stands for each of them (`MM_BM, MM_BN`). This test
 * finds every marker under src/, evaluates the expression from the header and compares it with
 * the TS value, so neither side can change alone (kernels/README.md, "Geometry the host knows").
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dir, "..");

interface Marker {
  file: string;
  line: number;
  name: string;
  value: number;
  header: string;
  expression: string;
}

const MARKER = /^\s*(?:export\s+)?const\s+(\w+)(?:\s*:\s*[\w<>[\]]+)?\s*=\s*(\d+)\s*;\s*\/\/\s*=\s*kernels\/([\w.]+):\s*(.+?)\s*$/;

/** Every marked constant of a TS source. */
function markersIn(file: string, source: string): Marker[] {
  const found: Marker[] = [];
  source.split("\n").forEach((text, i) => {
    const m = MARKER.exec(text);
    if (m) found.push({ file, line: i + 1, name: m[1]!, value: Number(m[2]), header: m[3]!, expression: m[4]! });
    else if (/\/\/\s*=\s*kernels\//.test(text)) found.push({ file, line: i + 1, name: "", value: NaN, header: "", expression: text.trim() });
  });
  return found;
}

/** Values of a header's integer `constexpr` constants (comments ignored; later ones may use earlier ones). */
function headerConstants(source: string): Map<string, number> {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/[^\n]*/g, "");
  const values = new Map<string, number>();
  for (const m of code.matchAll(/\bconstexpr\s+(?:unsigned\s+|const\s+)?(?:int|uint|uint32_t|short|ushort|size_t)\s+(\w+)\s*=\s*([^;]+);/g)) {
    const v = evaluate(m[2]!, values);
    if (v !== undefined) values.set(m[1]!, v);
  }
  return values;
}

/** An integer C expression of literals, known names, + - * / % and parentheses; undefined otherwise. */
function evaluate(expression: string, names: ReadonlyMap<string, number>): number | undefined {
  let unknown = false;
  const js = expression.replace(/\b([A-Za-z_]\w*)\b/g, (n) => {
    const v = names.get(n);
    if (v === undefined) unknown = true;
    return String(v);
  }).replace(/\b(\d+)[uU]?\b/g, "$1");
  if (unknown || !/^[\d\s+\-*/%()]+$/.test(js)) return undefined;
  const v = Function(`"use strict"; return (${js});`)() as number;
  return Number.isInteger(v) ? v : Math.trunc(v);
}

/** One line per marker whose value differs from its header, or that does not resolve. */
function check(markers: readonly Marker[], readHeader: (name: string) => string | undefined): string[] {
  const problems: string[] = [];
  for (const m of markers) {
    const where = `${m.file}:${m.line}`;
    if (m.name === "") {
      problems.push(`${where}: malformed marker "${m.expression}" (write: const NAME = <integer>; // = kernels/<file>: <expression>)`);
      continue;
    }
    const text = readHeader(m.header);
    if (text === undefined) {
      problems.push(`${where}: ${m.name} names kernels/${m.header}, which does not exist`);
      continue;
    }
    const constants = headerConstants(text);
    for (const expression of m.expression.split(",").map((e) => e.trim())) {
      const v = evaluate(expression, constants);
      if (v === undefined) problems.push(`${where}: ${m.name}'s "${expression}" does not evaluate over kernels/${m.header}'s constants`);
      else if (v !== m.value) problems.push(`${where}: ${m.name} = ${m.value}, but ${expression} = ${v} in kernels/${m.header}`);
    }
  }
  return problems;
}

const readKernelHeader = (name: string): string | undefined => {
  try {
    return readFileSync(join(root, "kernels", name), "utf8");
  } catch {
    return undefined;
  }
};

const sources = [...new Bun.Glob("src/**/*.ts").scanSync({ cwd: root })].sort();
const markers = sources.flatMap((f) => markersIn(relative(root, join(root, f)), readFileSync(join(root, f), "utf8")));

describe("kernel geometry repeated in TS", () => {
  test("every marked constant equals its kernel header's value", () => {
    expect(markers.length).toBeGreaterThan(0);
    expect(check(markers, readKernelHeader)).toEqual([]);
  });

  test("a drifted value, a missing constant or a malformed marker is reported", () => {
    const header = "constant constexpr int TILE = 64;\nconstant constexpr int LD = TILE + 4;\n";
    const ts = [
      "const TILE = 64; // = kernels/x.h: TILE",
      "const PADDED = 70; // = kernels/x.h: LD",
      "const ROWS = 8; // = kernels/x.h: NOPE * 2",
      "const WIDTH = 4; // = kernels/y.h: TILE",
      "const BAD = 2 * 4; // = kernels/x.h: TILE",
      "const BOTH = 64; // = kernels/x.h: TILE, LD",
    ].join("\n");
    const problems = check(markersIn("t.ts", ts), (name) => (name === "x.h" ? header : undefined));
    expect(problems).toEqual([
      "t.ts:2: PADDED = 70, but LD = 68 in kernels/x.h",
      't.ts:3: ROWS\'s "NOPE * 2" does not evaluate over kernels/x.h\'s constants',
      "t.ts:4: WIDTH names kernels/y.h, which does not exist",
      't.ts:5: malformed marker "const BAD = 2 * 4; // = kernels/x.h: TILE" (write: const NAME = <integer>; // = kernels/<file>: <expression>)',
      "t.ts:6: BOTH = 64, but LD = 68 in kernels/x.h",
    ]);
  });
});
