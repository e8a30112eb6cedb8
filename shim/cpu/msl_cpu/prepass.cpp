// The msl-cpu pre-pass. A tokenizer (comments and literals skipped, offsets kept) feeds a walk over
// namespace- and class-scope statements; function bodies are jumped over with bracket matching.
// Every edit either blanks text (spaces, newlines kept) or replaces it followed by the newlines it
// covered, so each MSL line stays on its line and compiler diagnostics point at the source.
#include "prepass.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#define MSLCPU_ABI_ONLY
#include "../msl_cpu.h"

namespace mslcpu {
namespace {

struct Tok {
  enum Kind : uint8_t { Ident, Number, String, Char, Punct, Directive } kind;
  uint32_t b, e;
};

bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool ident_char(char c) { return ident_start(c) || digit(c); }

// Tokens of s[b, e). Outside directives, a '#' opening a line starts a Directive token that runs to
// the end of the logical line.
std::vector<Tok> tokenize(std::string_view s, size_t b, size_t e, bool directives) {
  std::vector<Tok> out;
  bool line_start = true;
  size_t i = b;
  auto skip_block_comment = [&] {
    size_t j = s.find("*/", i + 2);
    i = (j == std::string_view::npos || j + 2 > e) ? e : j + 2;
  };
  while (i < e) {
    char c = s[i];
    char n = i + 1 < e ? s[i + 1] : '\0';
    if (c == '\n') { line_start = true; ++i; continue; }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') { ++i; continue; }
    if (c == '\\' && (n == '\n' || n == '\r')) { i += 2; continue; }
    if (c == '/' && n == '/') { while (i < e && s[i] != '\n') ++i; continue; }
    if (c == '/' && n == '*') { skip_block_comment(); continue; }
    size_t start = i;
    if (c == '#' && line_start && directives) {
      while (i < e && s[i] != '\n') {
        if (s[i] == '\\' && i + 1 < e && s[i + 1] == '\n') i += 2;
        else if (s[i] == '/' && i + 1 < e && s[i + 1] == '*') skip_block_comment();
        else ++i;
      }
      out.push_back({Tok::Directive, uint32_t(start), uint32_t(i)});
      continue;
    }
    line_start = false;
    auto literal = [&] {
      char q = s[i++];
      while (i < e && s[i] != q && s[i] != '\n') i += (s[i] == '\\') ? 2 : 1;
      if (i < e && s[i] == q) ++i;
      return q == '"' ? Tok::String : Tok::Char;
    };
    Tok::Kind kind;
    if (ident_start(c)) {
      while (i < e && ident_char(s[i])) ++i;
      std::string_view w = s.substr(start, i - start);
      bool prefix = w == "u8" || w == "u" || w == "U" || w == "L";
      kind = (prefix && i < e && (s[i] == '"' || s[i] == '\'')) ? literal() : Tok::Ident;
    } else if (digit(c) || (c == '.' && digit(n))) {
      ++i;
      while (i < e && (ident_char(s[i]) || s[i] == '.' || s[i] == '\'' ||
                       ((s[i] == '+' || s[i] == '-') && ((s[i - 1] | 0x20) == 'e' ||
                                                         (s[i - 1] | 0x20) == 'p'))))
        ++i;
      kind = Tok::Number;
    } else if (c == '"' || c == '\'') {
      kind = literal();
    } else {
      i += ((c == ':' && n == ':') || (c == '-' && n == '>')) ? 2 : 1;
      kind = Tok::Punct;
    }
    out.push_back({kind, uint32_t(start), uint32_t(i)});
  }
  return out;
}

struct Edit {
  uint32_t b, e;
  std::string text;
  bool blank;  // true: spaces over the range; false: `text`, then the range's newlines
};

const char *builtin_expr(std::string_view a) {
  static const std::pair<const char *, const char *> table[] = {
      {"thread_position_in_grid", "t.tpig"},
      {"thread_position_in_threadgroup", "t.tpitg"},
      {"threadgroup_position_in_grid", "t.tgpig"},
      {"threads_per_threadgroup", "t.tptg"},
      {"threadgroups_per_grid", "t.tgpg"},
      {"threads_per_grid", "t.tpg"},
      {"dispatch_threads_per_threadgroup", "t.dtptg"},
      {"thread_index_in_threadgroup", "t.tiitg"},
      {"thread_index_in_simdgroup", "t.tiitg % 32u"},
      {"simdgroup_index_in_threadgroup", "t.tiitg / 32u"},
      {"threads_per_simdgroup", "32u"},
      {"thread_execution_width", "32u"},
      {"simdgroups_per_threadgroup", "(t.ntg + 31u) / 32u"},
      {"dispatch_simdgroups_per_threadgroup", "(t.dtptg.x * t.dtptg.y * t.dtptg.z + 31u) / 32u"},
      {"thread_index_in_quadgroup", "t.tiitg % 4u"},
      {"quadgroup_index_in_threadgroup", "t.tiitg / 4u"},
      {"quadgroups_per_threadgroup", "(t.ntg + 3u) / 4u"},
      {"dispatch_quadgroups_per_threadgroup", "(t.dtptg.x * t.dtptg.y * t.dtptg.z + 3u) / 4u"},
      {"grid_size", "t.tpg"},
      {"grid_origin", "uint3{0u, 0u, 0u}"},
  };
  for (auto &[name, expr] : table)
    if (a == name) return expr;
  return nullptr;
}

// Names whose use means the kernel needs the fiber runtime (barriers, SIMD/quad collectives).
bool needs_fibers_name(std::string_view n) {
  if (n == "threadgroup_barrier" || n.starts_with("simdgroup_")) return true;
  if (!n.starts_with("simd_") && !n.starts_with("quad_")) return false;
  static const std::unordered_set<std::string_view> ops = {
      "sum", "product", "min", "max", "and", "or", "xor", "broadcast", "broadcast_first",
      "shuffle", "shuffle_up", "shuffle_down", "shuffle_xor", "shuffle_rotate_up",
      "shuffle_rotate_down", "shuffle_and_fill_up", "shuffle_and_fill_down",
      "prefix_inclusive_sum", "prefix_exclusive_sum", "prefix_inclusive_product",
      "prefix_exclusive_product", "all", "any", "ballot", "vote", "active_threads_mask",
      "is_first", "is_helper_thread"};
  return ops.count(n.substr(5)) > 0;
}

bool vector_type_name(std::string_view n) {
  static const std::unordered_set<std::string_view> bases = {
      "float", "half", "bfloat", "int", "uint", "short", "ushort", "char", "uchar", "long",
      "ulong", "bool"};
  if (n.starts_with("packed_")) n.remove_prefix(7);
  if (n.size() < 2) return false;
  char last = n.back();
  return last >= '2' && last <= '4' && bases.count(n.substr(0, n.size() - 1)) > 0;
}

struct Def {
  std::vector<std::string_view> idents;  // identifiers its body (and parameters) mention
  std::vector<uint32_t> tg_sites;        // block-scope threadgroup variables declared in it
};

// A function body: tokens (lb, rb) and the Def it belongs to.
struct Body {
  size_t lb, rb, def;
};

struct KernelTemplate {
  std::string prefix;  // enclosing namespaces, "::a::b" or ""
  std::vector<KernelParam> params;
  size_t def;          // index into defs_ of its own body
  uint32_t max_threads;
};

class Prepass {
 public:
  Prepass(std::string_view src, const std::string &label, PrepassOptions options)
      : s_(src), label_(label), options_(options) {}

