/**
 * msl-cpu conformance: simdgroup_matrix<T, 8, 8> for float, half and bfloat — load and store
 * (device and threadgroup memory, row stride, origin, transpose), multiply, multiply_accumulate
 * (including a result aliasing an operand), the diagonal constructor, make_filled, and
 * thread_elements() in the lane layout msl-cpu documents.
 */
import { describe, expect, test } from "bun:test";
import { roundTo } from "../support/fixtures.ts";
import { DType } from "../../src/index.ts";
import { commandBufferError, run } from "./support.ts";
import { MSL_CPU_ONLY, testUnless } from "../support/backend.ts";

const source = `
#include <metal_stdlib>
#include <metal_simdgroup_matrix>
using namespace metal;
template <typename T>
void tile_ops(device const float* in, device float* out, uint lane) {
  threadgroup T ta[16 * 16];
  threadgroup T tb[8 * 8], tc[8 * 8];
  threadgroup T td[4][8 * 8];
  for (uint i = lane; i < 256; i += 32) ta[i] = T(in[i]);
  for (uint i = lane; i < 64; i += 32) {
    tb[i] = T(in[256 + i]);
    tc[i] = T(in[320 + i]);
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  simdgroup_matrix<T, 8, 8> a, b, c, d;
  simdgroup_load(a, ta, 16, ulong2(8, 4));      // column 8, row 4 of a 16-wide array
  simdgroup_load(b, tb, 8, ulong2(0, 0), true); // transposed
  simdgroup_load(c, tc);
  simdgroup_multiply_accumulate(d, a, b, c);
  simdgroup_store(d, td[0], 8);
  simdgroup_multiply(d, a, b);
  simdgroup_store(d, td[1], 8, ulong2(0, 0), true);
  simdgroup_matrix<T, 8, 8> diag(T(3));
  simdgroup_store(diag, td[2]);
  simdgroup_matrix<T, 8, 8> filled = make_filled_simdgroup_matrix<T, 8, 8>(T(2));
  simdgroup_multiply_accumulate(d, filled, diag, d);
  simdgroup_store(d, td[3]);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint i = lane; i < 256; i += 32) out[i] = float(td[i / 64][i % 64]);
  vec<T, 2> e = c.thread_elements();
  out[256 + lane * 2] = float(e[0]);
  out[256 + lane * 2 + 1] = float(e[1]);
}
kernel void matrix_ops(device float* out [[buffer(0)]],
                       device const float* in [[buffer(1)]],
                       uint lane [[thread_index_in_simdgroup]]) {
  tile_ops<float>(in, out, lane);
  tile_ops<half>(in, out + 320, lane);
  tile_ops<bfloat>(in, out + 640, lane);
  simdgroup_float8x8 m;
  simdgroup_load(m, in + 384, 8);      // device memory
  simdgroup_store(m, out + 960, 8);
}
`;

/** The lane layout msl-cpu uses (MLX's assumption for Apple GPUs): row, first column of lane i. */
function frag(lane: number): [number, number] {
  return [(lane & 16) / 4 + (Math.floor(lane / 2) % 4), (lane & 8) / 2 + (lane % 2) * 2];
}

describe("simdgroup_matrix", () => {
  test("load/store/multiply/multiply_accumulate/diagonal/filled/thread_elements for float, half, bfloat", () => {
    // Values in {-1, -0.5, 0, 0.5, 1}: every product and sum is exact in bfloat, half and float.
    const input = Float32Array.from({ length: 448 }, (_, i) => (((i * 37) % 5) - 2) / 2);
    const out = run("matrix_ops", source, {
      grid: [32, 1, 1],
      group: [32, 1, 1],
      out: new Float32Array(1024),
      inputs: [input],
    });
    const A = (r: number, c: number) => input[(4 + r) * 16 + 8 + c]!;
    const B = (r: number, c: number) => input[256 + c * 8 + r]!;
    const C = (r: number, c: number) => input[320 + r * 8 + c]!;
    const AB = (r: number, c: number) => {
      let s = 0;
      for (let k = 0; k < 8; k++) s += A(r, k) * B(k, c);
      return s;
    };
    for (const [base, dtype] of [[0, DType.F32], [320, DType.F16], [640, DType.BF16]] as const) {
      const got = (i: number) => out[base + i]!;
      for (let r = 0; r < 8; r++) {
        for (let c = 0; c < 8; c++) {
          const at = `${dtype.name} (${r},${c})`;
          expect(`${at} ${got(r * 8 + c)}`).toBe(`${at} ${roundTo(dtype, AB(r, c) + C(r, c))}`);
          expect(`${at} ${got(64 + c * 8 + r)}`).toBe(`${at} ${roundTo(dtype, AB(r, c))}`);
          expect(got(128 + r * 8 + c)).toBe(r === c ? 3 : 0);
          expect(`${at} ${got(192 + r * 8 + c)}`).toBe(`${at} ${roundTo(dtype, AB(r, c) + 6)}`);
        }
      }
      for (let lane = 0; lane < 32; lane++) {
        const [r, c] = frag(lane);
        expect([got(256 + lane * 2), got(256 + lane * 2 + 1)]).toEqual([C(r, c), C(r, c + 1)]);
      }
    }
    expect([...out.subarray(960, 1024)]).toEqual([...input.subarray(384, 448)]);
  });

  test("every lane's two elements cover the 8x8 tile once", () => {
    const seen = new Set<number>();
    for (let lane = 0; lane < 32; lane++) {
      const [r, c] = frag(lane);
      seen.add(r * 8 + c).add(r * 8 + c + 1);
    }
    expect(seen.size).toBe(64);
  });
});

const partialSource = `
#include <metal_stdlib>
using namespace metal;
kernel void matrix_partial(device float* out [[buffer(0)]]) {
  simdgroup_float8x8 m;
  simdgroup_load(m, out, 8);
  simdgroup_store(m, out + 64, 8);
}
`;

describe("simdgroup_matrix misuse", () => {
  testUnless(MSL_CPU_ONLY)("with fewer than 32 active lanes it is a kernel fault, not a wrong result", () => {
    const msg = commandBufferError(() =>
      run("matrix_partial", partialSource, { grid: [16, 1, 1], group: [16, 1, 1], out: new Float32Array(128) }),
    );
    expect(msg).toContain("matrix_partial");
    expect(msg).toContain("16 of 32 lanes");
  });
});
