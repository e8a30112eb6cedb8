/**
 * Stand-in Objective-C headers for Metal, generated from metal-cpp (Apple's C++ interface to
 * Metal), so that shim/metal/*.m can be type-checked by clang on a machine without Apple's SDK.
 *
 * metal-cpp states the Objective-C API exactly where it matters: every method's body is one
 * `Object::sendMessage<Ret>(receiver, _MTL_PRIVATE_SEL(x), args...)`, and MTLHeaderBridge.hpp
 * spells each selector (`_MTL_PRIVATE_DEF_SEL(x, "a:b:")`) and names each Objective-C class
 * (`_MTL_PRIVATE_DEF_CLS`). From those this module writes:
 * - a protocol for every interface without a class object (MTLDevice, MTLBuffer...), a class for
 *   the others (MTLCompileOptions...), with their parents;
 * - every method with its selector, argument and return types (`+` where the receiver is the
 *   class object), instancetype for init;
 * - enums (NS_ENUM/NS_OPTIONS) with their values, structs (MTLSize...) with their Make
 *   functions, block and alias typedefs, the C functions (MTLCreateSystemDefaultDevice...);
 * - availability from availability.ts, and from types: a method whose signature names a type
 *   that is newer than the deployment target is as new as that type.
 * A declaration whose C++ types have no Objective-C counterpart here is left out (and counted):
 * using it from the shim is then an error, never a silent pass.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { compareVersions, DEPLOYMENT_TARGET, INTRODUCED, INTRODUCED_BY_PREFIX } from "./availability.ts";

/** What generateMetalHeader wrote, and what it could not. */
export interface GeneratedMetal {
  /** Metal/Metal.h for the stand-in include directory. */
  header: string;
  counts: { protocols: number; classes: number; methods: number; enums: number; structs: number; functions: number };
  /** Declarations left out, with the reason (a C++ type without an Objective-C mapping). */
  skipped: string[];
  /** availability.ts keys that match no declaration (a typo or an API metal-cpp lacks). */
  unmatchedAvailability: string[];
}

interface Method {
  selector: string;
  isClass: boolean;
  returnType: string;
  params: string[]; // Objective-C types, one per selector part
  /** Objective-C type names the signature mentions (for derived availability). */
  mentions: string[];
}

interface Interface {
  objcName: string;
  isClass: boolean;
  parent: string | null; // Objective-C name of the parent interface, null for NSObject
  copying: boolean;
  methods: Map<string, Method>; // by ±selector
}

interface EnumDecl {
  objcName: string;
  underlying: string;
  options: boolean;
  values: Array<{ name: string; value: string }>;
}

interface StructDecl {
  objcName: string;
  fields: Array<{ type: string; name: string; dims: string }>;
  makers: Array<{ name: string; params: Array<{ type: string; name: string }> }>;
  deps: string[];
}

/** C++ scalar and Foundation spellings, and their Objective-C types. */
const SCALARS: Record<string, string> = {
  void: "void", bool: "BOOL", float: "float", double: "double", char: "char",
  int: "int", "unsigned int": "unsigned int", long: "long", "unsigned long": "unsigned long",
  int8_t: "int8_t", uint8_t: "uint8_t", int16_t: "int16_t", uint16_t: "uint16_t",
  int32_t: "int32_t", uint32_t: "uint32_t", int64_t: "int64_t", uint64_t: "uint64_t",
  size_t: "size_t", "std::uint64_t": "uint64_t", "std::uint32_t": "uint32_t", "std::int64_t": "int64_t",
  "NS::UInteger": "NSUInteger", "NS::Integer": "NSInteger", "NS::TimeInterval": "NSTimeInterval",
  CFTimeInterval: "CFTimeInterval", "NS::Range": "NSRange", "NS::StringEncoding": "NSStringEncoding",
  dispatch_queue_t: "dispatch_queue_t", dispatch_data_t: "dispatch_data_t", IOSurfaceRef: "IOSurfaceRef",
  kern_return_t: "kern_return_t", task_id_token_t: "task_id_token_t", "NS::ErrorDomain": "NSErrorDomain",
};

/** Foundation classes the stand-in Foundation.h declares (NS::X* maps to NSX *). */
const FOUNDATION_CLASSES = new Set([
  "String", "Array", "Dictionary", "Error", "URL", "Data", "Number", "Bundle", "Set", "Date", "Value",
  "Enumerator", "ProcessInfo", "Condition", "AutoreleasePool", "Notification",
]);

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/[^\n]*/g, "");
}

