/**
 * GGUF decode benchmark: one synthetic Llama-shaped model as GGUF Q4_0, GGUF Q4_K (matrices and
 * embedding in that format, as a "pure" quantization) and MLX 4-bit (group 64), decode tokens/s
 * on the active backend, beside llama.cpp's CPU build running the same GGUF files through
 * node-llama-cpp when it can be imported (an optional bench dependency: pass its install folder
 * with --node-llama-cpp DIR, or have it resolvable; never needed by the tests).
 *
 * Each configuration decodes `steps` greedy tokens after an 8-token prompt, one command buffer per
 * token (sampling on the device); the figure is the best of `rounds` interleaved rounds. Weight
 * bytes / step time is the bandwidth decode reaches.
 *
 * bun run bench/gguf.ts [--preset small|0.5b] [--steps N] [--rounds N] [--node-llama-cpp DIR] [--threads N[,N...]]
 *
 * Presets: small (default): hidden 1024, 8 layers, FFN 2816, 16 heads / 4 KV heads, vocab 8192,
 * about 100M parameters, sized for a 2-core machine (quantizing in TypeScript and decoding both
 * take a while there); 0.5b: hidden 1024, 24 layers, FFN 4864, 16 / 2 heads, vocab 32768, about
 * 0.45B parameters (Qwen2.5-0.5B's depth and FFN with a 256-multiple width, which the K formats
 * need).
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createSyntheticModel, DType, loadModelSync, type Model, type SyntheticModelSpec } from "../src/index.ts";
import { convertToGguf } from "../tests/support/gguf_convert.ts";
import { memcpyGBps } from "./support.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { preset: { type: "string" }, steps: { type: "string" }, rounds: { type: "string" }, "node-llama-cpp": { type: "string" }, threads: { type: "string" } },
});
const steps = Number(values.steps ?? 16);
const rounds = Number(values.rounds ?? 3);
/** llama.cpp thread counts to run (on a loaded 2-core machine its spinning thread barriers collapse at 2). */
const threadCounts = (values.threads ?? "1,2").split(",").map(Number);

const SHAPES: Record<string, Pick<SyntheticModelSpec, "vocabSize" | "hiddenSize" | "intermediateSize" | "numLayers" | "numHeads" | "numKvHeads">> = {
  small: { vocabSize: 8192, hiddenSize: 1024, intermediateSize: 2816, numLayers: 8, numHeads: 16, numKvHeads: 4 },
  "0.5b": { vocabSize: 32768, hiddenSize: 1024, intermediateSize: 4864, numLayers: 24, numHeads: 16, numKvHeads: 2 },
};
const preset = values.preset ?? "small";
const shape = SHAPES[preset];
if (!shape) throw new Error(`--preset must be one of ${Object.keys(SHAPES).join(", ")}`);
const base: SyntheticModelSpec = { modelType: "llama", ...shape, dtype: DType.F16, quantization: false, tieWordEmbeddings: true, ropeTheta: 500000, seed: 11 };

