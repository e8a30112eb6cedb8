#!/usr/bin/env bun
/**
 * The `bun-mlx-native` command:
 *
 *   bun-mlx-native generate (--model DIR | --demo) [options]   stream text (see `generate --help`)
 *   bun-mlx-native serve (--model DIR | --demo) [--host H] [--port P] [--model-id ID] [--max-queue N]
 *   bun-mlx-native demo-model DIR                             write the demo model directory
 *   bun-mlx-native precompile [--model DIR]                   compile a model's kernels ahead
 *   bun-mlx-native build-exe ENTRY [--outfile FILE]           one executable of your app
 *
 * Errors print as one message (exit status 1; 2 for a bad command line), never a stack trace.
 *
 * @example
 * bun-mlx-native serve --demo --port 8080
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { MlxnError } from "../errors.ts";
import { loadModel, type Model } from "../models/model.ts";
import { createSyntheticModel, syntheticPreset, writeSyntheticModel } from "../models/synthetic.ts";
import { serveOpenAI } from "../server/openai.ts";
import { buildExecutable } from "../package/build_exe.ts";
import { precompile } from "../package/precompile.ts";
import { main as generateMain } from "./generate.ts";

export const USAGE = `usage: bun-mlx-native COMMAND [options]

  generate (--model DIR | --demo) [options]   stream generated text (generate --help for options)
  serve (--model DIR | --demo) [--host 127.0.0.1] [--port 8080] [--model-id ID] [--max-queue 16]
                                              OpenAI-compatible server (/v1/models,
                                              /v1/chat/completions, /v1/completions)
  demo-model DIR                              write the demo model (the one --demo uses) to DIR
  precompile [--model DIR]                    compile the kernels a model uses (default: the demo
                                              model's) into the on-disk cache, with a line per family
  build-exe ENTRY [--outfile FILE]            build ENTRY (your app) into one executable with the
                                              shim and kernels inside
  help                                        this text
`;

class UsageError extends Error {}

type Out = (text: string) => void;

function parse<T extends Record<string, { type: "string" | "boolean" }>>(argv: readonly string[], options: T, positionals = 0) {
  try {
    const r = parseArgs({ args: [...argv], options, strict: true, allowPositionals: positionals > 0 });
    if (r.positionals.length > positionals) throw new UsageError(`unexpected argument ${JSON.stringify(r.positionals[positionals])}`);
    return r;
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError((e as Error).message);
  }
}

/** The model a command names: --model DIR, or --demo (written to a temporary directory). */
async function openModel(values: { model?: string | undefined; demo?: boolean | undefined }, err: Out): Promise<{ model: Model; id: string; [Symbol.asyncDispose](): Promise<void> }> {
  if ((values.demo ?? false) === (values.model !== undefined)) throw new UsageError(values.demo ? "give --model or --demo, not both" : "--model DIR is required (or --demo)");
  const demo = values.demo ? createSyntheticModel(syntheticPreset("demo")) : undefined;
  if (demo) err(`demo model: ${(demo.parameterCount / 1e6).toFixed(1)}M parameters, MLX 4-bit, in ${demo.dir}\n`);
  try {
    const model = await loadModel(demo?.dir ?? values.model!);
    const id = demo ? "demo" : resolve(values.model!).split("/").filter(Boolean).at(-1) ?? "model";
    return {
      model,
      id,
      async [Symbol.asyncDispose]() {
        await model[Symbol.asyncDispose]();
        demo?.dispose();
      },
    };
  } catch (e) {
    demo?.dispose();
    throw e;
  }
}

function integer(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in [${min}, ${max}] (got ${JSON.stringify(v)})`);
  return n;
}

async function serve(argv: readonly string[], out: Out, err: Out): Promise<number> {
  const { values } = parse(argv, { model: { type: "string" }, demo: { type: "boolean" }, host: { type: "string" }, port: { type: "string" }, "model-id": { type: "string" }, "max-queue": { type: "string" } });
  const port = integer("port", values.port, 0, 65535) ?? 8080;
  const maxQueue = integer("max-queue", values["max-queue"], 0, 1_000_000);
  const opened = await openModel(values, err);
  const server = serveOpenAI({ model: opened.model, modelId: values["model-id"] ?? opened.id, host: values.host ?? "127.0.0.1", port, ...(maxQueue !== undefined && { maxQueue }) });
  out(`serving model "${values["model-id"] ?? opened.id}" at ${server.url}/v1 (one request at a time, in arrival order)\n`);
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await server.stop();
  await opened[Symbol.asyncDispose]();
  return 0;
}

async function demoModel(argv: readonly string[], out: Out): Promise<number> {
  const { positionals } = parse(argv, {}, 1);
  const dir = positionals[0];
  if (dir === undefined) throw new UsageError("demo-model needs a directory: bun-mlx-native demo-model DIR");
  mkdirSync(dir, { recursive: true });
  const m = writeSyntheticModel(dir, syntheticPreset("demo"));
  out(`wrote the demo model (${(m.parameterCount / 1e6).toFixed(1)}M parameters, MLX 4-bit) to ${dir}\n`);
  return 0;
}

async function precompileCommand(argv: readonly string[], out: Out, err: Out): Promise<number> {
  const { values } = parse(argv, { model: { type: "string" } });
  const report = await precompile({ ...(values.model !== undefined && { model: values.model }), log: err });
  out(`${report.families.length} kernel families, ${report.pipelines} pipelines ready in ${report.seconds.toFixed(1)} s (${report.compileSeconds.toFixed(1)} s compiling)\n`);
  return 0;
}

async function buildExe(argv: readonly string[], out: Out): Promise<number> {
  const { values, positionals } = parse(argv, { outfile: { type: "string" } }, 1);
  const entry = positionals[0];
  if (entry === undefined) throw new UsageError("build-exe needs your app's entry file: bun-mlx-native build-exe app.ts [--outfile app]");
  const outfile = await buildExecutable({ entry, ...(values.outfile !== undefined && { outfile: values.outfile }) });
  out(`built ${outfile}\n`);
  return 0;
}

/** Run the command line; returns the exit status. */
export async function main(argv: readonly string[], out: Out = (t) => void process.stdout.write(t), err: Out = (t) => void process.stderr.write(t)): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "generate":
        return await generateMain(rest, out, err);
      case "serve":
        return await serve(rest, out, err);
      case "demo-model":
        return await demoModel(rest, out);
      case "precompile":
        return await precompileCommand(rest, out, err);
      case "build-exe":
        return await buildExe(rest, out);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`bun-mlx-native: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof MlxnError) {
      err(`bun-mlx-native: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) process.exit(await main(Bun.argv.slice(2)));
