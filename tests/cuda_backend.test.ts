/**
 * The cuda backend's error paths and its PTX toolchain.
 *
 * - Without a driver or GPU, MLXN_BACKEND=cuda fails with a BackendError naming what is missing
 *   (runs where libcuda.so.1 is absent, as on CI).
 * - Catalog units compile to PTX with the expected `.entry` names (needs clang, no GPU; the PTX
 *   goes to the kernel cache, so later runs and the GPU host reuse it). The catalog has 272 units
 *   (1153 kernels); compiling all of them cold takes longer than CI allows on 2 cores, so by
 *   default one unit of each family shape is compiled (every op family, one bit width, one GGUF
 *   format per kernel kind, attention at head dims 64 and 16); MLXN_TEST_ALL_PTX=1 compiles every
 *   unit, as `bun run precompile --backend cuda` does.
 * - On an NVIDIA GPU (MLXN_BACKEND=cuda): an allocation the card cannot hold is an
 *   OutOfMemoryError; a kernel fault is a CommandBufferError, the process goes on and a new Device
 *   works (the fault runs in a child process: it poisons the CUDA context of its process).
 */
import { dlopen } from "bun:ffi";
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { config } from "../src/config.ts";
import { DType, OutOfMemoryError } from "../src/index.ts";
import { genericAccessesThroughLocalAddresses } from "./support/ptx.ts";
import { sourceUnits, unitVariants } from "../kernels/catalog.ts";
import { assembleUnit } from "../src/kernels.ts";
import { fixture } from "./support/fixtures.ts";

const root = resolve(import.meta.dir, "..");
const bun = process.execPath;
const { device } = fixture();
const onCuda = device.backend === "cuda";
const NO_GPU = "needs MLXN_BACKEND=cuda on a machine with an NVIDIA GPU";

function driverLoads(): boolean {
  try {
    dlopen("libcuda.so.1", { cuInit: { args: ["u32"], returns: "i32" } }).close();
    return true;
  } catch {
    return false;
  }
}

const cudaShim = join(root, "build", "libmlxn_cuda.so");
test.skipIf(!existsSync(cudaShim) || driverLoads())("MLXN_BACKEND=cuda without the NVIDIA driver is a BackendError naming libcuda.so.1", () => {
  const script = `import { Device } from ${JSON.stringify(join(root, "src", "index.ts"))};
try { Device.open(); console.log("opened"); } catch (e) { console.log(e.constructor.name + ": " + e.message); }`;
  const run = Bun.spawnSync([bun, "-e", script], { env: { ...process.env, MLXN_BACKEND: "cuda" } });
  const out = run.stdout.toString();
  expect(out).toStartWith("BackendError: ");
  expect(out).toContain("libcuda.so.1");
  expect(out).toContain("MLXN_BACKEND=cpu");
});

test("the PTX check flags a generic store through a local-window address, not one through its generic form", () => {
  const ptx = (store: string) => `.visible .entry k(\n.param .b64 p\n)\n{\n\tmov.u64 \t%SPL, __local_depot0;\n\tcvta.local.u64 \t%SP, %SPL;\n\tadd.u64 \t%rd2, %SPL, 0;\n\tadd.u64 \t%rd3, %SP, 0;\n\tmov.u64 \t%rd60, %rd2;\n\tadd.s64 \t%rd49, %rd60, 4;\n\t${store}\n\tret;\n}`;
  expect(genericAccessesThroughLocalAddresses(ptx("st.f32 \t[%rd49], %f1;")).get("k")).toEqual(["st.f32 \t[%rd49], %f1;"]);
  expect(genericAccessesThroughLocalAddresses(ptx("st.local.f32 \t[%rd49], %f1;")).size).toBe(0);
  expect(genericAccessesThroughLocalAddresses(ptx("st.f32 \t[%rd3], %f1;")).size).toBe(0);
});

