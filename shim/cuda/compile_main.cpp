// mlxn_cuda_compile: fills the cuda kernel cache without a GPU (the precompile command runs it).
//
//   mlxn_cuda_compile --arch sm_90 --cache-dir DIR [--cxx clang++-19] [--constants I,T,V;...] SOURCE LABEL
//
// SOURCE holds the library text exactly as the TS core hands it to mlxn_library_new_source
// (kernels/<family>.metal with its headers inlined). Compiles the library as a pipeline without
// function constants gets it and, when it declares function constants, every specialisation with
// each constant a bool (the ops' only kind); with --constants, only the specialisation given as
// mlxn_pipeline_new's triplets (index, MLXN_CONSTANT_* type, 32-bit value; "" for none).
// Prints one line per PTX: its path and entry count.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "../cpu/msl_cpu/compile.h"
#include "../cpu/msl_cpu/prepass.h"
#include "compile.h"

int main(int argc, char **argv) {
  std::string arch, cache_dir, cxx, source_path, label;
  bool one = false;
  std::vector<uint32_t> given;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--arch" && i + 1 < argc) arch = argv[++i];
    else if (a == "--cache-dir" && i + 1 < argc) cache_dir = argv[++i];
    else if (a == "--cxx" && i + 1 < argc) cxx = argv[++i];
    else if (a == "--constants" && i + 1 < argc) {
      one = true;
      std::string spec = argv[++i];
      for (size_t p = 0; p < spec.size();) {
        char *end = nullptr;
        given.push_back(uint32_t(strtoul(spec.c_str() + p, &end, 10)));
        p = size_t(end - spec.c_str());
        if (p < spec.size()) ++p;  // ',' or ';'
      }
      if (given.size() % 3) {
        fprintf(stderr, "mlxn_cuda_compile: --constants needs index,type,value triplets\n");
        return 2;
      }
    }
    else if (source_path.empty()) source_path = a;
    else label = a;
  }
  if (arch.empty() || cache_dir.empty() || source_path.empty() || label.empty()) {
    fprintf(stderr, "usage: mlxn_cuda_compile --arch sm_90 --cache-dir DIR [--cxx CLANG] SOURCE LABEL\n");
    return 2;
  }
  std::ifstream in(source_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    fprintf(stderr, "mlxn_cuda_compile: cannot read %s\n", source_path.c_str());
    return 2;
  }
  mslcpu::Toolchain tc;
  std::string error;
  if (!mslcpu::find_toolchain(cxx, tc, error)) {
    fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  mslcpu::Program program;
  mslcpu::PrepassOptions options;
  options.cuda = true;
  error = mslcpu::prepass(text.str(), label, program, options);
  if (!error.empty()) {
    fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  size_t n = program.constants.size();
  if (n > 8) {
    fprintf(stderr, "mlxn_cuda_compile: %s declares %zu function constants; at most 8 are specialised\n",
            label.c_str(), n);
    return 1;
  }
  // combination -1: no constants given (every one undefined); then every bool assignment
  const long end = one ? 0 : n ? (1l << n) : 0;
  for (long combo = -1; combo < end; ++combo) {
    std::vector<uint32_t> constants = given;
    for (size_t i = 0; !one && combo >= 0 && i < n; ++i)
      constants.insert(constants.end(), {program.constants[i].index, 0u, uint32_t(combo >> i & 1)});
    mslcuda::PtxJob job{tc.cxx, cache_dir, arch, program.text, {}, label};
    if (!mslcuda::constant_defines(program, constants.data(), uint32_t(constants.size() / 3), job.defines, error)) {
      fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    std::string ptx;
    if (mslcuda::ptx_for(job, ptx, error) != mslcuda::PtxStatus::Ok) {
      fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    size_t entries = 0;
    for (size_t p = ptx.find(".entry "); p != std::string::npos; p = ptx.find(".entry ", p + 1)) ++entries;
    printf("%s %zu\n", mslcuda::cache_path(job).c_str(), entries);
  }
  return 0;
}
