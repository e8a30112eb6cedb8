// Loaded before every test file (bunfig.toml). A test's first use of a kernel family compiles it
// with msl-cpu, which takes seconds on a cold cache, so the default 5 s per test is too short.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(180_000);
