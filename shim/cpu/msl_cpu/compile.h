// msl-cpu's compiler driver: finds clang++, compiles a pre-passed program into a shared object in
// a content-addressed cache, and loads kernel objects.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#define MSLCPU_ABI_ONLY
#include "../msl_cpu.h"

namespace mslcpu {

struct Toolchain {
  std::string cxx;       // the compiler's path
  std::string identity;  // real path, size and mtime: part of every cache key
};

// Resolves `requested` ("" = the first of clang++-19, -18, -17, -16, clang++ on PATH).
// On failure returns false with a message naming what was tried.
bool find_toolchain(const std::string &requested, Toolchain &out, std::string &error);

// Where compiled kernels go when the host sets no msl_cpu.cache_dir.
std::string default_cache_dir();

struct CompileJob {
  const Toolchain *toolchain;
  std::string cache_dir;
  std::string_view text;              // Program::text
  std::vector<std::string> defines;   // "-DNAME=VALUE", part of the cache key
  std::string label;                  // for messages
  bool syntax_only = false;           // check only: no object is produced
  std::vector<std::string> flags = {};  // more compiler flags, after msl-cpu's (part of the cache key)
  bool warnings = false;              // keep clang's default warnings (msl-cpu builds drop them all)
  // Syntax-only jobs: judges the compiler's output (stdout and stderr) of a successful run; a
  // non-empty result is the job's error. `check_id` names the check's version in the cache key.
  std::function<std::string(const std::string &output)> check = {};
  std::string check_id = {};
  unsigned timeout_ms = 300000;       // the compiler is killed after this long (a CompileError)
};

// Compiles (or finds in the cache) `job`. On success `object_path` is the .so (empty when
// syntax_only) and `key` its cache key. On failure returns false with the compiler's first
// lines of diagnostics.
bool compile(const CompileJob &job, std::string &object_path, std::string &key, std::string &error);

// A loaded kernel object and its kernel table; dlclose on destruction.
class KernelObject {
 public:
  // Loads `path`, refusing an object built under another cache key than `key`.
  static KernelObject *load(const std::string &path, const std::string &key, std::string &error);
  ~KernelObject();
  const mslcpu_kernel_info *find(std::string_view name) const;
  // Bytes of block-scope threadgroup storage of every kernel of the object (the runner's layout).
  uint64_t tg_total() const { return tg_total_; }
  // Bytes of block-scope threadgroup storage `kernel` can reach: Metal's static length.
  uint64_t static_tg(const mslcpu_kernel_info *kernel) const;

 private:
  void *handle_ = nullptr;
  const mslcpu_kernel_info *kernels_ = nullptr;
  unsigned count_ = 0;
  const mslcpu_tg_slot *slots_ = nullptr;
  unsigned slot_count_ = 0;
  uint64_t tg_total_ = 0;
};

std::string sha256_hex(std::string_view data);

// Process and cache-file helpers, shared with shim/cuda's compiler driver.
// Runs argv (stdin /dev/null, stdout and stderr into `output`); the exit status, or -1.
int run(const std::vector<std::string> &argv, unsigned timeout_ms, std::string &output);
inline int run(const std::vector<std::string> &argv, std::string &output) { return run(argv, 86400000u, output); }
bool mkdirs(const std::string &dir);
bool exists(const std::string &path);
bool write_file(const std::string &path, std::string_view data);
// A unique temporary name in `dir` for `key`, ending in `ext`.
std::string temp_name(const std::string &dir, const std::string &key, const char *ext);
// Writes `data` to `path` atomically (temporary file + rename) unless it exists.
bool publish(const std::string &dir, const std::string &path, std::string_view data);
// The first `n` lines of `text`, marked when cut.
std::string first_lines(const std::string &text, int n);

}  // namespace mslcpu
