/**
 * Fuzz harness: property-based calls over the public API and generated malformed files, run in
 * child processes (tests/fuzz/child.ts) so that a crash or a hang fails a test, naming the case
 * that was running, instead of killing the test runner. Every case must end in a result or a
 * typed error (an MlxnError) as the case allows; see tests/fuzz/cases.ts for the judgement.
 *
 * FUZZ_SEED and FUZZ_COUNT (cases per method or per format) widen a local run; CI uses the
 * defaults, about a minute on two cores.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MSL_CPU_ONLY, testUnless } from "./support/backend.ts";

const BUN = process.execPath;
const SEED = Number(process.env.FUZZ_SEED ?? 20261205);
/** Random calls per method (api) and mutations per format (files; four times as many, they are cheap). */
const COUNT = Number(process.env.FUZZ_COUNT ?? 8);
/** A child that takes longer than this is taken for hung (generous: a cold kernel cache compiles the model's kernels first). */
const CHILD_LIMIT_MS = 540_000;

interface Line {
  start?: string;
  id?: string;
  outcome?: string;
  detail?: string;
  end?: boolean;
  errorClass?: string;
  argument?: string;
}

async function spawnChild(args: string[], env: Record<string, string | undefined> = {}): Promise<{ lines: Line[]; code: number | null; signal: string | null; timedOut: boolean; stderr: string }> {
  const proc = Bun.spawn([BUN, ...args], { cwd: join(import.meta.dir, ".."), env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, CHILD_LIMIT_MS);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  clearTimeout(timer);
  const lines = out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Line);
  return { lines, code: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode), timedOut, stderr: err.slice(-2000) };
}

/** Runs a batch; fails listing every case that was not ok/typed, and the case a crash or hang interrupted. */
async function runBatch(suite: string, count: number): Promise<number> {
  const r = await spawnChild(["tests/fuzz/child.ts", suite, String(SEED), String(count)]);
  const problems: string[] = [];
  let started: string | undefined;
  let finished = 0;
  for (const l of r.lines) {
    if (l.start !== undefined) started = l.start;
    else if (l.id !== undefined) {
      finished++;
      started = undefined;
      if (l.outcome !== "ok" && l.outcome !== "typed") problems.push(`${l.outcome}: ${l.id}: ${l.detail}`);
    }
  }
  const ended = r.lines.some((l) => l.end);
  if (!ended) {
    const how = r.timedOut ? `hung (killed after ${CHILD_LIMIT_MS / 1000} s)` : `died (exit ${r.code}, signal ${r.signal})`;
    problems.push(`${how} during case: ${started ?? "(setup)"}\n${r.stderr}`);
  }
  expect(problems).toEqual([]);
  return finished;
}

describe("fuzz: each batch in a child process", () => {
  test("public API: random arguments to every method, dangling handles, raw-kernel overruns, silent wrong results, leaks", async () => {
    expect(await runBatch("api", COUNT)).toBeGreaterThan(500);
  });

  test("malformed files: safetensors mutations, config.json values, tokenizer.json mutations, special files, writers", async () => {
    expect(await runBatch("files", COUNT * 4)).toBeGreaterThan(250);
  });
});

describe("fuzz: environment, compiler and cache, one process each", () => {
  const bad: [string, string][] = [
    ["MLXN_BACKEND", "gpu"],
    ["MLXN_MSL_CPU_THREADS", "abc"],
    ["MLXN_MSL_CPU_THREADS", "-2"],
    ["MLXN_MSL_CPU_THREADS", "1e9"],
    ["MLXN_MSL_CPU_SANITIZE", "yes"],
    ["MLXN_AUTO_BARRIER", "2"],
    ["MLXN_COMPILE_TIMEOUT", "-1"],
    ["MLXN_COMPILE_TIMEOUT", "soon"],
  ];
  test.each(bad)("%s=%s is an ArgumentError naming the variable", async (name, value) => {
    const r = await spawnChild(["tests/fuzz/process_child.ts", "env"], { [name]: value });
    expect(r.lines[0]).toMatchObject({ outcome: "typed", errorClass: "ArgumentError", argument: name });
  });

  testUnless(MSL_CPU_ONLY)("a compiler that never returns ends in a CompileError after MLXN_COMPILE_TIMEOUT", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mlxn-fuzz-cxx-"));
    try {
      const cxx = join(dir, "clang++-stuck");
      writeFileSync(cxx, "#!/bin/sh\nsleep 600\n");
      chmodSync(cxx, 0o755);
      const r = await spawnChild(["tests/fuzz/process_child.ts", "compile"], { MLXN_CXX: cxx, MLXN_COMPILE_TIMEOUT: "1", MLXN_CACHE_DIR: join(dir, "cache") });
      expect(r.timedOut).toBe(false);
      expect(r.lines[0]).toMatchObject({ outcome: "typed", errorClass: "CompileError" });
      expect(r.lines[0]!.detail).toMatch(/did not finish within 1000 ms/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  testUnless(MSL_CPU_ONLY)("kernel cache damage heals: another kernel's object swapped in, the header corrupted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mlxn-fuzz-cache-"));
    try {
      const env = { MLXN_CACHE_DIR: dir };
      const first = await spawnChild(["tests/fuzz/process_child.ts", "cache"], env);
      expect(first.lines[0]).toMatchObject({ outcome: "ok", detail: "1,1,1,1,2,2,2,2" });
      const cache = join(dir, "msl-cpu");
      const objects = readdirSync(cache).filter((f) => f.endsWith(".so"));
      expect(objects.length).toBe(2);
      cpSync(join(cache, objects[0]!), join(cache, objects[1]!));
      for (const h of readdirSync(cache).filter((f) => f.endsWith(".h"))) writeFileSync(join(cache, h), "#error damaged\n");
      const second = await spawnChild(["tests/fuzz/process_child.ts", "cache"], env);
      expect(second.lines[0]).toMatchObject({ outcome: "ok", detail: "1,1,1,1,2,2,2,2" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
