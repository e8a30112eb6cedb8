/**
 * ggml's block formats in TypeScript, for tests and benchmarks: quantizers that follow ggml's
 * reference algorithms (`quantize_row_*_ref`: the round-trip choices, the scale searches of
 * `make_qx_quants`, `make_q3_quants` and `make_qkx2_quants`, the requantization with the stored
 * f16 scales), and exact dequantizers that give every stored element as a float64 (f16 scales
 * widened exactly, products not rounded to f32), the reference the kernels are checked against.
 * Written from the format description in src/ggml_types.ts; arithmetic is rounded to f32 where
 * ggml computes in f32 and the result feeds a decision (a rounding, a comparison).
 *
 * @example
 * const bytes = quantizeRows("Q4_K", weights, rows, cols);   // rows * cols / 256 * 144 bytes
 * const exact = dequantizeRows("Q4_K", bytes, rows, cols);   // Float64Array
 */
import { DType } from "../../src/dtype.ts";
import { decodeFloats, encodeFloats } from "../../src/io/floats.ts";
import { GGML_TYPES, ggmlRowBytes, type GgmlTypeName } from "../../src/ggml_types.ts";

const f = Math.fround;
const f16 = new Float16Array(1);

/** ggml's nearest_int: round to nearest, ties to even, of the f32 value. */
function nearestInt(x: number): number {
  const v = f(x);
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** C's roundf: halfway cases away from zero. */
const roundAway = (x: number): number => Math.sign(x) * Math.round(Math.abs(x));
/** C's float-to-int conversion: toward zero. */
const trunc = Math.trunc;

const f16Bits = new Uint16Array(f16.buffer);

class Block {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  // Through a Float16Array rather than DataView's float16 accessors, which are far slower in Bun.
  setHalf(at: number, x: number): void {
    f16[0] = x;
    const bits = f16Bits[0]!;
    this.bytes[at] = bits & 0xff;
    this.bytes[at + 1] = bits >> 8;
  }
  half(at: number): number {
    f16Bits[0] = this.bytes[at]! | (this.bytes[at + 1]! << 8);
    return f16[0]!;
  }
}

// ───────────── 32-element formats ─────────────

function absMaxSigned(x: Float32Array, from: number, n: number): { amax: number; max: number } {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < n; j++) {
    const v = x[from + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return { amax, max };
}

function minMax(x: Float32Array, from: number, n: number): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = x[from + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

function quantQ4_0(x: Float32Array, at: number, b: Block): void {
  const { max } = absMaxSigned(x, at, 32);
  const d = f(max / -8);
  const id = d ? f(1 / d) : 0;
  b.setHalf(0, d);
  for (let j = 0; j < 16; j++) {
    const x0 = Math.min(15, trunc(f(f(x[at + j]! * id) + 8.5)));
    const x1 = Math.min(15, trunc(f(f(x[at + 16 + j]! * id) + 8.5)));
    b.bytes[2 + j] = x0 | (x1 << 4);
  }
}

function quantQ4_1(x: Float32Array, at: number, b: Block): void {
  const { min, max } = minMax(x, at, 32);
  const d = f((max - min) / 15);
  const id = d ? f(1 / d) : 0;
  b.setHalf(0, d);
  b.setHalf(2, min);
  for (let j = 0; j < 16; j++) {
    const x0 = Math.min(15, trunc(f(f(f(x[at + j]! - min) * id) + 0.5)));
    const x1 = Math.min(15, trunc(f(f(f(x[at + 16 + j]! - min) * id) + 0.5)));
    b.bytes[4 + j] = x0 | (x1 << 4);
  }
}

/** Low nibbles into qs, fifth bits into the u32 qh (element j at bit j). */
function pack5(codes: number[], b: Block, qhAt: number, qsAt: number): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const x0 = codes[j]!;
    const x1 = codes[j + 16]!;
    b.bytes[qsAt + j] = (x0 & 0x0f) | ((x1 & 0x0f) << 4);
    qh |= ((x0 & 0x10) >> 4) << j;
    qh |= ((x1 & 0x10) >> 4) << (j + 16);
  }
  b.view.setUint32(qhAt, qh >>> 0, true);
}

function quantQ5_0(x: Float32Array, at: number, b: Block): void {
  const { max } = absMaxSigned(x, at, 32);
  const d = f(max / -16);
  const id = d ? f(1 / d) : 0;
  b.setHalf(0, d);
  const codes = Array.from({ length: 32 }, (_, j) => Math.min(31, trunc(f(f(x[at + j]! * id) + 16.5))));
  pack5(codes, b, 2, 6);
}

function quantQ5_1(x: Float32Array, at: number, b: Block): void {
  const { min, max } = minMax(x, at, 32);
  const d = f((max - min) / 31);
  const id = d ? f(1 / d) : 0;
  b.setHalf(0, d);
  b.setHalf(2, min);
  const codes = Array.from({ length: 32 }, (_, j) => trunc(f(f(f(x[at + j]! - min) * id) + 0.5)) & 0xff);
  pack5(codes, b, 4, 8);
}

function quantQ8_0(x: Float32Array, at: number, b: Block): void {
  const { amax } = absMaxSigned(x, at, 32);
  const d = f(amax / 127);
  const id = d ? f(1 / d) : 0;
  b.setHalf(0, d);
  for (let j = 0; j < 32; j++) b.view.setInt8(2 + j, roundAway(f(x[at + j]! * id)));
}

// ───────────── K-quant helpers (ggml's scale searches) ─────────────

const GROUP_MAX_EPS = 1e-15;

/** make_qx_quants with rmse_type 1 and no importance weights (w = x^2): codes L in [0, 2*nmax). */
function makeQxQuants(n: number, nmax: number, x: Float32Array, at: number, L: Int32Array): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[at + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[at + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  const trial = (iscale: number) => {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[at + i]!;
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * xi)));
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    return { sumlx, suml2 };
  };
  const assign = (iscale: number) => {
    for (let i = 0; i < n; i++) L[i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[at + i]!)));
  };
  let iscale = f(-nmax / max);
  assign(iscale);
  let { sumlx, suml2 } = trial(iscale);
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(0.1 * is)) / max);
    ({ sumlx, suml2 } = trial(iscale));
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      assign(iscale);
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** make_q3_quants with do_rmse: signed codes L in [0, 2*nmax). */
function makeQ3Quants(n: number, nmax: number, x: Float32Array, at: number, L: Int32Array): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[at + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[at + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  const iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[at + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * xi)));
    L[i] = l;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[at + i]!;
      const w = f(xi * xi);
      let slx = f(sumlx - f(f(w * xi) * L[i]!));
      if (slx > 0) {
        let sl2 = f(suml2 - f(f(w * L[i]!) * L[i]!));
        const newL = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(f(xi * sl2) / slx))));
        if (newL !== L[i]) {
          slx = f(slx + f(f(w * xi) * newL));
          sl2 = f(sl2 + f(f(w * newL) * newL));
          if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[i] = L[i]! + nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

/** make_qkx2_quants: codes in [0, nmax] with a scale and a (returned negated) min. */
function makeQkx2Quants(n: number, nmax: number, x: Float32Array, at: number, weights: Float32Array, L: Int32Array, rmin: number, rdelta: number, nstep: number, useMad: boolean): { scale: number; min: number } {
  let min = x[at]!;
  let max = x[at]!;
  let sumW = weights[0]!;
  let sumX = f(sumW * x[at]!);
  for (let i = 1; i < n; i++) {
    const xi = x[at + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW = f(sumW + weights[i]!);
    sumX = f(sumX + f(weights[i]! * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, 0, n);
    return { scale: 0, min: -min };
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  const err = (s: number, m: number, l: number, xi: number, w: number) => {
    const diff = f(f(f(s * l) + m) - xi);
    return f(w * (useMad ? Math.abs(diff) : f(diff * diff)));
  };
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    L[i] = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[at + i]! - min)))));
    bestError = f(bestError + err(scale, min, L[i]!, x[at + i]!, weights[i]!));
  }
  const aux = new Int32Array(n);
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[at + i]!;
      const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(xi - min)))));
      aux[i] = l;
      const w = weights[i]!;
      sumL = f(sumL + f(w * l));
      sumL2 = f(sumL2 + f(f(w * l) * l));
      sumXL = f(sumXL + f(f(w * l) * xi));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let cur = 0;
      for (let i = 0; i < n; i++) cur = f(cur + err(thisScale, thisMin, aux[i]!, x[at + i]!, weights[i]!));
      if (cur < bestError) {
        L.set(aux.subarray(0, n));
        bestError = cur;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return { scale, min: -min };
}

