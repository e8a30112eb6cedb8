// msl_cpu_lint: the checks behind `make lint-kernels`: Metal's address spaces and the rules of the
// Metal Shading Language that clang, compiling kernels as C++, would not enforce by itself.
//
//   msl_cpu_lint [--assembled] file.metal...
//
// Each file is assembled as the TS core assembles a kernel family (local `#include "x.h"` inlined
// with #line markers; --assembled: the file is such a text already, written by
// shim/cpu/msl_cpu/lint_kernels.ts from the registry's own assembly), put through the msl-cpu
// pre-pass and compiled twice with -fsyntax-only and MSLCPU_LINT, which turns `device`, `constant`
// and `threadgroup` into clang address spaces and gives SIMD-group matrix functions Apple's
// signatures (non-const operands):
//
// 1. With clang's warnings on, as errors (msl-cpu's own builds have none): a kernel warning is
//    what Apple's compiler reports too, e.g. `#pragma once` left in the main file by assembly;
//    and a C++20 feature, which MSL 3.1 does not have.
//    Passing a device pointer where a thread or threadgroup one is expected, or a const matrix to
//    simdgroup_multiply_accumulate, is an error as it is for Apple's compiler.
// 2. Reading clang's AST (-ast-dump) of what the kernel files declare, for the rules of the MSL
//    specification (section 1.4, "Metal and C++", and the address-space chapter) that C++ allows:
//    - a variable with static storage duration (program scope, a static data member, a static
//      local) must be in the `constant` address space ("program scope variable must reside in
//      constant address space"); MLX spells static members `static constant constexpr`;
//    - no goto, new or delete, noexcept operator, thread_local, virtual functions, or a function
//      named main; no concepts (C++20, for which clang has no compatibility warning).
// Function constants are left undefined. Results are cached like kernel builds. Exit status 1
// when any file fails.
#include <fstream>
#include <iostream>
#include <regex>
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
              std::string &out, std::string &error, bool header = false) {
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
          if (!assemble(dir_of(path) + "/" + name, dir_of(label) + "/" + name, seen, out, error, true)) return false;
          out += "#line " + std::to_string(number + 1) + " \"" + label + "\"\n";
        } else {
          out += "\n";
        }
        continue;
      }
    }
    // A header's `#pragma once` is dropped, as assembleSource drops it (src/kernels.ts).
    if (header && line.find_first_not_of(" \t") != std::string::npos &&
        line.compare(line.find_first_not_of(" \t"), 12, "#pragma once") == 0)
      line.clear();
    out += line + "\n";
  }
  return true;
}

// Warnings of the first pass: clang's defaults (what Apple's compiler, a clang, reports too) and
// -Wall/-Wextra, as errors, and C++20 features (MSL 3.1 is not C++20; msl-cpu compiles kernels as
// C++20, so nothing else would notice them). Left out: unused parameters (a kernel's signature is fixed by its
// bindings; Metal does not warn about them) and comparisons of signed and unsigned integers
// (MSL's built-in indices are unsigned; Metal does not warn either).
const std::vector<std::string> kWarningFlags = {
    "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-Wno-sign-compare", "-Wpre-c++20-compat-pedantic",
    "-Wc++20-compat",
};

// ───────────────────────────── the AST rules ─────────────────────────────

// One line of clang's text AST dump, with the source position it starts at.
struct Node {
  int depth = 0;
  std::string kind, addr, rest, file;
  int line = 0, col = 0;
};

// Follows the dumper's location shorthand (a file only where it changes, `line:` where only the
// line does, `col:` otherwise) so every node knows the file and line it begins at.
class LocationTracker {
 public:
  // Reads the location at s[i] (advancing i); true when it was a real location.
  bool read(const std::string &s, size_t &i, std::string &file, int &line, int &col) {
    static const std::string invalid = "<invalid sloc>";
    if (s.compare(i, invalid.size(), invalid) == 0) {
      i += invalid.size();
      return false;
    }
    if (s.compare(i, 5, "line:") == 0) {
      i += 5;
      line_ = number(s, i);
      ++i;
      col_ = number(s, i);
    } else if (s.compare(i, 4, "col:") == 0) {
      i += 4;
      col_ = number(s, i);
    } else {
      // "file:L:C": the file ends at the first ":digits:digits" (names may hold spaces).
      size_t j = i;
      for (; j < s.size(); ++j) {
        if (s[j] != ':' || j + 1 >= s.size() || !isdigit((unsigned char)s[j + 1])) continue;
        size_t k = j + 1;
        while (k < s.size() && isdigit((unsigned char)s[k])) ++k;
        if (k < s.size() && s[k] == ':' && k + 1 < s.size() && isdigit((unsigned char)s[k + 1])) break;
      }
      if (j >= s.size()) return false;
      file_ = s.substr(i, j - i);
      i = j + 1;
      line_ = number(s, i);
      ++i;
      col_ = number(s, i);
    }
    file = file_;
    line = line_;
    col = col_;
    return true;
  }

