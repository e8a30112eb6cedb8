/**
 * A check on PTX text that needs no GPU: memory accesses without a state space (generic) whose
 * address comes from a local-window address (`%SPL`, the stack in the local state space) rather
 * than from its generic form (`%SP`, after `cvta.local`). Such an access faults on the GPU: a
 * local-window address (about 16 MiB, the same in every thread) is no valid generic address.
 * clang 19's NVPTX back end emitted them for a float4 element written at a run-time index in
 * kernels/matvec.h; this finds that class of miscompile on CI.
 */

/** Per kernel entry that has any, the generic loads and stores through local-window addresses. */
export function genericAccessesThroughLocalAddresses(ptx: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const entry of ptx.matchAll(/\.entry (\w+)\(([\s\S]*?)\n\}/g)) {
    const lines = entry[2]!.split("\n").map((l) => l.trim());
    // Registers holding a local-window address: %SPL and whatever is computed from it by
    // moves and integer arithmetic (cvta.local turns one into a generic address, so stops it).
    const local = new Set(["%SPL"]);
    for (let changed = true; changed; ) {
      changed = false;
      for (const line of lines) {
        const m = /^(?:add|sub|mov|or|and)\.\w+\s+(%\w+),\s*(.*);$/.exec(line);
        if (m === null || local.has(m[1]!)) continue;
        if ((m[2]!.match(/%\w+/g) ?? []).some((r) => local.has(r))) {
          local.add(m[1]!);
          changed = true;
        }
      }
    }
    const bad = lines.filter((line) => {
      const m = /^(?:ld|st)(?:\.v\d)?\.[bsuf]\d+\s+\[(%\w+)/.exec(line);
      return m !== null && local.has(m[1]!);
    });
    if (bad.length > 0) found.set(entry[1]!, bad);
  }
  return found;
}
