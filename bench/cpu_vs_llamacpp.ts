/**
 * The cpu backend (msl-cpu) against llama.cpp's CPU build on one synthetic Llama-shaped model:
 * MLX 4-bit group 64 (ours) and GGUF Q4_0 (llama.cpp through node-llama-cpp, an optional bench
 * dependency: pass its install folder with --node-llama-cpp DIR), both about 4.5 bits per weight.
 *
 * 1. qmv: the 4-bit matrix-vector products of `--layers` layers of the model's shape, each
 *    layer's weights distinct so that they do not stay in the caches, one command buffer per
 *    round: GB/s of weight bytes (codes, scales, biases) and the fraction of this machine's
 *    all-core read bandwidth (bench/memcpy.c).
 * 2. the model: decode tokens/s (`--steps` greedy steps after an 8-token prompt) and prefill
 *    tokens/s of a `--prompt`-token prompt, for ours and for llama.cpp, in interleaved rounds
 *    (ours, then llama.cpp, in each round), reporting the median of `--rounds` rounds.
 *
 * Weights are random codes written directly (no quantization pass), which is what makes an
 * 836M-parameter model practical to build in TypeScript.
 *
 * bun run bench/cpu_vs_llamacpp.ts [--preset 836m|415m] [--rounds N] [--steps N] [--prompt N]
 *   [--threads N] [--layers N] [--skip-model] [--node-llama-cpp DIR]
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createSyntheticModel, Device, DType, loadModelSync, ops, QuantizedTable, type SyntheticModelSpec } from "../src/index.ts";
import { convertToGguf } from "../tests/support/gguf_convert.ts";
import { benchBuffer, readGBps } from "./support.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    preset: { type: "string" },
    rounds: { type: "string" },
    steps: { type: "string" },
    prompt: { type: "string" },
    threads: { type: "string" },
    layers: { type: "string" },
    "skip-model": { type: "boolean" },
    "node-llama-cpp": { type: "string" },
  },
});
const rounds = Number(values.rounds ?? 3);
const steps = Number(values.steps ?? 16);
const promptLength = Number(values.prompt ?? 128);
const threads = Number(values.threads ?? 2);
const qmvLayers = Number(values.layers ?? 4);

type Shape = Pick<SyntheticModelSpec, "vocabSize" | "hiddenSize" | "intermediateSize" | "numLayers" | "numHeads" | "numKvHeads">;
const SHAPES: Record<string, Shape> = {
  // 835.7M parameters: a TinyLlama-like layer at Llama 3.2 1B's width and depth, untied head.
  "836m": { vocabSize: 32000, hiddenSize: 2048, intermediateSize: 5632, numLayers: 16, numHeads: 32, numKvHeads: 4 },
  // 415M: Qwen2.5-0.5B's layers (hidden 896, FFN 4864, 14 / 2 heads), a 32k vocabulary, untied.
  "415m": { vocabSize: 32000, hiddenSize: 896, intermediateSize: 4864, numLayers: 24, numHeads: 14, numKvHeads: 2 },
};
const preset = values.preset ?? "836m";
const shape = SHAPES[preset];
if (!shape) throw new Error(`--preset must be one of ${Object.keys(SHAPES).join(", ")}`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (xs: number[]) => `${median(xs).toFixed(1).padStart(7)}  [${xs.map((x) => x.toFixed(1)).join(", ")}]`;

const read = readGBps();
const device = Device.open();
console.log(`${device.backend} (${device.name}, ${device.limits.workerThreads} worker threads); read bandwidth ${read.toFixed(1)} GB/s`);

qmvSection();
if (!values["skip-model"]) await modelSection();
device.dispose();

function qmvSection(): void {
  const h = shape!.hiddenSize;
  const headDim = h / shape!.numHeads;
  const kv = headDim * shape!.numKvHeads;
  const f = shape!.intermediateSize;
  const layer: [number, number][] = [[h, h], [kv, h], [kv, h], [h, h], [f, h], [f, h], [h, f]];
  const x = benchBuffer(device, DType.F32, [1, f]);
  const y = benchBuffer(device, DType.F32, [1, f]);
  const xs = new Map<number, ReturnType<typeof benchBuffer>>();
  const tables: { w: QuantizedTable; n: number; k: number }[] = [];
  let bytes = 0;
  for (let l = 0; l < qmvLayers; l++) {
    for (const [n, k] of layer) {
      const w = new QuantizedTable({ weight: benchBuffer(device, DType.U32, [n, k / 8]), scales: benchBuffer(device, DType.F16, [n, k / 64]), biases: benchBuffer(device, DType.F16, [n, k / 64]), bits: 4, groupSize: 64 });
      tables.push({ w, n, k });
      bytes += w.weight.byteLength + w.scales.byteLength + (w.biases?.byteLength ?? 0);
    }
  }
  for (const k of [h, f]) xs.set(k, device.allocBuffer(k * 4, DType.F32, [1, k]));
  for (const b of xs.values()) b.view(Float32Array).set(x.view(Float32Array).subarray(0, b.view(Float32Array).length));
  const ys = new Map<number, ReturnType<typeof benchBuffer>>();
  for (const n of [h, kv, f]) ys.set(n, device.allocBuffer(n * 4, DType.F32, [1, n]));
  const rates: number[] = [];
  for (let r = 0; r <= rounds; r++) {
    const enc = device.commandEncoder();
    for (const t of tables) ops.matmul(enc, xs.get(t.k)!, t.w, ys.get(t.n)!);
    const t0 = Bun.nanoseconds();
    enc.commitAndWait();
    const ns = Bun.nanoseconds() - t0;
    enc.dispose();
    if (r > 0) rates.push(bytes / ns);
  }
  console.log(`\nqmv: 4-bit g64 f16 scales, ${qmvLayers} layers of the ${preset} shape (${(bytes / 1e6).toFixed(0)} MB of weights), one command buffer; median of ${rounds}`);
  console.log(`  ${fmt(rates)} GB/s = ${((median(rates) / read) * 100).toFixed(1)} % of read bandwidth`);
  for (const t of tables) for (const b of [t.w.weight, t.w.scales, t.w.biases]) b?.dispose();
  for (const b of [x, y, ...xs.values(), ...ys.values()]) b.dispose();
}

async function modelSection(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "mlxn-bench-vs-llamacpp-"));
  const log = (s: string) => process.stderr.write(`${s}\n`);
  try {
    const t0 = performance.now();
    const spec: SyntheticModelSpec = { modelType: "llama", ...shape!, dtype: DType.F16, quantization: { bits: 4, groupSize: 64 }, randomCodes: true, tieWordEmbeddings: false, ropeTheta: 500000, seed: 11 };
    using mlx = createSyntheticModel(spec, root);
    const gguf = join(root, "model-Q4_0.gguf");
    convertToGguf(mlx.dir, gguf, { linear: "Q4_0", randomQ4_0: 11 });
    const mlxBytes = [...mlx.files].filter((f) => f.endsWith(".safetensors")).reduce((a, f) => a + statSync(join(mlx.dir, f)).size, 0);
    log(`${(mlx.parameterCount / 1e6).toFixed(1)}M parameters (${preset}); MLX ${(mlxBytes / 1e6).toFixed(0)} MB, GGUF Q4_0 ${(statSync(gguf).size / 1e6).toFixed(0)} MB, written in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

    using model = loadModelSync(mlx.dir, { progress: false });
    const vocab = shape!.vocabSize;
    const prompt = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 131 + 7 + salt) % vocab);
    const greedy = (step: number) => ({ temperature: 0, topK: 0, topP: 1, seed: 0, step });
    const ours = () => {
      using pc = model.newCache({ maxLength: promptLength + 1 });
      const t = performance.now();
      model.decoder.sample(prompt(promptLength, 1), pc, greedy(0));
      const prefill = promptLength / ((performance.now() - t) / 1000);
      using cache = model.newCache({ maxLength: 8 + steps + 1 });
      let token = model.decoder.sample(prompt(8, 0), cache, greedy(0)).token!;
      const t1 = performance.now();
      for (let s = 1; s <= steps; s++) token = model.decoder.sample([token], cache, greedy(s)).token!;
      return { prefill, decode: steps / ((performance.now() - t1) / 1000) };
    };
    ours(); // compile or load every kernel

    const llama = await openLlama(gguf, promptLength + steps + 16);
    if (llama) await llama.run(prompt(8, 0), prompt(promptLength, 1)); // warm-up

    const figures = { ours: { decode: [] as number[], prefill: [] as number[] }, llama: { decode: [] as number[], prefill: [] as number[] } };
    for (let round = 0; round < rounds; round++) {
      const o = ours();
      figures.ours.decode.push(o.decode);
      figures.ours.prefill.push(o.prefill);
      if (llama) {
        const l = await llama.run(prompt(8, 0), prompt(promptLength, 1));
        figures.llama.decode.push(l.decode);
        figures.llama.prefill.push(l.prefill);
      }
    }
    console.log(`\nmodel: ${preset} (${(mlx.parameterCount / 1e6).toFixed(1)}M parameters), decode ${steps} steps, prefill ${promptLength} tokens; median of ${rounds} interleaved rounds [each round]`);
    console.log(`  ours MLX 4-bit g64     decode ${fmt(figures.ours.decode)} tok/s   prefill ${fmt(figures.ours.prefill)} tok/s   decode reads ${((mlxBytes * median(figures.ours.decode)) / 1e9).toFixed(2)} GB/s`);
    if (llama) {
      console.log(`  llama.cpp Q4_0 (${threads} thr) decode ${fmt(figures.llama.decode)} tok/s   prefill ${fmt(figures.llama.prefill)} tok/s`);
      console.log(`  ratio ours / llama.cpp: decode ${(median(figures.ours.decode) / median(figures.llama.decode)).toFixed(3)}x, prefill ${(median(figures.ours.prefill) / median(figures.llama.prefill)).toFixed(3)}x`);
      await llama.dispose();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

interface LlamaSequence {
  evaluate(tokens: number[], o: object): AsyncIterable<number>;
  dispose(): void;
}
interface LlamaContext {
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}
interface LlamaModule {
  getLlama(o: object): Promise<{ loadModel(o: { modelPath: string }): Promise<{ createContext(o: object): Promise<LlamaContext>; dispose(): Promise<void> }> }>;
}

/** llama.cpp on the GGUF file through node-llama-cpp, or undefined (with the reason printed) when it cannot be imported. */
async function openLlama(path: string, contextSize: number) {
  const where = values["node-llama-cpp"];
  let mod: LlamaModule;
  try {
    mod = await import(where ? join(where, "node_modules", "node-llama-cpp", "dist", "index.js") : "node-llama-cpp");
  } catch (e) {
    console.log(`llama.cpp (node-llama-cpp): not installed here (${(e as Error).message.split("\n")[0]}); pass --node-llama-cpp DIR`);
    return undefined;
  }
  const llama = await mod.getLlama({ gpu: false });
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize, threads, batchSize: Math.max(512, promptLength) });
  /** Prefill: the prompt up to its first generated token; decode: the `steps` tokens after that. */
  const timed = async (tokens: number[], limit: number) => {
    const sequence = context.getSequence();
    const t = performance.now();
    let first = 0;
    let n = 0;
    for await (const _ of sequence.evaluate(tokens, { temperature: 0 })) {
      if (n === 0) first = performance.now();
      if (++n > limit) break;
    }
    const end = performance.now();
    sequence.dispose();
    return { firstMs: first - t, restMs: end - first };
  };
  return {
    async run(decodePrompt: number[], prefillPrompt: number[]) {
      const p = await timed(prefillPrompt, 0);
      const d = await timed(decodePrompt, steps);
      return { prefill: prefillPrompt.length / (p.firstMs / 1000), decode: steps / (d.restMs / 1000) };
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}
