/** MLX affine quantization reference for tests; it lives in src/quant.ts (the synthetic model builder uses it too). */
export { MLX_BITS, MLX_GROUP_SIZES, code, dequantize, pack, quantize, type Quantized } from "../../src/quant.ts";

import { type Buffer, type Device, DType, QuantizedTable } from "../../src/index.ts";
import type { Quantized } from "../../src/quant.ts";
import { floatBuffer } from "./fixtures.ts";

/**
 * A quantized table on the device: packed codes (U32), scales and biases, each passed to `keep`
 * (a test case's disposer) or else disposed by the caller.
 */
export function uploadQuantized(device: Device, q: Quantized, keep: (b: Buffer) => Buffer = (b) => b): QuantizedTable {
  const weight = keep(device.allocBuffer(q.packed.byteLength, DType.U32, [q.rows, (q.cols * q.bits) / 32]));
  weight.view(Uint32Array).set(q.packed);
  const groups = [q.rows, q.cols / q.groupSize];
  const scales = keep(floatBuffer(device, q.scaleDType, groups, q.scales));
  const biases = keep(floatBuffer(device, q.scaleDType, groups, q.biases));
  return new QuantizedTable({ weight, scales, biases, bits: q.bits, groupSize: q.groupSize });
}
