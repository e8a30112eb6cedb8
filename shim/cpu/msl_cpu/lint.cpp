// msl_cpu_lint: the address-space check behind `make lint-kernels`.
//
//   msl_cpu_lint [-j N] file.metal...
//
// Each file is assembled as the TS core assembles a kernel family (local `#include "x.h"` inlined
// with #line markers), put through the msl-cpu pre-pass, and compiled with -fsyntax-only and
// MSLCPU_LINT, which turns `device`, `constant` and `threadgroup` into clang address spaces: a
// device pointer passed where a thread or threadgroup pointer is expected (and the like) is an
// error, as it is for Apple's compiler, where a normal msl-cpu build would accept it. Function
// constants are left undefined. Results are cached like kernel builds. Exit status 1 when any
// file fails.
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "compile.h"
#include "prepass.h"

namespace {

bool read_file(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

std::string dir_of(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// `path` with every `#include "x.h"` (x.h next to it) replaced by its text, once per file, with
// #line markers so that diagnostics name the header's lines.
bool assemble(const std::string &path, const std::string &label, std::set<std::string> &seen,
              std::string &out, std::string &error) {
  std::string text;
  if (!read_file(path, text)) {
    error = "cannot read " + path;
    return false;
  }
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    size_t p = line.find_first_not_of(" \t");
    if (p != std::string::npos && line.compare(p, 8, "#include") == 0) {
      size_t q1 = line.find('"', p), q2 = q1 == std::string::npos ? q1 : line.find('"', q1 + 1);
      if (q2 != std::string::npos) {
        std::string name = line.substr(q1 + 1, q2 - q1 - 1);
        if (seen.insert(name).second) {
          out += "#line 1 \"" + dir_of(label) + "/" + name + "\"\n";
          if (!assemble(dir_of(path) + "/" + name, dir_of(label) + "/" + name, seen, out, error)) return false;
          out += "#line " + std::to_string(number + 1) + " \"" + label + "\"\n";
        } else {
          out += "\n";
        }
        continue;
      }
    }
    out += line + "\n";
  }
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) files.push_back(argv[i]);
  if (files.empty()) {
    std::cerr << "usage: msl_cpu_lint file.metal...\n";
    return 2;
  }
  mslcpu::Toolchain toolchain;
  std::string error;
  if (!mslcpu::find_toolchain("", toolchain, error)) {
    std::cerr << error << "\n";
    return 2;
  }
  int failed = 0;
  for (const std::string &file : files) {
    std::string label = file, source;
    std::set<std::string> seen;
    if (!assemble(file, label, seen, source, error)) {
      std::cerr << error << "\n";
      ++failed;
      continue;
    }
    mslcpu::Program program;
    mslcpu::PrepassOptions options;
    options.lint = true;
    error = mslcpu::prepass(source, label, program, options);
    std::vector<std::string> defines = {"-DMSLCPU_LINT=1"};
    for (const mslcpu::FunctionConstant &fc : program.constants) {
      defines.push_back("-DMSLCPU_FC_" + std::to_string(fc.index) + "=0");
      defines.push_back("-DMSLCPU_FCD_" + std::to_string(fc.index) + "=0");
    }
    std::string none;
    if (error.empty()) {
      mslcpu::CompileJob job{&toolchain, mslcpu::default_cache_dir(), program.text, defines, label, true};
      std::string key;
      if (mslcpu::compile(job, none, key, error)) error.clear();
    }
    if (!error.empty()) {
      std::cerr << error << "\n";
      ++failed;
    } else {
      std::cout << "ok   " << file << std::endl;
    }
  }
  std::cout << "lint-kernels: " << files.size() - failed << " of " << files.size() << " files pass the address-space check\n";
  return failed ? 1 : 0;
}
