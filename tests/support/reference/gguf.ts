/**
 * The float64 reference decoder over a GGUF file: every tensor exactly dequantized
 * (ggml_quants.ts), llama's q/k rows put back in their original order by inverting the
 * converter's permutation (gguf_convert.ts), independently of the loader's own un-permutation.
 *
 * @example
 * const ref = referenceFromGguf("model.gguf");
 * const logits = ref.forward([1, 2, 3], ref.newCache());
 */
import { GgufFile } from "../../../src/io/gguf.ts";
import { ggufModelConfig } from "../../../src/models/gguf_model.ts";
import { dequantizeRows } from "../ggml_quants.ts";
import { converterPermutation, ggufTensorName } from "../gguf_convert.ts";
import { ReferenceDecoder, type HostTensor } from "./decoder.ts";

export function referenceFromGguf(path: string): ReferenceDecoder {
  const gguf = GgufFile.open(path);
  const config = ggufModelConfig(gguf);
  return new ReferenceDecoder(config, (name): HostTensor | undefined => {
    if (name.endsWith(".scales")) return undefined;
    const info = gguf.info(ggufTensorName(name));
    if (!info) return undefined;
    const stored = dequantizeRows(info.type.name, gguf.read(info.name), info.rows, info.rowLength);
    let values = stored;
    const heads = /q_proj\./.test(name) ? config.numAttentionHeads : /k_proj\./.test(name) ? config.numKeyValueHeads : 0;
    if (config.architecture === "llama" && heads > 0) {
      const rows = info.shape[0]!;
      const cols = info.elements / rows;
      const order = converterPermutation(rows, heads);
      values = new Float64Array(stored.length);
      for (let i = 0; i < rows; i++) values.set(stored.subarray(i * cols, (i + 1) * cols), order[i]! * cols);
    }
    return { dtype: "F32", shape: info.shape, bytes: new Uint8Array(0), values };
  });
}
