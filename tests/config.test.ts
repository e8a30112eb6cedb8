/**
 * config() and withConfig(): overrides are scoped to the callback and everything it calls,
 * synchronously or asynchronously, and never leak into code outside it, even when two async
 * callers overlap (each one's awaits interleaving with the other's).
 */
import { describe, expect, test } from "bun:test";
import { config, withConfig } from "../src/config.ts";
import { ArgumentError } from "../src/errors.ts";

const tick = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe("withConfig", () => {
  test("a synchronous override applies inside the callback only, also when it throws", () => {
    const before = config().mslCpuThreads;
    expect(withConfig({ mslCpuThreads: 3 }, () => config().mslCpuThreads)).toBe(3);
    expect(() =>
      withConfig({ mslCpuThreads: 4 }, () => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(config().mslCpuThreads).toBe(before);
  });

  test("nested overrides stack and unwind", () => {
    withConfig({ mslCpuThreads: 5, mslCpuSanitize: true }, () => {
      withConfig({ mslCpuThreads: 6 }, () => {
        expect(config().mslCpuThreads).toBe(6);
        expect(config().mslCpuSanitize).toBe(true);
      });
      expect(config().mslCpuThreads).toBe(5);
    });
  });

  test("overlapping async callers each see their own values, and code outside sees neither", async () => {
    const base = config().mslCpuThreads;
    const seen: string[] = [];
    const first = withConfig({ mslCpuThreads: 11 }, async () => {
      await tick(1);
      seen.push(`first after 1 ms: ${config().mslCpuThreads}`);
      await tick(20);
      seen.push(`first after 21 ms: ${config().mslCpuThreads}`);
      return config().mslCpuThreads;
    });
    const second = withConfig({ mslCpuThreads: 22 }, async () => {
      await tick(10);
      seen.push(`second after 10 ms: ${config().mslCpuThreads}`);
      return config().mslCpuThreads;
    });
    // Both are pending here: the caller's own scope is untouched.
    expect(config().mslCpuThreads).toBe(base);
    expect(await Promise.all([first, second])).toEqual([11, 22]);
    expect(seen).toEqual(["first after 1 ms: 11", "second after 10 ms: 22", "first after 21 ms: 11"]);
    expect(config().mslCpuThreads).toBe(base);
  });

  test("a rejected async callback restores the outer values", async () => {
    const base = config().mslCpuThreads;
    const failing = withConfig({ mslCpuThreads: 7 }, async () => {
      await tick(1);
      throw new Error("late");
    });
    await expect(failing).rejects.toThrow("late");
    expect(config().mslCpuThreads).toBe(base);
  });

  test("an unknown key or a non-object is an ArgumentError naming it", () => {
    expect(() => withConfig({ autoBarier: true } as never, () => 0)).toThrow(ArgumentError);
    expect(() => withConfig({ autoBarier: true } as never, () => 0)).toThrow(/autoBarier/);
    expect(() => withConfig(null as never, () => 0)).toThrow(ArgumentError);
    expect(() => withConfig({}, "no" as never)).toThrow(ArgumentError);
  });

  test("the values in force cannot be changed through config()", () => {
    const c = config() as { mslCpuThreads: number | undefined };
    expect(() => {
      c.mslCpuThreads = 99;
    }).toThrow(TypeError);
  });
});

describe("environment", () => {
  test("a bad value is an ArgumentError naming the variable", () => {
    const run = (env: Record<string, string>) =>
      Bun.spawnSync([process.execPath, "-e", `import("${import.meta.dir}/../src/config.ts").then((m) => { try { m.config(); console.log("ok"); } catch (e) { console.log(e.name, e.argument); } })`], {
        env: { ...process.env, ...env },
      }).stdout.toString().trim();
    expect(run({ MLXN_BACKEND: "vulkan" })).toBe("ArgumentError MLXN_BACKEND");
    expect(run({ MLXN_MSL_CPU_THREADS: "-2" })).toBe("ArgumentError MLXN_MSL_CPU_THREADS");
    expect(run({ MLXN_MSL_CPU_THREADS: "2" })).toBe("ok");
  });
});