  std::string run(Program &out) {
    t_ = tokenize(s_, 0, s_.size(), true);
    match_brackets();
    for (size_t i = 0; i < t_.size() && err_.empty(); ++i) {
      if (t_[i].kind == Tok::Directive) directive(t_[i]);
      else if (is_attr(i)) blank(t_[i].b, t_[match_[i]].e);
    }
    rewrite_vector_constructors(t_);
    rewrite_type_constructors();
    rewrite_half_literals(t_);
    if (err_.empty()) scope(0, t_.size(), "", false);
    for (const Body &b : bodies_) threadgroup_variables(b);
    if (options_.sanitize) checked_pointers();
    if (!err_.empty()) return err_;
    for (size_t k = 0; k < kernels_.size(); ++k)
      kernels_[k].flags = flags_of(kernel_defs_[k], kernels_[k].tg_sites);
    out.text = "#line 1 \"" + escaped(label_) + "\"\n" + apply_edits() +
               (options_.cuda ? generated_cuda() : generated());
    out.kernels = std::move(kernels_);
    out.constants = std::move(constants_);
    return "";
  }

 private:
  std::string_view s_;
  const std::string &label_;
  PrepassOptions options_;
  std::vector<Tok> t_;
  std::vector<int64_t> match_;
  std::vector<Edit> edits_;
  std::string err_;
  std::vector<Def> defs_;
  std::unordered_map<std::string_view, std::vector<size_t>> defs_by_name_;
  std::unordered_map<std::string_view, KernelTemplate> templates_;
  std::vector<Kernel> kernels_;
  std::vector<size_t> kernel_defs_;
  std::vector<FunctionConstant> constants_;
  std::vector<Body> bodies_;
  uint32_t tg_sites_ = 0;

  // ── helpers ──
  std::string_view text(const Tok &k) const { return s_.substr(k.b, k.e - k.b); }
  std::string_view text(size_t i) const { return i < t_.size() ? text(t_[i]) : std::string_view(); }
  bool punct(size_t i, char c) const {
    return i < t_.size() && t_[i].kind == Tok::Punct && t_[i].e - t_[i].b == 1 && s_[t_[i].b] == c;
  }
  bool word(size_t i, std::string_view w) const {
    return i < t_.size() && t_[i].kind == Tok::Ident && text(i) == w;
  }
  bool is_attr(size_t i) const { return punct(i, '[') && punct(i + 1, '[') && match_[i] > 0; }
  // The attribute's first name ("buffer" in [[buffer(0)]]), or "".
  std::string_view attr_name(size_t i) const {
    return t_[i + 2].kind == Tok::Ident ? text(i + 2) : std::string_view();
  }
  // The integer argument of [[name(n)]], or -1.
  int64_t attr_int(size_t i) const {
    if (!punct(i + 3, '(') || t_[i + 4].kind != Tok::Number) return -1;
    return std::strtoll(std::string(text(i + 4)).c_str(), nullptr, 0);
  }

  static std::string escaped(std::string_view v) {
    std::string r;
    for (char c : v) {
      if (c == '"' || c == '\\') r += '\\';
      r += (c == '\n') ? ' ' : c;
    }
    return r;
  }
  std::string flat(uint32_t b, uint32_t e) const {
    std::string r(s_.substr(b, e - b));
    std::replace(r.begin(), r.end(), '\n', ' ');
    return r;
  }

