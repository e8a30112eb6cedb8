/**
 * The library as a user's app gets it: pack the tarballs (`scripts/packages.ts`, as `make
 * packages` does, without the precompiled kernels to stay cheap), install them into a fresh app
 * with no registry reachable, write the demo model with the `bun-mlx-native` command, generate
 * from the app, type-check the app's source against the packed declaration files under strict
 * user flags, build the app into one executable with `bun-mlx-native build-exe` and run it from
 * another directory with the app's node_modules gone.
 *
 * Takes about a minute on two cores (most of it writing the declaration files and bun build).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadModel } from "../src/index.ts";
import { platformPackageName } from "../src/ffi/loader.ts";

setDefaultTimeout(600_000);

const root = resolve(import.meta.dir, "..");
const bun = process.execPath;
const work = mkdtempSync(join(tmpdir(), "mlxn-package-"));
const packages = join(work, "packages");
const app = join(work, "app");
// A GPU host gets the runtime dependencies only (tools/device-carry.sh): no tsc, nothing to pack with.
const tsc = join(root, "node_modules", ".bin", "tsc");
const packable = existsSync(tsc);
const packTest = packable ? test : test.skip;

function run(argv: string[], cwd: string, env: Record<string, string> = {}): string {
  const r = Bun.spawnSync(argv, { cwd, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} (in ${cwd}) failed with exit ${r.exitCode}:\n${r.stderr.toString()}\n${r.stdout.toString()}`);
  return r.stdout.toString();
}

const APP_SOURCE = `import { loadModel, type GenerateOptions } from "bun-mlx-native";

const options: GenerateOptions = { maxTokens: 8, temperature: 0.8, seed: 1 };
await using model = await loadModel(process.argv[2] ?? "model", { progress: false });
const { tokens, stats } = await model.generate("Once upon a time", options).complete();
console.log(JSON.stringify({ tokens, finish: stats.finishReason }));
`;

let tarballs: string[] = [];

beforeAll(() => {
  if (!packable) return;
  run([bun, join(root, "scripts", "packages.ts"), "--out", packages, "--no-kernel-cache"], root);
  tarballs = readdirSync(packages).filter((f) => f.endsWith(".tgz"));
  mkdirSync(app);
  const file = (name: string) => `file:${join(packages, tarballs.find((t) => t.startsWith(name))!)}`;
  // Every dependency from the local tarballs: the library's own through overrides.
  const overrides = Object.fromEntries(
    [["@huggingface/jinja", "huggingface-jinja-"], ["@huggingface/tokenizers", "huggingface-tokenizers-"], [platformPackageName(), `${platformPackageName()}-`]].map(([dep, prefix]) => [dep!, file(prefix!)]),
  );
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({ name: "user-app", type: "module", dependencies: { "bun-mlx-native": file("bun-mlx-native-0"), [platformPackageName()]: file(`${platformPackageName()}-`) }, overrides }, null, 2),
  );
  writeFileSync(join(app, "app.ts"), APP_SOURCE);
  // No registry: an unreachable one, and a fresh install cache.
  run([bun, "install", "--registry", "http://127.0.0.1:9/"], app, { BUN_INSTALL_CACHE_DIR: join(work, "install-cache") });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe(packable ? "packed, installed offline, compiled" : "packed, installed offline, compiled [skipped: needs the dev dependencies (npm install): tsc writes the declaration files]", () => {
  packTest("the tarballs: library, this platform's shim package, the library's dependencies", () => {
    expect(tarballs.some((t) => t.startsWith("bun-mlx-native-0"))).toBe(true);
    expect(tarballs.some((t) => t.startsWith(`${platformPackageName()}-`))).toBe(true);
    expect(tarballs.filter((t) => t.startsWith("huggingface-")).length).toBe(2);
  });

  packTest("the app generates with the demo model written by the bun-mlx-native command, as the library does in-process", async () => {
    run([bun, "run", "--bun", "bun-mlx-native", "demo-model", "model"], app);
    const printed = JSON.parse(run([bun, "app.ts", "model"], app)) as { tokens: number[]; finish: string };
    await using model = await loadModel(join(app, "model"), { progress: false });
    const expected = await model.generate("Once upon a time", { maxTokens: 8, temperature: 0.8, seed: 1 }).complete();
    expect(printed.tokens).toEqual(expected.tokens);
    expect(printed.finish).toBe("length");
  });

  packTest("the shim comes from the platform package, not from a checkout", () => {
    const loader = join(app, "node_modules", "bun-mlx-native", "src", "ffi", "loader.ts");
    const path = run([bun, "-e", `import { shimLibraryPath } from ${JSON.stringify(loader)}; console.log(shimLibraryPath("cpu"))`], app).trim();
    expect(path).toContain(join("node_modules", platformPackageName()));
  });

  packTest("the app type-checks against the declaration files under strict user flags", () => {
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ESNext",
          module: "Preserve",
          moduleResolution: "bundler",
          lib: ["ESNext"],
          noEmit: true,
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          // As \`bun init\` writes it (bun-types itself does not pass a library check).
          skipLibCheck: true,
          typeRoots: [join(root, "node_modules"), join(root, "node_modules", "@types")],
          types: ["bun-types", "node"],
        },
        files: ["app.ts"],
      }),
    );
    const listed = run([tsc, "-p", "tsconfig.json", "--listFilesOnly"], app);
    // The library is read through its declaration files, never its sources.
    expect(listed).toContain("bun-mlx-native/dist/types/src/index.d.ts");
    expect(listed).not.toContain("bun-mlx-native/src/");
    run([tsc, "-p", "tsconfig.json"], app);
  });

  packTest("build-exe makes one executable that runs from another directory without node_modules", () => {
    run([bun, "run", "--bun", "bun-mlx-native", "build-exe", "app.ts", "--outfile", "dist/app"], app);
    const expected = JSON.parse(run([bun, "app.ts", "model"], app)) as { tokens: number[] };
    renameSync(join(app, "node_modules"), join(app, "node_modules.away"));
    try {
      const elsewhere = mkdtempSync(join(work, "elsewhere-"));
      const printed = JSON.parse(run([join(app, "dist", "app"), join(app, "model")], elsewhere)) as { tokens: number[] };
      expect(printed.tokens).toEqual(expected.tokens);
    } finally {
      renameSync(join(app, "node_modules.away"), join(app, "node_modules"));
    }
  });
});
