# bun-mlx-native build and test entry points.
#   make setup   install what a fresh Debian machine lacks (clang, bun from npm), build the shim
#   make demo    setup, then run the demo on an embedded default
#   make test    setup, then the static checks (check-metal-api, lint-kernels) and the whole test
#                suite on the active backend
#   make compile single-file executable of the generate CLI (build/generate)
#   make packages npm tarballs in build/packages: the library, this platform's prebuilt shim
#                 package (with the demo model's compiled kernels), the library's dependencies
# Backend fragments: shim/cpu/cpu.mk (every platform), shim/metal/metal.mk (macOS),
# shim/cuda/cuda.mk (Linux; links nothing from CUDA).

UNAME_S := $(shell uname -s)
ifeq ($(UNAME_S),Darwin)
  SO := dylib
  SHARED_FLAGS := -dynamiclib
else
  SO := so
  SHARED_FLAGS := -shared
endif

BUILD := build
BUN := node_modules/.bin/bun
# msl-cpu needs clang with _Float16 and __bf16 arithmetic (clang 16+; Debian 12 ships clang-19).
CLANGXX := $(firstword $(foreach c,clang++-19 clang++-18 clang++-17 clang++-16 clang++,$(if $(shell command -v $(c) 2>/dev/null),$(c),)))
CLANG := $(patsubst clang++%,clang%,$(CLANGXX))

.PHONY: all setup deps shim demo demo-exe compile packages test bench typecheck clean

all: shim

include shim/cpu/cpu.mk
-include shim/metal/metal.mk
ifeq ($(UNAME_S),Linux)
  include shim/cuda/cuda.mk
endif

shim: $(CPU_LIB) $(if $(CUDA_LIB),$(CUDA_LIB) $(CUDA_COMPILER))

# Installs only what is missing: clang from Debian's packages, Bun and dev deps from npm.
deps:
	@if [ -z "$(CLANGXX)" ]; then \
	  echo "installing clang-19 (msl-cpu compiles kernels with it)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq clang-19 make >/dev/null; \
	fi
	@if [ ! -x $(BUN) ]; then npm install --no-audit --no-fund; fi

setup: deps
	@$(MAKE) --no-print-directory shim

demo: setup
	$(BUN) run examples/demo.ts

test: setup
	@$(MAKE) --no-print-directory check-cpu-shim
	@$(MAKE) --no-print-directory check-metal-api
	@$(MAKE) --no-print-directory lint-kernels
	$(BUN) test --timeout 600000

# The demo as a single-file executable: the shim and kernels/ ride along as embedded assets.
demo-exe: setup
	$(BUN) build --compile examples/demo.ts --asset kernels --asset $(CPU_LIB) --outfile $(BUILD)/demo

# The generate CLI as a single-file executable (build/generate), shim and kernels/ embedded:
#   build/generate --demo        or        build/generate --model DIR --prompt "..."
compile: setup
	$(BUN) build --compile src/cli/generate.ts --asset kernels --asset $(CPU_LIB) --outfile $(BUILD)/generate

packages: setup
	$(BUN) run scripts/packages.ts

bench: setup
	$(BUN) run bench/dispatch.ts

typecheck: deps
	node_modules/.bin/tsc --noEmit

clean:
	rm -rf $(BUILD)

# C baseline of bench/dispatch.ts, linked against the cpu shim.
$(BUILD)/bench_dispatch_c: bench/dispatch_c.c $(wildcard shim/include/*.h) $(CPU_LIB)
	$(CLANG) -O2 -Wall -Ishim/include $< -L$(BUILD) -lmlxn_cpu -Wl,-rpath,'$$ORIGIN' -o $@

# memcpy bandwidth, the yardstick of the kernel benches (bench/support.ts).
$(BUILD)/bench_memcpy: bench/memcpy.c
	@mkdir -p $(BUILD)
	$(CLANG) -O2 -march=native -Wall $< -o $@ -lpthread
