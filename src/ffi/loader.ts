/**
 * Finds and loads the backend's shared library. The only place that knows which backends exist:
 * everything above talks to `Native`, the typed surface of `shim/include/mlxn.h`.
 *
 * Search order: `MLXN_SHIM_PATH`; a library embedded in a `bun build --compile` executable
 * (extracted once to the cache directory under its content hash); the prebuilt platform package
 * (`bun-mlx-native-<os>-<arch>`, an optional dependency npm and bun install for the platform
 * they run on); `build/` of a checkout.
 */
import { dlopen, type ConvertFns } from "bun:ffi";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
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

/** Name of the prebuilt package for this platform, e.g. "bun-mlx-native-linux-x64". */
export function platformPackageName(platform: string = process.platform, arch: string = process.arch): string {
  return `bun-mlx-native-${platform}-${arch}`;
}

/** The installed platform package's folder, or undefined. */
export function platformPackageDir(): string | undefined {
  try {
    return dirname(createRequire(join(repoRoot, "package.json")).resolve(`${platformPackageName()}/package.json`));
  } catch {
    return undefined;
  }
}

/**
 * Copy the kernel objects a platform package ships into the user's cache directory, where the
 * backend looks them up under the same keys. Files already there are left alone; a failure to
 * copy only means those kernels compile on first use.
 */
function seedKernelCache(shipped: string): void {
  const from = join(shipped, "msl-cpu");
  if (!existsSync(from)) return;
  const to = join(config().cacheDir, "msl-cpu");
  try {
    mkdirSync(to, { recursive: true });
    for (const f of readdirSync(from)) {
      const target = join(to, f);
      if (existsSync(target)) continue;
      const tmp = `${target}.${process.pid}.tmp`;
      copyFileSync(join(from, f), tmp);
      renameSync(tmp, target);
    }
  } catch {
    // A read-only or full cache directory: the kernels compile when first used instead.
  }
}

/**
 * Path of the backend library a process would load (the active backend by default), without
 * loading it; throws `BackendError` saying how to get one when there is none.
 */
export function shimLibraryPath(backend: Backend = config().backend ?? defaultBackend()): string {
  return libraryPath(backend);
}

function libraryPath(backend: Backend): string {
  const explicit = config().shimPath;
  if (explicit) {
    if (!existsSync(explicit)) throw new BackendError(`[loader] MLXN_SHIM_PATH=${explicit} does not exist`);
    return explicit;
  }
  const embedded = embeddedLibrary(backend);
  if (embedded) return embedded;
  const file = `libmlxn_${backend}.${libExt}`;
  const pkg = platformPackageDir();
  if (pkg !== undefined && existsSync(join(pkg, file))) {
    seedKernelCache(join(pkg, "kernel-cache"));
    return join(pkg, file);
  }
  const built = builtLibrary(backend);
  if (built) return built;
  const how = backend === "metal" ? "run `make` on macOS/arm64" : backend === "cuda" ? "run `make setup` on Linux" : "run `make setup`";
  throw new BackendError(
    `[loader] no ${backend} backend library: the prebuilt package ${platformPackageName()} is not installed` +
      `${pkg !== undefined ? ` (or lacks ${file})` : ""} and build/${file} is not built. Install ${platformPackageName()} ` +
      `(\`bun add ${platformPackageName()}\`, or its tarball from \`make packages\`), or in a checkout of bun-mlx-native ${how}`,
  );
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
