/**
 * Host cost per encoded dispatch: TS (validation, packing, one FFI call) against a C program
 * making the same shim calls (bench/dispatch_c.c). Prints ns per dispatch and the ratio.
 * Target: TS within 1.5x of C. Encoding only: the GPU work is committed after the timed loop.
 *
 * usage: bun run bench/dispatch.ts [dispatches=100000] [rounds=12]
 *
 * Rounds are long so that the best one runs fully JIT-compiled code, as a decode loop does
 * after its first tokens.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { findVariant } from "../kernels/catalog.ts";
import { Device, DType, config, kernels, ops } from "../src/index.ts";
import { assembleUnit } from "../src/kernels.ts";

const dispatches = Number(process.argv[2] ?? 100000);
const rounds = Number(process.argv[3] ?? 12);
const root = resolve(import.meta.dir, "..");

const device = Device.open();
const n = 4;
const [a, b, out] = [0, 1, 2].map(() => device.allocBuffer(n * 4, DType.F32, [n])) as [ReturnType<typeof device.allocBuffer>, ReturnType<typeof device.allocBuffer>, ReturnType<typeof device.allocBuffer>];
const add = { op: "add", dtype: DType.F32 } as const;
const pipeline = device.kernels.pipeline(kernels.elementwiseBinary, add);
const kernelName = kernels.elementwiseBinary.name(add);
const unit = findVariant(kernelName)!.unit;
const count = new Uint32Array([n]);

function best(label: string, encodeOne: (enc: ReturnType<typeof device.commandEncoder>) => void, autoBarrier = false): number {
  let bestNs = Infinity;
  for (let r = 0; r < rounds; r++) {
    // The C loop places no barriers, so the compared rows don't either.
    const enc = device.commandEncoder({ autoBarrier });
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < dispatches; i++) encodeOne(enc);
    bestNs = Math.min(bestNs, (Bun.nanoseconds() - t0) / dispatches);
    enc.commitAndWait();
    enc.dispose();
  }
  console.log(`${label.padEnd(44)} ${bestNs.toFixed(1).padStart(8)} ns/dispatch`);
  return bestNs;
}

console.log(`backend ${device.backend} (${device.name}); ${dispatches} dispatches x ${rounds} rounds, best round`);
const tsOp = best("TS ops.elementwiseAdd (validate + pack + FFI)", (enc) => ops.elementwiseAdd(enc, a, b, out));
const tsRaw = best("TS encoder.dispatchThreads (pack + FFI)", (enc) => enc.dispatchThreads(pipeline, [a, b, out, count], [n, 1, 1], [4, 1, 1]));
// For information: the same op with automatic barriers (every iteration rewrites `out`, so each
// dispatch also gets a barrier).
best("TS ops.elementwiseAdd, automatic barriers", (enc) => ops.elementwiseAdd(enc, a, b, out), true);

// The C side: build the baseline against the same shim and run it on the same kernel text.
const make = spawnSync("make", ["--no-print-directory", "-C", root, "build/bench_dispatch_c"], { stdio: "inherit" });
if (make.status !== 0) throw new Error("building bench/dispatch_c.c failed");
const dir = mkdtempSync(join(tmpdir(), "mlxn-bench-"));
const sourceFile = join(dir, `${unit}.metal`);
writeFileSync(sourceFile, assembleUnit(unit));
const c = spawnSync(join(root, "build", "bench_dispatch_c"), [sourceFile, kernelName, String(dispatches), String(rounds)], {
  encoding: "utf8",
  env: { ...process.env, MLXN_BENCH_CACHE_DIR: join(config().cacheDir, "msl-cpu") },
});
if (c.status !== 0) throw new Error(`bench_dispatch_c failed: ${c.stderr}`);
const packed = Number(/packed_ns_per_dispatch=([\d.]+)/.exec(c.stdout)![1]);
const granular = Number(/granular_ns_per_dispatch=([\d.]+)/.exec(c.stdout)![1]);
console.log(`${"C dispatch_packed (same record, same call)".padEnd(44)} ${packed.toFixed(1).padStart(8)} ns/dispatch`);
console.log(`${"C granular calls (pipeline, 3 buffers, bytes)".padEnd(44)} ${granular.toFixed(1).padStart(8)} ns/dispatch`);
console.log(`ratio TS op / C packed: ${(tsOp / packed).toFixed(2)}x   TS dispatch / C packed: ${(tsRaw / packed).toFixed(2)}x   (target <= 1.5x)`);