/** get_scale_min_k4: 6-bit scale and min j (0..7) of a Q4_K/Q5_K scales[12]. */
export function scaleMinK4(j: number, q: Uint8Array, at: number): [number, number] {
  if (j < 4) return [q[at + j]! & 63, q[at + j + 4]! & 63];
  return [(q[at + j + 4]! & 0xf) | ((q[at + j - 4]! >> 6) << 4), (q[at + j + 4]! >> 4) | ((q[at + j]! >> 6) << 4)];
}

/** Two codes per byte for 2-bit formats: byte (n/4 + l) holds elements n+l, +32, +64, +96. */
function pack2(L: Int32Array, out: Uint8Array, at: number): void {
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) out[at + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
  }
}

function quantQ2_K(x: Float32Array, at: number, b: Block): void {
  const L = new Int32Array(256);
  const sub = new Int32Array(16);
  const weights = new Float32Array(16);
  const scales = new Float32Array(16);
  const mins = new Float32Array(16);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 16; j++) {
    for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[at + 16 * j + l]!);
    const r = makeQkx2Quants(16, 3, x, at + 16 * j, weights, sub, -0.5, 0.1, 15, true);
    L.set(sub, 16 * j);
    scales[j] = r.scale;
    mins[j] = r.min;
    if (r.scale > maxScale) maxScale = r.scale;
    if (r.min > maxMin) maxMin = r.min;
  }
  const bytes = b.bytes;
  if (maxScale > 0) {
    const iscale = f(15 / maxScale);
    for (let j = 0; j < 16; j++) bytes[j] = nearestInt(f(iscale * scales[j]!));
    b.setHalf(80, f(maxScale / 15));
  } else {
    bytes.fill(0, 0, 16);
    b.setHalf(80, 0);
  }
  if (maxMin > 0) {
    const iscale = f(15 / maxMin);
    for (let j = 0; j < 16; j++) bytes[j] = bytes[j]! | (nearestInt(f(iscale * mins[j]!)) << 4);
    b.setHalf(82, f(maxMin / 15));
  } else {
    b.setHalf(82, 0);
  }
  for (let j = 0; j < 16; j++) {
    const d = f(b.half(80) * (bytes[j]! & 0xf));
    if (!d) continue;
    const dm = f(b.half(82) * (bytes[j]! >> 4));
    for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = Math.max(0, Math.min(3, nearestInt(f(f(x[at + 16 * j + ii]! + dm) / d))));
  }
  pack2(L, bytes, 16);
}