  // Parses the range `<begin[, end]>` and the location after it, if any, from `rest`.
  void node(Node &n) {
    const std::string &s = n.rest;
    size_t i = 0;
    if (i >= s.size() || s[i] != '<') return;
    ++i;
    bool have = read(s, i, n.file, n.line, n.col);
    std::string f;
    int l, c;
    if (s.compare(i, 2, ", ") == 0) {
      i += 2;
      read(s, i, f, l, c);
    }
    if (i < s.size() && s[i] == '>') ++i;
    if (i + 1 < s.size() && s[i] == ' ') {
      size_t j = i + 1;
      if (s.compare(j, 5, "line:") == 0 || s.compare(j, 4, "col:") == 0 || s.compare(j, 8, "kernels/") == 0 ||
          s[j] == '/')
        read(s, j, f, l, c);
    }
    if (!have) n.file.clear();
  }

 private:
  static int number(const std::string &s, size_t &i) {
    int v = 0;
    while (i < s.size() && isdigit((unsigned char)s[i])) v = v * 10 + (s[i++] - '0');
    return v;
  }
  std::string file_;
  int line_ = 0, col_ = 0;
};

bool parse_node(const std::string &text, Node &n) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '|' || text[i] == '`' || text[i] == '-')) ++i;
  if (i >= text.size() || !isalpha((unsigned char)text[i])) return false;
  n.depth = int(i / 2);
  size_t e = text.find(' ', i);
  n.kind = text.substr(i, e == std::string::npos ? std::string::npos : e - i);
  n.addr.clear();
  n.rest.clear();
  if (e == std::string::npos) return true;
  size_t r = e + 1;
  if (text.compare(r, 2, "0x") == 0) {
    size_t a = text.find(' ', r);
    n.addr = text.substr(r, a == std::string::npos ? std::string::npos : a - r);
    r = a == std::string::npos ? text.size() : a + 1;
  }
  n.rest = text.substr(r);
  return true;
}

bool has_word(const std::string &s, const std::string &word) {
  for (size_t p = s.find(word); p != std::string::npos; p = s.find(word, p + 1)) {
    bool left = p == 0 || s[p - 1] == ' ';
    bool right = p + word.size() == s.size() || s[p + word.size()] == ' ';
    if (left && right) return true;
  }
  return false;
}

// The declared name: the last word before the first quoted type.
std::string decl_name(const std::string &rest) {
  size_t q = rest.find('\'');
  if (q == std::string::npos) return "";
  size_t e = rest.find_last_not_of(' ', q - 1);
  if (e == std::string::npos) return "";
  size_t b = rest.find_last_of(' ', e);
  return rest.substr(b == std::string::npos ? 0 : b + 1, e - (b == std::string::npos ? 0 : b + 1) + 1);
}

// Whether a node in `file` belongs to the kernel sources (not msl-cpu's header or generated code).
bool kernel_file(const std::string &file) {
  if (file.empty() || file.find("(msl-cpu generated)") != std::string::npos) return false;
  size_t slash = file.rfind('/');
  std::string base = file.substr(slash == std::string::npos ? 0 : slash + 1);
  return !(base.rfind("msl_cpu-", 0) == 0 && base.size() > 2 && base.compare(base.size() - 2, 2, ".h") == 0);
}

