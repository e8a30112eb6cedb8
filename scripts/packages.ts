/**
 * `make packages`: the npm packages of this version as tarballs in build/packages/, made with
 * `bun pm pack`:
 *
 * - `bun-mlx-native-<version>.tgz`: the library (TS sources, kernels/, declaration files in
 *   dist/types, the `bun-mlx-native` command). Its manifest lists the platform packages as
 *   optional dependencies, so an install from a registry fetches the one for its platform.
 * - `bun-mlx-native-<os>-<arch>-<version>.tgz`: the backend libraries built in build/ for this
 *   platform (`os`/`cpu` fields let package managers skip it elsewhere), plus, for the cpu
 *   backend, the msl-cpu kernel objects of the demo model (see "kernel-cache" below).
 * - `bun-mlx-native-deps-<name>.tgz`: the library's own dependencies, packed from node_modules,
 *   so an app can install everything from these files with no registry (the offline test does).
 *
 * Only this machine's platform package can be built here; `make packages` on each platform
 * (macOS/arm64 for Metal) builds its own.
 *
 * kernel-cache: `precompile` of the demo model runs with MLXN_CACHE_DIR pointing into the
 * package, so the package holds exactly the objects those kernels compile to, keyed as the cache
 * is (compiler identity and CPU model and features included). The loader seeds the user's cache
 * from it; a machine whose key differs (another CPU or compiler) compiles with clang as usual.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { platformPackageName } from "../src/ffi/loader.ts";

// --out DIR: write the tarballs there instead; --no-kernel-cache: skip compiling the demo
// model's kernels into the platform package (a minute of clang on a cold cache; tests use it).
const { values: args } = parseArgs({ args: Bun.argv.slice(2), options: { out: { type: "string" }, "no-kernel-cache": { type: "boolean" } }, strict: true });
const root = resolve(import.meta.dir, "..");
const out = resolve(args.out ?? join(root, "build", "packages"));
const stage = join(out, "stage");
const bun = process.execPath;
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; dependencies: Record<string, string> } & Record<string, unknown>;
const version = manifest.version;
const platforms = [platformPackageName("linux", "x64"), platformPackageName("linux", "arm64"), platformPackageName("darwin", "arm64")];

function run(argv: string[], cwd: string, env: Record<string, string> = {}): string {
  const r = Bun.spawnSync(argv, { cwd, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed (exit ${r.exitCode}):\n${r.stderr.toString()}${r.stdout.toString()}`);
  return r.stdout.toString();
}

function pack(dir: string): string {
  const before = new Set(readdirSync(out));
  run([bun, "pm", "pack", "--destination", out, "--ignore-scripts"], dir);
  const made = readdirSync(out).filter((f) => f.endsWith(".tgz") && !before.has(f));
  if (made.length !== 1) throw new Error(`bun pm pack in ${dir} made ${made.length} tarballs`);
  return made[0]!;
}

const t0 = performance.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

// 1. Declaration files, so a user's tsc reads .d.ts files and never checks our sources.
rmSync(join(root, "dist", "types"), { recursive: true, force: true });
run([join(root, "node_modules", ".bin", "tsc"), "-p", "tsconfig.types.json"], root);

// 2. The library, staged with a manifest that adds the platform packages.
const lib = join(stage, "bun-mlx-native");
mkdirSync(lib, { recursive: true });
for (const entry of ["src", "kernels", "dist", "README.md"]) cpSync(join(root, entry), join(lib, entry), { recursive: true });
const { devDependencies: _dev, scripts: _scripts, ...published } = manifest;
writeFileSync(join(lib, "package.json"), JSON.stringify({ ...published, optionalDependencies: Object.fromEntries(platforms.map((p) => [p, version])) }, null, 2) + "\n");
const made = [pack(lib)];

// 3. This platform's package: the backend libraries, and the demo model's kernel objects.
const name = platformPackageName();
const plat = join(stage, name);
mkdirSync(plat, { recursive: true });
const libs = readdirSync(join(root, "build")).filter((f) => /^libmlxn_\w+\.(so|dylib)$/.test(f));
if (libs.length === 0) throw new Error("no backend library in build/: run make setup first");
for (const f of libs) cpSync(join(root, "build", f), join(plat, f));
const files = [...libs];
if (!args["no-kernel-cache"] && libs.includes(`libmlxn_cpu.${process.platform === "darwin" ? "dylib" : "so"}`)) {
  const cache = join(plat, "kernel-cache");
  run([bun, join(root, "src", "cli", "main.ts"), "precompile"], root, { MLXN_CACHE_DIR: cache, MLXN_BACKEND: "cpu", MLXN_SHIM_PATH: join(plat, libs.find((f) => f.startsWith("libmlxn_cpu"))!) });
  // Only the objects: the sources beside them are kept for debugging and not needed.
  for (const f of readdirSync(join(cache, "msl-cpu"))) if (f.endsWith(".cpp") || f.endsWith(".tmp")) rmSync(join(cache, "msl-cpu", f));
  files.push("kernel-cache");
}
const [os, cpu] = name.replace("bun-mlx-native-", "").split("-");
writeFileSync(
  join(plat, "package.json"),
  JSON.stringify({ name, version, description: `Prebuilt ${libs.join(", ")} for bun-mlx-native on ${os}/${cpu}`, license: manifest.license, os: [os], cpu: [cpu], files }, null, 2) + "\n",
);
made.push(pack(plat));

// 4. The library's dependencies, for installs without a registry.
for (const dep of Object.keys(manifest.dependencies)) {
  const dir = join(root, "node_modules", dep);
  if (!existsSync(dir)) throw new Error(`${dep} is not installed: run make setup first`);
  made.push(pack(dir));
}
rmSync(stage, { recursive: true, force: true });
console.log(`${out} (${((performance.now() - t0) / 1000).toFixed(1)} s):\n${made.map((f) => `  ${f}`).join("\n")}`);