  // Records the first error, located as the compiler would: `#line N "file"` markers (which the
  // TS core writes where it inlines headers) renumber the lines that follow them.
  void fail(uint32_t offset, const std::string &msg) {
    if (!err_.empty()) return;
    std::string file = label_;
    size_t line = 1, col = 1;
    for (uint32_t i = 0; i < offset && i < s_.size(); ++i) {
      if (s_[i] != '\n') { ++col; continue; }
      ++line;
      col = 1;
      auto sub = tokenize(s_, i + 1, std::min(s_.find('\n', i + 1), s_.size()), false);
      size_t k = sub.size() > 1 && text(sub[1]) == "line" ? 2 : 1;
      if (sub.size() > k && text(sub[0]) == "#" && sub[k].kind == Tok::Number) {
        line = size_t(std::strtoul(std::string(text(sub[k])).c_str(), nullptr, 10)) - 1;
        if (sub.size() > k + 1 && sub[k + 1].kind == Tok::String)
          file = std::string(text(sub[k + 1]).substr(1, text(sub[k + 1]).size() - 2));
      }
    }
    err_ = file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": error: " + msg;
  }

  void blank(uint32_t b, uint32_t e) { edits_.push_back({b, e, {}, true}); }
  void replace(uint32_t b, uint32_t e, std::string text) {
    edits_.push_back({b, e, std::move(text), false});
  }

  void match_brackets() {
    match_.assign(t_.size(), -1);
    std::vector<size_t> stack;
    for (size_t i = 0; i < t_.size(); ++i) {
      if (punct(i, '(') || punct(i, '[') || punct(i, '{')) {
        stack.push_back(i);
      } else if (punct(i, ')') || punct(i, ']') || punct(i, '}')) {
        char open = s_[t_[i].b] == ')' ? '(' : s_[t_[i].b] == ']' ? '[' : '{';
        if (!stack.empty() && punct(stack.back(), open)) {
          match_[stack.back()] = int64_t(i);
          match_[i] = int64_t(stack.back());
          stack.pop_back();
        }
      }
    }
  }

  // Index just past the '>' that closes the '<' at `i` (parentheses and brackets nest).
  size_t skip_angles(size_t i, size_t end) const {
    int depth = 0;
    for (; i < end; ++i) {
      if ((punct(i, '(') || punct(i, '[') || punct(i, '{')) && match_[i] > 0) i = size_t(match_[i]);
      else if (punct(i, '<')) ++depth;
      else if (punct(i, '>') && --depth == 0) return i + 1;
    }
    return end;
  }

  // ── directives: metal_stdlib includes go; macro bodies join the call graph ──
  void directive(const Tok &d) {
    auto sub = tokenize(s_, d.b + 1, d.e, false);
    if (sub.empty()) return;
    auto w = [&](size_t i) { return i < sub.size() ? text(sub[i]) : std::string_view(); };
    if (w(0) == "include" && w(1) == "<" && w(2).starts_with("metal_")) {
      blank(d.b, d.e);
    } else if (w(0) == "define" && sub.size() > 1 && sub[1].kind == Tok::Ident) {
      Def def;
      for (size_t i = 2; i < sub.size(); ++i)
        if (sub[i].kind == Tok::Ident) def.idents.push_back(text(sub[i]));
      add_def(text(sub[1]), std::move(def));
      rewrite_vector_constructors(sub);
      rewrite_half_literals(sub);
    }
  }

  void add_def(std::string_view name, Def def) {
    defs_by_name_[name].push_back(defs_.size());
    defs_.push_back(std::move(def));
  }

  // float4(a, b) -> __mslcpu_mk<::metal::float4>(a, b): clang's functional cast to a vector
  // takes one argument and bit-casts between vector types, where Metal converts lane by lane.
  void rewrite_vector_constructors(const std::vector<Tok> &ts) {
    auto is = [&](size_t i, char c) {
      return i < ts.size() && ts[i].kind == Tok::Punct && ts[i].e - ts[i].b == 1 && s_[ts[i].b] == c;
    };
    for (size_t i = 0; i < ts.size(); ++i) {
      if (ts[i].kind != Tok::Ident) continue;
      std::string_view n = text(ts[i]);
      bool member = i > 0 && (is(i - 1, '.') || text(ts[i - 1]) == "->");
      if (member) continue;
      if (vector_type_name(n) && is(i + 1, '(')) {
        replace(ts[i].b, ts[i].e, "__mslcpu_mk<::metal::" + std::string(n) + ">");
      } else if (n == "vec" && is(i + 1, '<')) {
        int depth = 0;
        size_t j = i + 1;
        for (; j < ts.size(); ++j) {
          if (is(j, '<')) ++depth;
          else if (is(j, '>') && --depth == 0) break;
        }
        if (j < ts.size() && is(j + 1, '('))
          replace(ts[i].b, ts[j].e, "__mslcpu_mk<::metal::" + flat(ts[i].b, ts[j].e) + ">");
      }
    }
  }

