/**
 * Hazard tracking for automatic barriers: the byte ranges read and written by the dispatches
 * encoded since the last barrier (one "concurrent group"), and the rule that decides whether the
 * next dispatch may join the group or needs a barrier first.
 *
 * A range is `[start, end)` in bytes of one allocation, named by a non-zero int32 id (every view
 * of an allocation shares it; the encoder uses the low 32 bits of the native handle, so two
 * allocations can share an id only by coincidence, and then the cost is a needless barrier,
 * never a missing one). Ranges are taken from the actual binding: the view's offset plus the
 * binding offset, for the binding's length or the narrower range a dispatch declares. Two
 * disjoint slices of one allocation therefore never conflict, and adjacent ranges do not overlap.
 *
 * | new dispatch | recorded in the group | hazard | barrier |
 * |--------------|-----------------------|--------|---------|
 * | read         | read                  | none   | no      |
 * | read         | write                 | RAW    | yes     |
 * | write        | read                  | WAR    | yes     |
 * | write        | write                 | WAW    | yes     |
 *
 * Ranges of different allocations never conflict. A dispatch's own reads and writes never
 * conflict with each other (an in-place kernel is one dispatch).
 *
 * A dispatch is checked and recorded by one call, `track`, over parallel arrays the caller owns
 * (the encoder passes its per-binding scratch arrays as they are). Storage is flat typed arrays
 * that grow on demand, so tracking allocates nothing per dispatch.
 * A filter over allocation ids skips the scan of the group for allocations it does not touch,
 * so many independent dispatches in one group stay cheap; a barrier empties the group.
 *
 * @example
 * const t = new HazardTracker();
 * const write = Uint8Array.of(1), read = Uint8Array.of(0);
 * const alloc = Int32Array.of(7), start = Float64Array.of(0), end = Float64Array.of(64);
 * t.track(1, alloc, start, end, write); // Hazard.First: dispatch 1 writes bytes [0, 64) of allocation 7
 * t.track(1, alloc, start, end, read);  // Hazard.Barrier: dispatch 2 reads them (read-after-write)
 */
export class HazardTracker {
  // Ranges recorded for the current group.
  #alloc = new Int32Array(64);
  #start = new Float64Array(64);
  #end = new Float64Array(64);
  #write = new Uint8Array(64);
  #len = 0;
  /**
   * A filter over allocation ids so a check scans the group only when an allocation it touches
   * may be in it: slot `hash(alloc)` holds the current generation if some recorded range of such
   * an allocation is a write (`#writeGen`) or any range (`#anyGen`). A reset bumps the
   * generation instead of clearing the slots.
   */
  #anyGen = new Uint32Array(FILTER_SLOTS);
  #writeGen = new Uint32Array(FILTER_SLOTS);
  #gen = 1;
  /** Set after work the tracker cannot see (a graph replay): the next dispatch conflicts. */
  #opaque = false;
  #checks = 0;
  #conflicts = 0;

  /** Ranges recorded in the current group. */
  get length(): number {
    return this.#len;
  }

  /** True when no dispatch has been recorded since the last reset. */
  get empty(): boolean {
    return this.#len === 0 && !this.#opaque;
  }

  /** Dispatches checked. */
  get checks(): number {
    return this.#checks;
  }

  /** Dispatches that conflicted with their group. */
  get conflictCount(): number {
    return this.#conflicts;
  }

  /**
   * Check one dispatch, whose ranges are entries `[0, n)` of the arrays (`write[i]` non-zero for a
   * write; entries with `alloc[i] === 0` are skipped), against the current group, and record it.
   * Returns `Hazard.Barrier` if it conflicts — the caller encodes a barrier, and the tracker has
   * already started a new group holding just this dispatch — else `Hazard.Concurrent` if it joined
   * a non-empty group, or `Hazard.First` if the group was empty.
   */
  track(n: number, alloc: Int32Array, start: Float64Array, end: Float64Array, write: Uint8Array): number {
    this.#checks++;
    let outcome: number = this.#len === 0 ? Hazard.First : Hazard.Concurrent;
    if (this.#opaque || this.#find(n, alloc, start, end, write)) {
      this.#conflicts++;
      this.reset();
      outcome = Hazard.Barrier;
    }
    this.#record(n, alloc, start, end, write);
    return outcome;
  }

