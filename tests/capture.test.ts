/** GPU capture: Metal writes a .gputrace; the cpu backend refuses with a typed error, never a crash. */
import { expect, test } from "bun:test";
import { ArgumentError, BackendError, GpuCapture } from "../src/index.ts";
import { fixture } from "./support/fixtures.ts";

const { device } = fixture();

test("a capture path must name a .gputrace file", () => {
  expect(() => GpuCapture.start(device, "/tmp/trace.txt")).toThrow(ArgumentError);
});

test.skipIf(device.backend !== "cpu")("the cpu backend cannot capture and says so", () => {
  expect(() => GpuCapture.start(device, "/tmp/mlxn-test.gputrace")).toThrow(BackendError);
  expect(() => GpuCapture.start(device, "/tmp/mlxn-test.gputrace")).toThrow(/Metal/);
});