  // T(a, b, c, d) -> __mslcpu_mk<T>(a, b, c, d) where T is a template type parameter (within its
  // template) or a type alias (within its scope): T may be a vector type. Other types it names
  // are constructed as before.
  void rewrite_type_constructors() {
    struct Scoped {
      std::string_view name;
      size_t b, e;  // tokens where the name means the type
    };
    std::vector<Scoped> names;
    for (size_t i = 0; i + 1 < t_.size(); ++i) {
      if (word(i, "template") && punct(i + 1, '<')) {
        size_t close = skip_angles(i + 1, t_.size());
        size_t end = declaration_end(close);
        for (size_t q = i + 2; q + 1 < close; ++q) {
          if (!word(q, "typename") && !word(q, "class")) continue;
          size_t r = q + 1;
          while (punct(r, '.')) ++r;  // a pack: typename... Ts
          if (r < close && t_[r].kind == Tok::Ident) names.push_back({text(r), close, end});
        }
      } else if (word(i, "using") && i + 2 < t_.size() && t_[i + 1].kind == Tok::Ident && punct(i + 2, '=')) {
        names.push_back({text(i + 1), i + 3, block_end(i)});
      } else if (word(i, "typedef")) {
        size_t semi = i + 1, name = 0;
        bool function = false;
        for (; semi < t_.size() && !punct(semi, ';'); ++semi) {
          if ((punct(semi, '(') || punct(semi, '[') || punct(semi, '{')) && match_[semi] > 0) {
            function |= punct(semi, '(');
            semi = size_t(match_[semi]);
          } else if (t_[semi].kind == Tok::Ident) {
            name = semi;
          }
        }
        if (!function && name) names.push_back({text(name), semi, block_end(i)});
      }
    }
    if (names.empty()) return;
    for (size_t j = 1; j + 1 < t_.size(); ++j) {
      if (t_[j].kind != Tok::Ident || !punct(j + 1, '(') || punct(j - 1, '.') || text(j - 1) == "->" ||
          text(j - 1) == "::" || vector_type_name(text(j)))
        continue;
      for (const Scoped &n : names) {
        if (n.name == text(j) && n.b <= j && j < n.e) {
          replace(t_[j].b, t_[j].e, "__mslcpu_mk<" + std::string(n.name) + ">");
          break;
        }
      }
    }
  }

  // The token after the declaration that starts at `i`: past its body or at its ';'.
  size_t declaration_end(size_t i) const {
    for (; i < t_.size(); ++i) {
      if (punct(i, ';')) return i;
      if (punct(i, '{') && match_[i] > 0) return size_t(match_[i]) + 1;
      if ((punct(i, '(') || punct(i, '[')) && match_[i] > 0) i = size_t(match_[i]);
    }
    return t_.size();
  }

  // The '}' that closes the innermost block around token `i` (or the end of the source).
  size_t block_end(size_t i) const {
    for (size_t k = i; k-- > 0;)
      if (punct(k, '{') && match_[k] > int64_t(i)) return size_t(match_[k]);
    return t_.size();
  }

  // 1.5h -> 1.5f16: MSL's half literal suffix is clang's _Float16 suffix in C++.
  void rewrite_half_literals(const std::vector<Tok> &ts) {
    for (const Tok &k : ts) {
      std::string_view n = text(k);
      if (k.kind == Tok::Number && (n.back() == 'h' || n.back() == 'H') && !n.starts_with("0x") &&
          !n.starts_with("0X"))
        replace(k.e - 1, k.e, "f16");
    }
  }

  // ── statements at namespace or class scope ──
  void scope(size_t from, size_t to, const std::string &prefix, bool in_class) {
    size_t stmt = from;
    for (size_t i = from; i < to && err_.empty(); ++i) {
      if (t_[i].kind == Tok::Directive) {
        if (stmt == i) stmt = i + 1;
        continue;
      }
      if ((punct(i, '(') || punct(i, '[')) && match_[i] > 0) {
        i = size_t(match_[i]);
      } else if (punct(i, ';')) {
        if (!in_class) statement(stmt, i);
        stmt = i + 1;
      } else if (punct(i, '{') && match_[i] > 0) {
        size_t close = size_t(match_[i]);
        if (brace(stmt, i, close, prefix, in_class)) stmt = close + 1;
        i = close;
      }
    }
  }

  // A '{' ending the statement head [stmt, lb). Returns true when the brace ends the statement.
  bool brace(size_t stmt, size_t lb, size_t rb, const std::string &prefix, bool in_class) {
    size_t p = stmt;
    bool templated = false;
    while (word(p, "template") && punct(p + 1, '<')) {
      templated = true;
      p = skip_angles(p + 1, lb);
    }
    if (word(p, "namespace") || (word(p, "inline") && word(p + 1, "namespace"))) {
      std::string name = t_[lb - 1].kind == Tok::Ident && !word(lb - 1, "namespace")
                             ? flat(t_[p].e, t_[lb - 1].e) : std::string();
      name.erase(0, name.find_first_not_of(" \t"));
      if (name.starts_with("namespace")) name.erase(0, 9);
      name.erase(0, name.find_first_not_of(" \t"));
      scope(lb + 1, rb, name.empty() ? prefix : prefix + "::" + name, false);
      return true;
    }
    if (word(p, "extern") && p + 1 < lb && t_[p + 1].kind == Tok::String) {
      scope(lb + 1, rb, prefix, in_class);
      return true;
    }
    // the parameter list: the first top-level parenthesis group that follows a name
    size_t params = lb;
    bool keyword_type = false;
    for (size_t q = p; q < lb; ++q) {
      if (word(q, "struct") || word(q, "class") || word(q, "union") || word(q, "enum")) {
        keyword_type = true;
        break;
      }
      if (is_attr(q)) { q = size_t(match_[q]); continue; }
      if (punct(q, '(') && match_[q] > 0) {
        bool named = q > p && (punct(q - 1, '>') || (t_[q - 1].kind == Tok::Ident &&
                     !word(q - 1, "decltype") && !word(q - 1, "alignas") &&
                     !word(q - 1, "__attribute__") && !word(q - 1, "sizeof") &&
                     !word(q - 1, "alignof") && !word(q - 1, "noexcept")));
        if (named) { params = q; break; }
        q = size_t(match_[q]);
      }
    }
    if (keyword_type) {
      bool is_enum = false;
      for (size_t q = p; q < lb; ++q) is_enum |= word(q, "enum");
      if (!is_enum) {
        class_def(p, lb, rb);
        scope(lb + 1, rb, prefix, true);
      }
      return false;  // `struct S {...} s;` continues to the ';'
    }
    if (params == lb) return false;  // an initializer or lambda: the statement goes on
    function(stmt, p, params, lb, rb, prefix, templated, in_class);
    return true;
  }