  /** Start a new group: a barrier was encoded. */
  reset(): void {
    this.#len = 0;
    this.#opaque = false;
    if (++this.#gen === 0xffffffff) {
      this.#anyGen.fill(0);
      this.#writeGen.fill(0);
      this.#gen = 1;
    }
  }

  /** Make the next dispatch conflict whatever it touches (work was encoded that the tracker did not see). */
  markOpaque(): void {
    this.#opaque = true;
  }

  #find(n: number, pAlloc: Int32Array, pStart: Float64Array, pEnd: Float64Array, pWrite: Uint8Array): boolean {
    const len = this.#len;
    if (len === 0) return false;
    const gen = this.#gen;
    const alloc = this.#alloc;
    const start = this.#start;
    const end = this.#end;
    const write = this.#write;
    for (let p = 0; p < n; p++) {
      const a = pAlloc[p]!;
      if (a === 0) continue;
      const w = pWrite[p]!;
      // A read can only conflict with a recorded write; a write with anything.
      if ((w !== 0 ? this.#anyGen : this.#writeGen)[slot(a)] !== gen) continue;
      const s = pStart[p]!;
      const e = pEnd[p]!;
      for (let r = 0; r < len; r++) {
        if (alloc[r] === a && (w | write[r]!) !== 0 && s < end[r]! && start[r]! < e) return true;
      }
    }
    return false;
  }

  #record(n: number, pAlloc: Int32Array, pStart: Float64Array, pEnd: Float64Array, pWrite: Uint8Array): void {
    let len = this.#len;
    if (len + n > this.#alloc.length) this.#grow(len + n);
    const gen = this.#gen;
    const alloc = this.#alloc;
    const start = this.#start;
    const end = this.#end;
    const write = this.#write;
    const anyGen = this.#anyGen;
    const writeGen = this.#writeGen;
    for (let p = 0; p < n; p++) {
      const a = pAlloc[p]!;
      if (a === 0) continue;
      const w = pWrite[p]! !== 0 ? 1 : 0;
      alloc[len] = a;
      start[len] = pStart[p]!;
      end[len] = pEnd[p]!;
      write[len] = w;
      len++;
      const h = slot(a);
      anyGen[h] = gen;
      if (w !== 0) writeGen[h] = gen;
    }
    this.#len = len;
  }

  #grow(min: number): void {
    let n = this.#alloc.length * 2;
    while (n < min) n *= 2;
    this.#alloc = grown(this.#alloc, new Int32Array(n));
    this.#start = grown(this.#start, new Float64Array(n));
    this.#end = grown(this.#end, new Float64Array(n));
    this.#write = grown(this.#write, new Uint8Array(n));
  }
}

/**
 * Outcome of `HazardTracker.track`.
 *
 * @example
 * if (tracker.track(n, alloc, start, end, write) === Hazard.Barrier) encodeBarrier();
 */
export const Hazard = Object.freeze({
  /** The group was empty: nothing to order against. */
  First: 0,
  /** Joined the group: may run concurrently with it. */
  Concurrent: 1,
  /** Conflicted: needs a barrier before it. */
  Barrier: 2,
});

const FILTER_SLOTS = 1024;

/** Filter slot of an allocation id (low bits of a native pointer: the lowest are alignment). */
function slot(alloc: number): number {
  return ((alloc >>> 4) ^ (alloc >>> 14)) & (FILTER_SLOTS - 1);
}

function grown<T extends Int32Array | Float64Array | Uint8Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
