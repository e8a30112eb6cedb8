#include "compile.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char **environ;

namespace mslcpu {
namespace {

// The kernel header, embedded at build time so libmlxn_cpu works when copied alone.
const char kHeader[] =
#include "msl_cpu_header.inc"
    ;

// What kernel objects are built for: flags plus a description of the host they target.
struct Target {
  std::vector<std::string> flags;
  std::string host;  // part of the cache key
};

// The CPU model and feature list, or "" where the system does not say.
std::string cpu_identity() {
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return "";
  std::string id;
  char line[8192];
  bool model = false, features = false;
  while ((!model || !features) && fgets(line, sizeof line, f)) {
    std::string_view l(line);
    if (!model && l.starts_with("model name")) { id += line; model = true; }
    if (!features && (l.starts_with("flags") || l.starts_with("Features"))) { id += line; features = true; }
  }
  fclose(f);
  return features ? id : "";
}

// -ffp-contract=off and per-operation half/bfloat rounding keep results close to Metal's.
// Kernels are built for this very CPU (-march=native: F16C and, where present, AVX-512 and
// BF16 conversions make half and bfloat kernels several times faster), with the CPU's model and
// feature list in the cache key, so a cache shared between machines never hands one a kernel
// it cannot run. Where the features are unknown, the host's x86-64 level is named instead.
const Target &kernel_target() {
  static const Target t = [] {
    Target t;
    // No warnings, except that a function whose stack frame would not fit a kernel thread's
    // stack (MSLCPU_STACK_BYTES, less the colouring offset and room for the runtime) is an error.
    t.flags = {"-std=c++20", "-O2", "-fPIC", "-Wno-everything", "-Wframe-larger-than=49152",
               "-Werror=frame-larger-than", "-ffp-contract=off", "-fno-exceptions",
               "-fno-rtti", "-fno-math-errno", "-fvisibility=hidden", "-fno-color-diagnostics",
               "-Xclang", "-ffloat16-excess-precision=none",
               "-Xclang", "-fbfloat16-excess-precision=none"};
    t.host = cpu_identity();
    if (!t.host.empty()) {
      t.flags.push_back("-march=native");
    } else {
#if defined(__x86_64__)
      __builtin_cpu_init();
      if (__builtin_cpu_supports("x86-64-v4")) t.flags.push_back("-march=x86-64-v4");
      else if (__builtin_cpu_supports("x86-64-v3")) t.flags.push_back("-march=x86-64-v3");
      else if (__builtin_cpu_supports("x86-64-v2")) t.flags.push_back("-march=x86-64-v2");
#endif
    }
    return t;
  }();
  return t;
}

constexpr int kTimedOut = -2;

long long monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Runs argv, returning its exit status (-1 when it could not run or died of a signal,
// kTimedOut when it ran past `timeout_ms` and was killed) and its combined stdout and stderr.
// The compiler runs in a process group of its own, so a timeout kills what it started too.
}  // namespace

int run(const std::vector<std::string> &argv, unsigned timeout_ms, std::string &output) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  // Close-on-exec, so that a compiler another thread spawns cannot hold this pipe open.
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char *> args;
  for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return -1;
  }
  const long long deadline = monotonic_ms() + timeout_ms;
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    long long left = deadline - monotonic_ms();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p = {fds[0], POLLIN, 0};
    int ready = poll(&p, 1, int(std::min<long long>(left, 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) output.append(buf, size_t(n));
    else if (n == 0 || errno != EINTR) break;  // end of output: the compiler is exiting
  }
  close(fds[0]);
  int status = 0;
  if (!timed_out) {
    // The output closed; the compiler may still be writing its object: wait within the deadline.
    for (;;) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid || (r < 0 && errno != EINTR)) break;
      if (monotonic_ms() >= deadline) {
        timed_out = true;
        break;
      }
      usleep(2000);
    }
  }
  if (timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return kTimedOut;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

namespace {
// The executable `name` runs as (searched on PATH unless it has a '/'), or "".
std::string resolve(const std::string &name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char *path = getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t b = 0;
  while (b <= p.size()) {
    size_t e = p.find(':', b);
    if (e == std::string::npos) e = p.size();
    std::string file = (e > b ? p.substr(b, e - b) : ".") + "/" + name;
    if (access(file.c_str(), X_OK) == 0) return file;
    b = e + 1;
  }
  return "";
}

}  // namespace

bool mkdirs(const std::string &dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      std::string part = dir.substr(0, i);
      if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return false;
    }
  }
  struct stat st;
  return stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}


// A readable regular file (a directory or FIFO under a cache name is not a cache hit).
bool is_regular(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), R_OK) == 0;
}

// Kept for the cuda shim's PTX cache: a readable regular file.
bool exists(const std::string &path) { return is_regular(path); }

// A name unique to this process and call, for files renamed into place when complete.
std::string temp_name(const std::string &dir, const std::string &key, const char *ext) {
  static std::atomic<unsigned> counter{0};
  return dir + "/.tmp-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
         key.substr(0, 16) + ext;
}

