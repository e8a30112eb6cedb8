/**
 * Nothing in the TS core branches on the backend except the loader: ops and runtime choose by
 * capability (`device.limits`), so both backends run the same logic.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const src = resolve(import.meta.dir, "..", "src");
// The loader picks the backend; config.ts validates MLXN_BACKEND's value; the precompile command
// validates its --backend argument (it compiles for a backend it does not load).
const allowed = new Set(["ffi/loader.ts", "config.ts", "cli/precompile.ts"]);

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

test("no src/ module outside the loader compares the backend's name", () => {
  const offenders: string[] = [];
  for (const file of tsFiles(src)) {
    const rel = relative(src, file);
    if (allowed.has(rel)) continue;
    const code = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/[^\n]*/g, "");
    if (/\bbackend\s*[!=]==?|[!=]==?\s*["'](cpu|cuda|metal)["']|process\.platform/.test(code)) offenders.push(rel);
  }
  expect(offenders).toEqual([]);
});
