/**
 * What a fuzz case is and how its outcome is judged. A case runs in a child process (see
 * child.ts) and ends in one of:
 *   ok        it returned, and `expect` allowed that;
 *   typed     it threw an MlxnError, and `expect` allowed that (and the argument matched);
 *   untyped   it threw anything else: a bug;
 *   unexpected it returned where an error was required (a silent wrong answer), or threw where
 *             success was required, or `check` rejected the result.
 * A crash or a hang kills the child; the parent then blames the case that started last.
 */
import { MlxnError } from "../../src/index.ts";

export type Expectation = "error" | "ok" | "either";

export interface FuzzCase {
  id: string;
  run: () => unknown;
  expect: Expectation;
  /** When the case must fail: the `argument` (ArgumentError) or a pattern of the message. */
  argument?: string | RegExp;
  /** Error class name required when the case must fail (e.g. "DisposedError"). */
  errorClass?: string;
  /** A returned value's check: a message when it is wrong. */
  check?: (result: unknown) => string | undefined;
}

export interface Outcome {
  id: string;
  outcome: "ok" | "typed" | "untyped" | "unexpected";
  detail: string;
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}: ${e.message.split("\n")[0]}`;
  return String(e);
}

/** Runs one case and judges it. */
export async function judge(c: FuzzCase): Promise<Outcome> {
  let result: unknown;
  try {
    result = c.run();
    if (result instanceof Promise) result = await result;
  } catch (e) {
    if (!(e instanceof MlxnError)) return { id: c.id, outcome: "untyped", detail: describe(e) };
    if (c.expect === "ok") return { id: c.id, outcome: "unexpected", detail: `expected success, got ${describe(e)}` };
    if (c.expect === "error") {
      if (c.errorClass !== undefined && e.constructor.name !== c.errorClass) {
        return { id: c.id, outcome: "unexpected", detail: `expected ${c.errorClass}, got ${describe(e)}` };
      }
      const arg = (e as { argument?: unknown }).argument;
      if (typeof c.argument === "string" && arg !== c.argument && !e.message.includes(c.argument)) {
        return { id: c.id, outcome: "unexpected", detail: `expected an error naming ${c.argument}, got ${describe(e)}` };
      }
      if (c.argument instanceof RegExp && !c.argument.test(e.message)) {
        return { id: c.id, outcome: "unexpected", detail: `expected an error matching ${c.argument}, got ${describe(e)}` };
      }
    }
    return { id: c.id, outcome: "typed", detail: describe(e) };
  }
  if (c.expect === "error") return { id: c.id, outcome: "unexpected", detail: `returned ${String(result).slice(0, 80)} where an error was required` };
  const wrong = c.check?.(result);
  if (wrong !== undefined) return { id: c.id, outcome: "unexpected", detail: wrong };
  return { id: c.id, outcome: "ok", detail: "" };
}

/** Deterministic PRNG (mulberry32), so that a failing seed reproduces. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
}

/** Values that break assumptions: wrong types, out of range, rounding to something else. */
export const WEIRD: readonly unknown[] = [
  undefined, null, NaN, -1, 0, -0, 0.5, 1e-300, 2 ** 31, 2 ** 32, 2 ** 53, 1e20, Infinity, -Infinity,
  "4", "", {}, [], [1, 2, 3], [-1], [NaN], true, { length: -1 }, { length: 2 ** 53 }, new Uint8Array(0), new Float64Array(8), 99,
];