  // A class's name reaches everything its body mentions: a kernel that uses the class may
  // call any member (operators and constructors included) without naming it.
  void class_def(size_t head, size_t lb, size_t rb) {
    size_t name = lb;
    for (size_t q = head; q + 1 < lb && name == lb; ++q)
      if ((word(q, "struct") || word(q, "class") || word(q, "union")) && t_[q + 1].kind == Tok::Ident)
        name = q + 1;
    if (name == lb) return;
    Def def;
    for (size_t i = lb; i <= rb; ++i)
      if (t_[i].kind == Tok::Ident) def.idents.push_back(text(i));
    add_def(text(name), std::move(def));
  }

  void function(size_t stmt, size_t head, size_t params, size_t lb, size_t rb,
                const std::string &prefix, bool templated, bool in_class) {
    size_t n = params - 1;
    if (punct(n, '>')) {  // foo<T>(...): a specialisation; its name precedes the '<'
      int depth = 0;
      for (; n > head; --n) {
        if (punct(n, '>')) ++depth;
        else if (punct(n, '<') && --depth == 0) break;
      }
      --n;
    }
    if (t_[n].kind != Tok::Ident) return;
    Def def;
    for (size_t i = n; i <= rb; ++i)
      if (t_[i].kind == Tok::Ident) def.idents.push_back(text(i));
    add_def(text(n), std::move(def));
    size_t def_index = defs_.size() - 1;
    bodies_.push_back({lb, rb, def_index});

    bool is_kernel = false;
    uint32_t max_threads = 1024;
    for (size_t q = stmt; q < params; ++q) {
      if (word(q, "kernel")) is_kernel = true;
      if (is_attr(q) && attr_name(q) == "kernel") is_kernel = true;
      if (is_attr(q) && attr_name(q) == "max_total_threads_per_threadgroup") {
        int64_t m = attr_int(q);
        if (m < 1 || m > 1024)
          return fail(t_[q].b, "[[max_total_threads_per_threadgroup(n)]] needs n in 1..1024");
        max_threads = uint32_t(m);
      }
    }
    if (!is_kernel || in_class) return;
    std::vector<KernelParam> ps;
    if (!kernel_params(params, text(n), ps)) return;
    if (templated) {
      if (n + 1 < params) return;  // an explicit specialisation: reached through its template
      templates_[text(n)] = {prefix, std::move(ps), def_index, max_threads};
    } else {
      add_kernel(t_[n].b, std::string(text(n)), prefix + "::" + std::string(text(n)), ps,
                 def_index, max_threads);
    }
  }

  bool kernel_params(size_t open, std::string_view kname, std::vector<KernelParam> &out) {
    size_t close = size_t(match_[open]);
    size_t start = open + 1;
    int angle = 0;
    for (size_t i = open + 1; i <= close && err_.empty(); ++i) {
      if (i < close && (punct(i, '(') || punct(i, '[') || punct(i, '{')) && match_[i] > 0 &&
          !is_attr(i)) {
        i = size_t(match_[i]);
        continue;
      }
      if (punct(i, '<')) ++angle;
      if (punct(i, '>')) --angle;
      if (i < close && is_attr(i)) { i = size_t(match_[i]); continue; }
      if (i == close || (punct(i, ',') && angle == 0)) {
        if (i > start) kernel_param(start, i, kname, out);
        start = i + 1;
      }
    }
    return err_.empty();
  }

  void kernel_param(size_t b, size_t e, std::string_view kname, std::vector<KernelParam> &out) {
    size_t attr = e;
    for (size_t i = b; i < e; ++i)
      if (is_attr(i)) { attr = i; break; }
    std::string where = "parameter " + std::to_string(out.size() + 1) + " of kernel '" +
                        std::string(kname) + "'";
    if (attr == e) {
      fail(t_[b].b, where + " has no attribute; msl-cpu needs [[buffer(n)]], "
                            "[[threadgroup(n)]] or a position attribute on every parameter");
      return;
    }
    std::string_view a = attr_name(attr);
    if (a == "buffer" || a == "threadgroup") {
      int64_t idx = attr_int(attr);
      if (idx < 0 || idx >= MSLCPU_MAX_BINDINGS) {
        fail(t_[attr].b, where + ": [[" + std::string(a) + "(n)]] needs n in 0..30");
        return;
      }
      std::string constant;  // [[buffer(n), function_constant(name)]]
      for (size_t q = attr; q + 2 < size_t(match_[attr]); ++q)
        if (word(q, "function_constant") && punct(q + 1, '(') && t_[q + 2].kind == Tok::Ident)
          constant = std::string(text(q + 2));
      out.push_back({a == "buffer" ? KernelParam::Buffer : KernelParam::Threadgroup,
                     uint32_t(idx), {}, constant});
    } else if (const char *expr = builtin_expr(a)) {
      out.push_back({KernelParam::Builtin, 0, expr, {}});
    } else {
      fail(t_[attr].b, where + ": attribute [[" + std::string(a) +
                           "]] is not supported by msl-cpu");
    }
  }

