#include "compile.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "../cpu/msl_cpu/compile.h"

namespace mslcuda {
namespace {

// The prelude, embedded at build time (shim/cuda/cuda.mk inlines the msl-cpu headers it names).
const char kPrelude[] =
#include "mslcuda_prelude.inc"
    ;

const std::vector<std::string> &flags() {
  static const std::vector<std::string> f = {
      "-x", "cuda", "--cuda-device-only", "-nocudainc", "-nocudalib", "-std=c++20", "-O3", "-S",
      "-Wno-everything", "-fno-exceptions", "-fno-rtti", "-fno-color-diagnostics",
      "-ffp-contract=fast", "-Xclang", "-ffloat16-excess-precision=none",
      "-Xclang", "-fbfloat16-excess-precision=none"};
  return f;
}

const std::string &prelude_hash() {
  static const std::string h = mslcpu::sha256_hex(kPrelude);
  return h;
}

std::string key_of(const PtxJob &job) {
  std::string k = "mslcuda 1\n" + prelude_hash() + "\n" + job.arch;
  for (const auto &f : flags()) k += " " + f;
  for (const auto &d : job.defines) k += " " + d;
  k += "\n";
  k += job.text;
  return mslcpu::sha256_hex(k);
}

bool read_file(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  return bool(in) || in.eof();
}

}  // namespace

std::string cache_path(const PtxJob &job) {
  return job.cache_dir + "/" + key_of(job) + "." + job.arch + ".ptx";
}

std::string default_cache_dir() {
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  if (xdg && *xdg) return std::string(xdg) + "/bun-mlx-native/cuda";
  if (home && *home) return std::string(home) + "/.cache/bun-mlx-native/cuda";
  return "/tmp/bun-mlx-native-cuda";
}

PtxStatus ptx_for(const PtxJob &job, std::string &ptx, std::string &error) {
  std::string target = cache_path(job);
  if (mslcpu::exists(target) && read_file(target, ptx) && !ptx.empty()) return PtxStatus::Ok;
  if (job.clang.empty()) {
    error = "cuda: no PTX for '" + job.label + "' (" + job.arch + ") in the kernel cache " +
            job.cache_dir + " and no clang++ to compile it: run `bun run precompile --backend cuda --arch " +
            job.arch + "` on a machine with clang-19 and copy the cache (MLXN_CACHE_DIR), or install clang-19";
    return PtxStatus::NoCompiler;
  }
  const std::string &dir = job.cache_dir;
  if (!mslcpu::mkdirs(dir)) {
    error = "cuda: cannot create the kernel cache directory '" + dir + "': " + strerror(errno);
    return PtxStatus::IoError;
  }
  std::string header = dir + "/mslcuda-" + prelude_hash().substr(0, 16) + ".h";
  if (!mslcpu::publish(dir, header, kPrelude)) {
    error = "cuda: cannot write '" + header + "': " + strerror(errno);
    return PtxStatus::IoError;
  }
  std::string key = key_of(job);
  std::string source = mslcpu::temp_name(dir, key, ".cu"), out = mslcpu::temp_name(dir, key, ".ptx");
  if (!mslcpu::write_file(source, job.text)) {
    error = "cuda: cannot write '" + source + "': " + strerror(errno);
    unlink(source.c_str());
    return PtxStatus::IoError;
  }
  std::vector<std::string> argv = {job.clang};
  argv.insert(argv.end(), flags().begin(), flags().end());
  argv.push_back("--cuda-gpu-arch=" + job.arch);
  argv.insert(argv.end(), job.defines.begin(), job.defines.end());
  argv.insert(argv.end(), {"-include", header, source, "-o", out});
  std::string log;
  int rc = mslcpu::run(argv, log);
  bool ok = rc == 0 && read_file(out, ptx) && !ptx.empty() && rename(out.c_str(), target.c_str()) == 0;
  unlink(source.c_str());
  unlink(out.c_str());
  if (ok) return PtxStatus::Ok;
  error = rc < 0 ? "cuda: could not run '" + job.clang + "'"
                 : "cuda: compiling '" + job.label + "' for " + job.arch + " failed:\n" +
                       mslcpu::first_lines(log, 40);
  return PtxStatus::CompileFailed;
}

}  // namespace mslcuda

#include "../cpu/msl_cpu/prepass.h"

namespace mslcuda {

bool constant_defines(const mslcpu::Program &prog, const uint32_t *constants, uint32_t n,
                      std::vector<std::string> &out, std::string &error) {
  for (uint32_t i = 0; i < n; ++i) {
    if (constants[3 * i + 1] > 3) {
      error = "function constant " + std::to_string(constants[3 * i]) + " has unknown type " +
              std::to_string(constants[3 * i + 1]);
      return false;
    }
  }
  for (const mslcpu::FunctionConstant &fc : prog.constants) {
    std::string idx = std::to_string(fc.index), value = "0", defined = "0";
    for (uint32_t i = 0; i < n; ++i) {
      if (constants[3 * i] != fc.index) continue;
      uint32_t v = constants[3 * i + 2];
      switch (constants[3 * i + 1]) {
        case 0: value = v ? "1" : "0"; break;                                   // bool
        case 1: value = "(" + std::to_string(int32_t(v)) + ")"; break;          // int
        case 2: value = std::to_string(v) + "u"; break;                         // uint
        default: value = "__builtin_bit_cast(float," + std::to_string(v) + "u)"; break;
      }
      defined = "1";
    }
    out.push_back("-DMSLCPU_FC_" + idx + "=" + value);
    out.push_back("-DMSLCPU_FCD_" + idx + "=" + defined);
  }
  return true;
}

}  // namespace mslcuda
