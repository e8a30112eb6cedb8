/**
 * msl-cpu conformance: the Metal math library (float and half, scalar and vector, plain,
 * metal::fast:: and metal::precise::), common, integer, relational and geometric functions,
 * against JavaScript's float64 results with float32 tolerances.
 */
import { describe, expect, test } from "bun:test";
import { randomFloats } from "../support/fixtures.ts";
import { run } from "./support.ts";

// name, MSL expression of x (float in (0.1, 2)) and y (float in (-3, 3)), JS reference
const FLOAT: [string, string, (x: number, y: number) => number][] = [
  ["exp", "exp(x)", Math.exp],
  ["exp2", "exp2(y)", (_, y) => 2 ** y],
  ["exp10", "exp10(x)", (x) => 10 ** x],
  ["log", "log(x)", Math.log],
  ["log2", "log2(x)", Math.log2],
  ["log10", "log10(x)", Math.log10],
  ["sqrt", "sqrt(x)", Math.sqrt],
  ["rsqrt", "rsqrt(x)", (x) => 1 / Math.sqrt(x)],
  ["sin", "sin(y)", (_, y) => Math.sin(y)],
  ["cos", "cos(y)", (_, y) => Math.cos(y)],
  ["tan", "tan(x)", Math.tan],
  ["asin", "asin(x * 0.4f)", (x) => Math.asin(Math.fround(x * 0.4))],
  ["acos", "acos(x * 0.4f)", (x) => Math.acos(Math.fround(x * 0.4))],
  ["atan", "atan(y)", (_, y) => Math.atan(y)],
  ["atan2", "atan2(y, x)", (x, y) => Math.atan2(y, x)],
  ["sinh", "sinh(y)", (_, y) => Math.sinh(y)],
  ["cosh", "cosh(y)", (_, y) => Math.cosh(y)],
  ["tanh", "tanh(y)", (_, y) => Math.tanh(y)],
  ["asinh", "asinh(y)", (_, y) => Math.asinh(y)],
  ["acosh", "acosh(x + 1.0f)", (x) => Math.acosh(Math.fround(x + 1))],
  ["atanh", "atanh(x * 0.4f)", (x) => Math.atanh(Math.fround(x * 0.4))],
  ["sinpi", "sinpi(y)", (_, y) => Math.sin(Math.PI * y)],
  ["cospi", "cospi(y)", (_, y) => Math.cos(Math.PI * y)],
  ["pow", "pow(x, y)", (x, y) => x ** y],
  ["powr", "powr(x, y)", (x, y) => x ** y],
  ["fmod", "fmod(y, x)", (x, y) => y % x],
  ["fabs", "fabs(y)", (_, y) => Math.abs(y)],
  ["abs", "abs(y)", (_, y) => Math.abs(y)],
  ["floor", "floor(y)", (_, y) => Math.floor(y)],
  ["ceil", "ceil(y)", (_, y) => Math.ceil(y)],
  ["trunc", "trunc(y)", (_, y) => Math.trunc(y)],
  ["round", "round(y)", (_, y) => Math.sign(y) * Math.round(Math.abs(y))],
  ["rint", "rint(y * 2.0f)", (_, y) => roundEven(Math.fround(2 * y))],
  ["fract", "fract(y)", (_, y) => y - Math.floor(y)],
  ["fmin", "fmin(x, y)", Math.min],
  ["fmax", "fmax(x, y)", Math.max],
  ["min", "min(x, y)", Math.min],
  ["max", "max(x, y)", Math.max],
  ["clamp", "clamp(y, -1.0f, 1.0f)", (_, y) => Math.min(1, Math.max(-1, y))],
  ["saturate", "saturate(y)", (_, y) => Math.min(1, Math.max(0, y))],
  ["sign", "sign(y)", (_, y) => Math.sign(y)],
  ["step", "step(x, y)", (x, y) => (y < x ? 0 : 1)],
  ["smoothstep", "smoothstep(-1.0f, 1.0f, y)", (_, y) => { const t = Math.min(1, Math.max(0, (y + 1) / 2)); return t * t * (3 - 2 * t); }],
  ["mix", "mix(x, y, 0.25f)", (x, y) => x + (y - x) * 0.25],
  ["fma", "fma(x, y, 1.0f)", (x, y) => x * y + 1],
  ["copysign", "copysign(x, y)", (x, y) => Math.abs(x) * (y < 0 ? -1 : 1)],
  ["fdim", "fdim(x, y)", (x, y) => Math.max(x - y, 0)],
  ["ldexp", "ldexp(x, 3)", (x) => x * 8],
  ["frexp", "({ int e; float m = frexp(x, e); m + float(e) * 10.0f; })", (x) => { const e = Math.floor(Math.log2(x)) + 1; return x / 2 ** e + e * 10; }],
  ["modf", "({ float i; float f = modf(y, i); f + i * 10.0f; })", (_, y) => (y - Math.trunc(y)) + Math.trunc(y) * 10],
  ["sincos", "({ float c; float s = sincos(y, c); s + c * 10.0f; })", (_, y) => Math.sin(y) + Math.cos(y) * 10],
  ["divide", "divide(y, x)", (x, y) => y / x],
  ["fmin3", "fmin3(x, y, 0.5f)", (x, y) => Math.min(x, y, 0.5)],
  ["fmax3", "fmax3(x, y, 0.5f)", (x, y) => Math.max(x, y, 0.5)],
  ["fmedian3", "fmedian3(x, y, 0.5f)", (x, y) => [x, y, 0.5].sort((a, b) => a - b)[1]!],
  ["fast::exp", "fast::exp(y)", (_, y) => Math.exp(y)],
  ["fast::sin", "metal::fast::sin(y)", (_, y) => Math.sin(y)],
  ["fast::divide", "fast::divide(y, x)", (x, y) => y / x],
  ["precise::sqrt", "precise::sqrt(x)", Math.sqrt],
  ["precise::tanh", "metal::precise::tanh(y)", (_, y) => Math.tanh(y)],
  ["vector exp", "exp(float2(x, y)).y", (_, y) => Math.exp(y)],
  ["vector pow", "pow(float4(x), float4(y)).w", (x, y) => x ** y],
  ["vector clamp", "clamp(float3(y), -0.5f, 0.5f).z", (_, y) => Math.min(0.5, Math.max(-0.5, y))],
  ["dot", "dot(float3(x, y, 1.0f), float3(2.0f))", (x, y) => 2 * (x + y + 1)],
  ["length", "length(float2(x, y))", (x, y) => Math.hypot(x, y)],
  ["length_squared", "length_squared(float2(x, y))", (x, y) => x * x + y * y],
  ["distance", "distance(float2(x, y), float2(0.0f))", (x, y) => Math.hypot(x, y)],
  ["normalize", "normalize(float2(x, y)).x", (x, y) => x / Math.hypot(x, y)],
  ["cross", "cross(float3(x, y, 1.0f), float3(1.0f, 0.0f, y)).y", (x, y) => 1 - x * y],
  ["reflect", "reflect(float2(x, y), float2(0.0f, 1.0f)).y", (_, y) => -y],
  ["select", "select(x, y, y > x)", (x, y) => (y > x ? y : x)],
  ["half exp", "float(exp(half(y)))", (_, y) => Math.exp(y)],
  ["half sqrt", "float(sqrt(half(x)))", Math.sqrt],
  ["bfloat tanh", "float(tanh(bfloat(y)))", (_, y) => Math.tanh(y)],
];

