/**
 * Calls into the shim with the ABI's conventions: handles come back through an out-parameter,
 * a non-zero status becomes a typed error carrying `mlxn_last_error()`.
 */
import { BackendError, CompileError, KernelNotFoundError, MlxnError, OutOfMemoryError, ArgumentError } from "../errors.ts";
import type { Pointer } from "bun:ffi";
import { Status } from "./abi.ts";
import type { Native } from "./loader.ts";

/** One 8-byte slot the shim writes a new handle into; read right after each call. */
export const outSlot = new BigUint64Array(1);

/** The handle the last successful `_new` call wrote into `outSlot`. */
export function takeHandle(): Pointer {
  const h = Number(outSlot[0]) as Pointer;
  outSlot[0] = 0n;
  return h;
}

/**
 * Throw the typed error for a failed shim call. `subject` names what was being created or
 * called (an argument, a kernel, a label) so the message can point at it.
 */
export function failure(native: Native, status: number, subject: string): MlxnError {
  const text = (native.mlxn_last_error() as string | null) || `status ${status}`;
  switch (status) {
    case Status.INVALID_ARGUMENT:
      return new ArgumentError(subject, text);
    case Status.OUT_OF_MEMORY:
      return new OutOfMemoryError(undefined, undefined, `[${subject}] ${text}`);
    case Status.COMPILE:
      return new CompileError(subject, text);
    case Status.NOT_FOUND:
      return new KernelNotFoundError(subject, `: ${text}`);
    default:
      return new BackendError(`[${subject}] ${text}`);
  }
}