/** The signed 6-bit scale j (0..15) of a Q3_K scales[12] at `at`. */
export function scaleQ3K(j: number, q: Uint8Array, at: number): number {
  const low = j < 8 ? q[at + j]! & 0xf : q[at + j - 8]! >> 4;
  const high = (q[at + 8 + (j % 4)]! >> (2 * Math.floor(j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

function quantQ3_K(x: Float32Array, at: number, b: Block): void {
  const L = new Int32Array(256);
  const sub = new Int32Array(16);
  const scales = new Float32Array(16);
  let maxScale = 0;
  let amax = 0;
  for (let j = 0; j < 16; j++) {
    scales[j] = makeQ3Quants(16, 4, x, at + 16 * j, sub);
    L.set(sub, 16 * j);
    if (Math.abs(scales[j]!) > amax) {
      amax = Math.abs(scales[j]!);
      maxScale = scales[j]!;
    }
  }
  const bytes = b.bytes;
  bytes.fill(0, 96, 108);
  if (maxScale) {
    const iscale = f(-32 / maxScale);
    for (let j = 0; j < 16; j++) {
      let l = Math.max(-32, Math.min(31, nearestInt(f(iscale * scales[j]!)))) + 32;
      if (j < 8) bytes[96 + j] = l & 0xf;
      else bytes[96 + j - 8] = bytes[96 + j - 8]! | ((l & 0xf) << 4);
      l >>= 4;
      bytes[96 + 8 + (j % 4)] = bytes[96 + 8 + (j % 4)]! | (l << (2 * Math.floor(j / 4)));
    }
    b.setHalf(108, f(1 / iscale));
  } else {
    b.setHalf(108, 0);
  }
  for (let j = 0; j < 16; j++) {
    const d = f(b.half(108) * scaleQ3K(j, bytes, 96));
    if (!d) continue;
    for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = Math.max(-4, Math.min(3, nearestInt(f(x[at + 16 * j + ii]! / d)))) + 4;
  }
  bytes.fill(0, 0, 32);
  for (let j = 0; j < 256; j++) {
    if (L[j]! > 3) {
      bytes[j % 32] = bytes[j % 32]! | (1 << Math.floor(j / 32));
      L[j] = L[j]! - 4;
    }
  }
  pack2(L, bytes, 32);
}

/** Shared by Q4_K and Q5_K: 8 sub-blocks of 32, 6-bit scales and mins; returns the codes. */
function quantScaleMinK(x: Float32Array, at: number, b: Block, nmax: number, rmin: number, nstep: number): Int32Array {
  const L = new Int32Array(256);
  const sub = new Int32Array(32);
  const weights = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[at + 32 * j + l]! * x[at + 32 * j + l]!));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[at + 32 * j + l]!));
    const r = makeQkx2Quants(32, nmax, x, at + 32 * j, weights, sub, rmin, 0.1, nstep, false);
    L.set(sub, 32 * j);
    scales[j] = r.scale;
    mins[j] = r.min;
    if (r.scale > maxScale) maxScale = r.scale;
    if (r.min > maxMin) maxMin = r.min;
  }
  const bytes = b.bytes;
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  bytes.fill(0, 4, 16);
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(f(invScale * scales[j]!)) & 0xff);
    const lm = Math.min(63, nearestInt(f(invMin * mins[j]!)) & 0xff);
    if (j < 4) {
      bytes[4 + j] = ls;
      bytes[4 + j + 4] = lm;
    } else {
      bytes[4 + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      bytes[4 + j - 4] = bytes[4 + j - 4]! | ((ls >> 4) << 6);
      bytes[4 + j] = bytes[4 + j]! | ((lm >> 4) << 6);
    }
  }
  b.setHalf(0, f(maxScale / 63));
  b.setHalf(2, f(maxMin / 63));
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(j, bytes, 4);
    const d = f(b.half(0) * sc);
    if (!d) continue;
    const dm = f(b.half(2) * m);
    for (let ii = 0; ii < 32; ii++) L[32 * j + ii] = Math.max(0, Math.min(nmax, nearestInt(f(f(x[at + 32 * j + ii]! + dm) / d))));
  }
  return L;
}

