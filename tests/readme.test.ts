/** The README's first example runs as written (importing the package by its name) and prints what it says. */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

test("the README's first code sample runs as written", () => {
  const root = resolve(import.meta.dir, "..");
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const sample = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(sample).toContain('from "bun-mlx-native"');
  // Inside the package, so that the import resolves by the package's own name.
  const file = join(root, `.readme-sample-${process.pid}.ts`);
  writeFileSync(file, sample!);
  try {
    const run = spawnSync(process.execPath, [file], { cwd: root, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("Float32Array(4) [ 11, 22, 33, 44 ]");
  } finally {
    rmSync(file, { force: true });
  }
}, 120_000);