function squash(type: string): string {
  return type.replace(/\s+/g, " ").replace(/\s*\*\s*/g, "*").replace(/\s*&\s*/g, "&").trim();
}

class Generator {
  readonly selectors = new Map<string, string>();
  readonly classObjects = new Set<string>();
  readonly interfaces = new Map<string, Interface>();
  readonly enums = new Map<string, EnumDecl>();
  readonly structs = new Map<string, StructDecl>();
  readonly aliases = new Map<string, { objc: string; line: string }>();
  readonly functions: string[] = [];
  readonly skipped: string[] = [];
  readonly files: Array<{ name: string; text: string }>;
  private readonly nsOf = new Map<string, string>(); // bare C++ name -> namespace, when unique

  constructor(readonly metalDir: string) {
    this.files = readdirSync(metalDir)
      .filter((f) => f.endsWith(".hpp"))
      .sort()
      .map((name) => ({ name, text: stripComments(readFileSync(join(metalDir, name), "utf8")) }));
  }

  /** The namespace (MTL or MTL4) in force at `pos` of `text`. */
  private namespaceAt(text: string, pos: number): string {
    let ns = "MTL";
    for (const m of text.slice(0, pos).matchAll(/namespace\s+(MTL4?)\s*\{/g)) ns = m[1]!;
    return ns;
  }

  /** C++ name (qualified or bare, seen from namespace `ns`) to Objective-C name. */
  private objcName(cpp: string, ns: string): string {
    const q = /^(MTL4?)::(\w+)$/.exec(cpp);
    if (q) return q[1]! + q[2]!;
    return (this.nsOf.get(`${ns}::${cpp}`) ?? ns) + cpp;
  }

  collect(): void {
    // MTLHeaderBridge.hpp defines most selectors and classes; a few headers define their own.
    for (const { text } of this.files) {
      for (const m of text.matchAll(/_MTL_PRIVATE_DEF_SEL\(\s*(\w+)\s*,\s*((?:"[^"]*"\s*)+)\)/g))
        this.selectors.set(m[1]!, m[2]!.replace(/"\s*"/g, "").replace(/"/g, ""));
      for (const m of text.matchAll(/_MTL_PRIVATE_DEF_CLS\(\s*(\w+)\s*\)/g)) this.classObjects.add(m[1]!);
    }

    // Declarations first (every name known), then what refers to them.
    for (const { text } of this.files) {
      for (const m of text.matchAll(/\bclass\s+(\w+)\s*:\s*public\s+NS::(Referencing|Copying|SecureCoding)<\s*(\w+)\s*(?:,\s*([\w:]+)\s*)?>/g)) {
        const ns = this.namespaceAt(text, m.index!);
        this.nsOf.set(`${ns}::${m[1]}`, ns);
        const objc = ns + m[1]!;
        this.interfaces.set(objc, {
          objcName: objc, isClass: this.classObjects.has(objc), parent: m[4] ? m[4] : null,
          copying: m[2] === "Copying", methods: new Map(),
        });
      }
      for (const m of text.matchAll(/_MTL_(ENUM|OPTIONS)\(\s*([\w:]+)\s*,\s*(\w+)\s*\)\s*\{([^}]*)\}/g)) {
        const ns = this.namespaceAt(text, m.index!);
        this.nsOf.set(`${ns}::${m[3]}`, ns);
        this.enums.set(ns + m[3]!, { objcName: ns + m[3]!, underlying: m[2]!, options: m[1] === "OPTIONS", values: [] });
      }
      for (const m of text.matchAll(/\bstruct\s+(\w+)\s*\{([\s\S]*?)\}\s*_MTL_PACKED\s*;/g)) {
        const ns = this.namespaceAt(text, m.index!);
        this.nsOf.set(`${ns}::${m[1]}`, ns);
      }
    }
    // Parents resolve now that every interface's namespace is known.
    for (const { text } of this.files) {
      for (const m of text.matchAll(/\bclass\s+(\w+)\s*:\s*public\s+NS::\w+<\s*\w+\s*,\s*([\w:]+)\s*>/g)) {
        const ns = this.namespaceAt(text, m.index!);
        const iface = this.interfaces.get(ns + m[1]!);
        if (iface) iface.parent = this.objcName(m[2]!, ns);
      }
    }
    for (const { text } of this.files) {
      this.collectEnumValues(text);
      this.collectStructs(text);
      this.collectAliases(text);
    }
    for (const { name, text } of this.files) {
      this.collectMethods(name, text);
      this.collectFunctions(text);
    }
  }

  private collectEnumValues(text: string): void {
    for (const m of text.matchAll(/_MTL_(ENUM|OPTIONS)\(\s*([\w:]+)\s*,\s*(\w+)\s*\)\s*\{([^}]*)\}/g)) {
      const ns = this.namespaceAt(text, m.index!);
      const decl = this.enums.get(ns + m[3]!)!;
      const underlying = this.mapType(m[2]!, ns);
      if (!underlying) {
        this.skipped.push(`enum ${decl.objcName}: underlying type ${m[2]}`);
        this.enums.delete(decl.objcName);
        continue;
      }
      decl.underlying = underlying.objc;
      for (const entry of m[4]!.split(",")) {
        const e = /^\s*(\w+)\s*(?:=\s*([\s\S]+?))?\s*$/.exec(entry);
        if (!e) continue;
        let value = (e[2] ?? "").replace(/\bNS::(\w+)/g, "NS$1");
        // Enumerators referred to by value are spelled with their namespace prefix in Objective-C.
        value = value.replace(/\b(?:(MTL4?)::)?([A-Za-z_]\w*)\b/g, (all, q: string | undefined, id: string) => {
          if (/^(?:0x[0-9a-fA-F]+|\d+)[uUlL]*$/.test(id) || q === undefined && /^[uUlL]+$/.test(id)) return all;
          if (id.startsWith("NS")) return all;
          return (q ?? ns) + id;
        });
        decl.values.push({ name: ns + e[1]!, value });
      }
    }
  }

  private collectStructs(text: string): void {
    for (const m of text.matchAll(/\bstruct\s+(\w+)\s*\{([\s\S]*?)\}\s*_MTL_PACKED\s*;/g)) {
      const ns = this.namespaceAt(text, m.index!);
      const objc = ns + m[1]!;
      const decl: StructDecl = { objcName: objc, fields: [], makers: [], deps: [] };
      let ok = true;
      for (const line of m[2]!.split(";")) {
        const l = line.trim();
        if (!l || l.includes("(") || /^(?:static|using|public|private)\b/.test(l)) {
          const mk = /static\s+\w+\s+(Make\w*)\s*\(([^)]*)\)/.exec(l);
          if (mk) {
            const params = mk[2]!.split(",").map((p) => /^\s*([\w:\s]+?)\s+(\w+)\s*$/.exec(p)).filter((p) => p !== null);
            const mapped = params.map((p) => ({ type: this.mapType(p[1]!, ns)?.objc ?? "", name: p[2]! }));
            if (mapped.every((p) => p.type)) decl.makers.push({ name: objc + mk[1]!, params: mapped });
          }
          continue;
        }
        const f = /^([\w:\s]+?)\s+(\w+)\s*((?:\[\s*\w+\s*\])*)$/.exec(l);
        const t = f ? this.mapType(f[1]!, ns) : null;
        if (!f || !t) {
          ok = false;
          break;
        }
        decl.fields.push({ type: t.objc, name: f[2]!, dims: f[3]! });
        decl.deps.push(...t.mentions);
      }
      if (ok && decl.fields.length) this.structs.set(objc, decl);
      else this.skipped.push(`struct ${objc}: a field type without an Objective-C mapping`);
    }
  }

  private collectAliases(text: string): void {
    for (const m of text.matchAll(/^\s*using\s+(\w+)\s*=\s*([^;]+);/gm)) {
      const ns = this.namespaceAt(text, m.index!);
      const name = ns + m[1]!, target = m[2]!.trim();
      if (target.startsWith("std::function")) continue;
      const block = /^(\w[\w:\s*]*?)\s*\(\s*\^\s*\)\s*\(([^)]*)\)$/.exec(target);
      if (block) {
        const ret = this.mapType(block[1]!, ns);
        const params = splitParams(block[2]!).map((p) => this.mapParam(p, ns));
        if (!ret || params.some((p) => !p)) {
          this.skipped.push(`block ${name}`);
          continue;
        }
        this.aliases.set(name, {
          objc: name,
          line: `typedef ${ret.objc} (^${name})(${params.map((p) => p!.objc).join(", ") || "void"});`,
        });
        continue;
      }
      const t = this.mapType(target, ns);
      if (!t) {
        this.skipped.push(`alias ${name} = ${target}`);
        continue;
      }
      const owner = m[1]!.startsWith("Autoreleased") && t.objc.endsWith("*") ? "__autoreleasing " : "";
      this.aliases.set(name, { objc: name, line: `typedef ${owner}${t.objc} ${name};` });
    }
  }

  private collectMethods(file: string, text: string): void {
    const re = /_MTL_INLINE\s+([\w:\s*&]+?)\s*(MTL4?)::(\w+)::(\w+)\s*\(([^()]*)\)\s*(?:const\s*)?\{\s*(?:return\s+)?(?:NS::)?Object::sendMessage(?:Safe)?<\s*([^>]+?)\s*>\(\s*(this|_MTL_PRIVATE_CLS\(\s*(\w+)\s*\))\s*,\s*_MTL_PRIVATE_SEL\(\s*(\w+)\s*\)\s*((?:,[^;]*)?)\);\s*\}/g;
    for (const m of text.matchAll(re)) {
      const ns = m[2]!, cls = ns + m[3]!, accessor = m[9]!;
      const iface = this.interfaces.get(cls);
      const selector = this.selectors.get(accessor);
      const where = `${file}: ${cls} ${m[4]}`;
      if (!iface || !selector) {
        this.skipped.push(`${where}: ${!iface ? "no interface" : "no selector " + accessor}`);
        continue;
      }
      const isClass = m[7] !== "this";
      const params = m[5]!.trim() ? splitParams(m[5]!) : [];
      const colons = (selector.match(/:/g) ?? []).length;
      if (colons !== params.length) {
        this.skipped.push(`${where}: selector ${selector} has ${colons} arguments, C++ ${params.length}`);
        continue;
      }
      const mentions: string[] = [];
      const ret = selector === "init" || /^init[A-Z]/.test(selector) ? { objc: "instancetype", mentions: [] } : this.mapType(m[1]!, ns);
      const mapped = params.map((p) => this.mapParam(p, ns));
      if (!ret || mapped.some((p) => !p)) {
        this.skipped.push(`${where}: a type without an Objective-C mapping (${[m[1], ...params].join(", ")})`);
        continue;
      }
      mentions.push(...ret.mentions, ...mapped.flatMap((p) => p!.mentions));
      iface.methods.set((isClass ? "+" : "-") + selector, {
        selector, isClass, returnType: ret.objc, params: mapped.map((p) => p!.objc), mentions,
      });
    }
  }

  private collectFunctions(text: string): void {
    for (const m of text.matchAll(/extern\s+"C"\s+([\w:\s*]+?)\s*(MTL\w+)\s*\(([^()]*)\)\s*;/g)) {
      const ns = this.namespaceAt(text, m.index!);
      const ret = this.mapType(m[1]!, ns);
      const params = m[3]!.trim() ? splitParams(m[3]!).map((p) => this.mapParam(p, ns)) : [];
      if (!ret || params.some((p) => !p)) {
        this.skipped.push(`function ${m[2]}`);
        continue;
      }
      const list = params.map((p, i) => `${p!.objc} arg${i}`).join(", ") || "void";
      this.functions.push(`${ret.objc} ${m[2]}(${list})${/^MTLCopy/.test(m[2]!) ? " NS_RETURNS_RETAINED" : ""};`);
    }
  }

  /** One C++ parameter ("const MTL::Buffer* const buffers[]") as an Objective-C type. */
  private mapParam(param: string, ns: string): { objc: string; mentions: string[] } | null {
    let p = param.trim();
    let arrays = 0;
    while (/\[\s*\d*\s*\]\s*$/.test(p)) {
      p = p.replace(/\[\s*\d*\s*\]\s*$/, "").trim();
      arrays++;
    }
    // The parameter's name, if any: the last identifier after a space, '*' or '&' (not 'const').
    p = p.replace(/(?<=[\s*&])(\w+)$/, (name) => (name === "const" ? name : "")).trim();
    return this.mapType(p + "*".repeat(arrays), ns);
  }

  /** A C++ type as an Objective-C type, or null where there is no mapping. */
  mapType(cpp: string, ns: string): { objc: string; mentions: string[] } | null {
    let t = squash(cpp.replace(/\bclass\s+/g, ""));
    if (t.includes("&") || t.includes("std::function") || t.includes("<")) return null;
    // Pointer levels, and whether the pointee (the innermost type) is const.
    const stars = (t.match(/\*/g) ?? []).length;
    const innerConst = /^const\b/.test(t) || /^[\w:]+\s+const\b/.test(t);
    const outerConst = stars > 1 && /\*\s*const\s*\*/.test(t);
    const base = t.replace(/\bconst\b/g, "").replace(/\*/g, "").trim();
    if (SCALARS[base] !== undefined) {
      const c = innerConst && stars > 0 ? "const " : "";
      return { objc: c + SCALARS[base] + (stars ? " " + "*".repeat(stars) : ""), mentions: [] };
    }
    const ns2 = /^NS::(\w+)$/.exec(base);
    if (ns2) {
      if (ns2[1] === "Object" && stars >= 1) return { objc: "id" + (stars > 1 ? " " + "*".repeat(stars - 1) : ""), mentions: [] };
      if (FOUNDATION_CLASSES.has(ns2[1]!) && stars >= 1)
        return { objc: `NS${ns2[1]} ${"*".repeat(stars)}`, mentions: [] };
      return null;
    }
    if (!/^(?:MTL4?::)?\w+$/.test(base)) return null;
    const objc = this.objcName(base, ns);
    const iface = this.interfaces.get(objc);
    if (iface) {
      if (stars === 0) return null;
      const one = iface.isClass ? `${objc} *` : `id<${objc}>`;
      // An array of objects (T* const[]): const pointees, which ARC leaves unretained.
      if (stars === 2 && outerConst) return { objc: `${one} const __unsafe_unretained *`, mentions: [objc] };
      return { objc: one + (stars > 1 ? " " + "*".repeat(stars - 1) : ""), mentions: [objc] };
    }
    if (this.enums.has(objc) || this.structs.has(objc) || this.aliases.has(objc)) {
      // const applies to values, not to object pointers (an alias of one: AutoreleasedX).
      const objectAlias = this.aliases.get(objc)?.line.includes("*") ?? false;
      const c = innerConst && stars > 0 && !objectAlias ? "const " : "";
      return { objc: c + objc + (stars ? " " + "*".repeat(stars) : ""), mentions: [objc] };
    }
    return null;
  }

  /** The macOS version that introduced `name` (type, Type.selector or Enum.value), or null. */
  introduced(name: string): string | null {
    const own = INTRODUCED[name];
    if (own) return own;
    const type = name.split(".")[0]!;
    for (const [prefix, version] of INTRODUCED_BY_PREFIX) if (type.startsWith(prefix)) return version;
    return null;
  }

  private typeIntroduced(name: string): string | null {
    const alias = this.aliases.get(name);
    let v = this.introduced(name);
    if (alias) {
      for (const m of alias.line.matchAll(/\bMTL4?\w+/g))
        if (m[0] !== name) v = newer(v, this.introduced(m[0]));
    }
    return v;
  }

  render(): GeneratedMetal {
    const out: string[] = [];
    const avail = (v: string | null) => (v && compareVersions(v, DEPLOYMENT_TARGET) > 0 ? ` API_AVAILABLE(macos(${v}))` : "");
    const used = new Set<string>();
    const note = (key: string) => {
      used.add(key);
      return this.introduced(key);
    };
    out.push(
      "/* Generated by shim/metal/api/generate.ts from metal-cpp: a stand-in for <Metal/Metal.h> that",
      " * lets clang type-check the shim without Apple's SDK. Do not edit; do not commit. */",
      "#pragma once",
      "#import <Foundation/Foundation.h>",
      "",
    );
    const ifaces = [...this.interfaces.values()].sort((a, b) => a.objcName.localeCompare(b.objcName));
    for (const i of ifaces) out.push(i.isClass ? `@class ${i.objcName};` : `@protocol ${i.objcName};`);
    out.push("");
    for (const e of [...this.enums.values()].sort((a, b) => a.objcName.localeCompare(b.objcName))) {
      const macro = e.options ? "NS_OPTIONS" : "NS_ENUM";
      out.push(`typedef ${macro}(${e.underlying}, ${e.objcName}) {`);
      for (const v of e.values)
        out.push(`  ${v.name}${avail(note(`${e.objcName}.${v.name}`))}${v.value ? " = " + v.value : ""},`);
      out.push(`}${avail(note(e.objcName))};`, "");
    }
    // Structs in dependency order.
    const emitted = new Set<string>();
    const emitStruct = (s: StructDecl) => {
      if (emitted.has(s.objcName)) return;
      emitted.add(s.objcName);
      for (const d of s.deps) {
        const dep = this.structs.get(d);
        if (dep) emitStruct(dep);
      }
      out.push(`typedef struct {`);
      for (const f of s.fields) out.push(`  ${f.type} ${f.name}${f.dims};`);
      out.push(`} ${s.objcName};`);
      for (const mk of s.makers)
        out.push(`${s.objcName} ${mk.name}(${mk.params.map((p) => `${p.type} ${p.name}`).join(", ")});`);
      out.push("");
    };
    // Aliases may name structs and structs aliases (Coordinate2D): structs first, then aliases.
    for (const s of this.structs.values()) emitStruct(s);
    // Plain aliases before blocks, whose parameters may name them.
    const isBlock = (a: { line: string }) => a.line.includes("(^");
    const aliases = [...this.aliases.values()].sort((x, y) => Number(isBlock(x)) - Number(isBlock(y)) || x.objc.localeCompare(y.objc));
    for (const a of aliases)
      out.push(a.line.replace(/;$/, `${avail(this.typeIntroduced(a.objc))};`));
    out.push("");
    for (const f of this.functions) out.push(f);
    out.push("");

    // Interfaces, parents first.
    const done = new Set<string>();
    let methods = 0;
    const emit = (i: Interface) => {
      if (done.has(i.objcName)) return;
      done.add(i.objcName);
      const parent = i.parent ? this.interfaces.get(i.parent) : undefined;
      if (parent) emit(parent);
      const typeVersion = note(i.objcName);
      const protocols = ["NSObject", ...(i.copying ? ["NSCopying"] : [])];
      if (i.isClass) {
        const base = parent?.isClass ? parent.objcName : "NSObject";
        const conform = parent && !parent.isClass ? [parent.objcName, ...protocols.slice(1)] : protocols.slice(1);
        if (avail(typeVersion)) out.push(avail(typeVersion).trim());
        out.push(`@interface ${i.objcName} : ${base}${conform.length ? ` <${conform.join(", ")}>` : ""}`);
      } else {
        const conform = parent ? [parent.objcName, ...protocols.slice(1)] : protocols;
        if (avail(typeVersion)) out.push(avail(typeVersion).trim());
        out.push(`@protocol ${i.objcName} <${conform.join(", ")}>`);
      }
      for (const m of [...i.methods.values()].sort((a, b) => a.selector.localeCompare(b.selector))) {
        let v = note(`${i.objcName}.${m.selector}`);
        for (const t of m.mentions) v = newer(v, this.typeIntroduced(t));
        const parts = m.selector.split(":");
        const head = `${m.isClass ? "+" : "-"} (${m.returnType})`;
        const body = m.params.length === 0 ? m.selector : m.params.map((p, k) => `${parts[k]}:(${p})a${k}`).join(" ");
        out.push(`${head}${body}${avail(v)};`);
        methods++;
      }
      out.push("@end", "");
    };
    for (const i of ifaces) emit(i);

    const unmatchedAvailability = Object.keys(INTRODUCED).filter((k) => !used.has(k) && !this.aliases.has(k));
    return {
      header: out.join("\n") + "\n",
      counts: {
        protocols: ifaces.filter((i) => !i.isClass).length,
        classes: ifaces.filter((i) => i.isClass).length,
        methods,
        enums: this.enums.size,
        structs: this.structs.size,
        functions: this.functions.length,
      },
      skipped: this.skipped,
      unmatchedAvailability,
    };
  }
}

function newer(a: string | null, b: string | null): string | null {
  if (!a) return b;
  if (!b) return a;
  return compareVersions(a, b) >= 0 ? a : b;
}

/** Splits a parameter list on top-level commas. */
function splitParams(list: string): string[] {
  const out: string[] = [];
  let depth = 0, cur = "";
  for (const ch of list) {
    if (ch === "<" || ch === "(") depth++;
    if (ch === ">" || ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out;
}

/** Generates the stand-in Metal.h from metal-cpp's Metal/ folder. */
export function generateMetalHeader(metalCppDir: string): GeneratedMetal {
  const g = new Generator(join(metalCppDir, "Metal"));
  g.collect();
  return g.render();
}