function quantQ4_K(x: Float32Array, at: number, b: Block): void {
  const L = quantScaleMinK(x, at, b, 15, -1, 20);
  for (let j = 0, q = 16; j < 256; j += 64, q += 32) {
    for (let l = 0; l < 32; l++) b.bytes[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
  }
}

function quantQ5_K(x: Float32Array, at: number, b: Block): void {
  const L = quantScaleMinK(x, at, b, 31, -0.5, 15);
  const bytes = b.bytes;
  bytes.fill(0, 16, 48);
  let m1 = 1;
  let m2 = 2;
  for (let n = 0, ql = 48; n < 256; n += 64, ql += 32) {
    for (let j = 0; j < 32; j++) {
      let l1 = L[n + j]!;
      if (l1 > 15) {
        l1 -= 16;
        bytes[16 + j] = bytes[16 + j]! | m1;
      }
      let l2 = L[n + j + 32]!;
      if (l2 > 15) {
        l2 -= 16;
        bytes[16 + j] = bytes[16 + j]! | m2;
      }
      bytes[ql + j] = l1 | (l2 << 4);
    }
    m1 <<= 2;
    m2 <<= 2;
  }
}

function quantQ6_K(x: Float32Array, at: number, b: Block): void {
  const L = new Int32Array(256);
  const sub = new Int32Array(16);
  const scales = new Float32Array(16);
  let maxScale = 0;
  let maxAbs = 0;
  for (let ib = 0; ib < 16; ib++) {
    scales[ib] = makeQxQuants(16, 32, x, at + 16 * ib, sub);
    L.set(sub, 16 * ib);
    if (Math.abs(scales[ib]!) > maxAbs) {
      maxAbs = Math.abs(scales[ib]!);
      maxScale = scales[ib]!;
    }
  }
  const bytes = b.bytes;
  if (maxAbs < GROUP_MAX_EPS) {
    bytes.fill(0);
    return;
  }
  const iscale = f(-128 / maxScale);
  b.setHalf(208, f(1 / iscale));
  for (let ib = 0; ib < 16; ib++) b.view.setInt8(192 + ib, Math.min(127, nearestInt(f(iscale * scales[ib]!))));
  for (let j = 0; j < 16; j++) {
    const d = f(b.half(208) * b.view.getInt8(192 + j));
    if (!d) continue;
    for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = Math.max(-32, Math.min(31, nearestInt(f(x[at + 16 * j + ii]! / d)))) + 32;
  }
  for (let j = 0, ql = 0, qh = 128; j < 256; j += 128, ql += 64, qh += 32) {
    for (let l = 0; l < 32; l++) {
      const q1 = L[j + l]! & 0xf;
      const q2 = L[j + l + 32]! & 0xf;
      const q3 = L[j + l + 64]! & 0xf;
      const q4 = L[j + l + 96]! & 0xf;
      bytes[ql + l] = q1 | (q3 << 4);
      bytes[ql + l + 32] = q2 | (q4 << 4);
      bytes[qh + l] = (L[j + l]! >> 4) | ((L[j + l + 32]! >> 4) << 2) | ((L[j + l + 64]! >> 4) << 4) | ((L[j + l + 96]! >> 4) << 6);
    }
  }
}

type BlockQuantizer = (x: Float32Array, at: number, b: Block) => void;

const QUANTIZERS: Partial<Record<GgmlTypeName, BlockQuantizer>> = {
  Q4_0: quantQ4_0,
  Q4_1: quantQ4_1,
  Q5_0: quantQ5_0,
  Q5_1: quantQ5_1,
  Q8_0: quantQ8_0,
  Q2_K: quantQ2_K,
  Q3_K: quantQ3_K,
  Q4_K: quantQ4_K,
  Q5_K: quantQ5_K,
  Q6_K: quantQ6_K,
};

const FLOAT_DTYPES: Partial<Record<GgmlTypeName, DType>> = { F32: DType.F32, F16: DType.F16, BF16: DType.BF16 };

/**
 * `values` (row-major [rows, cols], rounded to f32 first as ggml's input is f32) stored as
 * `type`: cols must be a whole number of blocks.
 */
export function quantizeRows(type: GgmlTypeName, values: ArrayLike<number>, rows: number, cols: number): Uint8Array {
  const t = GGML_TYPES[type];
  const floatDType = FLOAT_DTYPES[type];
  if (values.length !== rows * cols) throw new Error(`quantizeRows: ${values.length} values for [${rows}, ${cols}]`);
  if (floatDType) return encodeFloats(values, floatDType);
  const rowBytes = ggmlRowBytes(t, cols);
  const x = Float32Array.from(values);
  const out = new Uint8Array(rows * rowBytes);
  const quantize = QUANTIZERS[type]!;
  const blocks = (rows * cols) / t.blockElements;
  for (let i = 0; i < blocks; i++) {
    quantize(x, i * t.blockElements, new Block(out.subarray(i * t.blockBytes, (i + 1) * t.blockBytes)));
  }
  return out;
}

// ───────────── exact dequantization ─────────────

type BlockDecoder = (b: Block, out: Float64Array, at: number) => void;

function nibble(bytes: Uint8Array, at: number, j: number): number {
  // Elements 0..15 are the low nibbles of qs[0..15], 16..31 the high ones.
  return j < 16 ? bytes[at + j]! & 0xf : bytes[at + j - 16]! >> 4;
}

function fifthBit(b: Block, qhAt: number, j: number): number {
  return ((b.view.getUint32(qhAt, true) >>> j) & 1) << 4;
}

const DECODERS: Partial<Record<GgmlTypeName, BlockDecoder>> = {
  Q4_0: (b, out, at) => {
    const d = b.half(0);
    for (let j = 0; j < 32; j++) out[at + j] = (nibble(b.bytes, 2, j) - 8) * d;
  },
  Q4_1: (b, out, at) => {
    const d = b.half(0);
    const m = b.half(2);
    for (let j = 0; j < 32; j++) out[at + j] = nibble(b.bytes, 4, j) * d + m;
  },
  Q5_0: (b, out, at) => {
    const d = b.half(0);
    for (let j = 0; j < 32; j++) out[at + j] = ((nibble(b.bytes, 6, j) | fifthBit(b, 2, j)) - 16) * d;
  },
  Q5_1: (b, out, at) => {
    const d = b.half(0);
    const m = b.half(2);
    for (let j = 0; j < 32; j++) out[at + j] = (nibble(b.bytes, 8, j) | fifthBit(b, 4, j)) * d + m;
  },
  Q8_0: (b, out, at) => {
    const d = b.half(0);
    for (let j = 0; j < 32; j++) out[at + j] = b.view.getInt8(2 + j) * d;
  },
  Q2_K: (b, out, at) => {
    const d = b.half(80);
    const dmin = b.half(82);
    for (let e = 0; e < 256; e++) {
      const n = e >> 7;
      const j = (e >> 5) & 3;
      const l = e & 31;
      const sc = b.bytes[n * 8 + j * 2 + (l >> 4)]!;
      const q = (b.bytes[16 + n * 32 + l]! >> (2 * j)) & 3;
      out[at + e] = d * (sc & 0xf) * q - dmin * (sc >> 4);
    }
  },
  Q3_K: (b, out, at) => {
    const d = b.half(108);
    for (let e = 0; e < 256; e++) {
      const n = e >> 7;
      const j = (e >> 5) & 3;
      const l = e & 31;
      const sc = scaleQ3K(n * 8 + j * 2 + (l >> 4), b.bytes, 96);
      const low = (b.bytes[32 + n * 32 + l]! >> (2 * j)) & 3;
      const high = (b.bytes[l]! >> (n * 4 + j)) & 1;
      out[at + e] = d * sc * (low - (high ? 0 : 4));
    }
  },
  Q4_K: (b, out, at) => {
    const d = b.half(0);
    const dmin = b.half(2);
    for (let e = 0; e < 256; e++) {
      const chunk = e >> 6;
      const hi = (e >> 5) & 1;
      const l = e & 31;
      const [sc, m] = scaleMinK4(chunk * 2 + hi, b.bytes, 4);
      const q = hi ? b.bytes[16 + chunk * 32 + l]! >> 4 : b.bytes[16 + chunk * 32 + l]! & 0xf;
      out[at + e] = d * sc * q - dmin * m;
    }
  },
  Q5_K: (b, out, at) => {
    const d = b.half(0);
    const dmin = b.half(2);
    for (let e = 0; e < 256; e++) {
      const chunk = e >> 6;
      const hi = (e >> 5) & 1;
      const l = e & 31;
      const [sc, m] = scaleMinK4(chunk * 2 + hi, b.bytes, 4);
      const low = hi ? b.bytes[48 + chunk * 32 + l]! >> 4 : b.bytes[48 + chunk * 32 + l]! & 0xf;
      const high = (b.bytes[16 + l]! >> (chunk * 2 + hi)) & 1;
      out[at + e] = d * sc * (low + 16 * high) - dmin * m;
    }
  },
  Q6_K: (b, out, at) => {
    const d = b.half(208);
    for (let e = 0; e < 256; e++) {
      const n = e >> 7;
      const quarter = (e >> 5) & 3;
      const l = e & 31;
      const qlByte = b.bytes[n * 64 + l + (quarter & 1) * 32]!;
      const low = quarter < 2 ? qlByte & 0xf : qlByte >> 4;
      const high = (b.bytes[128 + n * 32 + l]! >> (2 * quarter)) & 3;
      const sc = b.view.getInt8(192 + n * 8 + (l >> 4) + 2 * quarter);
      out[at + e] = d * sc * ((low | (high << 4)) - 32);
    }
  },
};

/** The exact values of `rows` rows of `cols` elements stored as `type`. */
export function dequantizeRows(type: GgmlTypeName, bytes: Uint8Array, rows: number, cols: number): Float64Array {
  const t = GGML_TYPES[type];
  const floatDType = FLOAT_DTYPES[type];
  if (bytes.byteLength !== rows * ggmlRowBytes(t, cols)) throw new Error(`dequantizeRows: ${bytes.byteLength} bytes for ${type} [${rows}, ${cols}]`);
  if (floatDType) return decodeFloats(bytes, floatDType);
  const out = new Float64Array(rows * cols);
  const decode = DECODERS[type]!;
  const blocks = (rows * cols) / t.blockElements;
  for (let i = 0; i < blocks; i++) decode(new Block(bytes.subarray(i * t.blockBytes, (i + 1) * t.blockBytes)), out, i * t.blockElements);
  return out;
}

/** Largest |error| a round trip through `type` may leave for values of magnitude up to `amax` (a loose bound for tests). */
export function roundTripBound(type: GgmlTypeName, amax: number): number {
  const bits: Record<GgmlTypeName, number> = { F32: 24, F16: 11, BF16: 8, Q8_0: 7, Q6_K: 5, Q5_0: 4, Q5_1: 4, Q5_K: 4, Q4_0: 3, Q4_1: 3, Q4_K: 3, Q3_K: 2, Q2_K: 1 };
  return (amax * 2.5) / 2 ** bits[type];
}
