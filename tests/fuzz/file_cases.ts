/**
 * Generated malformed files: byte mutations and truncations of every format in FORMATS,
 * config.json values of every kind in every numeric field, mutated tokenizer.json, and special
 * files (FIFO, directory, symbolic link to a directory) where a model file belongs. Property: a
 * result or a typed error, fast, never a crash, hang or foreign error.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { Device, readSafetensorsHeader, writeModelSafetensors, writeSafetensors } from "../../src/index.ts";
import { readModelConfig } from "../../src/models/config.ts";
import { loadModelSync } from "../../src/models/model.ts";
import { createSyntheticModel, syntheticPreset, writeSyntheticModel } from "../../src/models/synthetic.ts";
import { Tokenizer } from "../../src/models/tokenizer.ts";
import { Rng, type FuzzCase } from "./cases.ts";
import { FORMATS, place } from "./formats.ts";

export interface FileContext {
  device: Device;
  root: string;
  /** A valid tiny model directory to copy and damage. */
  model: string;
  dispose(): void;
}

export function fileContext(): FileContext {
  const device = Device.open();
  const root = mkdtempSync(join(tmpdir(), "mlxn-fuzz-files-"));
  const synthetic = createSyntheticModel(syntheticPreset("llama", { headDim: 64 }), root);
  return {
    device,
    root,
    model: synthetic.dir,
    dispose() {
      device.dispose();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function mutate(rng: Rng, bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  switch (rng.int(5)) {
    case 0: // truncate
      return out.subarray(0, rng.int(out.length));
    case 1: // flip a few bytes anywhere
      for (let i = 0, n = 1 + rng.int(4); i < n; i++) { const at = rng.int(out.length); out[at] = out[at]! ^ (1 << rng.int(8)); }
      return out;
    case 2: // damage the 8-byte length prefix (or the first bytes of other formats)
      out[rng.int(Math.min(8, out.length))] = rng.int(256);
      return out;
    case 3: { // overwrite a digit in the header with another digit, or a 9-run
      const text = new TextDecoder("latin1").decode(out);
      const digits = [...text.matchAll(/\d+/g)];
      if (digits.length === 0) return out;
      const m = rng.pick(digits);
      const replacement = rng.pick(["0", "9".repeat(m[0].length), "1" + "0".repeat(m[0].length), String(rng.int(100000))]);
      const next = text.slice(0, m.index) + replacement + text.slice(m.index! + m[0].length);
      return Uint8Array.from(next, (c) => c.charCodeAt(0));
    }
    default: // append garbage
      return Uint8Array.from([...out, ...Array.from({ length: 1 + rng.int(64) }, () => rng.int(256))]);
  }
}

const CONFIG_VALUES: readonly unknown[] = [0, -1, 1, 3, 0.5, 1e6, 1e8, 2 ** 31, 2 ** 53, 1e308, -1e308, "8", "", null, true, [], {}, [8], { bits: 4 }];
const TOKENIZER_VALUES: readonly unknown[] = [null, 0, -1, 1e9, "", "x", [], {}, [[1, 2]], { a: -5 }, true];

function copyModel(ctx: FileContext, name: string): string {
  const dir = join(ctx.root, name);
  cpSync(ctx.model, dir, { recursive: true });
  return dir;
}

function mutateJson(rng: Rng, json: unknown, values: readonly unknown[], depth = 0): unknown {
  if (Array.isArray(json)) {
    if (json.length === 0 || rng.next() < 0.2) return rng.pick(values);
    const i = rng.int(json.length);
    const copy = [...json];
    copy[i] = depth > 6 || rng.next() < 0.3 ? rng.pick(values) : mutateJson(rng, copy[i], values, depth + 1);
    if (rng.next() < 0.2) copy.splice(i, 1);
    return copy;
  }
  if (json !== null && typeof json === "object") {
    const keys = Object.keys(json);
    if (keys.length === 0) return rng.pick(values);
    const k = rng.pick(keys);
    const copy: Record<string, unknown> = { ...(json as Record<string, unknown>) };
    const r = rng.next();
    if (r < 0.2) delete copy[k];
    else if (r < 0.6 || depth > 6) copy[k] = rng.pick(values);
    else copy[k] = mutateJson(rng, copy[k], values, depth + 1);
    return copy;
  }
  return rng.pick(values);
}

export function fileCases(ctx: FileContext, seed: number, count: number): FuzzCase[] {
  const rng = new Rng(seed);
  const cases: FuzzCase[] = [];
  const { device, root } = ctx;
  const dir = join(root, "formats");
  mkdirSync(dir, { recursive: true });

  for (const format of FORMATS) {
    const valid = format.valid();
    for (let i = 0; i < count; i++) {
      const bytes = mutate(rng, valid);
      cases.push({ id: `${format.name} mutation #${i}`, expect: "either", run: () => format.load(place(dir, `m${i}.${format.name}`, bytes), device) });
    }
  }

  // config.json: every integer and number field gets every kind of value; some must be refused.
  const config = JSON.parse(readFileSync(join(ctx.model, "config.json"), "utf8")) as Record<string, unknown>;
  const numeric = Object.keys(config).filter((k) => typeof config[k] === "number");
  for (const key of numeric) {
    for (const v of CONFIG_VALUES) {
      // Sizes and counts: no type but a positive number, nothing near 1e8 (1e8 layers once hung).
      // rms_norm_eps must be below 1, rope_theta representable in f32 with room to spare.
      const max = key === "rms_norm_eps" ? 1 : key === "rope_theta" ? 1e30 : 1e8;
      const mustFail = v !== null && (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || v >= max);
      cases.push({
        id: `config.json ${key}=${JSON.stringify(v)}`,
        expect: mustFail && !key.endsWith("token_id") ? "error" : "either",
        run: () => {
          const m = copyModel(ctx, `cfg-${key}-${String(v).slice(0, 12)}`);
          writeFileSync(join(m, "config.json"), JSON.stringify({ ...config, [key]: v }));
          try {
            loadModelSync(m, { device, progress: false }).dispose();
          } finally {
            rmSync(m, { recursive: true, force: true });
          }
        },
      });
    }
  }
  for (let i = 0; i < count; i++) {
    const json = mutateJson(rng, config, CONFIG_VALUES);
    cases.push({
      id: `config.json structural mutation #${i}`, expect: "either",
      run: () => {
        const m = copyModel(ctx, `cfgm-${i}`);
        writeFileSync(join(m, "config.json"), JSON.stringify(json));
        try {
          loadModelSync(m, { device, progress: false }).dispose();
        } finally {
          rmSync(m, { recursive: true, force: true });
        }
      },
    });
  }

  // tokenizer.json: structural mutations, truncations.
  const tokText = readFileSync(join(ctx.model, "tokenizer.json"), "utf8");
  const tokJson = JSON.parse(tokText) as unknown;
  const tokDir = join(root, "tok");
  for (let i = 0; i < count; i++) {
    const text = rng.next() < 0.3 ? tokText.slice(0, rng.int(tokText.length)) : JSON.stringify(mutateJson(rng, tokJson, TOKENIZER_VALUES));
    cases.push({
      id: `tokenizer.json mutation #${i}`, expect: "either",
      run: () => {
        rmSync(tokDir, { recursive: true, force: true });
        mkdirSync(tokDir, { recursive: true });
        writeFileSync(join(tokDir, "tokenizer.json"), text);
        const tok = Tokenizer.fromDirectory(tokDir);
        return tok?.decode(tok.encode("hello world"));
      },
    });
  }

  // Special files where model files belong.
  const special = (name: string, make: (path: string) => void, expect: "error" | "either" = "error"): void => {
    for (const file of ["model.safetensors", "config.json", "tokenizer.json", "model.safetensors.index.json", "tokenizer_config.json"]) {
      cases.push({
        id: `${name} named ${file}`, expect: file === "config.json" || file === "model.safetensors" ? "error" : expect,
        argument: /not a regular file|is a directory|cannot|directory|no such/,
        run: () => {
          const m = copyModel(ctx, `special-${name}-${file}`.replace(/\W/g, "_"));
          const path = join(m, file);
          rmSync(path, { force: true });
          make(path);
          try {
            if (file === "tokenizer.json" || file === "tokenizer_config.json") return Tokenizer.fromDirectory(m);
            if (file === "model.safetensors") return readSafetensorsHeader(path);
            if (file === "config.json") return readModelConfig(m);
            return loadModelSync(m, { device, progress: false }).dispose();
          } finally {
            rmSync(m, { recursive: true, force: true });
          }
        },
      });
    }
  };
  special("a FIFO", (p) => spawnSync("mkfifo", [p]));
  special("a directory", (p) => mkdirSync(p));
  special("a link to a directory", (p) => symlinkSync(root, p));
  // A dangling link is a missing file: fatal for config.json and weights, optional elsewhere.
  special("a dangling link", (p) => symlinkSync(join(root, "nowhere"), p), "either");

  // Writers: missing parents, a file where a directory must go, a directory where a file must go.
  cases.push({ id: "writeSafetensors into a missing directory", expect: "error", errorClass: "FileError", run: () => writeSafetensors(join(root, "no", "such", "x.safetensors"), []) });
  cases.push({ id: "writeSafetensors onto a directory", expect: "error", errorClass: "FileError", run: () => writeSafetensors(root, []) });
  cases.push({
    id: "writeModelSafetensors where a file is in the way", expect: "error", errorClass: "FileError",
    run: () => {
      const file = join(root, "in-the-way");
      writeFileSync(file, "x");
      writeModelSafetensors(join(file, "model"), []);
    },
  });
  cases.push({ id: "createSyntheticModel under a missing directory", expect: "error", errorClass: "FileError", run: () => createSyntheticModel(syntheticPreset("llama"), join(root, "no", "such")) });
  cases.push({
    id: "writeSyntheticModel where a file is in the way", expect: "error", errorClass: "FileError",
    run: () => {
      const file = join(root, "in-the-way-2");
      writeFileSync(file, "x");
      writeSyntheticModel(join(file, "model"), syntheticPreset("llama"));
    },
  });
  return cases;
}
