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
 * | MLXN_BACKEND           | `cpu` or `metal`; default metal on macOS/arm64, else cpu         |
 * | MLXN_SHIM_PATH         | explicit path of the backend's shared library                    |
 * | MLXN_ENCODER_SESSION   | `1`: higher layers use EncoderSession by default                 |
 * | MLXN_CACHE_DIR         | root of on-disk caches (msl-cpu compiled kernels)                |
 * | MLXN_CXX               | compiler msl-cpu uses for kernels (default: newest clang++ found) |
 * | MLXN_MSL_CPU_SANITIZE  | `1`: msl-cpu builds bounds-checked kernels (debug)               |
 * | MLXN_MSL_CPU_THREADS   | msl-cpu worker threads (default: all cores)                      |
 * | MLXN_CAPTURE           | metal: write a GPU capture (.gputrace) to this path (debug)      |
 * | MLXN_AUTO_BARRIER      | `1`: automatic barriers on in every encoder, even where code set |
 * |                        | `autoBarrier = false` (debug: finds a missing hand-placed barrier) |
 * | MLXN_COMPILE_TIMEOUT   | seconds one msl-cpu kernel compile may take before it is stopped |
 * |                        | and reported as a CompileError (default 300)                     |
 *
 * A malformed value is an `ArgumentError` naming the variable, on first use; switches take
 * `1`/`0` (also `true`/`false`, empty for unset).
 */
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { ArgumentError } from "./errors.ts";

export interface Config {
  /** Requested backend, or undefined for the platform default. */
  backend: "cpu" | "metal" | undefined;
  shimPath: string | undefined;
  encoderSession: boolean;
  cacheDir: string;
  cxx: string | undefined;
  mslCpuSanitize: boolean;
  mslCpuThreads: number | undefined;
  capturePath: string | undefined;
  /** Force automatic barriers on in every encoder (they are on by default; see CommandEncoder). */
  autoBarrier: boolean;
  /** Seconds a kernel compile may run before it is stopped and fails with a CompileError. */
  compileTimeoutSeconds: number;
}

/** Default of `compileTimeoutSeconds`: a cold compile of the largest family takes well under a minute. */
const DEFAULT_COMPILE_TIMEOUT_S = 300;

function readBackend(v: string | undefined): Config["backend"] {
  if (v === undefined || v === "") return undefined;
  if (v === "cpu" || v === "metal") return v;
  throw new ArgumentError("MLXN_BACKEND", `must be "cpu" or "metal" (got ${JSON.stringify(v)})`);
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
    encoderSession: readSwitch("MLXN_ENCODER_SESSION", env.MLXN_ENCODER_SESSION) || readSwitch("HF2Q_ENCODER_SESSION", env.HF2Q_ENCODER_SESSION),
    cacheDir: env.MLXN_CACHE_DIR || defaultCacheDir(env),
    cxx: env.MLXN_CXX || undefined,
    mslCpuSanitize: readSwitch("MLXN_MSL_CPU_SANITIZE", env.MLXN_MSL_CPU_SANITIZE),
    mslCpuThreads: readPositiveInt("MLXN_MSL_CPU_THREADS", env.MLXN_MSL_CPU_THREADS, 1024),
    capturePath: env.MLXN_CAPTURE || undefined,
    autoBarrier: readSwitch("MLXN_AUTO_BARRIER", env.MLXN_AUTO_BARRIER),
    compileTimeoutSeconds: readSeconds("MLXN_COMPILE_TIMEOUT", env.MLXN_COMPILE_TIMEOUT, DEFAULT_COMPILE_TIMEOUT_S),
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