bool write_file(const std::string &path, std::string_view data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += size_t(n);
  }
  return close(fd) == 0 && off == data.size();
}

// True when the file at `path` holds exactly `data`.
bool holds(const std::string &path, std::string_view data) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st;
  bool same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && uint64_t(st.st_size) == data.size();
  std::string got(same ? data.size() : 0, '\0');
  size_t off = 0;
  while (same && off < got.size()) {
    ssize_t n = read(fd, got.data() + off, got.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += size_t(n);
  }
  close(fd);
  return same && off == data.size() && got == data;
}

// Writes `data` to `path` atomically (other processes see nothing or all of it). A file already
// there is kept only when it holds exactly `data`: a damaged one is replaced.
bool publish(const std::string &dir, const std::string &path, std::string_view data) {
  if (holds(path, data)) return true;
  std::string tmp = temp_name(dir, sha256_hex(path), ".part");
  bool ok = write_file(tmp, data) && rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) unlink(tmp.c_str());
  return ok;
}

std::string first_lines(const std::string &text, int n) {
  size_t pos = 0;
  for (int i = 0; i < n && pos != std::string::npos; ++i) {
    pos = text.find('\n', pos);
    if (pos != std::string::npos) ++pos;
  }
  if (pos == std::string::npos || pos >= text.size()) return text;
  return text.substr(0, pos) + "... (diagnostics truncated)\n";
}

// The identity is the compiler's real file with its size and modification time: an upgrade
// changes it, and a cache hit never has to start the compiler.
bool find_toolchain(const std::string &requested, Toolchain &out, std::string &error) {
  std::vector<std::string> candidates;
  if (!requested.empty()) candidates = {requested};
  else candidates = {"clang++-19", "clang++-18", "clang++-17", "clang++-16", "clang++"};
  for (const auto &c : candidates) {
    std::string file = resolve(c);
    char real[PATH_MAX];
    struct stat st;
    if (file.empty() || !realpath(file.c_str(), real) || stat(real, &st) != 0) continue;
    out = {file, std::string(real) + " " + std::to_string(st.st_size) + " " +
                     std::to_string(int64_t(st.st_mtime))};
    return true;
  }
  std::string tried;
  for (const auto &c : candidates) tried += (tried.empty() ? "" : ", ") + c;
  error = "msl-cpu: no usable C++ compiler (tried " + tried +
          "); msl-cpu needs clang 16 or newer (`make setup` installs clang-19)";
  return false;
}

std::string default_cache_dir() {
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  std::string dir;
  if (xdg && *xdg) dir = std::string(xdg) + "/bun-mlx-native/msl-cpu";
  else if (home && *home) dir = std::string(home) + "/.cache/bun-mlx-native/msl-cpu";
  if (!dir.empty() && mkdirs(dir)) return dir;
  return "/tmp/bun-mlx-native-" + std::to_string(getuid()) + "/msl-cpu";
}

bool compile(const CompileJob &job, std::string &object_path, std::string &key, std::string &error) {
  const std::string &dir = job.cache_dir;
  if (!mkdirs(dir)) {
    error = "msl-cpu: cannot create the kernel cache directory '" + dir + "': " + strerror(errno);
    return false;
  }
  static const std::string header_hash = sha256_hex(kHeader);
  std::string header = dir + "/msl_cpu-" + header_hash.substr(0, 16) + ".h";
  if (!publish(dir, header, kHeader)) {
    error = "msl-cpu: cannot write '" + header + "': " + strerror(errno);
    return false;
  }

  std::string key_text = job.toolchain->cxx + "\n" + job.toolchain->identity + "\n" + header_hash;
  key_text += "\n" + kernel_target().host;
  for (const std::string &f : kernel_target().flags) key_text += " " + f;
  for (const auto &d : job.defines) key_text += " " + d;
  for (const auto &f : job.flags) key_text += " " + f;
  if (job.warnings) key_text += " warnings";
  if (job.check) key_text += " check:" + job.check_id;
  key_text += job.syntax_only ? " -fsyntax-only\n" : " -shared\n";
  key_text += job.text;
  key = sha256_hex(key_text);
  std::string target = dir + "/" + key + (job.syntax_only ? ".ok" : ".so");
  object_path = job.syntax_only ? std::string() : target;
  if (is_regular(target)) return true;

  std::string source = temp_name(dir, key, ".cpp"), object = temp_name(dir, key, ".so");
  if (!write_file(source, job.text)) {
    error = "msl-cpu: cannot write '" + source + "': " + strerror(errno);
    unlink(source.c_str());
    return false;
  }
  std::vector<std::string> argv = {job.toolchain->cxx};
  for (const std::string &f : kernel_target().flags)
    if (!job.warnings || f != "-Wno-everything") argv.push_back(f);
  argv.insert(argv.end(), job.flags.begin(), job.flags.end());
  argv.insert(argv.end(), job.defines.begin(), job.defines.end());
  argv.push_back("-DMSLCPU_CACHE_KEY=\"" + key + "\"");
  argv.insert(argv.end(), {"-include", header, "-x", "c++", source});
  if (job.syntax_only) argv.push_back("-fsyntax-only");
  else argv.insert(argv.end(), {"-shared", "-o", object});

  std::string log;
  int rc = run(argv, job.timeout_ms, log);
  bool ok = rc == 0;
  std::string verdict = ok && job.syntax_only && job.check ? job.check(log) : std::string();
  if (!verdict.empty()) ok = false;
  if (ok && job.syntax_only) ok = write_file(object, "ok\n");
  if (ok) ok = rename(object.c_str(), target.c_str()) == 0;
  if (ok) rename(source.c_str(), (dir + "/" + key + ".cpp").c_str());  // kept for debugging
  else unlink(source.c_str());
  unlink(object.c_str());
  if (!ok) {
    if (rc == kTimedOut)
      error = "msl-cpu: compiling '" + job.label + "' did not finish within " +
              std::to_string(job.timeout_ms) + " ms and was stopped ('" + job.toolchain->cxx +
              "'; MLXN_COMPILE_TIMEOUT sets the limit)";
    else
      error = rc < 0            ? "msl-cpu: could not run '" + job.toolchain->cxx + "'"
              : !verdict.empty() ? verdict
                                : "msl-cpu: compiling '" + job.label + "' failed:\n" + first_lines(log, 40);
  }
  return ok;
}

