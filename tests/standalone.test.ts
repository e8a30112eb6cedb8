/**
 * A `bun build --compile` executable finds the shim and the kernels it embeds, and runs from a
 * directory outside the repository with a fresh cache.
 */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { defaultBackend } from "../src/index.ts";

const root = resolve(import.meta.dir, "..");
const bun = process.execPath;

test.skipIf(defaultBackend() !== "cpu")("the compiled demo runs outside the repository", () => {
  const dir = mkdtempSync(join(tmpdir(), "mlxn-standalone-"));
  try {
    const exe = join(dir, "demo");
    const lib = join(root, "build", `libmlxn_cpu.${process.platform === "darwin" ? "dylib" : "so"}`);
    const build = spawnSync(bun, ["build", "--compile", "examples/demo.ts", "--asset", "kernels", "--asset", lib, "--outfile", exe], { cwd: root, encoding: "utf8" });
    expect(build.status, build.stderr).toBe(0);
    const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: dir, MLXN_CACHE_DIR: join(dir, "cache") };
    const run = spawnSync(exe, [], { cwd: dir, encoding: "utf8", env });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("cb_count_plain=10");
    expect(run.stdout).toContain("cb_count_session=5");
    expect(run.stdout).toContain("sums=[11, 22, 33, 44] (correct)");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