const root = mkdtempSync(join(tmpdir(), "mlxn-bench-gguf-"));
const log = (s: string) => process.stderr.write(`${s}\n`);
try {
  const t0 = performance.now();
  using source = createSyntheticModel(base, root);
  using mlx = createSyntheticModel({ ...base, quantization: { bits: 4, groupSize: 64 } }, root);
  log(`${(source.parameterCount / 1e6).toFixed(0)}M parameters (${preset}); wrote the source and MLX 4-bit models in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const files: [string, string][] = [];
  for (const type of ["Q4_0", "Q4_K"] as const) {
    const t = performance.now();
    const path = join(root, `model-${type}.gguf`);
    convertToGguf(source.dir, path, { linear: type });
    files.push([type, path]);
    log(`quantized ${type} in ${((performance.now() - t) / 1000).toFixed(0)} s (${(statSync(path).size / 1e6).toFixed(0)} MB)`);
  }

  const configs: [string, string, number][] = [
    ...files.map(([type, path]): [string, string, number] => [`GGUF ${type}`, path, statSync(path).size]),
    ["MLX 4-bit g64", mlx.dir, [...mlx.files].filter((f) => f.endsWith(".safetensors")).reduce((a, f) => a + statSync(join(mlx.dir, f)).size, 0)],
  ];
  const models: Model[] = configs.map(([, path]) => loadModelSync(path, { progress: false }));
  const device = models[0]!.device;
  const vocab = base.vocabSize;
  const prompt = Array.from({ length: 8 }, (_, i) => (i * 131 + 7) % vocab);
  const best = new Array<number>(models.length).fill(0);
  for (let round = 0; round < rounds; round++) {
    models.forEach((model, i) => {
      using cache = model.newCache({ maxLength: prompt.length + steps + 1 });
      let token = model.decoder.sample(prompt, cache, { temperature: 0, topK: 0, topP: 1, seed: 0, step: 0 }).token!;
      const t = performance.now();
      for (let s = 1; s <= steps; s++) token = model.decoder.sample([token], cache, { temperature: 0, topK: 0, topP: 1, seed: 0, step: s }).token!;
      best[i] = Math.max(best[i]!, steps / ((performance.now() - t) / 1000));
    });
  }
  console.log(`decode, ${preset} model (${(source.parameterCount / 1e6).toFixed(0)}M parameters), ${steps} steps, best of ${rounds}; ${device.backend} (${device.name}); memcpy ${memcpyGBps().toFixed(1)} GB/s`);
  configs.forEach(([name, , bytes], i) => {
    console.log(`  ${name.padEnd(16)} ${best[i]!.toFixed(1).padStart(7)} tokens/s   weights ${(bytes / 1e6).toFixed(0).padStart(5)} MB   ${((bytes * best[i]!) / 1e9).toFixed(2)} GB/s`);
  });
  for (const m of models) m.dispose();

  await llamaCpp(files, prompt);
} finally {
  rmSync(root, { recursive: true, force: true });
}

/** The same GGUF files on llama.cpp's CPU build through node-llama-cpp, when it can be imported. */
async function llamaCpp(files: [string, string][], prompt: number[]): Promise<void> {
  const where = values["node-llama-cpp"];
  let mod: { getLlama: (o: object) => Promise<LlamaLike> };
  try {
    mod = await import(where ? join(where, "node_modules", "node-llama-cpp", "dist", "index.js") : "node-llama-cpp");
  } catch (e) {
    console.log(`  llama.cpp (node-llama-cpp): not installed here (${(e as Error).message.split("\n")[0]}); pass --node-llama-cpp DIR`);
    return;
  }
  const llama = await mod.getLlama({ gpu: false });
  for (const [type, path] of files) for (const threads of threadCounts) {
    let bestRate = 0;
    try {
      const model = await llama.loadModel({ modelPath: path });
      const context = await model.createContext({ contextSize: 256, threads });
      for (let round = 0; round < rounds; round++) {
        const sequence = context.getSequence();
        let n = 0;
        let t = 0;
        for await (const _ of sequence.evaluate(prompt, { temperature: 0 })) {
          if (n === 0) t = performance.now();
          if (++n > steps) break;
        }
        bestRate = Math.max(bestRate, steps / ((performance.now() - t) / 1000));
        sequence.dispose();
      }
      await context.dispose();
      await model.dispose();
      console.log(`  llama.cpp ${type.padEnd(6)} ${bestRate.toFixed(1).padStart(7)} tokens/s   (node-llama-cpp, CPU, ${threads} thread${threads === 1 ? "" : "s"})`);
    } catch (e) {
      console.log(`  llama.cpp ${type}: failed (${(e as Error).message.split("\n")[0]})`);
    }
  }
}

interface LlamaLike {
  loadModel(o: { modelPath: string }): Promise<{
    createContext(o: { contextSize: number; threads: number }): Promise<{ getSequence(): { evaluate(tokens: number[], o: object): AsyncIterable<number>; dispose(): void }; dispose(): Promise<void> }>;
    dispose(): Promise<void>;
  }>;
}
