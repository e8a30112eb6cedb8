/**
 * Soak run (not a test): does memory stay flat and speed steady over long use?
 *
 *   1. small dispatches (default 1,000,000) in command buffers of 1,000
 *   2. load/dispose cycles of the demo model (default 200) on one device
 *   3. generated tokens on the demo model (default 5,000) in generations of 500, decode speed
 *      per generation
 *
 * Prints process RSS and device memory in use (bytes held by live buffers) at intervals.
 * "Flat after warm-up" means the figures after the first interval stop growing.
 *
 *   bun bench/soak.ts [--dispatches N] [--cycles N] [--tokens N]
 */
import { Device, DType, KernelRegistry } from "../src/index.ts";
import { loadModelSync } from "../src/models/model.ts";
import { createSyntheticModel, syntheticPreset } from "../src/models/synthetic.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`--${name} needs a non-negative integer`);
  return v;
}

const DISPATCHES = arg("dispatches", 1_000_000);
const CYCLES = arg("cycles", 200);
const TOKENS = arg("tokens", 5000);

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
function memory(device: Device): string {
  Bun.gc(true);
  return `rss ${mib(process.memoryUsage().rss)}  device in use ${mib(device.bytesInUse)}`;
}

const device = Device.open();
console.log(`soak on ${device.name}: ${DISPATCHES} dispatches, ${CYCLES} load/dispose cycles, ${TOKENS} tokens`);
console.log(`start: ${memory(device)}`);

// ── 1. small dispatches ──
{
  using registry = new KernelRegistry(device);
  registry.registerSource("soak_inc", `
kernel void soak_inc(device float* x [[buffer(0)]], uint i [[thread_position_in_grid]]) { x[i] += 1.0f; }`);
  const pipeline = registry.getPipeline("soak_inc");
  using x = device.allocBuffer(64 * 4, DType.F32, [64]);
  const perCommandBuffer = 1000;
  const report = Math.max(perCommandBuffer, Math.floor(DISPATCHES / 10 / perCommandBuffer) * perCommandBuffer);
  let done = 0;
  let t0 = performance.now();
  while (done < DISPATCHES) {
    const enc = device.commandEncoder();
    enc.autoBarrier = false;
    const n = Math.min(perCommandBuffer, DISPATCHES - done);
    for (let i = 0; i < n; i++) {
      enc.dispatchThreads(pipeline, [x], [64, 1, 1], [64, 1, 1]);
      enc.memoryBarrier();
    }
    enc.commitAndWait();
    enc.dispose();
    done += n;
    if (done % report === 0 || done === DISPATCHES) {
      const t = performance.now();
      console.log(`dispatches ${String(done).padStart(8)}: ${((report / (t - t0)) * 1000).toFixed(0)} dispatches/s  ${memory(device)}`);
      t0 = performance.now();
    }
  }
  const value = x.view(Float32Array)[0];
  if (value !== DISPATCHES) console.log(`WRONG: x[0] = ${value}, expected ${DISPATCHES}`);
}

// ── 2. load/dispose cycles ──
using synthetic = createSyntheticModel(syntheticPreset("demo"));
{
  const every = Math.max(1, Math.floor(CYCLES / 10));
  let t0 = performance.now();
  for (let c = 1; c <= CYCLES; c++) {
    const model = loadModelSync(synthetic.dir, { device, progress: false });
    model.dispose();
    if (c % every === 0 || c === CYCLES) {
      const t = performance.now();
      console.log(`load/dispose ${String(c).padStart(4)}: ${((t - t0) / every).toFixed(0)} ms/cycle  ${memory(device)}`);
      t0 = performance.now();
    }
  }
}

// ── 3. generated tokens ──
// Generations of 500 tokens, each with a fresh KV cache: memory must come back to the same
// level after every one, and decode speed must hold. (One 5,000-token generation would grow its
// cache to 8,192 positions and slow down with the context, as it should: that measures
// attention, not leaks.)
{
  using model = loadModelSync(synthetic.dir, { device, progress: false });
  const interval = 500;
  let generated = 0;
  let round = 0;
  while (generated < TOKENS) {
    const want = Math.min(interval, TOKENS - generated);
    let got = 0;
    const t0 = performance.now();
    while (got < want) {
      // Sampling keeps the synthetic model off its end-of-text token; an early end is followed
      // by another generation until the interval is full.
      const gen = model.generate([1, 2, 3, 4], { maxTokens: want - got, temperature: 0.9, seed: round++ });
      for await (const _ of gen) got++;
    }
    generated += got;
    console.log(`tokens ${String(generated).padStart(5)}: ${((got / (performance.now() - t0)) * 1000).toFixed(1)} tokens/s  ${memory(device)}`);
  }
}
console.log(`end: ${memory(device)}`);
device.dispose();
