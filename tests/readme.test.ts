/**
 * Every TypeScript example of README.md runs as written, each in its own Bun process importing
 * "bun-mlx-native" (the package's own name), with two substitutions only: model directories
 * ("models/…") become a small generated model, and the server address becomes that of a server
 * this test starts on a free port.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadModel, type Model } from "../src/index.ts";
import { createSyntheticModel } from "../src/models/synthetic.ts";
import { serveOpenAI, type OpenAIServer } from "../src/server/openai.ts";
import { runnerPreset } from "./models/runner_support.ts";
import { fixture } from "./support/fixtures.ts";

setDefaultTimeout(300_000);

const root = resolve(import.meta.dir, "..");
const examples = [...readFileSync(join(root, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const synthetic = createSyntheticModel(runnerPreset("llama"));
// Inside the repository, so that "bun-mlx-native" resolves to this package.
const dir = join(root, "build", "readme-examples");
let model: Model;
let server: OpenAIServer;

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  model = await loadModel(synthetic.dir, { device: fixture().device, progress: false });
  server = serveOpenAI({ model, modelId: "model", port: 0 });
});
afterAll(async () => {
  await server.stop();
  model.dispose();
  synthetic.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe("README.md", () => {
  test("has TypeScript examples", () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
  });

  examples.forEach((source, i) => {
    const first = source.split("\n").find((l) => l.trim() !== "" && !l.startsWith("import")) ?? "";
    test(`example ${i + 1} runs: ${first.trim().slice(0, 60)}`, async () => {
      const text = source.replace(/"models\/[^"]+"/g, JSON.stringify(synthetic.dir)).replaceAll("http://127.0.0.1:8080", server.url);
      const file = join(dir, `example${i + 1}.ts`);
      writeFileSync(file, text);
      const proc = Bun.spawn([process.execPath, file], { cwd: root, stdout: "pipe", stderr: "pipe" });
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      if (code !== 0) throw new Error(`example ${i + 1} exited with ${code}:\n${stderr}\n${stdout}`);
      if (i === 0) expect(stdout).toContain("11, 22, 33, 44");
    });
  });
});