  void add_kernel(uint32_t at, std::string host, std::string callee,
                  const std::vector<KernelParam> &ps, size_t def, uint32_t max_threads) {
    for (auto &k : kernels_)
      if (k.host_name == host) return fail(at, "two kernels named '" + host + "'");
    kernels_.push_back({std::move(host), std::move(callee), ps, 0, max_threads, {}});
    kernel_defs_.push_back(def);
  }

  // A statement ending in ';' at namespace scope: an explicit instantiation, a function constant,
  // or anything else (left alone).
  void statement(size_t b, size_t semi) {
    if (b >= semi) return;
    if (word(b, "template") && !punct(b + 1, '<')) return instantiation(b, semi);
    for (size_t i = b; i < semi; ++i)
      if (is_attr(i) && attr_name(i) == "function_constant") return function_constant(b, semi, i);
  }

  void instantiation(size_t b, size_t semi) {
    std::string host;
    for (size_t i = b; i < semi; ++i) {
      if (is_attr(i) && attr_name(i) == "host_name") {
        for (size_t j = i; j < size_t(match_[i]); ++j)
          if (t_[j].kind == Tok::String) host = std::string(text(j).substr(1, text(j).size() - 2));
      }
    }
    blank(t_[b].b, t_[semi].e);
    if (host.empty()) return;  // no host name: nothing a pipeline could ask for
    for (size_t i = b; i < semi; ++i) {
      if (t_[i].kind != Tok::Ident || !punct(i + 1, '<')) continue;
      auto it = templates_.find(text(i));
      if (it == templates_.end()) continue;
      size_t end = skip_angles(i + 1, semi);
      add_kernel(t_[i].b, host, it->second.prefix + "::" + flat(t_[i].b, t_[end - 1].e),
                 it->second.params, it->second.def, it->second.max_threads);
      return;
    }
    fail(t_[b].b, "instantiation '" + host + "' names no kernel template defined above "
                  "(msl-cpu reads instantiations written out, not produced by macros)");
  }

  void function_constant(size_t b, size_t semi, size_t attr) {
    size_t name = attr - 1;
    int64_t idx = attr_int(attr);
    if (!word(b, "constant") || name <= b || t_[name].kind != Tok::Ident || idx < 0 ||
        idx > 65535) {
      return fail(t_[b].b, "function constants must read `constant T name "
                           "[[function_constant(index)]];`");
    }
    std::string type = flat(t_[b].e, t_[name].b);
    std::string n(text(name)), i = std::to_string(idx);
    constants_.push_back({uint32_t(idx), n});
    // Lint builds keep the `constant` the source declared (and the lint's warnings quiet about
    // a constant the kernels never read).
    const std::string storage = options_.lint ? "[[maybe_unused]] constant constexpr " : "static constexpr ";
    replace(t_[b].b, t_[semi].e,
            storage + type + n + " = static_cast<" + type + ">(MSLCPU_FC_" + i + "); " + storage +
                "bool __mslcpu_fcdef_" + n + " = MSLCPU_FCD_" + i + ";");
  }

  // ── block-scope threadgroup variables ──
  // `threadgroup float a[32], b;` becomes
  //   `typedef float __mslcpu_tg1[32], __mslcpu_tg2; __mslcpu_tg1 &a = ...; __mslcpu_tg2 &b = ...;`
  // where `...` is the storage of the group being run (::mslcpu::tg_static). Declarations of
  // pointers and references to threadgroup memory are left alone: the macro erases the word.
  void threadgroup_variables(const Body &body) {
    for (size_t i = body.lb + 1; i < body.rb && err_.empty(); ++i) {
      if (!word(i, "threadgroup")) continue;
      bool starts = punct(i - 1, ';') || punct(i - 1, '{') || punct(i - 1, '}') ||
                    t_[i - 1].kind == Tok::Directive;
      if (starts) threadgroup_declaration(i, body.def);
    }
  }

