/**
 * The kernel catalog: every kernel variant the library ships, as data. It is the only list of
 * variants (dtypes, bit widths, group sizes, head dims, op kinds) and the only place kernel names
 * are spelled.
 *
 * A kernel is a template in a `kernels/<family>.h` header. Each catalog entry names the header,
 * the template, the axes it is instantiated over and the host name of each variant; the registry
 * (src/registry.ts) builds the source of a compile unit on demand — the header plus one generated
 * explicit instantiation line per variant:
 *
 *   template [[host_name("elementwise_add_f32")]] [[kernel]] decltype(elementwise_binary<float, AddOp>) elementwise_binary<float, AddOp>;
 *
 * and compiles it once. A compile unit is every variant of a family that shares the entry's
 * `unit` name: all variants of the family by default; quantized matvec and matmul per bit width,
 * attention per head dim and query type, since a model uses one or two of them and msl-cpu
 * compile time grows with the instantiations of a unit (about 2 s per attention variant).
 *
 * Adding a variant is one line: a value in an axis list below (a bit width in AFFINE_BITS, a head
 * dim in ATTENTION_HEAD_DIMS, a dtype in FLOAT_MSL_TYPES), or a new entry for a new template.
 *
 *   bun run kernels/catalog.ts            print every kernel name and its compile unit
 *   bun run kernels/catalog.ts --units D  write every compile unit's assembled source to D/<unit>.metal
 */
import { DType } from "../src/dtype.ts";
import type { GgmlTypeName } from "../src/ggml_types.ts";

// ───────────── axes: the variant lists ─────────────

