# The cpu backend: libmlxn_cpu (runtime + msl-cpu). Included by the top-level Makefile, which
# defines CLANGXX, CLANG, SO, SHARED_FLAGS and BUILD.

CPU_DIR := shim/cpu
CPU_LIB := $(BUILD)/libmlxn_cpu.$(SO)
CPU_SRCS := $(CPU_DIR)/runtime.cpp $(CPU_DIR)/library.cpp $(CPU_DIR)/pool.cpp \
            $(CPU_DIR)/msl_cpu/prepass.cpp $(CPU_DIR)/msl_cpu/compile.cpp
CPU_HDRS := $(wildcard $(CPU_DIR)/*.h $(CPU_DIR)/msl_cpu/*.h $(CPU_DIR)/msl_cpu/kernel/*.h) $(wildcard shim/include/*.h)
# The kernel header: msl_cpu.h, then the rest of the MSL surface, in this order.
CPU_KERNEL_HDRS := $(CPU_DIR)/msl_cpu.h $(addprefix $(CPU_DIR)/msl_cpu/kernel/,math.h fibers.h atomics.h matrix.h checked.h unsupported.h)
CPU_GEN := $(BUILD)/cpu
CPU_OBJS := $(patsubst $(CPU_DIR)/%.cpp,$(CPU_GEN)/%.o,$(CPU_SRCS))
CPU_CXXFLAGS := -std=c++20 -O2 -fPIC -Wall -Wextra -fvisibility=hidden
CPU_SMOKE := $(BUILD)/cpu_shim_smoke
# Only the C ABI is exported (std template instantiations would otherwise leak on Linux).
ifeq ($(UNAME_S),Darwin)
  CPU_LDFLAGS := -ldl -lpthread
else
  CPU_LDFLAGS := -ldl -lpthread -Wl,--version-script=$(CPU_DIR)/exports.map
endif

.PHONY: check-cpu-shim cpu-compiler lint-kernels

cpu-compiler:
	@if [ -z "$(CLANGXX)" ]; then echo "no clang++ found: run 'make setup'" >&2; exit 1; fi

# The kernel header travels inside the library as a raw string literal.
$(CPU_GEN)/msl_cpu_header.inc: $(CPU_KERNEL_HDRS)
	@mkdir -p $(CPU_GEN)
	@{ printf 'R"mslcpu_header('; cat $^; printf ')mslcpu_header"\n'; } > $@.tmp && mv $@.tmp $@

$(CPU_GEN)/%.o: $(CPU_DIR)/%.cpp $(CPU_HDRS) $(CPU_GEN)/msl_cpu_header.inc | cpu-compiler
	@mkdir -p $(dir $@)
	$(CLANGXX) $(CPU_CXXFLAGS) -I$(CPU_GEN) -c $< -o $@

$(CPU_LIB): $(CPU_OBJS) $(CPU_DIR)/exports.map
	$(CLANGXX) $(SHARED_FLAGS) $(CPU_OBJS) -o $@ $(CPU_LDFLAGS)

$(CPU_SMOKE): $(CPU_DIR)/tests/smoke.c $(wildcard shim/include/*.h) $(CPU_LIB)
	$(CLANG) -std=c11 -O2 -Wall -Wextra $< -o $@ -L$(BUILD) -lmlxn_cpu -Wl,-rpath,'$$ORIGIN' -lm

check-cpu-shim: $(CPU_SMOKE)
	$(CPU_SMOKE)

# The kernel lint (shim/cpu/msl_cpu/lint.cpp: address spaces, kernel warnings as errors, the MSL
# rules clang does not enforce), over every family as the registry assembles it (lint_kernels.ts).
CPU_LINT := $(BUILD)/msl_cpu_lint
$(CPU_LINT): $(CPU_DIR)/msl_cpu/lint.cpp $(CPU_GEN)/msl_cpu/prepass.o $(CPU_GEN)/msl_cpu/compile.o
	$(CLANGXX) $(CPU_CXXFLAGS) -I$(CPU_GEN) $^ -o $@

lint-kernels: $(CPU_LINT)
	$(BUN) $(CPU_DIR)/msl_cpu/lint_kernels.ts --lint $(CPU_LINT)