  void threadgroup_declaration(size_t kw, size_t def) {
    struct Declarator {
      size_t b, e;
      bool pointer;  // `*` or `&`: a thread's own pointer or reference to threadgroup memory
    };
    std::vector<Declarator> ds;
    size_t semi = kw + 1, start = kw + 1;
    int angle = 0;
    bool pointer = false, init = false;
    for (; semi < t_.size(); ++semi) {
      if (punct(semi, '(') && !word(semi - 1, "alignas") && !init) return;  // a function, a cast
      if ((punct(semi, '(') || punct(semi, '[') || punct(semi, '{')) && match_[semi] > 0) {
        semi = size_t(match_[semi]);
        continue;
      }
      if (punct(semi, '*') || punct(semi, '&')) pointer = true;
      if (punct(semi, '=')) init = true;
      if (punct(semi, '<')) ++angle;
      if (punct(semi, '>')) --angle;
      if (punct(semi, ';') || (punct(semi, ',') && angle == 0)) {
        if (init && !pointer)
          return fail(t_[kw].b, "a threadgroup variable cannot have an initializer (Metal rejects it)");
        ds.push_back({start, semi, pointer});
        start = semi + 1;
        pointer = init = false;
        if (punct(semi, ';')) break;
      }
    }
    if (semi >= t_.size()) return;
    size_t pointers = 0;
    for (const Declarator &d : ds) pointers += d.pointer;
    if (pointers == ds.size()) return;  // the macro erases the word
    if (pointers)
      return fail(t_[kw].b, "declare threadgroup variables and pointers to threadgroup memory in "
                            "separate statements (msl-cpu gives the variables group storage)");
    std::string refs;
    replace(t_[kw].b, t_[kw].e, options_.lint ? "typedef threadgroup" : "typedef");
    for (size_t d = 0; d < ds.size(); ++d) {
      size_t name = ds[d].e;
      int depth = 0;
      for (size_t q = ds[d].b; q < ds[d].e; ++q) {
        if (punct(q, '<')) ++depth;
        if (punct(q, '>')) --depth;
        if (punct(q, '[') && depth == 0) break;
        if ((punct(q, '(') || punct(q, '[')) && match_[q] > 0) { q = size_t(match_[q]); continue; }
        // the first declarator's name is its last identifier (after the type); later ones, their first
        if (t_[q].kind == Tok::Ident && depth == 0 && (d == 0 || name == ds[d].e)) name = q;
      }
      if (name == ds[d].e || word(name, "alignas"))
        return fail(t_[ds[d].b].b, "msl-cpu cannot read this threadgroup declaration; write "
                                   "`threadgroup T name[N];`");
      uint32_t site = ++tg_sites_;
      std::string type = "__mslcpu_tg" + std::to_string(site);
      replace(t_[name].b, t_[name].e, type);
      if (options_.sanitize)  // arrays become checked pointers (see checked.h)
        refs += " auto &&" + std::string(text(name)) + " = ::mslcpu::tg_checked(::mslcpu::tg_static<" +
                type + ", " + std::to_string(site) + "u>(), \"" + std::string(text(name)) + "\");";
      else
        refs += " " + type + " &" + std::string(text(name)) + " = ::mslcpu::tg_static<" + type + ", " +
                std::to_string(site) + "u>();";
      defs_[def].tg_sites.push_back(site);
    }
    replace(t_[semi].b, t_[semi].e, ";" + refs);
  }

  // ── sanitize builds: device, constant and threadgroup pointers become ::mslcpu::checked ──
  // `const device float* p` -> `::mslcpu::checked<const device float> p` wherever a pointer type
  // is written with one of those address spaces (declarations, parameters, casts, template
  // arguments); reinterpret_cast of such a type becomes ::mslcpu::pointer_cast.
  void checked_pointers() {
    for (size_t i = 0; i < t_.size(); ++i) {
      if (!word(i, "device") && !word(i, "constant") && !word(i, "threadgroup")) continue;
      size_t star = i + 1;
      while (star < t_.size()) {
        if (t_[star].kind == Tok::Ident || text(star) == "::") ++star;
        else if (punct(star, '<')) star = skip_angles(star, t_.size());
        else break;
      }
      if (!punct(star, '*') || punct(star + 1, '*')) continue;
      size_t start = i;
      while (start > 0 && (word(start - 1, "const") || word(start - 1, "volatile"))) --start;
      replace(t_[start].b, t_[star].e, "::mslcpu::checked<" + flat(t_[start].b, t_[star].b) + ">");
      // reinterpret_cast<device T*>(x) cannot make a class: call pointer_cast instead
      if (start >= 2 && punct(start - 1, '<') && word(start - 2, "reinterpret_cast"))
        replace(t_[start - 2].b, t_[start - 2].e, "::mslcpu::pointer_cast");
      i = star;
    }
    // &a[i] (raw) -> (a + (i)) (checked), where a is a name and nothing follows the bracket
    for (size_t i = 0; i + 3 < t_.size(); ++i) {
      if (!punct(i, '&') || t_[i + 1].kind != Tok::Ident || !punct(i + 2, '[') || match_[i + 2] < 0) continue;
      size_t close = size_t(match_[i + 2]);
      bool unary = i == 0 || (t_[i - 1].kind == Tok::Punct && !punct(i - 1, ')') && !punct(i - 1, ']')) ||
                   word(i - 1, "return");
      if (!unary || punct(close + 1, '.') || punct(close + 1, '[') || text(close + 1) == "->") continue;
      replace(t_[i].b, t_[i + 2].e, "(" + std::string(text(i + 1)) + " + (");
      replace(t_[close].b, t_[close].e, "))");
      i = close;
    }
  }

  // ── flags: everything the kernel's body reaches through names defined in this source ──
  uint32_t flags_of(size_t def, std::vector<uint32_t> &sites) const {
    uint32_t flags = 0;
    std::vector<size_t> work = {def};
    std::unordered_set<size_t> seen = {def};
    std::unordered_set<std::string_view> names;
    while (!work.empty()) {
      size_t d = work.back();
      work.pop_back();
      sites.insert(sites.end(), defs_[d].tg_sites.begin(), defs_[d].tg_sites.end());
      for (std::string_view id : defs_[d].idents) {
        if (needs_fibers_name(id)) flags |= MSLCPU_NEEDS_FIBERS;
        if (id == "threadgroup") flags |= MSLCPU_USES_THREADGROUP_MEMORY;
        if (!names.insert(id).second) continue;
        auto it = defs_by_name_.find(id);
        if (it == defs_by_name_.end()) continue;
        for (size_t other : it->second)
          if (seen.insert(other).second) work.push_back(other);
      }
    }
    return flags;
  }

