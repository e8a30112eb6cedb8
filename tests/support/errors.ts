/** Assertions on the library's typed errors. */
import { expect } from "bun:test";
import { ArgumentError } from "../../src/index.ts";

/** `fn` throws an `ArgumentError` naming `argument` (and, if given, with `text` in its message). */
export function expectArgumentError(fn: () => unknown, argument: string, text?: string): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ArgumentError);
  expect((error as ArgumentError).argument).toBe(argument);
  if (text !== undefined) expect((error as Error).message).toContain(text);
}
