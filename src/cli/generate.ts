/**
 * `bun run generate --model PATH --prompt "..."` (an MLX model directory or a GGUF file): stream generated text, then print prefill and
 * decode tokens/s, command buffers per decoded token and peak device memory.
 *
 * `--demo` builds the deterministic demo model (Llama-shaped, about 20M parameters, MLX 4-bit)
 * in a temporary directory instead of reading one, so the single-file executable can show itself
 * on a machine with nothing else installed. Errors are printed as one message (exit status 1;
 * 2 for bad arguments), never as a stack trace.
 *
 * @example
 * bun run generate --model ~/models/Qwen3-0.6B-4bit --prompt "Why is the sky blue?" --max-tokens 64 --temp 0.7 --seed 1
 * bun run generate --model ~/models/qwen2.5-0.5b-instruct-q4_k_m.gguf --prompt "Hi"
 */
import { parseArgs } from "node:util";
import { MlxnError } from "../errors.ts";
import type { ChatMessage } from "../models/tokenizer.ts";
import { loadModel, type GenerateOptions, type GenerationStats, type Model } from "../models/model.ts";
import { createSyntheticModel, syntheticPreset } from "../models/synthetic.ts";

const DEFAULT_PROMPT = "Once upon a time";

export const USAGE = `usage: generate (--model PATH | --demo) [options]

  --model PATH         MLX model directory (config.json, *.safetensors, tokenizer files), or a
                       GGUF file (.gguf, or a directory holding one)
  --demo               build the deterministic demo model in a temporary directory and use it
  --prompt TEXT        prompt (default "${DEFAULT_PROMPT}")
  --max-tokens N       most tokens to generate (default 256; 32 with --demo)
  --temp T             sampling temperature, 0 = greedy (default 0)
  --top-k K            sample among the K most likely tokens (default 0: off)
  --top-p P            nucleus sampling threshold in (0, 1] (default 1: off)
  --seed S             seed of the sampling stream, 0 to 2^32-1 (default: random)
  --stop TEXT          stop before this text (repeatable)
  --raw                do not wrap the prompt in the model's chat template
  --activations TYPE   f32 (default), f16 or bf16
  --kv-cache TYPE      KV cache storage: f32, f16 or bf16 (default: the activation type)
  --help               this text
`;

/** Options the command line gives, checked. */
export interface CliOptions {
  model: string | undefined;
  demo: boolean;
  prompt: string;
  raw: boolean;
  activations: string | undefined;
  kvCache: string | undefined;
  generate: GenerateOptions;
}

/** A bad command line: printed with the usage, exit status 2. */
export class UsageError extends Error {}

function number(name: string, v: string | undefined, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || (integer && !Number.isSafeInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? "an integer" : "a number"} (got ${JSON.stringify(v)})`);
  }
  return n;
}

/**
 * Parse a command line (without the program name).
 *
 * @example
 * parseCommandLine(["--model", "m", "--prompt", "Hi", "--max-tokens", "8"]);
 */
export function parseCommandLine(argv: readonly string[]): CliOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: "string" },
        demo: { type: "boolean" },
        prompt: { type: "string" },
        "max-tokens": { type: "string" },
        temp: { type: "string" },
        "top-k": { type: "string" },
        "top-p": { type: "string" },
        seed: { type: "string" },
        stop: { type: "string", multiple: true },
        raw: { type: "boolean" },
        activations: { type: "string" },
        "kv-cache": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return "help";
  const demo = values.demo ?? false;
  if (demo === (values.model !== undefined)) throw new UsageError(demo ? "give --model or --demo, not both" : "--model PATH is required (or --demo)");
  const generate: GenerateOptions = {
    maxTokens: number("max-tokens", values["max-tokens"], true) ?? (demo ? 32 : 256),
    temperature: number("temp", values.temp, false),
    topK: number("top-k", values["top-k"], true),
    topP: number("top-p", values["top-p"], false),
    seed: number("seed", values.seed, true),
    stop: values.stop,
  };
  for (const k of Object.keys(generate) as (keyof GenerateOptions)[]) if (generate[k] === undefined) delete generate[k];
  return {
    model: values.model,
    demo,
    prompt: values.prompt ?? DEFAULT_PROMPT,
    raw: values.raw ?? false,
    activations: values.activations,
    kvCache: values["kv-cache"],
    generate,
  };
}

/** Control characters (but newline and tab) as their visible Unicode pictures, so random models cannot drive the terminal. */
export function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => String.fromCharCode(c === "\x7f" ? 0x2421 : 0x2400 + c.charCodeAt(0)));
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * The figures printed after the text.
 *
 * @example
 * console.log(formatStats(gen.stats));
 */
export function formatStats(s: GenerationStats): string {
  return [
    "==========",
    `prompt: ${s.promptTokens} tokens, ${s.prefillTokensPerSecond.toFixed(1)} tokens/s (prefill, ${(s.prefillSeconds * 1000).toFixed(0)} ms)`,
    ...(s.compileSeconds >= 0.01 ? [`kernel compiles: ${s.compileSeconds.toFixed(2)} s (first use; not in the prefill or decode figures)`] : []),
    `generation: ${s.generatedTokens} tokens, ${s.decodeTokensPerSecond.toFixed(1)} tokens/s (decode, ${s.decodeSteps} steps), finished by ${s.finishReason}`,
    `command buffers per decoded token: ${s.commandBuffersPerToken.toFixed(2)}`,
    `peak memory: ${mb(s.peakBytes)}`,
  ].join("\n");
}

/**
 * Generate from `prompt` with `model`, writing text as it comes and then the figures.
 *
 * @example
 * await streamGeneration(model, "Hello", { maxTokens: 16 }, true, (t) => process.stdout.write(t));
 */
export async function streamGeneration(model: Model, prompt: string, options: GenerateOptions, raw: boolean, write: (text: string) => void): Promise<GenerationStats> {
  const chat = !raw && model.tokenizer?.chatTemplate !== undefined;
  const input: string | ChatMessage[] = chat ? [{ role: "user", content: prompt }] : prompt;
  const gen = model.generate(input, options);
  for await (const { text } of gen) if (text) write(printable(text));
  write(`\n${formatStats(gen.stats)}\n`);
  return gen.stats;
}

/** Run the command line; returns the exit status. */
export async function main(argv: readonly string[], out: (text: string) => void = (t) => void process.stdout.write(t), err: (text: string) => void = (t) => void process.stderr.write(t)): Promise<number> {
  let cli: CliOptions | "help";
  try {
    cli = parseCommandLine(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`generate: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (cli === "help") {
    out(USAGE);
    return 0;
  }
  const demo = cli.demo ? createSyntheticModel(syntheticPreset("demo")) : undefined;
  try {
    if (demo) err(`demo model: ${(demo.parameterCount / 1e6).toFixed(1)}M parameters, MLX 4-bit, in ${demo.dir}\n`);
    using model = await loadModel(demo?.dir ?? cli.model!, {
      activationDType: cli.activations as "f32" | undefined,
      kvCacheDType: cli.kvCache as "f32" | undefined,
    });
    err(`${model.config.modelType}, ${model.config.numHiddenLayers} layers, on ${model.device.backend} (${model.device.name})\n`);
    await streamGeneration(model, cli.prompt, cli.generate, cli.raw, out);
    return 0;
  } catch (e) {
    if (!(e instanceof MlxnError)) throw e;
    err(`generate: ${e.message}\n`);
    return 1;
  } finally {
    demo?.dispose();
  }
}

if (import.meta.main) process.exit(await main(Bun.argv.slice(2)));