  // ── output ──
  std::string apply_edits() {
    // Outer edits first where two start together; an edit inside a wider one is dropped.
    std::sort(edits_.begin(), edits_.end(), [](const Edit &x, const Edit &y) {
      return x.b != y.b ? x.b < y.b : x.e > y.e;
    });
    std::string out;
    out.reserve(s_.size() + 256);
    uint32_t pos = 0;
    for (const Edit &ed : edits_) {
      if (ed.b < pos) continue;  // inside an earlier, wider edit
      out.append(s_.substr(pos, ed.b - pos));
      if (!ed.blank) out += ed.text;
      for (uint32_t i = ed.b; i < ed.e; ++i) {
        if (s_[i] == '\n') out += '\n';
        else if (ed.blank) out += ' ';
      }
      pos = ed.e;
    }
    out.append(s_.substr(pos));
    return out;
  }

  // One `extern "C" __global__` entry per kernel (shim/cuda/prelude/mslcuda.h): it takes the
  // launch record by value, returns the threads past a clipped edge group, and calls the kernel
  // with each parameter converted from its binding or position builtin. Entries live in their own
  // namespace so that a plain kernel's host name cannot collide with the C++ function it calls.
  std::string generated_cuda() const {
    std::string g = "\n#pragma clang force_cuda_host_device end\n#line 1 \"" + escaped(label_) +
                    " (cuda generated)\"\nnamespace mslcuda_entries {\n";
    for (const Kernel &kn : kernels_) {
      std::string args;
      for (size_t j = 0; j < kn.params.size(); ++j) {
        const KernelParam &p = kn.params[j];
        std::string at = "P::at<" + std::to_string(j) + ">";
        if (!args.empty()) args += ", ";
        if (p.kind == KernelParam::Buffer)
          args += "::mslcuda::buffer<" + at + ">(l, " + std::to_string(p.index) + ")";
        else if (p.kind == KernelParam::Threadgroup)
          args += "::mslcuda::threadgroup_buffer<" + at + ">(l, " + std::to_string(p.index) + ")";
        else
          args += "::mslcuda::builtin<" + at + ">(" + p.source + ")";
      }
      std::string bounds = kn.max_threads < 1024
                               ? " __attribute__((launch_bounds(" + std::to_string(kn.max_threads) + ")))"
                               : "";
      g += "extern \"C\" MSLCUDA_GLOBAL" + bounds + " void " + kn.host_name +
           "(const ::mslcuda::launch l) {\n"
           "  using P = ::mslcuda::params<decltype(&" + kn.callee + ")>;\n"
           "  ::mslcuda::ids t;\n"
           "  if (!::mslcuda::begin(l, t)) return;\n"
           "  " + kn.callee + "(" + args + ");\n}\n";
    }
    return g + "}  // namespace mslcuda_entries\n";
  }

  std::string generated() const {
    std::string g = "\n#line 1 \"" + escaped(label_) + " (msl-cpu generated)\"\n";
    // Buffer arguments are the same for every thread, so they are bound once per call, outside
    // the thread loop, where the optimiser can treat them as invariant.
    for (size_t k = 0; k < kernels_.size(); ++k) {
      const Kernel &kn = kernels_[k];
      std::string bound, args;
      for (size_t j = 0; j < kn.params.size(); ++j) {
        const KernelParam &p = kn.params[j];
        std::string at = "P::at<" + std::to_string(j) + ">", a = "a" + std::to_string(j);
        if (!args.empty()) args += ", ";
        if (p.kind == KernelParam::Buffer) {
          bound += "  if (!::mslcpu::fits<" + at + ">(l, w, " + std::to_string(p.index) + ", \"" +
                   escaped(kn.host_name) + "\")) return 1;\n";
          bound += "  " + at + " " + a + " = ::mslcpu::buffer<" + at + ">(l, " +
                   std::to_string(p.index) + ");\n";
          args += a;
        } else if (p.kind == KernelParam::Threadgroup) {
          args += "::mslcpu::threadgroup_buffer<" + at + ">(l, w, " + std::to_string(p.index) + ")";
        } else {
          args += "::mslcpu::builtin<" + at + ">(" + p.source + ")";
        }
      }
      g += "static int mslcpu_run_" + std::to_string(k) +
           "(const mslcpu_launch *l, mslcpu_worker *w, unsigned long long first, "
           "unsigned long long end) {\n"
           "  using P = ::mslcpu::params<decltype(&" + kn.callee + ")>;\n" + bound +
           "  return ::mslcpu::run_groups<" + std::to_string(kn.flags) +
           "u>(l, w, first, end, [&](const ::mslcpu::ids &t) __attribute__((always_inline)) {\n"
           "    (void)t; " + kn.callee + "(" + args + ");\n  });\n}\n";
      g += "static const unsigned mslcpu_sites_" + std::to_string(k) + "[] = {";
      for (uint32_t site : kn.tg_sites) g += std::to_string(site) + "u, ";
      g += "~0u};\n";
    }
    g += "extern \"C\" __attribute__((visibility(\"default\"))) const mslcpu_kernel_info "
         "mslcpu_kernels[] = {\n";
    for (size_t k = 0; k < kernels_.size(); ++k)
      g += "  {\"" + escaped(kernels_[k].host_name) + "\", mslcpu_run_" + std::to_string(k) +
           ", " + std::to_string(kernels_[k].flags) + "u, mslcpu_sites_" + std::to_string(k) + "},\n";
    if (kernels_.empty()) g += "  {0, 0, 0, 0},\n";
    g += "};\nextern \"C\" __attribute__((visibility(\"default\"))) const unsigned "
         "mslcpu_kernel_count = " + std::to_string(kernels_.size()) + ";\n";
    return g;
  }
};

}  // namespace

std::string prepass(std::string_view source, const std::string &label, Program &out,
                    PrepassOptions options) {
  return Prepass(source, label, options).run(out);
}

}  // namespace mslcpu
