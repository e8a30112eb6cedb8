# shim/metal/metal.mk — the Metal backend, libmlxn_metal.dylib (macOS on Apple Silicon only).
# Included by the top Makefile, which defines BUILD, SO, UNAME_S and BUN.
#   make metal         build the dylib; elsewhere, say why nothing was built (exit 0)
#   make check-metal   run the whole test suite on the Metal backend; elsewhere, fail (exit 1)
#                      so that nobody mistakes a Linux run for a Metal pass
#   make check-metal-api  type-check shim/metal/*.m against Metal's API as metal-cpp declares it
#                      (any OS, no Apple SDK; shim/metal/api/check.ts; skipped without metal-cpp)

.PHONY: metal check-metal check-metal-api

METAL_SRC := $(wildcard shim/metal/*.m)
METAL_DEPS := $(METAL_SRC) shim/metal/internal.h $(wildcard shim/include/*.h) shim/metal/metal.mk
METAL_NOTE := the Metal backend needs macOS on Apple Silicon; nothing built

METAL_HOST_ARCH := $(shell uname -m)

# The check compiles with the build's language and warning flags below (kept in step by hand:
# CHECK_FLAGS in shim/metal/api/check.ts) for arm64-apple-macos14, -fsyntax-only.
check-metal-api: deps
	$(BUN) shim/metal/api/check.ts

ifeq ($(UNAME_S)-$(METAL_HOST_ARCH),Darwin-arm64)

METAL_LIB := $(BUILD)/libmlxn_metal.$(SO)

# ARC, system frameworks only. -fobjc-arc-exceptions: every entry point catches Objective-C
# exceptions (status.m), and without it ARC leaks the objects of the frames an exception unwinds. Signed ad hoc because arm64 macOS loads only signed code (the
# linker usually signs already; doing it here does not depend on that).
# CoreGraphics: Apple documents that a process which does not link it may get no default
# Metal device. macOS 14 is the floor because the kernels need MSL 3.1 (bfloat); the macOS 15
# SDK is needed to build (internal.h says why).
$(METAL_LIB): $(METAL_DEPS)
	@mkdir -p $(BUILD)
	clang -fobjc-arc -fobjc-arc-exceptions -O2 -arch arm64 -mmacosx-version-min=14.0 -dynamiclib -Wall -Wextra \
	  -Ishim/include -install_name @rpath/libmlxn_metal.dylib \
	  -framework Metal -framework Foundation -framework CoreGraphics \
	  -o $@ $(METAL_SRC)
	codesign -s - -f $@

shim: $(METAL_LIB)

metal: $(METAL_LIB)

check-metal: deps shim
	MLXN_BACKEND=metal $(BUN) test

else

metal:
	@echo "$(METAL_NOTE)"

check-metal:
	@echo "$(METAL_NOTE)"; exit 1

endif
