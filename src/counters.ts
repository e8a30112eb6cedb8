/**
 * Process-global counters, the only module state that carries information from one call to the
 * next. (Other module-level state is scratch space each call overwrites before reading, such as
 * the encoder's record and the FFI out-slot, or facts read once and cached, such as the
 * configuration and the loaded backend.) They mirror the crate's seven counters plus residency
 * bookkeeping, so tests and release gates can check how
 * much work a forward pass encodes. Read them through the functions below; take deltas, or
 * `resetCounters()` first.
 *
 * @example
 * resetCounters();
 * runDecodeStep();
 * console.log(dispatchCount(), barrierCount(), autoBarrierCount(), cmdBufCount());
 */
export const counters = {
  /** Blocking commit-and-wait calls. */
  sync: 0,
  /**
   * Dispatches encoded, including those recorded into a graph (as the crate counts capture);
   * a graph replay reports its dispatches itself and is not counted here.
   */
  dispatch: 0,
  /** Command buffers created. */
  commandBuffer: 0,
  /** Memory barriers that reached an open compute encoder: manual, automatic and replayed. */
  barrier: 0,
  /** Nanoseconds spent encoding barriers; measured only under `Profiler.start(device, { barriers: true })`. */
  barrierNs: 0,
  /** Automatic barriers the hazard check decided on (also while recording a graph). */
  autoBarrier: 0,
  /**
   * Tracked dispatches that joined a non-empty concurrent group without a barrier (the first
   * dispatch of a group is not counted: it has nothing to run beside).
   */
  autoConcurrent: 0,
  /** Buffers added to the residency set. */
  residencyAdd: 0,
  /** Buffers removed from the residency set. */
  residencyRemove: 0,
  /** Residency set commits. */
  residencyCommit: 0,
};

/** Blocking commit-and-wait calls. @example const before = syncCount(); */
export const syncCount = (): number => counters.sync;
/** Dispatches encoded or recorded. @example const before = dispatchCount(); */
export const dispatchCount = (): number => counters.dispatch;
/** Command buffers created. @example const before = cmdBufCount(); */
export const cmdBufCount = (): number => counters.commandBuffer;
/** Barriers encoded: manual, automatic and replayed. @example const before = barrierCount(); */
export const barrierCount = (): number => counters.barrier;
/** Nanoseconds spent encoding barriers while barrier profiling was on. @example const before = barrierTotalNs(); */
export const barrierTotalNs = (): number => counters.barrierNs;
/** Barriers inserted by the hazard check. @example const before = autoBarrierCount(); */
export const autoBarrierCount = (): number => counters.autoBarrier;
/** Dispatches that joined a concurrent group without a barrier. @example const before = autoBarrierConcurrentCount(); */
export const autoBarrierConcurrentCount = (): number => counters.autoConcurrent;
/** Buffers added to the residency set. @example const before = residencyAddCount(); */
export const residencyAddCount = (): number => counters.residencyAdd;
/** Buffers removed from the residency set. @example const before = residencyRemoveCount(); */
export const residencyRemoveCount = (): number => counters.residencyRemove;
/** Residency set commits. @example const before = residencyCommitCount(); */
export const residencyCommitCount = (): number => counters.residencyCommit;

/**
 * Zero every counter.
 *
 * @example
 * resetCounters();
 */
export function resetCounters(): void {
  for (const key of Object.keys(counters) as (keyof typeof counters)[]) counters[key] = 0;
}
