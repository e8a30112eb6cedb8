# The cuda backend: libmlxn_cuda (Linux). It links nothing from CUDA: the driver is opened with
# dlopen at run time, and kernels are compiled to PTX by clang (no CUDA SDK). Included by the
# top-level Makefile after shim/cpu/cpu.mk, whose pre-pass and compiler helpers it shares.

CUDA_DIR := shim/cuda
CUDA_LIB := $(BUILD)/libmlxn_cuda.$(SO)
CUDA_GEN := $(BUILD)/cuda
CUDA_SRCS := $(CUDA_DIR)/driver.cpp $(CUDA_DIR)/runtime.cpp $(CUDA_DIR)/library.cpp $(CUDA_DIR)/compile.cpp
CUDA_HDRS := $(wildcard $(CUDA_DIR)/*.h) shim/include/mlxn.h $(CPU_DIR)/msl_cpu/prepass.h $(CPU_DIR)/msl_cpu/compile.h
CUDA_OBJS := $(patsubst $(CUDA_DIR)/%.cpp,$(CUDA_GEN)/%.o,$(CUDA_SRCS))
CUDA_SHARED_OBJS := $(CPU_GEN)/msl_cpu/prepass.o $(CPU_GEN)/msl_cpu/compile.o
CUDA_CXXFLAGS := -std=c++20 -O2 -fPIC -Wall -Wextra -Werror -fvisibility=hidden
CUDA_COMPILER := $(BUILD)/mlxn_cuda_compile
# The prelude with the msl-cpu headers it #includes inlined (they are resolved from shim/cpu/).
CUDA_PRELUDE_PARTS := $(CUDA_DIR)/prelude/mslcuda.h $(CPU_DIR)/msl_cpu.h \
  $(addprefix $(CPU_DIR)/msl_cpu/kernel/,math.h atomics.h unsupported.h)

.PHONY: cuda-shim

cuda-shim: $(CUDA_LIB) $(CUDA_COMPILER)

$(CUDA_GEN)/mslcuda_prelude.inc: $(CUDA_PRELUDE_PARTS)
	@mkdir -p $(CUDA_GEN)
	@{ printf 'R"mslcuda_prelude('; \
	   awk '/^#include "[^"]*"$$/ { f = $$2; gsub(/"/, "", f); while ((getline l < ("$(CPU_DIR)/" f)) > 0) print l; close("$(CPU_DIR)/" f); next } { print }' \
	     $(CUDA_DIR)/prelude/mslcuda.h; \
	   printf ')mslcuda_prelude"\n'; } > $@.tmp && mv $@.tmp $@

$(CUDA_GEN)/%.o: $(CUDA_DIR)/%.cpp $(CUDA_HDRS) $(CUDA_GEN)/mslcuda_prelude.inc | cpu-compiler
	@mkdir -p $(dir $@)
	$(CLANGXX) $(CUDA_CXXFLAGS) -I$(CUDA_GEN) -c $< -o $@

$(CUDA_LIB): $(CUDA_OBJS) $(CUDA_SHARED_OBJS) $(CPU_DIR)/exports.map
	$(CLANGXX) $(SHARED_FLAGS) $(CUDA_OBJS) $(CUDA_SHARED_OBJS) -o $@ -ldl -lpthread -Wl,--version-script=$(CPU_DIR)/exports.map

$(CUDA_COMPILER): $(CUDA_GEN)/compile_main.o $(CUDA_GEN)/compile.o $(CUDA_SHARED_OBJS)
	$(CLANGXX) $^ -o $@ -ldl -lpthread
