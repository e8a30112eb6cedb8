/**
 * Typed errors. Every failure the library detects is an `MlxnError`: bad arguments (environment
 * variables included), malformed files, use after dispose, kernel compile and backend failures,
 * failed command buffers. Messages start with a bracketed component and name the argument, the
 * expected value and the actual one. Operating-system errors while writing files (a full disk, a
 * missing permission in `writeSafetensors`) pass through as Node's own errors.
 *
 * @example
 * try { device.allocBuffer(0, DType.F32, [0]); }
 * catch (e) { if (e instanceof ArgumentError) console.log(e.argument); } // "byteLength"
 */
export class MlxnError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An argument is of the wrong type, out of range, or inconsistent with another. */
export class ArgumentError extends MlxnError {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`[${argument}] ${message}`);
  }
}

/** A handle was used after `dispose()`. */
export class DisposedError extends MlxnError {
  constructor(readonly what: string) {
    super(`[${what}] used after dispose()`);
  }
}

/** No kernel source is known under this name. */
export class KernelNotFoundError extends MlxnError {
  constructor(readonly kernel: string, hint = "") {
    super(`[registry] no kernel source for "${kernel}"${hint}`);
  }
}

/** Kernel source failed to compile, or a function was missing from it. */
export class CompileError extends MlxnError {
  constructor(
    readonly kernel: string,
    readonly log: string,
  ) {
    super(`[registry] compiling "${kernel}" failed:\n${log}`);
  }
}

/**
 * An allocation failed. `requestedBytes` and `inUseBytes` are known for buffer allocations
 * (device and pool); a backend that runs out of memory elsewhere (creating a command buffer or a
 * pipeline) leaves them undefined rather than reporting made-up figures.
 */
export class OutOfMemoryError extends MlxnError {
  constructor(
    readonly requestedBytes: number | undefined,
    readonly inUseBytes: number | undefined,
    detail: string,
  ) {
    const what = requestedBytes === undefined ? "out of memory" : `could not allocate ${requestedBytes} bytes`;
    const inUse = inUseBytes === undefined ? "" : ` (${inUseBytes} bytes in use)`;
    super(`[device] ${what}${inUse}: ${detail}`);
  }
}

/** A command buffer completed with an error, or work was encoded in a state that forbids it. */
export class CommandBufferError extends MlxnError {
  constructor(
    readonly label: string,
    readonly status: number,
    detail: string,
  ) {
    super(`[command buffer${label ? ` "${label}"` : ""}] ${detail}`);
  }
}

/** The backend could not be loaded or refused an operation. */
export class BackendError extends MlxnError {}

/**
 * A model file or directory is malformed, or does not match its configuration: names the file
 * (or directory), the tensor when one is involved, and what is wrong.
 *
 * @example
 * try { loadModelWeights(device, dir); }
 * catch (e) { if (e instanceof FormatError) console.log(e.path, e.tensor); }
 */
export class FormatError extends MlxnError {
  constructor(
    readonly path: string,
    detail: string,
    readonly tensor?: string,
  ) {
    super(`[format] ${path}: ${tensor === undefined ? "" : `tensor "${tensor}": `}${detail}`);
  }
}

/**
 * A file could not be opened, read or written: it is missing, not a regular file (a directory,
 * FIFO or device), unreadable, or in the way. A `FormatError`, so callers that catch malformed
 * model files catch these too; `code` is the system's error code (`ENOENT`, `EISDIR`, …) or
 * `"ENOTREG"` for something that exists but is not a regular file.
 *
 * @example
 * try { readSafetensorsHeader("missing.safetensors"); }
 * catch (e) { if (e instanceof FileError) console.log(e.code); } // "ENOENT"
 */
export class FileError extends FormatError {
  constructor(
    path: string,
    readonly code: string,
    detail: string,
  ) {
    super(path, detail);
    this.message = `[file] ${path}: ${detail}`;
  }
}
