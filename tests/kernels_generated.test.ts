/** The generated instantiation files in kernels/ are exactly what kernels/gen_instantiations.ts writes. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { generate } from "../kernels/gen_instantiations.ts";

test("checked-in instantiation files match kernels/gen_instantiations.ts (run it after editing)", () => {
  for (const [name, text] of generate()) expect({ name, text: readFileSync(join(import.meta.dir, "..", "kernels", name), "utf8") }).toEqual({ name, text });
});
