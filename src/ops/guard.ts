/**
 * The public face of the ops: every op function checked for the argument all ops share before
 * it runs. Ops name their first parameter `enc` (a CommandEncoder: `ops.x(enc, inputs…, out,
 * params?)`); a null or a plain object there is an `ArgumentError` naming it, instead of a
 * TypeError from deep inside the op. Anything else an op refuses is its own validation's business.
 */
import { CommandEncoder } from "../encoder.ts";
import { ArgumentError, MlxnError } from "../errors.ts";

type Fn = (...args: unknown[]) => unknown;

/** Name of a function's first parameter, from its source (`enc`, …). */
function firstParameter(fn: Fn): string | undefined {
  const src = Function.prototype.toString.call(fn);
  if (/^class\b/.test(src)) return undefined;
  const m = /^[^(]*\(([^)]*)\)/.exec(src);
  if (!m) return undefined;
  return m[1]!.replace(/\/\*.*?\*\//g, "").split(",")[0]!.trim().split(/[\s:=]/)[0];
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}

function guard(name: string, fn: Fn): Fn {
  if (firstParameter(fn) !== "enc") return fn;
  const guarded = function (this: unknown, ...args: unknown[]): unknown {
    const enc = args[0];
    if (!(enc instanceof CommandEncoder)) throw new ArgumentError("enc", `ops.${name} needs a CommandEncoder (got ${describe(enc)})`);
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

/** A copy of the ops namespace with every op guarded; constants, classes and helpers pass through. */
export function guardOps<T extends object>(ns: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ns)) out[k] = typeof v === "function" ? guard(k, v as Fn) : v;
  return Object.freeze(out) as T;
}