const compiler = join(root, "build", "mlxn_cuda_compile");
const clang = ["clang++-19", "clang++-18", "clang++-17", "clang++"].some((c) => Bun.which(c) !== null);
describe(existsSync(compiler) && clang ? "PTX for every kernel" : "PTX for every kernel [skipped: needs clang and build/mlxn_cuda_compile (make setup on Linux)]", () => {
  const representative = /^(elementwise|copy|activations|norms|rope|softmax|sampling|embedding|quantize|dequantize|gemv|gemm|qmv_b4|qmm_b4|gguf_(mv|mm)_q4_k|gguf_(mv|mm)_q6_k|gguf_embedding_q4_0|moe|moe_qmv_b4_f32|moe_gemv_f32|sdpa_(decode|prefill)_d(64|16)_f32|sdpa_.*reduce.*)$/;
  const units = sourceUnits().filter((unit) => process.env.MLXN_TEST_ALL_PTX === "1" || representative.test(unit));
  for (const unit of units) {
    const file = `${unit}.metal`;
    test.skipIf(!existsSync(compiler) || !clang)(`kernels/${file} compiles to PTX with an entry per kernel`, async () => {
      const text = assembleUnit(unit);
      const source = join(config().cacheDir, "cuda", `.test-${file}`);
      await Bun.write(source, text);
      const proc = Bun.spawnSync([compiler, "--arch", "sm_90", "--cache-dir", join(config().cacheDir, "cuda"), source, `kernels/${unit}`]);
      expect(proc.stderr.toString()).toBe("");
      expect(proc.exitCode).toBe(0);
      const want = unitVariants(unit).map((v) => v.name).sort();
      const modules = proc.stdout.toString().trim().split("\n");
      expect(modules.length).toBeGreaterThan(0);
      for (const line of modules) {
        const ptx = readFileSync(line.split(" ")[0]!, "utf8");
        const entries = [...ptx.matchAll(/^\.visible \.entry (\w+)\(/gm)].map((m) => m[1]!).sort();
        expect(entries).toEqual(want);
        expect(Object.fromEntries(genericAccessesThroughLocalAddresses(ptx))).toEqual({});
      }
    }, 600_000);
  }
});

test.skipIf(!onCuda)(`an allocation beyond the card's free memory is an OutOfMemoryError [${NO_GPU}]`, () => {
  const big = Math.floor(device.limits.maxBufferLength * 0.6);
  const first = device.allocBuffer(big, DType.U8, [big]);
  try {
    expect(() => device.allocBuffer(big, DType.U8, [big])).toThrow(OutOfMemoryError);
  } finally {
    first.dispose();
  }
  const again = device.allocBuffer(big, DType.U8, [big]); // the memory came back
  again.dispose();
});

test(`a kernel fault is a CommandBufferError, the process goes on, and a new Device either works or names the fault; a new process works${onCuda ? "" : ` [compile only: ${NO_GPU}]`}`, () => {
  const script = join(import.meta.dir, "support", "cuda_fault.ts");
  const run = Bun.spawnSync([bun, script, ...(onCuda ? [] : ["--compile-only"])], { env: process.env });
  const lines = run.stdout.toString().trim().split("\n");
  expect(run.stderr.toString()).not.toContain("error:");
  if (run.exitCode !== 0) throw new Error(`tests/support/cuda_fault.ts exited with ${run.exitCode}:\n${run.stderr.toString()}`);
  const result = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
  if (!onCuda) return void expect(result.compiled).toBe("cuda_fault_write");
  expect(result.isCommandBufferError).toBe(true);
  expect(String(result.faultError)).toMatch(/illegal|CUDA_ERROR/);
  const reopen = result.reopen as Record<string, unknown>;
  if (reopen.opened) expect(reopen.sum).toBe(reopen.expected);
  else {
    expect(reopen.isBackendError).toBe(true);
    expect(String(reopen.error)).toContain("after a kernel fault earlier in this process");
  }
  // The GPU itself is fine: a fresh process computes correctly.
  const fresh = Bun.spawnSync([bun, script, "--add-only"], { env: process.env });
  if (fresh.exitCode !== 0) throw new Error(`tests/support/cuda_fault.ts --add-only exited with ${fresh.exitCode}:\n${fresh.stderr.toString()}`);
  const sums = JSON.parse(fresh.stdout.toString().trim().split("\n").at(-1)!) as { sum: number; expected: number };
  expect(sums.sum).toBe(sums.expected);
}, 180_000);
