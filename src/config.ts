/**
 * The only module that reads the environment. Each variable is read once, on first use, and
 * cached; `withConfig()` overrides values for the duration of a callback (tests).
 *
 * Overrides are scoped with `AsyncLocalStorage`: they apply to the callback and to everything it
 * calls, including across its awaits, and never to code outside it. Two overlapping async
 * `withConfig` calls each see their own values (tests/config.test.ts).
 *
 * Behaviour belongs in API options; the environment only selects the backend, points at files,
 * and turns on debug switches. Every variable uses the `MLXN_` prefix.
 *
 * | variable               | meaning                                                         |
 * |------------------------|-----------------------------------------------------------------|
 * | MLXN_BACKEND           | `cpu`, `cuda` or `metal`; default metal on macOS/arm64, cuda on  |
 * |                        | Linux with an NVIDIA driver and GPU, else cpu                    |
 * | MLXN_SHIM_PATH         | explicit path of the backend's shared library                    |
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
 * | MLXN_COMPILE_TIMEOUT   | seconds one msl-cpu kernel compile may take before it is stopped |
 * |                        | and reported as a CompileError (default 300)                     |
 *
 * A malformed value is an `ArgumentError` naming the variable, on first use; switches take
 * `1`/`0` (also `true`/`false`, empty for unset).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { ArgumentError } from "./errors.ts";

export interface Config {
  /** Requested backend, or undefined for the platform default. */
  backend: "cpu" | "cuda" | "metal" | undefined;
  shimPath: string | undefined;
  cacheDir: string;
  cxx: string | undefined;
  mslCpuSanitize: boolean;
  mslCpuThreads: number | undefined;
  capturePath: string | undefined;
  /** Directory where each compiled pipeline's source, label and constants are recorded (debug). */
  recordKernels: string | undefined;
  /** Force automatic barriers on in every encoder (they are on by default; see CommandEncoder). */
  autoBarrier: boolean;
  /** Seconds a kernel compile may run before it is stopped and fails with a CompileError. */
  compileTimeoutSeconds: number;
}

/** Default of `compileTimeoutSeconds`: a cold compile of the largest family takes well under a minute. */
const DEFAULT_COMPILE_TIMEOUT_S = 300;

function readBackend(v: string | undefined): Config["backend"] {
  if (v === undefined || v === "") return undefined;
  if (v === "cpu" || v === "cuda" || v === "metal") return v;
  throw new ArgumentError("MLXN_BACKEND", `must be "cpu", "cuda" or "metal" (got ${JSON.stringify(v)})`);
}

/** A positive integer up to `max`, or undefined when unset. */
function readPositiveInt(name: string, v: string | undefined, max: number): number | undefined {
  if (v === undefined || v === "") return undefined;
  const n = Number(v.trim());
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n <= 0 || n > max) {
    throw new ArgumentError(name, `must be an integer from 1 to ${max} (got ${JSON.stringify(v)})`);
  }
  return n;
}

/** A positive, finite number of seconds up to a day, or the default when unset. */
function readSeconds(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined || v.trim() === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86400) throw new ArgumentError(name, `must be a number of seconds in (0, 86400] (got ${JSON.stringify(v)})`);
  return n;
}

/** A debug switch: unset, empty, `0` or `false` is off; `1` or `true` is on; anything else is an error. */
function readSwitch(name: string, v: string | undefined): boolean {
  if (v === undefined) return false;
  const t = v.trim().toLowerCase();
  if (t === "" || t === "0" || t === "false") return false;
  if (t === "1" || t === "true") return true;
  throw new ArgumentError(name, `must be 1 or 0 (got ${JSON.stringify(v)})`);
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
    cacheDir: env.MLXN_CACHE_DIR || defaultCacheDir(env),
    cxx: env.MLXN_CXX || undefined,
    mslCpuSanitize: readSwitch("MLXN_MSL_CPU_SANITIZE", env.MLXN_MSL_CPU_SANITIZE),
    mslCpuThreads: readPositiveInt("MLXN_MSL_CPU_THREADS", env.MLXN_MSL_CPU_THREADS, 1024),
    capturePath: env.MLXN_CAPTURE || undefined,
    recordKernels: env.MLXN_RECORD_KERNELS || undefined,
    autoBarrier: readSwitch("MLXN_AUTO_BARRIER", env.MLXN_AUTO_BARRIER),
    compileTimeoutSeconds: readSeconds("MLXN_COMPILE_TIMEOUT", env.MLXN_COMPILE_TIMEOUT, DEFAULT_COMPILE_TIMEOUT_S),
  };
}

let cached: Readonly<Config> | undefined;
/** The values in force inside a `withConfig` callback; none outside every callback. */
const scope = new AsyncLocalStorage<Readonly<Config>>();

function fromEnvironment(): Readonly<Config> {
  cached ??= Object.freeze(readConfig(process.env));
  return cached;
}

/** The configuration in force: the environment read once, or the innermost `withConfig` values. */
export function config(): Readonly<Config> {
  return scope.getStore() ?? fromEnvironment();
}

/**
 * Run `fn` with some configuration values overridden. The override applies to `fn` and
 * everything it calls, synchronously or after awaits, and to nothing else: other code, including
 * another `withConfig` callback running concurrently, keeps its own values. Returns what `fn`
 * returns (a promise stays a promise). Unknown keys are an `ArgumentError`.
 *
 * @example
 * await withConfig({ mslCpuSanitize: true }, async () => runModel());
 */
export function withConfig<T>(values: Partial<Config>, fn: () => T): T {
  if (values === null || typeof values !== "object" || Array.isArray(values)) throw new ArgumentError("values", "must be an object of Config fields");
  const current = config();
  for (const key of Object.keys(values)) {
    if (!Object.hasOwn(current, key)) throw new ArgumentError(`values.${key}`, `is not a Config field (fields: ${Object.keys(current).join(", ")})`);
  }
  if (typeof fn !== "function") throw new ArgumentError("fn", `must be a function (got ${typeof fn})`);
  return scope.run(Object.freeze({ ...current, ...values }), fn);
}
