/**
 * Finds and loads the backend's shared library. The only place that knows which backends exist:
 * everything above talks to `Native`, the typed surface of `shim/include/mlxn.h`.
 *
 * Search order: `MLXN_SHIM_PATH`; a library embedded in a `bun build --compile` executable
 * (extracted once to the cache directory under its content hash); `build/` of this checkout.
 */
import { dlopen, type ConvertFns } from "bun:ffi";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { config } from "../config.ts";
import { BackendError } from "../errors.ts";
import { ABI_VERSION } from "./abi.ts";
import { symbols } from "./symbols.ts";

export type Backend = "cpu" | "cuda" | "metal";
export type Native = ConvertFns<typeof symbols>;

const repoRoot = resolve(import.meta.dir, "..", "..");
const libExt = process.platform === "darwin" ? "dylib" : "so";

/**
 * The backend used when `MLXN_BACKEND` is unset: Metal on Apple Silicon; cuda on Linux when the
 * cuda shim is built, the NVIDIA driver (libcuda.so.1) loads and it sees a GPU; cpu otherwise.
 */
export function defaultBackend(): Backend {
  if (process.platform === "darwin" && process.arch === "arm64") return "metal";
  if (process.platform === "linux" && builtLibrary("cuda") && cudaGpuCount() > 0) return "cuda";
  return "cpu";
}

/** GPUs the NVIDIA driver reports, or 0 when there is no driver (probed without the shim). */
function cudaGpuCount(): number {
  try {
    const lib = dlopen("libcuda.so.1", {
      cuInit: { args: ["u32"], returns: "i32" },
      cuDeviceGetCount: { args: ["ptr"], returns: "i32" },
    });
    try {
      const count = new Int32Array(1);
      if (lib.symbols.cuInit(0) !== 0 || lib.symbols.cuDeviceGetCount(count) !== 0) return 0;
      return count[0]!;
    } finally {
      lib.close();
    }
  } catch {
    return 0;
  }
}

function builtLibrary(backend: Backend): string | undefined {
  const built = join(repoRoot, "build", `libmlxn_${backend}.${libExt}`);
  return existsSync(built) ? built : undefined;
}

/**
 * A library embedded in a `bun build --compile` executable. Embedded files live in the
 * executable's virtual filesystem; dlopen needs a real file, so it is written once per content
 * hash to the cache directory and reused by later launches.
 */
function embeddedLibrary(backend: Backend): string | undefined {
  const stem = `libmlxn_${backend}`;
  const blob = Bun.embeddedFiles.find((f) => embeddedName(f).includes(stem));
  if (!blob) return undefined;
  const bytes = readFileSync(embeddedPath(blob));
  const path = join(config().cacheDir, "shim", `${stem}-${Bun.hash(bytes).toString(16)}.${libExt}`);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  }
  return path;
}

export function embeddedName(blob: Blob): string {
  return (blob as Blob & { name: string }).name;
}

/** Path of an embedded file inside the executable's virtual filesystem. */
export function embeddedPath(blob: Blob): string {
  const name = embeddedName(blob);
  return name.startsWith("/") ? name : `/$bunfs/root/${name}`;
}

function libraryPath(backend: Backend): string {
  const explicit = config().shimPath;
  if (explicit) {
    if (!existsSync(explicit)) throw new BackendError(`[loader] MLXN_SHIM_PATH=${explicit} does not exist`);
    return explicit;
  }
  const embedded = embeddedLibrary(backend);
  if (embedded) return embedded;
  const built = builtLibrary(backend);
  if (built) return built;
  const how = backend === "metal" ? "run `make` on macOS/arm64" : backend === "cuda" ? "run `make setup` on Linux" : "run `make setup`";
  throw new BackendError(`[loader] the ${backend} backend library is not built (build/libmlxn_${backend}.${libExt} missing): ${how}`);
}

let loaded: { backend: Backend; native: Native } | undefined;

/** Load (once) the backend named by `MLXN_BACKEND`, or the platform default. */
export function loadBackend(): { backend: Backend; native: Native } {
  const backend = config().backend ?? defaultBackend();
  if (loaded) {
    if (loaded.backend !== backend) {
      throw new BackendError(`[loader] backend "${loaded.backend}" is already loaded; cannot switch to "${backend}" in one process`);
    }
    return loaded;
  }
  const path = libraryPath(backend);
  let lib;
  try {
    lib = dlopen(path, symbols);
  } catch (e) {
    throw new BackendError(`[loader] could not load ${path}: ${(e as Error).message}`, { cause: e });
  }
  const native = lib.symbols as Native;
  const version = native.mlxn_abi_version();
  if (version !== ABI_VERSION) {
    throw new BackendError(`[loader] ${path} implements ABI version ${version}; this package needs ${ABI_VERSION}`);
  }
  loaded = { backend, native };
  return loaded;
}
