/**
 * Hazard tracking for automatic barriers: the byte ranges read and written by the dispatches
 * encoded since the last barrier (one "concurrent group"), and the rule that decides whether the
 * next dispatch may join the group or needs a barrier first.
 *
 * A range is `[start, end)` in bytes of one allocation (every view of an allocation shares its
 * id), taken from the actual binding: the view's offset plus the binding offset, for the
 * binding's length or the narrower range a dispatch declares. Two disjoint slices of one
 * allocation therefore never conflict, and adjacent ranges do not overlap.
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
 * Storage is flat typed arrays that grow on demand, so tracking allocates nothing per dispatch.
 * A filter over allocation ids skips the scan of the group for allocations it does not touch,
 * so many independent dispatches in one group stay cheap; a barrier empties the group.
 *
 * @example
 * const t = new HazardTracker();
 * t.add(allocA, 0, 64, true);          // dispatch 1 writes a[0..64)
 * t.commit();
 * t.add(allocA, 0, 64, false);         // dispatch 2 reads it
 * t.conflicts();                       // true: read-after-write, a barrier is needed
 */
export class HazardTracker {
  // Ranges recorded for the current group.
  #alloc = new Float64Array(64);
  #start = new Float64Array(64);
  #end = new Float64Array(64);
  #write = new Uint8Array(64);
  #len = 0;
  // Ranges of the dispatch being checked.
  #pAlloc = new Float64Array(64);
  #pStart = new Float64Array(64);
  #pEnd = new Float64Array(64);
  #pWrite = new Uint8Array(64);
  #pLen = 0;
  /**
   * A filter over allocation ids so a check scans the group only when an allocation it touches
   * may be in it: slot `hash(alloc)` holds the current generation if some recorded range of such
   * an allocation is a write (`#writeGen`) or any range (`#anyGen`). A reset bumps the
   * generation instead of clearing the slots.
   */
  #anyGen = new Uint32Array(FILTER_SLOTS);
  #writeGen = new Uint32Array(FILTER_SLOTS);
  #gen = 1;
  /** Set after work the tracker cannot see (a graph replay): the next check conflicts. */
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

  /** Number of `conflicts()` calls. */
  get checks(): number {
    return this.#checks;
  }

  /** Number of `conflicts()` calls that found a hazard. */
  get conflictCount(): number {
    return this.#conflicts;
  }

  /** Add a range accessed by the dispatch being checked. */
  add(alloc: number, start: number, end: number, write: boolean): void {
    const i = this.#pLen;
    if (i === this.#pAlloc.length) this.#growPending();
    this.#pAlloc[i] = alloc;
    this.#pStart[i] = start;
    this.#pEnd[i] = end;
    this.#pWrite[i] = write ? 1 : 0;
    this.#pLen = i + 1;
  }

  /** Whether the ranges added since the last `commit()` conflict with the recorded group. */
  conflicts(): boolean {
    this.#checks++;
    if (this.#opaque || this.#find()) {
      this.#conflicts++;
      return true;
    }
    return false;
  }

  /** Record the added ranges as part of the current group. */
  commit(): void {
    const n = this.#pLen;
    if (this.#len + n > this.#alloc.length) this.#grow(this.#len + n);
    const gen = this.#gen;
    for (let p = 0; p < n; p++) {
      const i = this.#len++;
      const a = this.#pAlloc[p]!;
      const w = this.#pWrite[p]!;
      this.#alloc[i] = a;
      this.#start[i] = this.#pStart[p]!;
      this.#end[i] = this.#pEnd[p]!;
      this.#write[i] = w;
      const h = slot(a);
      this.#anyGen[h] = gen;
      if (w !== 0) this.#writeGen[h] = gen;
    }
    this.#pLen = 0;
  }

  /** Forget the added ranges without recording them. */
  discard(): void {
    this.#pLen = 0;
  }

  /**
   * Start a new group (a barrier was encoded). Ranges added but not yet committed are kept, so
   * `conflicts() → reset() → commit()` records the dispatch that caused the barrier.
   */
  reset(): void {
    this.#len = 0;
    this.#opaque = false;
    if (++this.#gen === 0xffffffff) {
      this.#anyGen.fill(0);
      this.#writeGen.fill(0);
      this.#gen = 1;
    }
  }

  /** Make the next check conflict whatever it adds (work was encoded that the tracker did not see). */
  markOpaque(): void {
    this.#opaque = true;
  }

  #find(): boolean {
    const len = this.#len;
    if (len === 0) return false;
    const gen = this.#gen;
    for (let p = 0; p < this.#pLen; p++) {
      const a = this.#pAlloc[p]!;
      const w = this.#pWrite[p]!;
      // A read can only conflict with a recorded write; a write with anything.
      if ((w !== 0 ? this.#anyGen : this.#writeGen)[slot(a)] !== gen) continue;
      const s = this.#pStart[p]!;
      const e = this.#pEnd[p]!;
      for (let r = 0; r < len; r++) {
        if (this.#alloc[r] === a && (w | this.#write[r]!) !== 0 && s < this.#end[r]! && this.#start[r]! < e) return true;
      }
    }
    return false;
  }

  #grow(min: number): void {
    let n = this.#alloc.length * 2;
    while (n < min) n *= 2;
    this.#alloc = grown(this.#alloc, new Float64Array(n));
    this.#start = grown(this.#start, new Float64Array(n));
    this.#end = grown(this.#end, new Float64Array(n));
    this.#write = grown(this.#write, new Uint8Array(n));
  }

  #growPending(): void {
    const n = this.#pAlloc.length * 2;
    this.#pAlloc = grown(this.#pAlloc, new Float64Array(n));
    this.#pStart = grown(this.#pStart, new Float64Array(n));
    this.#pEnd = grown(this.#pEnd, new Float64Array(n));
    this.#pWrite = grown(this.#pWrite, new Uint8Array(n));
  }
}

const FILTER_SLOTS = 1024;

/** Filter slot of an allocation id (a native pointer: low bits are alignment, so skip them). */
function slot(alloc: number): number {
  const x = (alloc / 64) | 0;
  return (x ^ (x >>> 10)) & (FILTER_SLOTS - 1);
}

function grown<T extends Float64Array | Uint8Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
