// The msl-cpu pre-pass: the lexical rewrite that turns MSL into C++ the kernel header can finish,
// plus what the runtime needs to know about each kernel (host name, parameter bindings, flags).
//
// It never parses C++ types: the generated runner takes exact parameter types from
// decltype(&kernel<Args>), so only attributes, names and statement boundaries are read here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mslcpu {

struct KernelParam {
  enum Kind { Buffer, Threadgroup, Builtin } kind;
  uint32_t index;      // binding index for Buffer and Threadgroup
  std::string source;  // Builtin: expression over the runner's `t` (a mslcpu::ids)
  std::string constant;  // [[buffer(n), function_constant(c)]]: present only when c is true
};

struct Kernel {
  std::string host_name;  // the name pipelines ask for
  std::string callee;     // e.g. "::elementwise_add<float>"
  std::vector<KernelParam> params;
  uint32_t flags = 0;     // MSLCPU_NEEDS_FIBERS | MSLCPU_USES_THREADGROUP_MEMORY
  uint32_t max_threads = 1024;  // [[max_total_threads_per_threadgroup(n)]], else the device limit
  std::vector<uint32_t> tg_sites;  // block-scope threadgroup variables its body can reach
};

struct FunctionConstant {
  uint32_t index;
  std::string name;
};

struct Program {
  std::string text;  // processed source and generated runners (or CUDA entries): a complete
                     // translation unit
  std::vector<Kernel> kernels;
  std::vector<FunctionConstant> constants;
};

struct PrepassOptions {
  bool sanitize = false;  // device, constant and threadgroup pointers become bounds-checked
                          // (compile the text with -DMSLCPU_SANITIZE)
  bool lint = false;      // block-scope threadgroup variables keep their address space
                          // (compile with -DMSLCPU_LINT -fsyntax-only)
  bool cuda = false;      // generate CUDA entries (shim/cuda's prelude) instead of msl-cpu runners
};

// Processes `source`; on failure returns a diagnostic in the compiler's "label:line:col: error:"
// shape, on success "".
std::string prepass(std::string_view source, const std::string &label, Program &out,
                    PrepassOptions options = {});

}  // namespace mslcpu
