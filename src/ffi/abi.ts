/**
 * The constants of `shim/include/mlxn.h`, defined once for TS: ABI version, status codes, limit
 * keys, function-constant types, command-buffer statuses and the fixed binding limits. Nothing
 * else in `src/` spells these values. `tests/abi_parity.test.ts` reads the header and checks every
 * group here against it, values included and in both directions (a header constant without a TS
 * twin fails too). The packed dispatch record's layout is `src/dispatch_record.ts`.
 *
 * Naming: each group's keys are the header's names without the group prefix, e.g.
 * `Limit.SIMD_WIDTH` is `MLXN_LIMIT_SIMD_WIDTH`; `CommandBufferStatus`, a public name, uses
 * PascalCase keys (`NotEnqueued` is `MLXN_CB_STATUS_NOT_ENQUEUED`).
 */

/** `MLXN_ABI_VERSION`: the header version the loader requires of a backend library. */
export const ABI_VERSION = 1;

/** `MLXN_MAX_BUFFER_BINDINGS`: binding slots per dispatch on every backend. */
export const MAX_BUFFER_BINDINGS = 31;
/** `MLXN_MAX_INLINE_BYTES`: the largest inline-bytes binding on every backend. */
export const MAX_INLINE_BYTES = 4095;

/** Status codes of fallible calls: `MLXN_OK` and `MLXN_ERR_<key>`. */
export const Status = {
  OK: 0,
  INVALID_ARGUMENT: 1,
  OUT_OF_MEMORY: 2,
  COMPILE: 3,
  NOT_FOUND: 4,
  COMMAND_BUFFER: 5,
  UNSUPPORTED: 6,
  DEVICE: 7,
  INTERNAL: 8,
} as const;

/** Keys of `mlxn_device_limit`: `MLXN_LIMIT_<key>`. */
export const Limit = {
  MAX_BUFFER_LENGTH: 0,
  MAX_THREADS_PER_THREADGROUP: 1,
  MAX_THREADGROUP_MEMORY: 2,
  RECOMMENDED_WORKING_SET: 3,
  SIMD_WIDTH: 4,
  HAS_RESIDENCY_SETS: 5,
  HAS_UNIFIED_MEMORY: 6,
  MAX_INLINE_BYTES: 7,
  MAX_BUFFER_BINDINGS: 8,
  WORKER_THREADS: 9,
  LANES_IN_HARDWARE: 10,
} as const;

/** Function-constant types of `mlxn_pipeline_new`: `MLXN_CONSTANT_<key>`. */
export const ConstantType = {
  BOOL: 0,
  INT: 1,
  UINT: 2,
  FLOAT: 3,
} as const;

/**
 * Command-buffer statuses (MTLCommandBufferStatus values): `MLXN_CB_STATUS_<key>` with the key in
 * upper snake case.
 *
 * @example
 * if (cb.status === CommandBufferStatus.Error) console.error(cb.error);
 */
export const CommandBufferStatus = {
  NotEnqueued: 0,
  Enqueued: 1,
  Committed: 2,
  Scheduled: 3,
  Completed: 4,
  Error: 5,
} as const;
