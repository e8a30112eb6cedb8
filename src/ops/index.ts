/** Ops: each validates its arguments, picks a pipeline and encodes its dispatches. */
export { elementwiseAdd } from "./elementwise.ts";
