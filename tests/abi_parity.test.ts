/**
 * ABI parity: `shim/include/mlxn.h` is the one contract, and three things must match it exactly —
 * the Metal shim (`shim/metal/*.m`), the cpu shim (`shim/cpu/**\/*.cpp`), the cuda shim
 * (`shim/cuda/*.cpp`) and the bun:ffi table
 * (`src/ffi/symbols.ts`). A function missing from one of them fails only when that backend loads
 * (dlopen of a missing symbol), and the Metal one cannot even be built here, so this test reads the
 * sources instead: same names, same parameter counts, nothing extra exported under `mlxn_`, and
 * every Metal entry point wrapped in `@autoreleasepool` (without it, autoreleased command buffers
 * pile up until the queue's 64 in flight are used and the process stalls).
 *
 * The constants are checked the same way, values included: every enum member and numeric
 * `#define` of `mlxn.h` and `mlxn_packed.h` against its one TS twin (`src/ffi/abi.ts`,
 * `src/dispatch_record.ts`), in both directions.
 *
 * Runs on any OS: it parses text and never loads a library.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import * as Packed from "../src/dispatch_record.ts";
import * as Abi from "../src/ffi/abi.ts";
import { symbols } from "../src/ffi/symbols.ts";

const root = join(import.meta.dir, "..");

// ───────────────────────────── small C-family source readers ─────────────────────────────

/**
 * The source with comments replaced by spaces (newlines kept, so offsets and line numbers still
 * match) and the contents of string and character literals blanked, so neither can be mistaken
 * for code: a "{" in a message or a commented-out function must not move a brace count.
 */
function codeOnly(source: string): string {
  let out = "";
  let i = 0;
  const blank = (s: string) => s.replace(/[^\n]/g, " ");
  while (i < source.length) {
    const two = source.slice(i, i + 2);
    if (two === "//") {
      const end = source.indexOf("\n", i);
      const stop = end === -1 ? source.length : end;
      out += blank(source.slice(i, stop));
      i = stop;
    } else if (two === "/*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end === -1 ? source.length : end + 2;
      out += blank(source.slice(i, stop));
      i = stop;
    } else if (source[i] === '"' && /(^|[^\w])(u8|[uUL])?R$/.test(source.slice(Math.max(0, i - 3), i))) {
      // C++ raw string R"delim( ... )delim": may span lines and hold quotes and braces.
      const open = source.indexOf("(", i);
      const closing = ")" + source.slice(i + 1, open) + '"';
      const end = source.indexOf(closing, open);
      const stop = end === -1 ? source.length : end + closing.length;
      out += '"' + blank(source.slice(i + 1, stop - 1)) + '"';
      i = stop;
    } else if (source[i] === "'" && /[0-9a-fA-F]/.test(source[i - 1] ?? "") && /\w/.test(source[i + 1] ?? "")) {
      out += source[i]; // a C++14 digit separator (1'000'000), not a character literal
      i++;
    } else if (source[i] === '"' || source[i] === "'") {
      const quote = source[i]!;
      let j = i + 1;
      while (j < source.length && source[j] !== quote && source[j] !== "\n") j += source[j] === "\\" ? 2 : 1;
      out += quote + blank(source.slice(i + 1, j)) + (source[j] === quote ? quote : "");
      i = source[j] === quote ? j + 1 : j;
    } else {
      out += source[i];
      i++;
    }
  }
  return out;
}

/** Preprocessor lines (with their backslash continuations) replaced by blank lines. */
function withoutPreprocessor(code: string): string {
  return code.replace(/^[ \t]*#(?:[^\n]*\\\n)*[^\n]*/gm, (line) => line.replace(/[^\n]/g, " "));
}

/** Number of parameters in a C parameter list: "void" and "" are none. */
function paramCount(params: string): number {
  const text = params.trim();
  if (text === "" || text === "void") return 0;
  let depth = 0;
  let count = 1;
  for (const ch of text) {
    if (ch === "(" || ch === "<" || ch === "[") depth++;
    else if (ch === ")" || ch === ">" || ch === "]") depth--;
    else if (ch === "," && depth === 0) count++;
  }
  return count;
}

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split("\n").length;
}