// name, MSL expression of uint u and int i, JS reference (u32 results)
const INT: [string, string, (u: number, i: number) => number][] = [
  ["popcount", "popcount(u)", (u) => u.toString(2).split("1").length - 1],
  ["clz", "clz(u)", (u) => Math.clz32(u)],
  ["ctz", "ctz(u | 1u << 31)", (u) => 31 - Math.clz32((u | 0x80000000) & -(u | 0x80000000))],
  ["abs", "uint(abs(i))", (_, i) => Math.abs(i)],
  ["absdiff", "absdiff(u, 1000000u)", (u) => Math.abs(u - 1000000)],
  ["addsat", "addsat(u, 0xf0000000u)", (u) => Math.min(0xffffffff, u + 0xf0000000)],
  ["subsat", "uint(subsat(i, 2147483000))", (_, i) => Math.max(-2147483648, i - 2147483000) >>> 0],
  ["hadd", "hadd(u, 0xffffffffu)", (u) => Math.floor((u + 0xffffffff) / 2)],
  ["rhadd", "rhadd(u, 7u)", (u) => Math.floor((u + 7 + 1) / 2)],
  ["mulhi", "mulhi(u, 0x12345678u)", (u) => Number((BigInt(u) * 0x12345678n) >> 32n)],
  ["mad24", "mad24(u & 0xffu, 3u, 1u)", (u) => (u & 0xff) * 3 + 1],
  ["rotate", "rotate(u, 13u)", (u) => ((u << 13) | (u >>> 19)) >>> 0],
  ["reverse_bits", "reverse_bits(u)", (u) => parseInt(u.toString(2).padStart(32, "0").split("").reverse().join(""), 2)],
  ["extract_bits", "extract_bits(u, 4u, 8u)", (u) => (u >>> 4) & 0xff],
  ["extract_bits signed", "uint(extract_bits(i, 4u, 8u))", (_, i) => ((i << 20) >> 24) >>> 0],
  ["insert_bits", "insert_bits(u, 0x5u, 8u, 4u)", (u) => ((u & ~0xf00) | 0x500) >>> 0],
  ["min3", "min3(u, 7u, 1000u)", (u) => Math.min(u, 7, 1000)],
  ["median3", "median3(u, 7u, 100000u)", (u) => [u, 7, 100000].sort((a, b) => a - b)[1]!],
  ["max", "uint(max(i, 0))", (_, i) => Math.max(i, 0)],
  ["clamp", "uint(clamp(i, -5, 5) + 5)", (_, i) => Math.min(5, Math.max(-5, i)) + 5],
  ["all/any", "uint(all(uint2(u, 1u) > 0u)) + 2u * uint(any(int3(i, 0, 0) < 0))", (u, i) => (u > 0 ? 1 : 0) + 2 * (i < 0 ? 1 : 0)],
  ["isnan/isinf", "uint(isnan(as_type<float>(u | 0x7f800001u))) + 2u * uint(isinf(INFINITY)) + 4u * uint(isfinite(1.0f))", () => 7],
  ["vector isnan", "uint(any(isnan(float2(0.0f, NAN)))) + 2u * uint(all(!isinf(float2(1.0f, 2.0f))))", () => 3],
];

