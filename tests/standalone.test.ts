/**
 * `bun build --compile` executables find the shim and the kernels they embed, and run from a
 * directory outside the repository with a fresh kernel cache: the demo (which generates with the
 * demo model), and the generate CLI (`make compile`) on the demo model.
 */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { printable } from "../src/cli/generate.ts";
import { loadModelSync, syntheticPreset, writeSyntheticModel } from "../src/index.ts";
import { defaultBackend } from "../src/ffi/loader.ts";
import { fixture } from "./support/fixtures.ts";

const root = resolve(import.meta.dir, "..");
const bun = process.execPath;
// One fresh kernel cache for both executables, outside the repository: the first fills it from
// its embedded kernels (a cold compile of every family the demo model needs), the second reuses it.
const home = mkdtempSync(join(tmpdir(), "mlxn-standalone-home-"));
const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: home, MLXN_CACHE_DIR: join(home, "cache") };
afterAll(() => rmSync(home, { recursive: true, force: true }));

test.skipIf(defaultBackend() !== "cpu")("the compiled demo runs outside the repository", () => {
  const dir = mkdtempSync(join(tmpdir(), "mlxn-standalone-"));
  try {
    const exe = join(dir, "demo");
    const lib = join(root, "build", `libmlxn_cpu.${process.platform === "darwin" ? "dylib" : "so"}`);
    const build = spawnSync(bun, ["build", "--compile", "examples/demo.ts", "--asset", "kernels", "--asset", lib, "--outfile", exe], { cwd: root, encoding: "utf8" });
    expect(build.status, build.stderr).toBe(0);
    const run = spawnSync(exe, [], { cwd: dir, encoding: "utf8", env });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("cb_count_plain=10");
    expect(run.stdout).toContain("cb_count_session=5");
    expect(run.stdout).toMatch(/decode: 32 tokens at [\d.]+ tokens\/s/);
    expect(run.stdout).toContain("command buffers per decoded token: 1.00");
    expect(run.stdout).toContain("sums=[11, 22, 33, 44] (correct)");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 600_000);

test.skipIf(defaultBackend() !== "cpu")("`make compile` gives a generate executable that runs the demo model outside the repository", async () => {
  const dir = mkdtempSync(join(tmpdir(), "mlxn-compiled-"));
  try {
    const build = spawnSync("make", ["--no-print-directory", "compile", `BUN=${bun}`], { cwd: root, encoding: "utf8" });
    expect(build.status, build.stderr + build.stdout).toBe(0);
    const exe = join(dir, "generate");
    copyFileSync(join(root, "build", "generate"), exe);
    const modelDir = join(dir, "demo-model");
    writeSyntheticModel(modelDir, syntheticPreset("demo"));
    const options = { maxTokens: 8, temperature: 0.8, seed: 1 };
    const args = ["--model", modelDir, "--prompt", "Once upon a time", "--max-tokens", "8", "--temp", "0.8", "--seed", "1"];
    const run = spawnSync(exe, args, { cwd: dir, encoding: "utf8", env });
    expect(run.status, run.stderr).toBe(0);
    // The same generation in this process: the executable computed the same tokens.
    using model = loadModelSync(modelDir, { device: fixture().device, progress: false });
    const { text } = await model.generate([{ role: "user", content: "Once upon a time" }], options).complete();
    expect(run.stdout.startsWith(`${printable(text)}\n==========\n`)).toBe(true);
    expect(run.stdout).toMatch(/generation: 8 tokens, [\d.]+ tokens\/s/);
    expect(run.stdout).toContain("command buffers per decoded token: 1.00");
    const demo = spawnSync(exe, ["--demo", "--max-tokens", "2"], { cwd: dir, encoding: "utf8", env });
    expect(demo.status, demo.stderr).toBe(0);
    expect(demo.stderr).toContain("demo model: 19.4M parameters");
    expect(demo.stdout).toContain("generation: 2 tokens");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 600_000);
