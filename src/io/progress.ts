/**
 * A byte-count progress bar for loads that take a while. It draws only when asked to (by default:
 * when stdout is a terminal), only once the work has run for a second, on stderr, so piped output
 * and quick loads stay clean.
 *
 * @example
 * const bar = new ProgressBar("loading weights", totalBytes);
 * for (const chunk of chunks) bar.advance(chunk.byteLength);
 * bar.finish();
 */

export interface ProgressOptions {
  /** Draw at all. Default: stdout is a terminal. */
  enabled?: boolean;
  /** Where to draw. Default: `process.stderr`. */
  stream?: { write(text: string): unknown };
  /** Milliseconds of work before the bar first appears. Default 1000. */
  delayMs?: number;
  /** Clock in milliseconds (tests). Default `performance.now`. */
  now?: () => number;
}

const WIDTH = 30;
const REDRAW_MS = 100;

function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e3).toFixed(1)} kB`;
}

export class ProgressBar {
  readonly #label: string;
  readonly #total: number;
  readonly #enabled: boolean;
  readonly #stream: { write(text: string): unknown };
  readonly #delayMs: number;
  readonly #now: () => number;
  readonly #start: number;
  #done = 0;
  #lastDraw = -Infinity;
  #drawn = false;
  #finished = false;

  constructor(label: string, total: number, options: ProgressOptions = {}) {
    this.#label = label;
    this.#total = Math.max(total, 1);
    this.#enabled = options.enabled ?? process.stdout.isTTY === true;
    this.#stream = options.stream ?? process.stderr;
    this.#delayMs = options.delayMs ?? 1000;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /** True once the bar has been drawn. */
  get drawn(): boolean {
    return this.#drawn;
  }

  /** Count `n` more units done; redraws at most every 100 ms once the delay has passed. */
  advance(n: number): void {
    this.#done = Math.min(this.#total, this.#done + n);
    if (!this.#enabled || this.#finished) return;
    const t = this.#now();
    if (t - this.#start < this.#delayMs || t - this.#lastDraw < REDRAW_MS) return;
    this.#lastDraw = t;
    this.#draw();
  }

  /** Complete the bar (and end its line) if it was drawn. Idempotent. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (!this.#drawn) return;
    this.#done = this.#total;
    this.#draw();
    this.#stream.write("\n");
  }

  #draw(): void {
    this.#drawn = true;
    const fraction = this.#done / this.#total;
    const filled = Math.round(fraction * WIDTH);
    const bar = "#".repeat(filled) + "-".repeat(WIDTH - filled);
    const pct = `${Math.floor(fraction * 100)}`.padStart(3);
    this.#stream.write(`\r${this.#label} [${bar}] ${pct}% ${formatBytes(this.#done)} / ${formatBytes(this.#total)}`);
  }
}
