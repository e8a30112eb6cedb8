/** The load progress bar: only when enabled, only after the delay, on the given stream. */
import { expect, test } from "bun:test";
import { ProgressBar } from "../../src/io/progress.ts";

function harness(enabled: boolean) {
  let now = 0;
  const out: string[] = [];
  const bar = new ProgressBar("loading", 4e6, { enabled, stream: { write: (s) => out.push(s) }, now: () => now });
  return { bar, out, advanceClock: (ms: number) => (now += ms) };
}

test("nothing is drawn for loads shorter than the delay", () => {
  const { bar, out, advanceClock } = harness(true);
  advanceClock(500);
  bar.advance(4e6);
  bar.finish();
  expect(out).toEqual([]);
  expect(bar.drawn).toBe(false);
});

test("after a second the bar appears, redraws at most every 100 ms, and ends its line", () => {
  const { bar, out, advanceClock } = harness(true);
  advanceClock(1000);
  bar.advance(1e6);
  expect(out).toEqual([`\rloading [########----------------------]  25% 1.0 MB / 4.0 MB`]);
  advanceClock(10);
  bar.advance(1e6);
  expect(out.length).toBe(1);
  advanceClock(100);
  bar.advance(1e6);
  expect(out.at(-1)).toContain(" 75% 3.0 MB / 4.0 MB");
  bar.finish();
  bar.finish();
  expect(out.slice(-2)).toEqual([`\rloading [${"#".repeat(30)}] 100% 4.0 MB / 4.0 MB`, "\n"]);
});

test("a disabled bar never draws", () => {
  const { bar, out, advanceClock } = harness(false);
  advanceClock(5000);
  bar.advance(2e6);
  bar.finish();
  expect(out).toEqual([]);
});