/** Index of the "}" that closes the "{" at `open`, in code already passed through codeOnly. */
function matchingBrace(code: string, open: number): number {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === "{") depth++;
    else if (code[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

interface Declaration {
  name: string;
  params: string[];
  returns: string;
}

/** Every `mlxn_*` function the header declares, in order. */
function parseHeader(source: string): Declaration[] {
  const code = withoutPreprocessor(codeOnly(source));
  const found: Declaration[] = [];
  for (const m of code.matchAll(/(?<=^|[;{}])\s*([^;{}()]*?)\b(mlxn_\w+)\s*\(([^()]*)\)\s*;/g)) {
    const params = paramCount(m[3]!) === 0 ? [] : m[3]!.split(",").map((p) => p.trim().replace(/\s+/g, " "));
    found.push({ name: m[2]!, params, returns: m[1]!.trim().replace(/\s+/g, " ") });
  }
  return found;
}

interface Definition {
  name: string;
  paramCount: number;
  file: string;
  line: number;
  /** Not visible outside its file (static), or given C++ linkage where the header is not seen. */
  local: boolean;
  /** The text between the body's braces. */
  body: string;
}

/**
 * Nesting at every offset of `code`: how many ordinary blocks enclose it, and how many
 * `extern "C"` blocks. `extern "C" {` and `namespace … {` braces do not count as ordinary blocks;
 * every other brace (function bodies, structs, initialisers) does.
 */
function nesting(code: string): { depth: Int32Array; externC: Int32Array } {
  const depth = new Int32Array(code.length + 1);
  const externC = new Int32Array(code.length + 1);
  const stack: ("block" | "externC" | "namespace")[] = [];
  let blocks = 0;
  let externs = 0;
  let statementStart = 0;
  for (let i = 0; i < code.length; i++) {
    depth[i] = blocks;
    externC[i] = externs;
    const ch = code[i];
    if (ch === "{") {
      const head = code.slice(statementStart, i);
      const kind = /extern\s*"[^"]*"\s*$/.test(head) ? "externC" : /\bnamespace\b[\w\s:]*$/.test(head) ? "namespace" : "block";
      stack.push(kind);
      if (kind === "block") blocks++;
      else if (kind === "externC") externs++;
    } else if (ch === "}") {
      const kind = stack.pop();
      if (kind === "block") blocks--;
      else if (kind === "externC") externs--;
    }
    if (ch === "{" || ch === "}" || ch === ";") statementStart = i + 1;
  }
  return { depth, externC };
}

/**
 * Every top-level definition of an `mlxn_*` function: struct members, constructors, destructors
 * and calls inside bodies are never taken for one. In C++, a function outside `extern "C"` only
 * carries its plain name when the header declared it, so other names there count as local.
 */
function parseDefinitions(file: string, source: string, cxx: boolean, declared: Set<string>): Definition[] {
  const code = withoutPreprocessor(codeOnly(source));
  const { depth, externC } = nesting(code);
  const found: Definition[] = [];
  const pattern = /(?<=^|[;{}])\s*([^;{}()]*?)\b(mlxn_\w+)\s*\(([^()]*)\)\s*(?:noexcept\s*)?\{/dg;
  for (const m of code.matchAll(pattern)) {
    const prefix = m[1]!;
    const nameAt = m.indices![2]![0];
    // A return type must come before the name; "X::" or "~" means a member or a destructor.
    if (!/[\w*&]\s*$/.test(prefix) || /(::|~)\s*$/.test(prefix) || depth[nameAt]! > 0) continue;
    const open = m.index! + m[0].length - 1;
    const close = matchingBrace(code, open);
    const isStatic = /\bstatic\b/.test(prefix);
    const cxxLocal = cxx && externC[nameAt] === 0 && !/extern\s*"[^"]*"/.test(prefix) && !declared.has(m[2]!);
    found.push({
      name: m[2]!,
      paramCount: paramCount(m[3]!),
      file,
      line: lineOf(code, nameAt),
      local: isStatic || cxxLocal,
      body: close === -1 ? "" : code.slice(open + 1, close),
    });
  }
  return found;
}

function sourceFiles(dir: string, pattern: string): string[] {
  return [...new Bun.Glob(pattern).scanSync({ cwd: join(root, dir), onlyFiles: true })].sort().map((f) => join(root, dir, f));
}

function definitionsIn(dir: string, pattern: string, cxx: boolean): Definition[] {
  return sourceFiles(dir, pattern).flatMap((path) =>
    parseDefinitions(relative(root, path), readFileSync(path, "utf8"), cxx, declaredNames),
  );
}

/** Problems with one backend's definitions against the header, one line per function. */
function compareWithHeader(backend: string, defs: Definition[]): string[] {
  const problems: string[] = [];
  const exported = defs.filter((d) => !d.local);
  for (const decl of header) {
    const matches = exported.filter((d) => d.name === decl.name);
    if (matches.length === 0) problems.push(`${decl.name}: declared in mlxn.h, not defined in ${backend}`);
    for (const d of matches.slice(1)) problems.push(`${decl.name}: defined twice in ${backend} (${d.file}:${d.line})`);
    for (const d of matches) {
      if (d.paramCount !== decl.params.length) {
        problems.push(`${decl.name}: ${d.paramCount} parameters in ${d.file}:${d.line}, ${decl.params.length} in mlxn.h`);
      }
    }
  }
  for (const d of exported) {
    if (!declaredNames.has(d.name)) problems.push(`${d.name}: exported by ${d.file}:${d.line} but not declared in mlxn.h`);
  }
  return problems;
}

// ───────────────────────────── C types against bun:ffi types ─────────────────────────────

/** The C type of a parameter declaration ("const char *key" -> "const char *"). */
function paramType(param: string): string {
  const m = /^(.*?)(\w+)$/.exec(param.trim());
  return (m && /[\w*]/.test(m[1]!) ? m[1]! : param).trim();
}

/** bun:ffi type names (and their aliases) that carry a C type correctly across the call. */
function ffiTypesFor(cType: string, position: "param" | "return"): string[] {
  const t = cType.replace(/\bconst\b/g, "").replace(/\s+/g, " ").trim();
  if (t === "void") return ["void"];
  if (t === "char *") return position === "return" ? ["cstring", "ptr", "pointer"] : ["cstring", "ptr", "pointer", "buffer"];
  if (t.endsWith("*") || /^mlxn_\w+_t$/.test(t)) return position === "return" ? ["ptr", "pointer"] : ["ptr", "pointer", "buffer"];
  const scalars: Record<string, string[]> = {
    int32_t: ["i32", "int32_t", "int"],
    uint32_t: ["u32", "uint32_t"],
    uint64_t: ["u64", "u64_fast", "uint64_t", "usize"],
    double: ["f64", "double"],
  };
  return scalars[t] ?? [];
}

// ───────────────────────────── constants ─────────────────────────────

/** Every `MLXN_*` enum member (with an explicit value) and numeric `#define` of a header. */
function parseConstants(source: string): Map<string, number> {
  const code = codeOnly(source);
  const found = new Map<string, number>();
  const add = (name: string, value: string) => {
    if (found.has(name)) throw new Error(`${name} is defined twice`);
    found.set(name, Number(value.replace(/u$/i, "")));
  };
  for (const block of code.matchAll(/\benum\s*(?:\w+\s*)?\{([^}]*)\}/g)) {
    for (const m of block[1]!.matchAll(/\b(MLXN_\w+)\s*=\s*(0x[0-9a-fA-F]+|\d+)u?\b/g)) add(m[1]!, m[2]!);
  }
  for (const m of code.matchAll(/^[ \t]*#[ \t]*define[ \t]+(MLXN_\w+)[ \t]+(0x[0-9a-fA-F]+u?|\d+u?)[ \t]*$/gm)) add(m[1]!, m[2]!);
  return found;
}

/** "NotEnqueued" -> "NOT_ENQUEUED"; upper snake case stays as it is. */
function upperSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

/** The header name each TS constant stands for, with its TS value (see src/ffi/abi.ts for the naming). */
function tsConstants(): Map<string, { value: number; ts: string }> {
  const out = new Map<string, { value: number; ts: string }>();
  const add = (cName: string, value: number, ts: string) => {
    if (out.has(cName)) throw new Error(`${ts} and ${out.get(cName)!.ts} both stand for ${cName}`);
    out.set(cName, { value, ts });
  };
  add("MLXN_ABI_VERSION", Abi.ABI_VERSION, "abi.ABI_VERSION");
  add("MLXN_MAX_BUFFER_BINDINGS", Abi.MAX_BUFFER_BINDINGS, "abi.MAX_BUFFER_BINDINGS");
  add("MLXN_MAX_INLINE_BYTES", Abi.MAX_INLINE_BYTES, "abi.MAX_INLINE_BYTES");
  for (const [k, v] of Object.entries(Abi.Status)) add(k === "OK" ? "MLXN_OK" : `MLXN_ERR_${k}`, v, `abi.Status.${k}`);
  for (const [k, v] of Object.entries(Abi.Limit)) add(`MLXN_LIMIT_${k}`, v, `abi.Limit.${k}`);
  for (const [k, v] of Object.entries(Abi.ConstantType)) add(`MLXN_CONSTANT_${k}`, v, `abi.ConstantType.${k}`);
  for (const [k, v] of Object.entries(Abi.CommandBufferStatus)) add(`MLXN_CB_STATUS_${upperSnake(k)}`, v, `abi.CommandBufferStatus.${k}`);
  for (const [k, v] of Object.entries(Packed)) {
    if (/^[A-Z][A-Z0-9_]*$/.test(k) && typeof v === "number") add(`MLXN_PACKED_${k}`, v, `dispatch_record.${k}`);
  }
  return out;
}

/** One line per constant that differs between the headers and TS. */
function compareConstants(headerConstants: Map<string, number>, ts: Map<string, { value: number; ts: string }>): string[] {
  const problems: string[] = [];
  for (const [name, { value, ts: where }] of ts) {
    const c = headerConstants.get(name);
    if (c === undefined) problems.push(`${where} = ${value}: no ${name} in the headers`);
    else if (c !== value) problems.push(`${where} = ${value}, but ${name} = ${c} in the header`);
  }
  for (const [name, value] of headerConstants) {
    if (!ts.has(name)) problems.push(`${name} = ${value}: in the headers, without a TS twin in src/ffi/abi.ts or src/dispatch_record.ts`);
  }
  return problems;
}

// ───────────────────────────── the tests ─────────────────────────────

const header = parseHeader(readFileSync(join(root, "shim/include/mlxn.h"), "utf8"));
const declaredNames = new Set(header.map((d) => d.name));
const table = symbols as unknown as Record<string, { args: readonly string[]; returns: string }>;

describe("ABI parity with shim/include/mlxn.h", () => {
  test("the header parses into a plausible ABI", () => {
    const names = header.map((d) => d.name);
    expect(names.length).toBeGreaterThan(40);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    expect(names).toContain("mlxn_compute_encoder_dispatch_packed");
    expect(header.find((d) => d.name === "mlxn_pipeline_new")?.params.length).toBe(6);
    expect(header.find((d) => d.name === "mlxn_abi_version")?.params.length).toBe(0);
  });

  test("src/ffi/symbols.ts declares every header function with the same parameter count", () => {
    const problems: string[] = [];
    for (const decl of header) {
      const entry = table[decl.name];
      if (!entry) problems.push(`${decl.name}: declared in mlxn.h, missing from src/ffi/symbols.ts`);
      else if (entry.args.length !== decl.params.length) {
        problems.push(`${decl.name}: ${entry.args.length} args in symbols.ts, ${decl.params.length} in mlxn.h`);
      }
    }
    for (const name of Object.keys(table)) {
      if (!declaredNames.has(name)) problems.push(`${name}: in src/ffi/symbols.ts but not declared in mlxn.h`);
    }
    expect(problems).toEqual([]);
  });

  test("src/ffi/symbols.ts types carry each C type correctly", () => {
    const problems: string[] = [];
    for (const decl of header) {
      const entry = table[decl.name];
      if (!entry || entry.args.length !== decl.params.length) continue; // reported by the test above
      const returns = ffiTypesFor(decl.returns, "return");
      if (!returns.includes(entry.returns)) {
        problems.push(`${decl.name}: returns "${entry.returns}" in symbols.ts for C "${decl.returns}" (expected one of ${returns.join(", ")})`);
      }
      decl.params.forEach((param, i) => {
        const allowed = ffiTypesFor(paramType(param), "param");
        const actual = entry.args[i]!;
        if (!allowed.includes(actual)) {
          problems.push(`${decl.name}: argument ${i} is "${actual}" in symbols.ts for C "${param}" (expected one of ${allowed.join(", ")})`);
        }
      });
    }
    expect(problems).toEqual([]);
  });

  test("shim/metal defines every header function with the same parameter count, and no other mlxn_ function", () => {
    const defs = definitionsIn("shim/metal", "*.m", false);
    expect(defs.length).toBeGreaterThan(0);
    expect(compareWithHeader("shim/metal", defs)).toEqual([]);
  });

  test("every shim/metal entry point body is wrapped in @autoreleasepool", () => {
    const problems: string[] = [];
    for (const d of definitionsIn("shim/metal", "*.m", false).filter((d) => !d.local)) {
      const body = d.body.trim();
      const pool = /^@autoreleasepool\s*\{/.exec(body);
      const close = pool ? matchingBrace(body, pool[0].length - 1) : -1;
      if (!pool || close !== body.length - 1) {
        problems.push(`${d.name} (${d.file}:${d.line}): body is not one @autoreleasepool { ... } block`);
      }
    }
    expect(problems).toEqual([]);
  });

  test("shim/cpu defines every header function with the same parameter count, and no other mlxn_ function", () => {
    const defs = definitionsIn("shim/cpu", "**/*.{cpp,cc,c}", true);
    expect(compareWithHeader("shim/cpu", defs)).toEqual([]);
  });

  test("shim/cuda defines every header function with the same parameter count, and no other mlxn_ function", () => {
    const defs = definitionsIn("shim/cuda", "*.cpp", true);
    expect(defs.length).toBeGreaterThan(0);
    expect(compareWithHeader("shim/cuda", defs)).toEqual([]);
  });
});

describe("ABI constants: mlxn.h and mlxn_packed.h against src/ffi/abi.ts and src/dispatch_record.ts", () => {
  const headerText = readFileSync(join(root, "shim/include/mlxn.h"), "utf8");
  const packedText = readFileSync(join(root, "shim/include/mlxn_packed.h"), "utf8");
  const fromHeaders = (a: string, b: string) => new Map([...parseConstants(a), ...parseConstants(b)]);

  test("the headers parse into the expected groups", () => {
    const c = fromHeaders(headerText, packedText);
    expect(c.get("MLXN_OK")).toBe(0);
    expect(c.get("MLXN_ABI_VERSION")).toBe(1);
    expect(c.get("MLXN_LIMIT_LANES_IN_HARDWARE")).toBe(10);
    expect(c.get("MLXN_CB_STATUS_ERROR")).toBe(5);
    expect(c.get("MLXN_PACKED_HEADER_WORDS")).toBe(12);
    expect([...c.keys()].filter((k) => k.startsWith("MLXN_PACKED_")).length).toBeGreaterThan(15);
  });

  test("every constant has one TS twin with the same value, and every TS constant is in a header", () => {
    expect(compareConstants(fromHeaders(headerText, packedText), tsConstants())).toEqual([]);
  });

  test("a changed value, a missing twin or an extra header constant is reported", () => {
    const wrongValue = headerText.replace(/MLXN_LIMIT_SIMD_WIDTH = 4/, "MLXN_LIMIT_SIMD_WIDTH = 5");
    expect(wrongValue).not.toBe(headerText);
    expect(compareConstants(fromHeaders(wrongValue, packedText), tsConstants())).toEqual(["abi.Limit.SIMD_WIDTH = 4, but MLXN_LIMIT_SIMD_WIDTH = 5 in the header"]);
    const wrongLayout = packedText.replace(/MLXN_PACKED_BUFFER_WORDS = 6/, "MLXN_PACKED_BUFFER_WORDS = 8");
    expect(compareConstants(fromHeaders(headerText, wrongLayout), tsConstants())).toEqual(["dispatch_record.BUFFER_WORDS = 6, but MLXN_PACKED_BUFFER_WORDS = 8 in the header"]);
    const extra = headerText.replace(/MLXN_ERR_INTERNAL = 8/, "MLXN_ERR_INTERNAL = 8,\n  MLXN_ERR_BUSY = 9");
    expect(compareConstants(fromHeaders(extra, packedText), tsConstants())).toEqual([
      "MLXN_ERR_BUSY = 9: in the headers, without a TS twin in src/ffi/abi.ts or src/dispatch_record.ts",
    ]);
    const version = headerText.replace(/#define MLXN_ABI_VERSION 1u/, "#define MLXN_ABI_VERSION 2u");
    expect(compareConstants(fromHeaders(version, packedText), tsConstants())).toEqual(["abi.ABI_VERSION = 1, but MLXN_ABI_VERSION = 2 in the header"]);
  });

  test("src/ spells limit keys, statuses and record offsets only through those modules", () => {
    const problems: string[] = [];
    for (const path of sourceFiles("src", "**/*.ts")) {
      const rel = relative(root, path);
      if (rel === "src/ffi/abi.ts" || rel === "src/dispatch_record.ts") continue;
      const text = readFileSync(path, "utf8");
      if (/mlxn_device_limit\([^,()]+,\s*\d/.test(text) || /\blimit\(\d+\)/.test(text)) problems.push(`${rel}: a numeric device limit key`);
      if (/new CommandBufferError\([^,()]+,\s*\d/.test(text)) problems.push(`${rel}: a numeric command-buffer status`);
      if (/\.mlxn_compute_encoder_dispatch_packed\(/.test(text) && !/dispatch_record\.ts/.test(text)) problems.push(`${rel}: sends packed records without src/dispatch_record.ts`);
    }
    expect(problems).toEqual([]);
  });
});
