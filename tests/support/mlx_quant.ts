/** MLX affine quantization reference for tests; it lives in src/quant.ts (the synthetic model builder uses it too). */
export { MLX_BITS, MLX_GROUP_SIZES, code, dequantize, pack, quantize, type Quantized } from "../../src/quant.ts";
