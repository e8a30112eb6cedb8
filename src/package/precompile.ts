/**
 * Compile a model's kernels ahead of its first use: load it, run a short prompt, decode steps
 * after it and after a long context (which between them touch the kernels generation uses), and
 * report each family as it compiles. Compiles land in the on-disk cache (msl-cpu) or Metal's own
 * shader cache, so the first generation afterwards starts at once.
 *
 * Without a model it compiles for the demo model (written to a temporary directory), whose
 * kernels are those of any Llama-shaped MLX 4-bit model with f32 activations.
 *
 * @example
 * const report = await precompile({ model: "models/Qwen3-0.6B-4bit", log: (l) => process.stderr.write(l) });
 * console.log(report.families);
 */
import { loadModel } from "../models/model.ts";
import { createSyntheticModel, syntheticPreset } from "../models/synthetic.ts";
import type { FloatName } from "../models/decoder.ts";

export interface PrecompileOptions {
  /** A model directory (default: the demo model). */
  model?: string;
  /** Activation type to compile for (default "f32", what `loadModel` uses). */
  activationDType?: FloatName;
  /** Receives a line per compiled family. */
  log?: (line: string) => void;
}

export interface PrecompileReport {
  /** Kernel families compiled (library labels, e.g. "kernels/attention.metal"), in order. */
  families: string[];
  /** Pipelines (kernel specialisations) made ready. */
  pipelines: number;
  /** Seconds compiling, and in all. */
  compileSeconds: number;
  seconds: number;
}

export async function precompile(options: PrecompileOptions = {}): Promise<PrecompileReport> {
  const t0 = performance.now();
  const demo = options.model === undefined ? createSyntheticModel(syntheticPreset("demo")) : undefined;
  try {
    await using model = await loadModel(demo?.dir ?? options.model!, { progress: false, ...(options.activationDType !== undefined && { activationDType: options.activationDType }) });
    const families: string[] = [];
    model.device.kernels.onCompile = (label, seconds) => {
      families.push(label);
      options.log?.(`compiled ${label} in ${seconds.toFixed(1)} s\n`);
    };
    // A short prompt takes the prefill path and the next tokens the decode path, sampling at a
    // temperature and greedily (different kernels); the cache starts small, so it grows (a copy
    // kernel). Then a cache moved past 256 positions without computing them (zeros: the values
    // do not matter here, only which kernels run) makes decode split its attention and reduce.
    const sampled = { temperature: 0.7, topK: 0, topP: 0.9, seed: 0 };
    const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
    {
      using cache = model.newCache({ maxLength: 8, initialCapacity: 2 });
      await model.decoder.sampleAsync([0, 1 % model.config.vocabSize], cache, { ...sampled, step: 0 });
      await model.decoder.sampleAsync([0], cache, { ...sampled, step: 1 });
      await model.decoder.sampleAsync([0], cache, { ...greedy, step: 2 });
    }
    const long = Math.min(600, model.config.maxPositionEmbeddings ?? 600);
    if (long > 300) {
      using cache = model.newCache({ maxLength: long, initialCapacity: long });
      cache.advance(298);
      await model.decoder.sampleAsync([0], cache, { ...sampled, step: 0 });
      await model.decoder.sampleAsync([0], cache, { ...greedy, step: 1 });
    }
    return { families, pipelines: model.device.kernels.cachedCount, compileSeconds: model.device.kernels.compileSeconds, seconds: (performance.now() - t0) / 1000 };
  } finally {
    demo?.dispose();
  }
}
