/**
 * The public face of the ops: every op function checked for the two arguments all ops share
 * before it runs. Ops name their first parameter `enc` (a CommandEncoder) and, where they take
 * one, the second `registry` (a KernelRegistry); a null or a plain object there
 * is an `ArgumentError` naming the argument, instead of a TypeError from deep
 * inside the op. Anything else an op refuses is its own validation's business.
 */
import { CommandEncoder } from "../encoder.ts";
import { ArgumentError, MlxnError } from "../errors.ts";
import { KernelRegistry } from "../registry.ts";

type Fn = (...args: unknown[]) => unknown;

/** Names of a function's leading parameters, from its source (`enc`, `registry`, …). */
function parameterNames(fn: Fn): string[] {
  const m = /^[^(]*\(([^)]*)\)/.exec(Function.prototype.toString.call(fn));
  if (!m) return [];
  return m[1]!
    .split(",")
    .map((p) => p.replace(/\/\*.*?\*\//g, "").trim().split(/[\s:=]/)[0]!)
    .filter((p) => p !== "");
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}

function guard(name: string, fn: Fn): Fn {
  const params = parameterNames(fn);
  const checkEnc = params[0] === "enc";
  const checkRegistry = params[1] === "registry";
  if (!checkEnc && !checkRegistry) return fn;
  const guarded = function (this: unknown, ...args: unknown[]): unknown {
    if (checkEnc) {
      const enc = args[0];
      if (!(enc instanceof CommandEncoder)) throw new ArgumentError("enc", `ops.${name} needs a CommandEncoder (got ${describe(enc)})`);
    }
    if (checkRegistry && !(args[1] instanceof KernelRegistry)) {
      throw new ArgumentError("registry", `ops.${name} needs a KernelRegistry (got ${describe(args[1])})`);
    }
    try {
      return fn.apply(this, args);
    } catch (e) {
      // An argument of the wrong shape that the op's checks did not foresee (a null where an
      // object was expected): still an argument error, with the engine's message.
      if (e instanceof TypeError && !(e instanceof MlxnError)) throw new ArgumentError(`ops.${name}`, `invalid arguments: ${e.message}`);
      throw e;
    }
  };
  Object.defineProperty(guarded, "name", { value: name });
  return guarded as Fn;
}

/** A copy of the ops namespace with every op guarded; constants and helpers pass through. */
export function guardOps<T extends object>(ns: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ns)) out[k] = typeof v === "function" ? guard(k, v as Fn) : v;
  return Object.freeze(out) as T;
}
