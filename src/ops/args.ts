/**
 * Kernel argument structs, written from one layout description per struct.
 *
 * Each kernel family declares its argument struct once, in its `kernels/<family>.h`; the op
 * module describes the same fields here, in the same order. Fields are 4-byte scalars only
 * (`uint`, `int`, `float`), so the MSL layout is simply field i at byte 4·i with no padding, and
 * the description cannot disagree with the compiler about alignment.
 *
 * `write()` fills one reusable scratch array and returns it: the encoder copies inline bytes
 * into its dispatch record at once, so the scratch can be rewritten by the next dispatch.
 *
 * @example
 * const NormArgs = argStruct("NormArgs", { cols: "u32", eps: "f32" });
 * enc.dispatchThreadgroups(p, [x, out, NormArgs.write({ cols, eps })], [rows, 1, 1], [256, 1, 1]);
 */
export type FieldType = "u32" | "i32" | "f32";

export interface ArgStruct<K extends string> {
  /** The MSL struct name (as declared in its kernels/ header). */
  readonly name: string;
  /** Field names and types, in declaration order. */
  readonly fields: readonly (readonly [K, FieldType])[];
  /** Byte size of the struct (4 per field). */
  readonly byteLength: number;
  /** Byte offset of each field. */
  readonly offsets: Readonly<Record<K, number>>;
  /** Write every field into the shared scratch and return it, ready to bind as inline bytes. */
  write(values: Readonly<Record<K, number>>): Uint32Array;
}

/** Every struct described so far (one per op module, made at import), for the layout test. */
const described: ArgStruct<string>[] = [];

/** The argument structs the imported op modules describe. */
export function describedArgStructs(): readonly ArgStruct<string>[] {
  return described;
}

/** Describe a struct of 4-byte fields, in declaration order. */
export function argStruct<K extends string>(name: string, fields: Readonly<Record<K, FieldType>>): ArgStruct<K> {
  const names = Object.keys(fields) as K[];
  const u32 = new Uint32Array(names.length);
  const i32 = new Int32Array(u32.buffer);
  const f32 = new Float32Array(u32.buffer);
  const kinds = names.map((k) => fields[k]);
  const offsets = Object.fromEntries(names.map((k, i) => [k, 4 * i])) as Record<K, number>;
  const struct: ArgStruct<K> = Object.freeze({
    name,
    fields: Object.freeze(names.map((k) => Object.freeze([k, fields[k]] as const))),
    byteLength: 4 * names.length,
    offsets: Object.freeze(offsets),
    write(values: Readonly<Record<K, number>>): Uint32Array {
      for (let i = 0; i < names.length; i++) {
        const v = values[names[i]!];
        const kind = kinds[i];
        if (kind === "f32") f32[i] = v;
        else if (kind === "i32") i32[i] = v;
        else u32[i] = v;
      }
      return u32;
    },
  });
  described.push(struct as unknown as ArgStruct<string>);
  return struct;
}