function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

const floatSource = `
#include <metal_stdlib>
using namespace metal;
kernel void math_float(device float* out [[buffer(0)]], device const float* xs [[buffer(1)]],
                       device const float* ys [[buffer(2)]], uint gid [[thread_position_in_grid]]) {
  const float x = xs[gid], y = ys[gid];
  device float* o = out + gid * ${FLOAT.length};
${FLOAT.map(([, e], k) => `  o[${k}] = ${e};`).join("\n")}
}
`;

const intSource = `
#include <metal_stdlib>
using namespace metal;
kernel void math_int(device uint* out [[buffer(0)]], device const uint* us [[buffer(1)]],
                     uint gid [[thread_position_in_grid]]) {
  const uint u = us[gid];
  const int i = as_type<int>(u);
  device uint* o = out + gid * ${INT.length};
${INT.map(([, e], k) => `  o[${k}] = ${e};`).join("\n")}
}
`;

describe("math library", () => {
  test("float, half and bfloat functions, fast:: and precise::, vectors, geometry", () => {
    const n = 64;
    const xs = Float32Array.from(randomFloats(n, 5, 0.1, 2));
    const ys = Float32Array.from(randomFloats(n, 9, -3, 3));
    ys[0] = 1.5; // round half away from zero; rint to even
    ys[1] = -2.5;
    const out = run("math_float", floatSource, { grid: [n, 1, 1], group: [32, 1, 1], out: new Float32Array(n * FLOAT.length), inputs: [xs, ys] });
    for (let t = 0; t < n; t++) {
      FLOAT.forEach(([name, , f], k) => {
        const got = out[t * FLOAT.length + k]!;
        const want = f(xs[t]!, ys[t]!);
        const reduced = name.startsWith("half") ? 2e-3 : name.startsWith("bfloat") ? 1e-2 : 4e-6;
        const tol = reduced * Math.max(1, Math.abs(want));
        if (!(Math.abs(got - want) <= tol)) throw new Error(`${name}(x=${xs[t]}, y=${ys[t]}) = ${got}, want ${want}`);
      });
    }
    expect(out.length).toBe(n * FLOAT.length);
  });

  test("integer, relational and bit functions", () => {
    const n = 64;
    const us = Uint32Array.from(randomFloats(n, 13, 0, 2 ** 32), (v) => v >>> 0);
    us[0] = 0;
    us[1] = 0xffffffff;
    const out = run("math_int", intSource, { grid: [n, 1, 1], group: [32, 1, 1], out: new Uint32Array(n * INT.length), inputs: [us] });
    for (let t = 0; t < n; t++) {
      INT.forEach(([name, , f], k) => {
        const want = f(us[t]!, us[t]! | 0) >>> 0;
        const got = out[t * INT.length + k]!;
        if (got !== want) throw new Error(`${name}(u=${us[t]}) = ${got}, want ${want}`);
      });
    }
    expect(out.length).toBe(n * INT.length);
  });
});