KernelObject *KernelObject::load(const std::string &path, const std::string &key, std::string &error) {
  void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    error = std::string("msl-cpu: cannot load kernel object: ") + dlerror();
    return nullptr;
  }
  auto abi = static_cast<const unsigned *>(dlsym(h, "mslcpu_abi"));
  auto table = static_cast<const mslcpu_kernel_info *>(dlsym(h, "mslcpu_kernels"));
  auto count = static_cast<const unsigned *>(dlsym(h, "mslcpu_kernel_count"));
  auto slots = static_cast<const mslcpu_tg_slot *>(dlsym(h, "mslcpu_tg_slots"));
  auto slot_count = static_cast<const unsigned *>(dlsym(h, "mslcpu_tg_slot_count"));
  auto tg_total = static_cast<const unsigned *>(dlsym(h, "mslcpu_tg_total"));
  if (!abi || *abi != MSLCPU_ABI_VERSION || !table || !count || !slots || !slot_count || !tg_total) {
    error = "msl-cpu: '" + path + "' is not a kernel object of this msl-cpu version";
    dlclose(h);
    return nullptr;
  }
  auto built_for = static_cast<const char *>(dlsym(h, "mslcpu_cache_key"));
  if (!built_for || key != built_for) {
    error = "msl-cpu: '" + path + "' was not built under its cache key (damaged or replaced cache entry)";
    dlclose(h);
    return nullptr;
  }
  if (*tg_total == ~0u) {
    error = "msl-cpu: '" + path + "' declares more than " + std::to_string(MSLCPU_MAX_TG_SLOTS) +
            " threadgroup variables";
    dlclose(h);
    return nullptr;
  }
  auto *k = new KernelObject;
  k->handle_ = h;
  k->kernels_ = table;
  k->count_ = *count;
  k->slots_ = slots;
  k->slot_count_ = *slot_count;
  k->tg_total_ = *tg_total;
  return k;
}

uint64_t KernelObject::static_tg(const mslcpu_kernel_info *kernel) const {
  uint64_t bytes = 0;
  for (unsigned i = 0; i < slot_count_; ++i)
    for (const unsigned *site = kernel->tg_sites; *site != ~0u; ++site)
      if (slots_[i].site == *site) bytes += (uint64_t(slots_[i].size) + 15) & ~uint64_t(15);
  return bytes;
}

KernelObject::~KernelObject() {
  if (handle_) dlclose(handle_);
}

const mslcpu_kernel_info *KernelObject::find(std::string_view name) const {
  for (unsigned i = 0; i < count_; ++i)
    if (name == kernels_[i].name) return &kernels_[i];
  return nullptr;
}

// SHA-256 (FIPS 180-4): cache keys must not collide, or a kernel would silently run another's code.
std::string sha256_hex(std::string_view data) {
  static const uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  std::string msg(data);
  uint64_t bits = uint64_t(data.size()) * 8;
  msg += char(0x80);
  while (msg.size() % 64 != 56) msg += char(0);
  for (int i = 7; i >= 0; --i) msg += char(bits >> (i * 8));
  for (size_t off = 0; off < msg.size(); off += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const auto *p = reinterpret_cast<const unsigned char *>(msg.data() + off + i * 4);
      w[i] = uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (uint32_t v : h)
    for (int i = 28; i >= 0; i -= 4) out += hex[(v >> i) & 15];
  return out;
}

}  // namespace mslcpu