/** The float types kernels compute on, and their MSL spelling. Add a dtype here. */
const FLOAT_MSL_TYPES: ReadonlyMap<DType, string> = new Map([
  [DType.F32, "float"],
  [DType.F16, "half"],
  [DType.BF16, "bfloat"],
]);
/** The float types kernels compute on (f32, f16, bf16). */
export const FLOATS: readonly DType[] = Object.freeze([...FLOAT_MSL_TYPES.keys()]);
/** Bit widths of MLX's affine quantization. */
export const AFFINE_BITS: readonly number[] = Object.freeze([2, 3, 4, 5, 6, 8]);
/** Group sizes of MLX's affine quantization. */
export const AFFINE_GROUP_SIZES: readonly number[] = Object.freeze([32, 64, 128]);
/** GGUF block formats; each has a decoder struct `Block<name>` in kernels/gguf_blocks.h. */
export const GGUF_BLOCKS: readonly GgmlTypeName[] = Object.freeze(["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]);
/**
 * Head dims the attention kernels are built for: every multiple of 8 up to 256, and 512. Each is
 * its own instantiation (D is a template parameter, so loops unroll and registers are sized for
 * it), compiled only when a model uses it; 64, 80, 96, 128 and 256 are not special-cased.
 */
export const ATTENTION_HEAD_DIMS: readonly number[] = Object.freeze([...Array.from({ length: 32 }, (_, i) => 8 * (i + 1)), 512]);
/** Head dims the tiled prefill kernel is built for; 512 prefills on the vector (decode) kernel. */
export const TILED_ATTENTION_HEAD_DIMS: readonly number[] = Object.freeze(ATTENTION_HEAD_DIMS.filter((d) => d <= 256));
/** Elementwise binary ops and the functor each instantiates. */
const BINARY_FUNCTORS = { add: "AddOp", sub: "SubOp", mul: "MulOp", div: "DivOp" } as const;
export type BinaryOp = keyof typeof BINARY_FUNCTORS;
/** One-input activations and the functor each instantiates. */
const UNARY_ACTIVATIONS = { silu: "SiluAct", sigmoid: "SigmoidAct", gelu_tanh: "GeluTanhAct", gelu_erf: "GeluErfAct", softcap: "SoftcapAct" } as const;
export type UnaryActivation = keyof typeof UNARY_ACTIVATIONS;
/** Activations that also exist gated (`act(gate) · x`). */
const GATED_ACTIVATIONS = ["silu", "sigmoid", "gelu_tanh", "gelu_erf"] as const;
export type GatedActivation = (typeof GATED_ACTIVATIONS)[number];

/** The MSL type of a float dtype. */
function msl(t: DType): string {
  const s = FLOAT_MSL_TYPES.get(t);
  if (s === undefined) throw new Error(`no MSL type for dtype ${t.name}`);
  return s;
}

// ───────────── the shape of an entry ─────────────

/** Values an axis may take. */
export type AxisValue = number | string | boolean | DType;
/** The axes of a kernel: name → the values it is instantiated for. */
export type Axes = Readonly<Record<string, readonly AxisValue[]>>;
/** One variant: a value per axis. */
export type Variant<A extends Axes> = { readonly [K in keyof A]: A[K][number] };

/** A function constant a kernel declares (`constant T name [[function_constant(index)]]`). */
export interface ConstantDecl {
  index: number;
  type: "bool" | "int" | "uint" | "float";
}

/** Function-constant values for one pipeline, by constant index (what the ABI takes). */
export interface FunctionConstants {
  bools?: readonly (readonly [number, boolean])[];
  ints?: readonly (readonly [number, number])[];
  uints?: readonly (readonly [number, number])[];
  floats?: readonly (readonly [number, number])[];
}

interface KernelDef<A extends Axes> {
  /** Kernels of one family share a header and are compiled together (per unit). */
  family: string;
  /** The header (in kernels/) holding the template. */
  header: string;
  axes: A;
  /** The host name of a variant. */
  name(v: Variant<A>): string;
  /** The template instance of a variant, e.g. `gemv<float, half>`. */
  instance(v: Variant<A>): string;
  /** Compile unit of a variant (default: the family). Variants with equal units compile together. */
  unit?(v: Variant<A>): string;
  /** Leave out combinations of the axes that are not built. */
  where?(v: Variant<A>): boolean;
  /** Function constants the template declares, by name. */
  constants?: Readonly<Record<string, ConstantDecl>>;
}

/** A catalog entry: a kernel template and the variants it is built for. */
export interface KernelSpec<A extends Axes = Axes> {
  readonly family: string;
  readonly header: string;
  readonly axes: A;
  readonly constants: Readonly<Record<string, ConstantDecl>>;
  /** The axis names, in declaration order. */
  readonly axisNames: readonly string[];
  name(v: Variant<A>): string;
  instance(v: Variant<A>): string;
  unit(v: Variant<A>): string;
  /** True when `v` is one of the built variants (every axis value listed, `where` holds). */
  has(v: Variant<A>): boolean;
  /** Every built variant. */
  variants(): Variant<A>[];
  /** Function-constant values by name, as the registry takes them (build once, reuse). */
  specialize(values: Readonly<Record<string, boolean | number>>): FunctionConstants;
}

function kernel<const A extends Axes>(def: KernelDef<A>): KernelSpec<A> {
  const constants = Object.freeze({ ...(def.constants ?? {}) });
  const axisNames = Object.keys(def.axes) as (keyof A & string)[];
  const spec: KernelSpec<A> = {
    family: def.family,
    header: def.header,
    axes: def.axes,
    constants,
    axisNames: Object.freeze(axisNames),
    name: def.name,
    instance: def.instance,
    unit: def.unit ?? (() => def.family),
    has(v) {
      for (const a of axisNames) if (!def.axes[a]!.includes(v[a] as AxisValue)) return false;
      return def.where?.(v) ?? true;
    },
    variants() {
      let out: Record<string, AxisValue>[] = [{}];
      for (const a of axisNames) out = out.flatMap((partial) => def.axes[a]!.map((value) => ({ ...partial, [a]: value })));
      return (out as Variant<A>[]).filter((v) => def.where?.(v) ?? true);
    },
    specialize(values) {
      const c: { bools: [number, boolean][]; ints: [number, number][]; uints: [number, number][]; floats: [number, number][] } = { bools: [], ints: [], uints: [], floats: [] };
      for (const [name, value] of Object.entries(values)) {
        const decl = constants[name];
        if (decl === undefined) throw new Error(`${def.family} declares no function constant "${name}" (known: ${Object.keys(constants).join(", ") || "none"})`);
        if (decl.type === "bool") c.bools.push([decl.index, Boolean(value)]);
        else c[`${decl.type}s`].push([decl.index, Number(value)]);
      }
      return c;
    },
  };
  return Object.freeze(spec);
}

/** Declared by kernels/matvec.h: the kernels take a one-row fast path. */
const MATVEC_CONSTANTS = { mv_one_row: { index: 100, type: "bool" } } as const;

// ───────────── the catalog ─────────────

/**
 * Every kernel template and its variants. Ops ask the device's registry for a pipeline by entry
 * and variant: `device.kernels.pipeline(kernels.gemv, { x: DType.F32, w: DType.BF16 })`.
 */
export const kernels = Object.freeze({
  elementwiseBinary: kernel({
    family: "elementwise",
    header: "elementwise.h",
    axes: { op: Object.keys(BINARY_FUNCTORS) as BinaryOp[], dtype: FLOATS },
    name: (v) => `elementwise_${v.op}_${v.dtype.name}`,
    instance: (v) => `elementwise_binary<${msl(v.dtype)}, ${BINARY_FUNCTORS[v.op]}>`,
  }),
  elementwiseBinaryRow: kernel({
    family: "elementwise",
    header: "elementwise.h",
    axes: { op: Object.keys(BINARY_FUNCTORS) as BinaryOp[], dtype: FLOATS },
    name: (v) => `elementwise_${v.op}_row_${v.dtype.name}`,
    instance: (v) => `elementwise_binary_row<${msl(v.dtype)}, ${BINARY_FUNCTORS[v.op]}>`,
  }),
  elementwiseScalar: kernel({
    family: "elementwise",
    header: "elementwise.h",
    axes: { dtype: FLOATS },
    name: (v) => `elementwise_scalar_${v.dtype.name}`,
    instance: (v) => `elementwise_scalar<${msl(v.dtype)}>`,
  }),
  copy: kernel({
    family: "copy",
    header: "copy.h",
    axes: { src: FLOATS, dst: FLOATS },
    name: (v) => `copy_${v.src.name}_${v.dst.name}`,
    instance: (v) => `copy_strided<${msl(v.src)}, ${msl(v.dst)}>`,
  }),
  copyFlat: kernel({
    family: "copy",
    header: "copy.h",
    axes: { src: FLOATS, dst: FLOATS },
    name: (v) => `copy_flat_${v.src.name}_${v.dst.name}`,
    instance: (v) => `copy_flat<${msl(v.src)}, ${msl(v.dst)}>`,
  }),
  activation: kernel({
    family: "activations",
    header: "activations.h",
    axes: { act: Object.keys(UNARY_ACTIVATIONS) as UnaryActivation[], dtype: FLOATS },
    name: (v) => `${v.act}_${v.dtype.name}`,
    instance: (v) => `unary_activation<${msl(v.dtype)}, ${UNARY_ACTIVATIONS[v.act]}>`,
  }),
  gatedActivation: kernel({
    family: "activations",
    header: "activations.h",
    axes: { act: GATED_ACTIVATIONS, dtype: FLOATS },
    name: (v) => `${v.act}_mul_${v.dtype.name}`,
    instance: (v) => `gated_activation<${msl(v.dtype)}, ${UNARY_ACTIVATIONS[v.act]}>`,
  }),
  rmsNorm: kernel({
    family: "norms",
    header: "norms.h",
    axes: { residual: [false, true], weight: [true, false], dtype: FLOATS },
    name: (v) => `${v.residual ? "add_" : ""}rms_norm${v.weight ? "" : "_no_weight"}_${v.dtype.name}`,
    instance: (v) => `rms_norm<${msl(v.dtype)}, ${v.weight}, ${v.residual}>`,
  }),
  layerNorm: kernel({
    family: "norms",
    header: "norms.h",
    axes: { affine: ["weight_bias", "weight", "none"], dtype: FLOATS },
    name: (v) => `layer_norm${{ weight_bias: "", weight: "_no_bias", none: "_no_affine" }[v.affine]}_${v.dtype.name}`,
    instance: (v) => `layer_norm<${msl(v.dtype)}, ${v.affine !== "none"}, ${v.affine === "weight_bias"}>`,
  }),
  rope: kernel({
    family: "rope",
    header: "rope.h",
    axes: { traditional: [false, true], dtype: FLOATS },
    name: (v) => `rope_${v.traditional ? "traditional" : "neox"}_${v.dtype.name}`,
    instance: (v) => `rope<${msl(v.dtype)}, ${v.traditional}>`,
  }),
  softmax: kernel({
    family: "softmax",
    header: "softmax.h",
    axes: { causal: [false, true], dtype: FLOATS },
    name: (v) => `softmax${v.causal ? "_causal" : ""}_${v.dtype.name}`,
    instance: (v) => `softmax<${msl(v.dtype)}, ${v.causal}>`,
  }),
  topK: kernel({
    family: "sampling",
    header: "sampling.h",
    axes: { dtype: FLOATS },
    name: (v) => `top_k_${v.dtype.name}`,
    instance: (v) => `top_k<${msl(v.dtype)}>`,
  }),
  sample: kernel({
    family: "sampling",
    header: "sampling.h",
    axes: { dtype: FLOATS },
    name: (v) => `sample_${v.dtype.name}`,
    instance: (v) => `sample_logits<${msl(v.dtype)}>`,
  }),
  logitsProcess: kernel({
    family: "logits",
    header: "logits.h",
    axes: { dtype: FLOATS },
    name: (v) => `logits_process_${v.dtype.name}`,
    instance: (v) => `logits_process<${msl(v.dtype)}>`,
  }),
  logprobChosen: kernel({
    family: "logits",
    header: "logits.h",
    axes: { dtype: FLOATS },
    name: (v) => `logprob_chosen_${v.dtype.name}`,
    instance: (v) => `logprob_chosen<${msl(v.dtype)}>`,
  }),
  embedding: kernel({
    family: "embedding",
    header: "embedding.h",
    axes: { table: FLOATS, out: FLOATS },
    name: (v) => `embedding_${v.table.name}_${v.out.name}`,
    instance: (v) => `embedding<${msl(v.table)}, ${msl(v.out)}>`,
  }),
  embeddingAffine: kernel({
    family: "embedding",
    header: "embedding.h",
    axes: { bits: AFFINE_BITS, scales: FLOATS, out: FLOATS },
    name: (v) => `embedding_q${v.bits}_${v.scales.name}_${v.out.name}`,
    instance: (v) => `embedding_affine<${v.bits}, ${msl(v.scales)}, ${msl(v.out)}>`,
  }),
  quantize: kernel({
    family: "quantize",
    header: "quantized.h",
    axes: { dtype: FLOATS, bits: AFFINE_BITS },
    name: (v) => `mlx_quantize_${v.dtype.name}_b${v.bits}`,
    instance: (v) => `mlx_quantize<${msl(v.dtype)}, ${v.bits}>`,
  }),
  dequantize: kernel({
    family: "dequantize",
    header: "quantized.h",
    axes: { dtype: FLOATS, bits: AFFINE_BITS },
    name: (v) => `mlx_dequantize_${v.dtype.name}_b${v.bits}`,
    instance: (v) => `mlx_dequantize<${msl(v.dtype)}, ${v.bits}>`,
  }),
  gemv: kernel({
    family: "gemv",
    header: "matvec.h",
    axes: { x: FLOATS, w: FLOATS },
    name: (v) => `gemv_${v.x.name}_${v.w.name}`,
    instance: (v) => `gemv<${msl(v.x)}, ${msl(v.w)}>`,
    constants: MATVEC_CONSTANTS,
  }),
  qmv: kernel({
    family: "qmv",
    header: "matvec.h",
    axes: { x: FLOATS, scales: FLOATS, bits: AFFINE_BITS },
    name: (v) => `qmv_${v.x.name}_${v.scales.name}_b${v.bits}`,
    instance: (v) => `qmv<${msl(v.x)}, ${msl(v.scales)}, ${v.bits}>`,
    unit: (v) => `qmv_b${v.bits}`,
    constants: MATVEC_CONSTANTS,
  }),
  // One thread per weight row (matvec.h's matrows): the shape the cpu backend runs every product
  // on, decode and prefill; same bindings as gemv / qmv, and compiled in their units (one
  // compiler run for both shapes, which the tests exercise together).
  gemvRows: kernel({
    family: "gemv_rows",
    header: "matvec.h",
    axes: { x: FLOATS, w: FLOATS },
    name: (v) => `gemv_rows_${v.x.name}_${v.w.name}`,
    instance: (v) => `gemv_rows<${msl(v.x)}, ${msl(v.w)}>`,
    unit: () => "gemv",
    constants: MATVEC_CONSTANTS,
  }),
  qmvRows: kernel({
    family: "qmv_rows",
    header: "matvec.h",
    axes: { x: FLOATS, scales: FLOATS, bits: AFFINE_BITS },
    name: (v) => `qmv_rows_${v.x.name}_${v.scales.name}_b${v.bits}`,
    instance: (v) => `qmv_rows<${msl(v.x)}, ${msl(v.scales)}, ${v.bits}>`,
    unit: (v) => `qmv_b${v.bits}`,
    constants: MATVEC_CONSTANTS,
  }),
  gemm: kernel({
    family: "gemm",
    header: "matmul.h",
    axes: { x: FLOATS, w: FLOATS },
    name: (v) => `gemm_${v.x.name}_${v.w.name}`,
    instance: (v) => `gemm<${msl(v.x)}, ${msl(v.w)}>`,
  }),
  qmm: kernel({
    family: "qmm",
    header: "matmul.h",
    axes: { x: FLOATS, scales: FLOATS, bits: AFFINE_BITS },
    name: (v) => `qmm_${v.x.name}_${v.scales.name}_b${v.bits}`,
    instance: (v) => `qmm<${msl(v.x)}, ${msl(v.scales)}, ${v.bits}>`,
    unit: (v) => `qmm_b${v.bits}`,
  }),
  // GGUF blocks as stored: the matvec/matmul bodies above with a block-decoding adaptor
  // (kernels/gguf.h), one compile unit per format and kernel shape (a model uses a few formats).
  ggufMatvec: kernel({
    family: "gguf_mv",
    header: "gguf.h",
    axes: { x: FLOATS, block: GGUF_BLOCKS },
    name: (v) => `gguf_mv_${v.block.toLowerCase()}_${v.x.name}`,
    instance: (v) => `gguf_mv<${msl(v.x)}, Block${v.block}>`,
    unit: (v) => `gguf_mv_${v.block.toLowerCase()}`,
    constants: MATVEC_CONSTANTS,
  }),
  ggufMatvecRows: kernel({
    family: "gguf_mv_rows",
    header: "gguf.h",
    axes: { x: FLOATS, block: GGUF_BLOCKS },
    name: (v) => `gguf_mv_rows_${v.block.toLowerCase()}_${v.x.name}`,
    instance: (v) => `gguf_mv_rows<${msl(v.x)}, Block${v.block}>`,
    unit: (v) => `gguf_mv_${v.block.toLowerCase()}`,
    constants: MATVEC_CONSTANTS,
  }),
  ggufMatmul: kernel({
    family: "gguf_mm",
    header: "gguf.h",
    axes: { x: FLOATS, block: GGUF_BLOCKS },
    name: (v) => `gguf_mm_${v.block.toLowerCase()}_${v.x.name}`,
    instance: (v) => `gguf_mm<${msl(v.x)}, Block${v.block}>`,
    unit: (v) => `gguf_mm_${v.block.toLowerCase()}`,
  }),
  ggufEmbedding: kernel({
    family: "gguf_embedding",
    header: "gguf.h",
    axes: { block: GGUF_BLOCKS, out: FLOATS },
    name: (v) => `gguf_embedding_${v.block.toLowerCase()}_${v.out.name}`,
    instance: (v) => `gguf_embedding<Block${v.block}, ${msl(v.out)}>`,
    unit: (v) => `gguf_embedding_${v.block.toLowerCase()}`,
  }),
  sdpaDecode: kernel({
    family: "sdpa_decode",
    header: "attention.h",
    axes: { q: FLOATS, kv: FLOATS, headDim: ATTENTION_HEAD_DIMS },
    name: (v) => `sdpa_decode_${v.q.name}_${v.kv.name}_d${v.headDim}`,
    instance: (v) => `sdpa_decode<${msl(v.q)}, ${msl(v.kv)}, ${v.headDim}>`,
    unit: (v) => `sdpa_decode_d${v.headDim}_${v.q.name}`,
  }),
  sdpaDecodeReduce: kernel({
    family: "sdpa_reduce",
    header: "attention.h",
    axes: { dtype: FLOATS },
    name: (v) => `sdpa_decode_reduce_${v.dtype.name}`,
    instance: (v) => `sdpa_decode_reduce<${msl(v.dtype)}>`,
  }),
  sdpaPrefill: kernel({
    family: "sdpa_prefill",
    header: "attention_prefill.h",
    axes: { q: FLOATS, kv: FLOATS, headDim: ATTENTION_HEAD_DIMS },
    name: (v) => `sdpa_prefill_${v.q.name}_${v.kv.name}_d${v.headDim}`,
    instance: (v) => `sdpa_prefill<${msl(v.q)}, ${msl(v.kv)}, ${v.headDim}>`,
    unit: (v) => `sdpa_prefill_d${v.headDim}_${v.q.name}`,
    where: (v) => TILED_ATTENTION_HEAD_DIMS.includes(v.headDim),
  }),
  // Mixture of experts (moe.h). Routing, sorting and the combine compile as one unit; the expert
  // products per activation type (and bit width), as a MoE model uses one or two of them.
  moeRoute: kernel({
    family: "moe",
    header: "moe.h",
    axes: { dtype: FLOATS },
    name: (v) => `moe_route_${v.dtype.name}`,
    instance: (v) => `moe_route<${msl(v.dtype)}>`,
  }),
  moeSort: kernel({
    family: "moe",
    header: "moe.h",
    axes: {},
    name: () => "moe_sort",
    instance: () => "moe_sort<uint>",
  }),
  moeGatherRows: kernel({
    family: "moe",
    header: "moe.h",
    axes: { dtype: FLOATS },
    name: (v) => `moe_gather_rows_${v.dtype.name}`,
    instance: (v) => `moe_gather_rows<${msl(v.dtype)}>`,
  }),
  moeCombine: kernel({
    family: "moe",
    header: "moe.h",
    axes: { sorted: [false, true], dtype: FLOATS },
    name: (v) => `moe_combine${v.sorted ? "_sorted" : ""}_${v.dtype.name}`,
    instance: (v) => `moe_combine${v.sorted ? "_sorted" : ""}<${msl(v.dtype)}>`,
  }),
  moeQmv: kernel({
    family: "moe_qmv",
    header: "moe.h",
    axes: { grouped: [false, true], x: FLOATS, scales: FLOATS, bits: AFFINE_BITS },
    name: (v) => `${v.grouped ? "grouped" : "gather"}_qmv_${v.x.name}_${v.scales.name}_b${v.bits}`,
    instance: (v) => `${v.grouped ? "grouped" : "gather"}_qmv<${msl(v.x)}, ${msl(v.scales)}, ${v.bits}>`,
    unit: (v) => `moe_qmv_b${v.bits}_${v.x.name}`,
  }),
  moeGemv: kernel({
    family: "moe_gemv",
    header: "moe.h",
    axes: { grouped: [false, true], x: FLOATS, w: FLOATS },
    name: (v) => `${v.grouped ? "grouped" : "gather"}_gemv_${v.x.name}_${v.w.name}`,
    instance: (v) => `${v.grouped ? "grouped" : "gather"}_gemv<${msl(v.x)}, ${msl(v.w)}>`,
    unit: (v) => `moe_gemv_${v.x.name}`,
  }),
});

export type KernelName = keyof typeof kernels;

// ───────────── enumeration and source units ─────────────

/** One built variant: its host name, its entry and axis values, and its compile unit. */
export interface CatalogVariant {
  readonly name: string;
  readonly spec: KernelSpec;
  readonly variant: Variant<Axes>;
  readonly unit: string;
}

let every: readonly CatalogVariant[] | undefined;
let byName: ReadonlyMap<string, CatalogVariant> | undefined;
let byUnit: ReadonlyMap<string, readonly CatalogVariant[]> | undefined;

/** Every kernel variant of the catalog (for "precompile everything" and for tests). */
export function allVariants(): readonly CatalogVariant[] {
  if (!every) {
    const list: CatalogVariant[] = [];
    for (const spec of Object.values(kernels) as KernelSpec[]) {
      for (const variant of spec.variants()) list.push(Object.freeze({ name: spec.name(variant), spec, variant, unit: spec.unit(variant) }));
    }
    const names = new Map<string, CatalogVariant>();
    const units = new Map<string, CatalogVariant[]>();
    for (const v of list) {
      if (names.has(v.name)) throw new Error(`kernel name ${v.name} is built twice by the catalog`);
      names.set(v.name, v);
      const members = units.get(v.unit) ?? [];
      if (members.length > 0 && members[0]!.spec.header !== v.spec.header) throw new Error(`compile unit ${v.unit} mixes headers ${members[0]!.spec.header} and ${v.spec.header}`);
      members.push(v);
      units.set(v.unit, members);
    }
    every = Object.freeze(list);
    byName = names;
    byUnit = units;
  }
  return every;
}

/** The catalog variant whose host name is `name`, or undefined. */
export function findVariant(name: string): CatalogVariant | undefined {
  allVariants();
  return byName!.get(name);
}

/** Names of every compile unit. */
export function sourceUnits(): readonly string[] {
  allVariants();
  return [...byUnit!.keys()];
}

/** The variants compiled together in `unit`. */
export function unitVariants(unit: string): readonly CatalogVariant[] {
  allVariants();
  const members = byUnit!.get(unit);
  if (!members) throw new Error(`no compile unit "${unit}" in the catalog`);
  return members;
}

/** The explicit instantiation line of one variant. */
export function instantiation(spec: KernelSpec, variant: Variant<Axes>): string {
  const inst = spec.instance(variant);
  return `template [[host_name("${spec.name(variant)}")]] [[kernel]] decltype(${inst}) ${inst};`;
}

/**
 * The MSL text of compile unit `unit` before include inlining: its header's `#include` and one
 * instantiation line per variant. Metal and msl-cpu compile the same text (after
 * `assembleSource` inlines the header).
 */
export function unitSource(unit: string): string {
  const members = unitVariants(unit);
  return [`// Compile unit ${unit}, generated from kernels/catalog.ts.`, `#include "${members[0]!.spec.header}"`, "", ...members.map((m) => instantiation(m.spec, m.variant)), ""].join("\n");
}

if (import.meta.main) {
  const at = process.argv.indexOf("--units");
  if (at >= 0) {
    const dir = process.argv[at + 1];
    if (!dir) throw new Error("usage: bun run kernels/catalog.ts --units DIR");
    const { mkdirSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { assembleUnit } = await import("../src/kernels.ts");
    mkdirSync(dir, { recursive: true });
    for (const unit of sourceUnits()) writeFileSync(join(dir, `${unit}.metal`), assembleUnit(unit));
  } else {
    for (const v of allVariants()) console.log(`${v.name}\t${v.unit}`);
  }
}
