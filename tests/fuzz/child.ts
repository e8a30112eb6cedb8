/**
 * Runs one batch of fuzz cases in this process and reports each on stdout, one JSON line per
 * case, preceded by a "start" line so that the parent can blame the case that was running when
 * this process crashed or hung. Usage: bun tests/fuzz/child.ts <api|files> <seed> <count>
 */
import { apiCases, apiContext } from "./api_cases.ts";
import { judge, type FuzzCase } from "./cases.ts";
import { fileCases, fileContext } from "./file_cases.ts";

const [suite, seedText, countText] = process.argv.slice(2);
const seed = Number(seedText ?? 1);
const count = Number(countText ?? 10);

function emit(line: object): void {
  // Synchronous, so that the line is out before a crash that may follow.
  require("node:fs").writeSync(1, JSON.stringify(line) + "\n");
}

async function runAll(cases: FuzzCase[]): Promise<void> {
  for (const c of cases) {
    emit({ start: c.id });
    emit(await judge(c));
  }
}

if (suite === "api") {
  const ctx = apiContext();
  await runAll(apiCases(ctx, seed, count));
  ctx.dispose();
} else if (suite === "files") {
  const ctx = fileContext();
  await runAll(fileCases(ctx, seed, count));
  ctx.dispose();
} else {
  throw new Error(`unknown suite ${suite}`);
}
emit({ end: true });