// The MSL rules over an AST dump; "" when none is broken, else one diagnostic per line.
std::string ast_rules(const std::string &dump) {
  std::istringstream in(dump);
  std::string text;
  LocationTracker where;
  std::vector<std::string> scopes;  // node kinds of the current node's ancestors
  std::set<std::string> reported;
  std::string out;
  int count = 0;
  auto report = [&](const Node &n, const std::string &message) {
    std::string at = n.file + ":" + std::to_string(n.line) + ":" + std::to_string(n.col);
    if (!reported.insert(at + message).second) return;
    if (++count <= 40) out += at + ": error: " + message + "\n";
  };
  Node n;
  while (std::getline(in, text)) {
    if (!parse_node(text, n)) continue;
    where.node(n);
    if (int(scopes.size()) > n.depth) scopes.resize(n.depth);
    while (int(scopes.size()) < n.depth) scopes.push_back("");
    bool user = kernel_file(n.file);
    if (user) {
      if (n.kind == "VarDecl") {
        bool program_scope = true;
        for (const std::string &s : scopes)
          if (s != "TranslationUnitDecl" && s != "NamespaceDecl" && s != "LinkageSpecDecl") program_scope = false;
        bool is_static = has_word(n.rest, "static");
        if ((program_scope || is_static) && n.rest.find("address_space(2)") == std::string::npos)
          report(n, "'" + decl_name(n.rest) + "' has static storage duration but is not in the constant address space " +
                        "(Metal: program-scope and static variables are `constant`; write `constant constexpr`, or " +
                        "`static constant constexpr` for a member)");
        if (has_word(n.rest, "tls") || has_word(n.rest, "tls_dynamic"))
          report(n, "thread_local is not supported in Metal");
      } else if (n.kind == "GotoStmt" || n.kind == "IndirectGotoStmt") {
        report(n, "goto is not supported in Metal");
      } else if (n.kind == "CXXNewExpr" || n.kind == "CXXDeleteExpr") {
        report(n, "new and delete are not supported in Metal");
      } else if (n.kind == "CXXNoexceptExpr") {
        report(n, "the noexcept operator is not supported in Metal");
      } else if ((n.kind == "CXXMethodDecl" || n.kind == "CXXDestructorDecl") && has_word(n.rest, "virtual")) {
        report(n, "virtual functions are not supported in Metal");
      } else if (n.kind == "ConceptDecl" || n.kind == "RequiresExpr") {
        // clang has no pre-C++20 compatibility warning for these.
        report(n, "concepts and requires-expressions are C++20, which MSL 3.1 is not");
      } else if (n.kind == "FunctionDecl" && decl_name(n.rest) == "main") {
        report(n, "a Metal function cannot be named main");
      }
    }
    scopes.push_back(n.kind);
  }
  if (count > 40) out += "... (" + std::to_string(count - 40) + " more)\n";
  return out;
}

mslcpu::CompileJob syntax_job(const mslcpu::Toolchain &toolchain, std::string_view text,
                              const std::vector<std::string> &defines, const std::string &label) {
  mslcpu::CompileJob job;
  job.toolchain = &toolchain;
  job.cache_dir = mslcpu::default_cache_dir();
  job.text = text;
  job.defines = defines;
  job.label = label;
  job.syntax_only = true;
  return job;
}

}  // namespace

int main(int argc, char **argv) {
  std::vector<std::string> files;
  bool assembled = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--assembled") assembled = true;
    else files.push_back(argv[i]);
  }
  if (files.empty()) {
    std::cerr << "usage: msl_cpu_lint [--assembled] file.metal...\n";
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
    if (!(assembled ? read_file(file, source) : assemble(file, label, seen, source, error))) {
      std::cerr << (assembled ? "cannot read " + file : error) << "\n";
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
      std::string key;
      mslcpu::CompileJob job = syntax_job(toolchain, program.text, defines, label);
      job.flags = kWarningFlags;
      job.warnings = true;
      if (mslcpu::compile(job, none, key, error)) error.clear();
    }
    if (error.empty()) {
      std::string key;
      mslcpu::CompileJob job = syntax_job(toolchain, program.text, defines, label);
      job.flags = {"-Xclang", "-ast-dump"};
      job.check = [&](const std::string &dump) {
        std::string broken = ast_rules(dump);
        return broken.empty() ? broken : "msl-cpu lint: '" + label + "' breaks rules of the Metal Shading Language:\n" + broken;
      };
      job.check_id = "msl-rules-2";
      if (mslcpu::compile(job, none, key, error)) error.clear();
    }
    if (!error.empty()) {
      std::cerr << error << "\n";
      ++failed;
    } else {
      std::cout << "ok   " << file << std::endl;
    }
  }
  std::cout << "lint-kernels: " << files.size() - failed << " of " << files.size()
            << " files pass (address spaces, warnings as errors, MSL rules)\n";
  return failed ? 1 : 0;
}
