/** Loading model directories into device buffers grouped per module, and every way it refuses. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DType } from "../../src/index.ts";
import { SafetensorsArchive } from "../../src/io/safetensors.ts";
import { syntheticPreset, writeSyntheticModel, type SyntheticModelSpec } from "../../src/models/synthetic.ts";
import { loadModelWeights, type LinearWeights } from "../../src/models/weights.ts";
import { fixture } from "../support/fixtures.ts";
import { editConfig, editTensors, expectFormatError } from "./support.ts";

const { device } = fixture();
const root = mkdtempSync(join(tmpdir(), "mlxn-weights-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const model = (spec: SyntheticModelSpec) => writeSyntheticModel(join(root, `m${counter++}`), { ...spec, tokenizer: false });

function expectQuantized(l: LinearWeights, bits: number, groupSize: number, dtype: DType): void {
  expect(l.bits).toBe(bits);
  expect(l.groupSize).toBe(groupSize);
  expect(l.dtype).toBe(dtype);
  expect(l.weight.dtype).toBe(DType.U32);
  const lead = l.experts === undefined ? [] : [l.experts];
  expect(l.weight.shape).toEqual([...lead, l.outFeatures, (l.inFeatures * bits) / 32]);
  expect(l.scales!.shape).toEqual([...lead, l.outFeatures, l.inFeatures / groupSize]);
  expect(l.biases!.shape).toEqual([...lead, l.outFeatures, l.inFeatures / groupSize]);
  expect(l.scales!.dtype).toBe(dtype);
}

function expectDense(l: LinearWeights, dtype: DType): void {
  expect(l.bits).toBeUndefined();
  expect(l.scales).toBeUndefined();
  expect(l.biases).toBeUndefined();
  expect(l.weight.dtype).toBe(dtype);
  expect(l.weight.shape).toEqual([l.outFeatures, l.inFeatures]);
}

describe("presets load with the right structure", () => {
  test("qwen3_moe: stacked 4-bit experts on sparse layers, an 8-bit router, a dense MLP on mlp_only_layers", () => {
    const m = model(syntheticPreset("qwen3_moe"));
    using w = loadModelWeights(device, m.dir, { progress: false });
    const [l0, l1] = [w.layers[0]!, w.layers[1]!];
    expect(l0.mlp).toBeUndefined();
    expect(l1.moe).toBeUndefined();
    expectQuantized(l1.mlp!.gate, 4, 32, DType.BF16);
    const moe = l0.moe!;
    expectQuantized(moe.router, 8, 64, DType.BF16);
    expect([moe.router.outFeatures, moe.router.experts]).toEqual([8, undefined]);
    for (const e of [moe.gate, moe.up, moe.down]) expectQuantized(e, 4, 32, DType.BF16);
    expect([moe.gate.experts, moe.gate.outFeatures, moe.gate.inFeatures]).toEqual([8, 32, 64]);
    expect([moe.down.outFeatures, moe.down.inFeatures]).toEqual([64, 32]);
  });

  test("mixtral: an unquantized router; gemma3: sandwich norms; gemma3 nested: language_model. names, vision tensors ignored", () => {
    const mix = model(syntheticPreset("mixtral"));
    using w = loadModelWeights(device, mix.dir, { progress: false });
    expectDense(w.layers[1]!.moe!.router, DType.F16);
    expectQuantized(w.layers[1]!.moe!.up, 4, 32, DType.F16);
    const g = model(syntheticPreset("gemma3"));
    using gw = loadModelWeights(device, g.dir, { progress: false });
    expect(gw.layers[0]!.preFeedforwardNorm!.shape).toEqual([64]);
    expect(gw.layers[0]!.postFeedforwardNorm!.shape).toEqual([64]);
    const nested = model(syntheticPreset("gemma3-nested"));
    editTensors(nested.dir, (t) => t.set("vision_tower.encoder.weight", { dtype: "F16", shape: [2], data: new Uint8Array(4) }));
    using nw = loadModelWeights(device, nested.dir, { progress: false });
    expect(nw.embedding.name).toBe("language_model.model.embed_tokens");
    expect(nw.tensors.has("vision_tower.encoder.weight")).toBe(false);
  });

  test("a stacked expert tensor with the wrong expert count names the tensor and both shapes", () => {
    const m = model(syntheticPreset("mixtral"));
    editConfig(m.dir, (c) => void (c.num_local_experts = 3));
    expectFormatError(() => loadModelWeights(device, m.dir, { progress: false }), /tensor "model.layers.0.block_sparse_moe.gate.weight": shape \[4, 64\], expected \[3, 64\]/);
  });

  test("llama: 4-bit tied embedding is the output projection; buffers hold the file's bytes", () => {
    const m = model(syntheticPreset("llama"));
    using w = loadModelWeights(device, m.dir, { progress: false });
    expectQuantized(w.embedding, 4, 32, DType.F16);
    expect([w.embedding.outFeatures, w.embedding.inFeatures]).toEqual([320, 64]);
    expect(w.lmHead).toBe(w.embedding);
    expect(w.layers.length).toBe(2);
    const attn = w.layers[0]!.attention;
    expect([attn.q.outFeatures, attn.k.outFeatures, attn.v.outFeatures, attn.o.inFeatures]).toEqual([64, 32, 32, 64]);
    expectQuantized(w.layers[1]!.mlp!.down, 4, 32, DType.F16);
    expect(w.layers[1]!.mlp!.down.inFeatures).toBe(128);
    expect(attn.q.bias).toBeUndefined();
    expect(attn.qNorm).toBeUndefined();
    expect(w.norm.shape).toEqual([64]);
    const archive = SafetensorsArchive.open(m.dir);
    expect(w.tensors.size).toBe(archive.names.length);
    for (const [name, buf] of w.tensors) expect(buf.view(Uint8Array)).toEqual(archive.read(name));
  });

  test("qwen2: sharded, bf16, q/k/v biases but no o bias", () => {
    const m = model(syntheticPreset("qwen2"));
    expect(m.files.filter((f) => f.endsWith(".safetensors")).length).toBeGreaterThan(1);
    using w = loadModelWeights(device, m.dir, { progress: false });
    const attn = w.layers[0]!.attention;
    expectQuantized(attn.q, 4, 64, DType.BF16);
    expect(attn.q.bias!.shape).toEqual([64]);
    expect(attn.k.bias!.shape).toEqual([32]);
    expect(attn.v.bias!.dtype).toBe(DType.BF16);
    expect(attn.o.bias).toBeUndefined();
    expect(w.lmHead).toBe(w.embedding);
  });

  test("qwen3: q/k norms, head_dim 32 with hidden 64, per-module bits, an unquantized module, untied 6-bit lm_head", () => {
    const m = model(syntheticPreset("qwen3"));
    using w = loadModelWeights(device, m.dir, { progress: false });
    const [l0, l1] = [w.layers[0]!, w.layers[1]!];
    expect(l0.attention.qNorm!.shape).toEqual([32]);
    expect(l0.attention.kNorm!.shape).toEqual([32]);
    expect([l0.attention.q.outFeatures, l0.attention.o.inFeatures]).toEqual([128, 128]);
    expectQuantized(l0.mlp!.down, 8, 32, DType.BF16);
    expectQuantized(l1.mlp!.down, 4, 32, DType.BF16);
    expectDense(l1.attention.v, DType.BF16);
    expectQuantized(l0.attention.v, 4, 32, DType.BF16);
    expect(w.lmHead).not.toBe(w.embedding);
    expectQuantized(w.lmHead, 6, 64, DType.BF16);
    expectQuantized(w.embedding, 4, 32, DType.BF16);
  });

  test("f16: every linear dense, separate lm_head; dispose releases everything", () => {
    const m = model(syntheticPreset("f16"));
    const before = device.bytesInUse;
    const w = loadModelWeights(device, m.dir, { progress: false });
    expect(device.bytesInUse - before).toBe(w.byteLength);
    for (const l of [w.embedding, w.lmHead, w.layers[0]!.attention.q, w.layers[1]!.mlp!.up]) expectDense(l, DType.F16);
    expect(w.lmHead).not.toBe(w.embedding);
    w.dispose();
    w.dispose();
    expect(w.disposed).toBe(true);
    expect(device.bytesInUse).toBe(before);
  });
});

describe("malformed model directories: FormatError naming the tensor, no device memory taken", () => {
  const tiny = (name: "llama" | "qwen3" = "llama") => model(syntheticPreset(name, { numLayers: 1 }));
  function refuses(dir: string, ...fragments: (string | RegExp)[]) {
    const before = device.bytesInUse;
    const e = expectFormatError(() => loadModelWeights(device, dir, { progress: false }), ...fragments);
    expect(device.bytesInUse).toBe(before);
    return e;
  }

  test("missing tensors", () => {
    const m = tiny();
    editTensors(m.dir, (t) => t.delete("model.norm.weight"));
    expect(refuses(m.dir, /missing \(expected a float tensor of shape \[64\]\)/).tensor).toBe("model.norm.weight");
    const q = tiny();
    editTensors(q.dir, (t) => t.delete("model.layers.0.self_attn.q_proj.biases"));
    expect(refuses(q.dir, /missing/).tensor).toBe("model.layers.0.self_attn.q_proj.biases");
  });

  test("shape mismatch with the config names expected and actual shapes", () => {
    const m = tiny();
    editConfig(m.dir, (c) => (c.intermediate_size = 96));
    const e = refuses(m.dir, /shape \[128, 8\], expected \[96, 8\] from config\.json/);
    expect(e.tensor).toBe("model.layers.0.mlp.gate_proj.weight");
  });

  test("unsupported model_type", () => {
    const m = tiny();
    editConfig(m.dir, (c) => (c.model_type = "phi3"));
    refuses(m.dir, /"phi3" is not supported \(supported: llama, mistral, qwen2, qwen3, gemma3_text, gemma3, qwen3_moe, mixtral\)/);
  });

  test("wrong dtypes", () => {
    const m = tiny();
    editTensors(m.dir, (t) => t.set("model.norm.weight", { dtype: "I32", shape: [64], data: new Uint8Array(256) }));
    expect(refuses(m.dir, /dtype I32, expected F32, F16, BF16/).tensor).toBe("model.norm.weight");
    const p = tiny();
    editTensors(p.dir, (t) => {
      const w = t.get("model.layers.0.mlp.up_proj.weight")!;
      t.set("model.layers.0.mlp.up_proj.weight", { ...w, dtype: "F32" });
    });
    refuses(p.dir, /dtype F32, expected U32 \(packed quantized codes\)/);
  });

  test("unexpected tensors are refused; those mlx-lm drops are not", () => {
    const m = tiny();
    const extra = { dtype: "F16" as const, shape: [2], data: new Uint8Array(4) };
    editTensors(m.dir, (t) => {
      t.set("model.layers.0.self_attn.rotary_emb.inv_freq", extra);
      t.set("lm_head.weight", { dtype: "F16", shape: [320, 64], data: new Uint8Array(320 * 64 * 2) });
    });
    loadModelWeights(device, m.dir, { progress: false }).dispose();
    editTensors(m.dir, (t) => t.set("model.layers.0.mlp.extra.weight", extra));
    refuses(m.dir, /tensors a llama model with this config\.json does not use: model\.layers\.0\.mlp\.extra\.weight/);
  });

  test("quantized tensors the config does not declare quantized", () => {
    const m = tiny();
    editConfig(m.dir, (c) => {
      delete c.quantization;
      delete c.quantization_config;
    });
    expect(refuses(m.dir, /the weights are quantized but config\.json has no quantization/).tensor).toBe("model.embed_tokens.scales");
    const o = tiny();
    editConfig(o.dir, (c) => ((c.quantization as Record<string, unknown>)["model.layers.0.mlp.up_proj"] = false));
    expect(refuses(o.dir, /quantization\["model\.layers\.0\.mlp\.up_proj"\] is false/).tensor).toBe("model.layers.0.mlp.up_proj.scales");
  });

  test("a per-module bit width that disagrees with the packed shape, and a group size that does not divide", () => {
    const m = tiny("qwen3");
    editConfig(m.dir, (c) => ((c.quantization as Record<string, unknown>)["model.layers.0.mlp.down_proj"] = { bits: 4, group_size: 32 }));
    refuses(m.dir, /shape \[64, 32\], expected \[64, 16\]/);
    const g = tiny();
    editConfig(g.dir, (c) => ((c.quantization as Record<string, unknown>)["model.layers.0.self_attn.q_proj"] = { bits: 4, group_size: 128 }));
    refuses(g.dir, /input size 64 is not a multiple of group_size 128/);
  });

  test("truncated shard", () => {
    const m = tiny();
    const archive = SafetensorsArchive.open(m.dir);
    const file = archive.files[0]!.path;
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.byteLength - 100));
    refuses(m.dir, /run past the end of the .*data section \(truncated file\?\)/);
  });
});
