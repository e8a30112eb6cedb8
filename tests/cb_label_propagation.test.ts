/** Port of the crate's test_cb_label_propagation (spec §3). */
import { expect, test } from "bun:test";
import { DType, ops } from "../src/index.ts";
import { download, fixture, floatBuffer } from "./support/fixtures.ts";

const { device } = fixture();

test("commitAndWaitLabeled labels the command buffer", () => {
  const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
  const b = floatBuffer(device, DType.F32, 4, [5, 6, 7, 8]);
  const out = floatBuffer(device, DType.F32, 4);
  const enc = device.commandEncoder();
  ops.elementwiseAdd(enc, a, b, out);
  enc.commitAndWaitLabeled("phase.smoke_token");
  expect(enc.commandBuffer.label).toBe("phase.smoke_token");
  expect(enc.label).toBe("phase.smoke_token");
  expect([...download(out, 4)]).toEqual([6, 8, 10, 12]);
});

test("commitLabeled sets the label before the wait", () => {
  const a = floatBuffer(device, DType.F32, 4, [1, 2, 3, 4]);
  const b = floatBuffer(device, DType.F32, 4, [5, 6, 7, 8]);
  const out = floatBuffer(device, DType.F32, 4);
  const enc = device.commandEncoder();
  ops.elementwiseAdd(enc, a, b, out);
  enc.commitLabeled("phase.async");
  expect(enc.commandBuffer.label).toBe("phase.async");
  enc.waitUntilCompleted();
  expect([...download(out, 4)]).toEqual([6, 8, 10, 12]);
  expect(enc.commandBuffer.gpuTimeNs).toBeGreaterThanOrEqual(0);
});
