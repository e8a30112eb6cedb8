/** Float64 reference for embedding lookups: rows of a table by id, zeros for ids past the table. */

export function gather(table: ArrayLike<number>, ids: ArrayLike<number>, vocab: number, dim: number): Float64Array {
  const out = new Float64Array(ids.length * dim);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t]!;
    if (id >= vocab) continue;
    for (let d = 0; d < dim; d++) out[t * dim + d] = table[id * dim + d]!;
  }
  return out;
}
