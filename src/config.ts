/**
 * The only module that reads the environment. Each variable is read once, on first use, and
 * cached; `withConfig()` overrides values for the duration of a callback (tests).
 *
 * Behaviour belongs in API options; the environment only selects the backend, points at files,
 * and turns on debug switches. Every variable uses the `MLXN_` prefix, except the one alias the
 * seed requires (`HF2Q_ENCODER_SESSION`).
 *
 * | variable               | meaning                                                         |
 * |------------------------|-----------------------------------------------------------------|
 * | MLXN_BACKEND           | `cpu`, `cuda` or `metal`; default metal on macOS/arm64, cuda on  |
 * |                        | Linux with an NVIDIA driver and GPU, else cpu                    |
 * | MLXN_SHIM_PATH         | explicit path of the backend's shared library                    |
 * | MLXN_ENCODER_SESSION   | `1`: higher layers use EncoderSession by default                 |
 * | MLXN_CACHE_DIR         | root of on-disk caches (msl-cpu kernels, cuda PTX)               |
 * | MLXN_CXX               | compiler msl-cpu and cuda use for kernels (default: newest       |
 * |                        | clang++ found)                                                   |
 * | MLXN_MSL_CPU_SANITIZE  | `1`: msl-cpu builds bounds-checked kernels (debug)               |
 * | MLXN_MSL_CPU_THREADS   | msl-cpu worker threads (default: all cores)                      |
 * | MLXN_CAPTURE           | metal: write a GPU capture (.gputrace) to this path (debug)      |
 * | MLXN_RECORD_KERNELS    | directory: every pipeline's library text, label and constants are |
 * |                        | written there as JSON, for `precompile --recorded DIR` (fills the |
 * |                        | cuda PTX cache for run-time kernels, e.g. those the tests register) |
 * | MLXN_AUTO_BARRIER      | `1`: automatic barriers on in every encoder, even where code set |
 * |                        | `autoBarrier = false` (debug: finds a missing hand-placed barrier) |
 */
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

export interface Config {
  /** Requested backend, or undefined for the platform default. */
  backend: "cpu" | "cuda" | "metal" | undefined;
  shimPath: string | undefined;
  encoderSession: boolean;
  cacheDir: string;
  cxx: string | undefined;
  mslCpuSanitize: boolean;
  mslCpuThreads: number | undefined;
  capturePath: string | undefined;
  /** Directory where each compiled pipeline's source, label and constants are recorded (debug). */
  recordKernels: string | undefined;
  /** Force automatic barriers on in every encoder (they are on by default; see CommandEncoder). */
  autoBarrier: boolean;
}

function readBackend(v: string | undefined): Config["backend"] {
  if (v === undefined || v === "") return undefined;
  if (v === "cpu" || v === "cuda" || v === "metal") return v;
  throw new TypeError(`MLXN_BACKEND must be "cpu", "cuda" or "metal" (got ${JSON.stringify(v)})`);
}

function readPositiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new TypeError(`${name} must be a positive integer (got ${JSON.stringify(v)})`);
  return n;
}

function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "bun-mlx-native");
  const home = homedir();
  return home ? join(home, ".cache", "bun-mlx-native") : join(tmpdir(), "bun-mlx-native-cache");
}

function readConfig(env: NodeJS.ProcessEnv): Config {
  return {
    backend: readBackend(env.MLXN_BACKEND),
    shimPath: env.MLXN_SHIM_PATH || undefined,
    encoderSession: env.MLXN_ENCODER_SESSION === "1" || env.HF2Q_ENCODER_SESSION === "1",
    cacheDir: env.MLXN_CACHE_DIR || defaultCacheDir(env),
    cxx: env.MLXN_CXX || undefined,
    mslCpuSanitize: env.MLXN_MSL_CPU_SANITIZE === "1",
    mslCpuThreads: readPositiveInt("MLXN_MSL_CPU_THREADS", env.MLXN_MSL_CPU_THREADS),
    capturePath: env.MLXN_CAPTURE || undefined,
    recordKernels: env.MLXN_RECORD_KERNELS || undefined,
    autoBarrier: env.MLXN_AUTO_BARRIER === "1",
  };
}

let cached: Config | undefined;
const overrides: Partial<Config>[] = [];

/** The configuration in force: the environment read once, then any `withConfig` overrides. */
export function config(): Readonly<Config> {
  cached ??= readConfig(process.env);
  return overrides.length === 0 ? cached : Object.assign({}, cached, ...overrides);
}

/**
 * Run `fn` with some configuration values overridden, restoring them afterwards (also when `fn`
 * throws or its promise rejects).
 *
 * @example
 * await withConfig({ encoderSession: true }, () => runModel());
 */
export function withConfig<T>(values: Partial<Config>, fn: () => T): T {
  overrides.push(values);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    overrides.pop();
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => overrides.pop()) as T;
  }
  overrides.pop();
  return result;
}
