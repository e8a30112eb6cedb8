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
 * A check is linear in the size of the current group, which a barrier empties.
 *
 * @example
 * const t = new HazardTracker();
 * t.add(allocA, 0, 64, true);          // dispatch 1 writes a[0..64)
 * t.commit();
 * t.add(allocA, 0, 64, false);         // dispatch 2 reads it
 * t.conflicts();                       // true: read-after-write, a barrier is needed
 */
export class HazardTracker {
  #alloc = new Float64Array(64);
  #start = new Float64Array(64);
  #end = new Float64Array(64);
  #write = new Uint8Array(64);
  /** Ranges recorded for the current group. */
  #len = 0;
  /** Ranges added for the dispatch being checked (stored after the recorded ones). */
  #top = 0;
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
    const i = this.#top;
    if (i === this.#alloc.length) this.#grow();
    this.#alloc[i] = alloc;
    this.#start[i] = start;
    this.#end[i] = end;
    this.#write[i] = write ? 1 : 0;
    this.#top = i + 1;
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
    this.#len = this.#top;
  }

  /** Forget the added ranges without recording them. */
  discard(): void {
    this.#top = this.#len;
  }

  /**
   * Start a new group (a barrier was encoded). Ranges added but not yet committed are kept, so
   * `conflicts() → reset() → commit()` records the dispatch that caused the barrier.
   */
  reset(): void {
    const pending = this.#top - this.#len;
    if (pending > 0 && this.#len > 0) {
      this.#alloc.copyWithin(0, this.#len, this.#top);
      this.#start.copyWithin(0, this.#len, this.#top);
      this.#end.copyWithin(0, this.#len, this.#top);
      this.#write.copyWithin(0, this.#len, this.#top);
    }
    this.#len = 0;
    this.#top = pending;
    this.#opaque = false;
  }

  /** Make the next check conflict whatever it adds (work was encoded that the tracker did not see). */
  markOpaque(): void {
    this.#opaque = true;
  }

  #find(): boolean {
    const alloc = this.#alloc;
    const start = this.#start;
    const end = this.#end;
    const write = this.#write;
    const len = this.#len;
    for (let p = len; p < this.#top; p++) {
      const a = alloc[p]!;
      const s = start[p]!;
      const e = end[p]!;
      const w = write[p]!;
      for (let r = 0; r < len; r++) {
        if (alloc[r] === a && (w | write[r]!) !== 0 && s < end[r]! && start[r]! < e) return true;
      }
    }
    return false;
  }

  #grow(): void {
    const n = this.#alloc.length * 2;
    const grow = <T extends Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.#alloc = grow(this.#alloc, (k) => new Float64Array(k));
    this.#start = grow(this.#start, (k) => new Float64Array(k));
    this.#end = grow(this.#end, (k) => new Float64Array(k));
    this.#write = grow(this.#write, (k) => new Uint8Array(k));
  }
}
