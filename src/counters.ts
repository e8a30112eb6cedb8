/**
 * Process-global counters, the only global mutable state in the library. They mirror the
 * crate's seven counters plus residency bookkeeping, so tests and release gates can check how
 * much work a forward pass encodes.
 */
export const counters = {
  /** Blocking commit-and-wait calls. */
  sync: 0,
  /** Dispatches encoded (graph replays are counted by the graph, not here). */
  dispatch: 0,
  /** Command buffers created. */
  commandBuffer: 0,
  /** Memory barriers that reached an open compute encoder. */
  barrier: 0,
  /** Nanoseconds spent encoding barriers; measured only while barrier profiling is on. */
  barrierNs: 0,
  /** Tracked dispatches that needed an automatic barrier. */
  autoBarrier: 0,
  /** Tracked dispatches that could run concurrently with the previous ones. */
  autoConcurrent: 0,
  /** Buffers added to the residency set. */
  residencyAdd: 0,
  /** Buffers removed from the residency set. */
  residencyRemove: 0,
  /** Residency set commits. */
  residencyCommit: 0,
};

export const syncCount = (): number => counters.sync;
export const dispatchCount = (): number => counters.dispatch;
export const cmdBufCount = (): number => counters.commandBuffer;
export const barrierCount = (): number => counters.barrier;
export const barrierTotalNs = (): number => counters.barrierNs;
export const autoBarrierCount = (): number => counters.autoBarrier;
export const autoBarrierConcurrentCount = (): number => counters.autoConcurrent;
export const residencyAddCount = (): number => counters.residencyAdd;
export const residencyRemoveCount = (): number => counters.residencyRemove;
export const residencyCommitCount = (): number => counters.residencyCommit;

/** Zero every counter. */
export function resetCounters(): void {
  for (const key of Object.keys(counters) as (keyof typeof counters)[]) counters[key] = 0;
}
