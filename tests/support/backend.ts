/**
 * What the backend under test can do, for tests that skip where it cannot (the reason goes into
 * the test's name):
 * - msl-cpu's own checks (sanitize builds, barrier and lane misuse reported as faults, its stack
 *   limit, its compile cache) exist only on the cpu backend; on a GPU such code is undefined
 *   behaviour, as it is on Metal.
 * - A kernel registered at run time is compiled where the test runs: on a GPU host that needs
 *   clang 17 or newer (clang 16 lacks __bf16 arithmetic); without it the host runs from the PTX
 *   cache that `bun run precompile --backend cuda` fills, which holds the library's kernels and
 *   the recorded ones, not a test's deliberately broken source.
 */
import { test } from "bun:test";
import { config } from "../../src/config.ts";
import { fixture } from "./fixtures.ts";

export const backend = fixture().device.backend;

/** clang 17+ by the names the cuda backend looks for, or an explicit MLXN_CXX. */
export const modernClang = config().cxx !== undefined || ["clang++-19", "clang++-18", "clang++-17"].some((c) => Bun.which(c) !== null);

/** "" on the cpu backend; otherwise why a test of msl-cpu's own checks does not run. */
export const MSL_CPU_ONLY = backend === "cpu" ? "" : `checks msl-cpu itself; such code is undefined behaviour on ${backend}`;

/** "" where kernels registered at run time compile; otherwise why not. */
export const NO_RUNTIME_COMPILER =
  backend === "cuda" && !modernClang ? "needs clang 17+ on this GPU host to compile a kernel at run time (the precompiled PTX cache has only known kernels)" : "";

type TestFn = (name: string, fn: () => void | Promise<unknown>, timeout?: number) => void;

/** `test`, or `test.skip` with `[skipped: reason]` in the name when `reason` is not "". */
export function testUnless(reason: string): TestFn {
  if (reason === "") return (name, fn, timeout) => test(name, fn, timeout);
  return (name, fn, timeout) => test.skip(`${name} [skipped: ${reason}]`, fn, timeout);
}
