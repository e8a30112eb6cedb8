// shim/cuda's compiler driver: MSL that msl-cpu's pre-pass has turned into CUDA C++ (CUDA
// target), through clang into PTX for one GPU architecture, in a content-addressed disk cache.
//
// The cache key covers the prelude, the architecture, the flags, the function-constant defines
// and the text, but not the compiler: a machine without clang (the usual GPU host) finds PTX
// that another machine compiled (`bun run precompile --backend cuda --arch sm_90`).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mslcuda {

struct PtxJob {
  std::string clang;                 // compiler path, "" when none is installed (cache only)
  std::string cache_dir;
  std::string arch;                  // "sm_90"
  std::string_view text;             // mslcpu::Program::text of a CUDA-target pre-pass
  std::vector<std::string> defines;  // function constants, "-DNAME=VALUE"
  std::string label;                 // for messages
};

enum class PtxStatus { Ok, CompileFailed, NoCompiler, IoError };

// The PTX of `job`: from the cache, or compiled now and cached. On failure `error` says why
// (clang's diagnostics, which name kernels/<file>:line through the #line markers).
PtxStatus ptx_for(const PtxJob &job, std::string &ptx, std::string &error);

// The cache file `job` is stored under (exists or not).
std::string cache_path(const PtxJob &job);

// Where compiled kernels go when the host sets no cuda.cache_dir.
std::string default_cache_dir();

}  // namespace mslcuda

namespace mslcpu {
struct Program;
}

namespace mslcuda {

// -D flags giving each function constant `program` declares its value from `constants` (n
// triplets [index, MLXN_CONSTANT_* type, value], see mlxn_pipeline_new), or marking it undefined.
// The same text for the same values on every machine: part of the cache key.
bool constant_defines(const mslcpu::Program &program, const uint32_t *constants, uint32_t n,
                      std::vector<std::string> &out, std::string &error);

}  // namespace mslcuda
