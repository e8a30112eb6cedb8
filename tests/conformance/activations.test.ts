/** Conformance of the activations against tests/support/reference/activations.ts. */
import { type Buffer, type CommandEncoder, DType, ops } from "../../src/index.ts";
import * as ref from "../support/reference/activations.ts";
import { type Case, conformance, type DTypeTolerances } from "./harness.ts";

const F = [DType.F32, DType.F16, DType.BF16] as const;

// f32 math (exp, tanh and the kernels' own erf, ≤ 1.4e-7 absolute) stays within a few ulp;
// 16-bit outputs add one rounding (2^-11 or 2^-8 relative; f16 subnormals 2^-25 absolute).
const TOL: DTypeTolerances = {
  f32: { atol: 5e-7, rtol: 4e-6 },
  f16: { atol: 1e-7, rtol: 2 ** -11 + 4e-6 },
  bf16: { atol: 1e-7, rtol: 2 ** -8 + 4e-6 },
};

type Encode = (enc: CommandEncoder, inputs: Buffer[], out: Buffer) => void;

interface ActivationSpec {
  /** Number of inputs: 1 (x) or 2 (gate, then the multiplied input). */
  arity: 1 | 2;
  /** Range of the first input. */
  range: [number, number];
  reference: (v: number[]) => number;
  encode: Encode;
}

const SPECS: Record<string, ActivationSpec> = {
  silu: { arity: 1, range: [-8, 8], reference: ([x]) => ref.silu(x!), encode: (e, [x], o) => ops.silu(e, x!, o) },
  sigmoid: { arity: 1, range: [-8, 8], reference: ([x]) => ref.sigmoid(x!), encode: (e, [x], o) => ops.sigmoid(e, x!, o) },
  "gelu[tanh]": { arity: 1, range: [-6, 6], reference: ([x]) => ref.geluTanh(x!), encode: (e, [x], o) => ops.gelu(e, x!, o, { approximation: "tanh" }) },
  "gelu[erf]": { arity: 1, range: [-6, 6], reference: ([x]) => ref.geluErf(x!), encode: (e, [x], o) => ops.gelu(e, x!, o, { approximation: "erf" }) },
  "softcap[30]": { arity: 1, range: [-120, 120], reference: ([x]) => ref.softcap(x!, 30), encode: (e, [x], o) => ops.softcap(e, x!, o, { cap: 30 }) },
  swiglu: { arity: 2, range: [-8, 8], reference: ([g, u]) => ref.silu(g!) * u!, encode: (e, [g, u], o) => ops.swiglu(e, g!, u!, o) },
  sigmoidMul: { arity: 2, range: [-8, 8], reference: ([g, x]) => ref.sigmoid(g!) * x!, encode: (e, [g, x], o) => ops.sigmoidMul(e, x!, g!, o) },
  "geglu[tanh]": { arity: 2, range: [-6, 6], reference: ([g, u]) => ref.geluTanh(g!) * u!, encode: (e, [g, u], o) => ops.geglu(e, g!, u!, o, { approximation: "tanh" }) },
  "geglu[erf]": { arity: 2, range: [-6, 6], reference: ([g, u]) => ref.geluErf(g!) * u!, encode: (e, [g, u], o) => ops.geglu(e, g!, u!, o, { approximation: "erf" }) },
};

const cases: Case<object>[] = Object.keys(SPECS).flatMap((op) => F.map((dtype) => ({ op, dtype, shape: { n: 3001 }, params: {}, tolerance: TOL[dtype.name as "f32"] })));

conformance("activations", cases, (c, ctx) => {
  const spec = SPECS[c.op]!;
  const n = c.shape.n!;
  const first = ctx.random(c.dtype, n, 17, ...spec.range);
  const inputs = spec.arity === 1 ? [first] : [first, ctx.random(c.dtype, n, 29, -2, 2)];
  const out = ctx.floats(c.dtype, n);
  ctx.encode((enc) => spec.encode(enc, inputs.map((i) => i.buffer), out));
  const want = Float64Array.from({ length: n }, (_, i) => spec.reference(inputs.map((x) => x.values[i]!)));
  return { got: ctx.read(out, n), want };
});
