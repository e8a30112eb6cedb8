// Libraries and pipelines: MSL source through the msl-cpu pre-pass and clang++ into a cached
// kernel object, and a pipeline per (kernel, function-constant values).
#include <unistd.h>

#include <cstring>

#include "internal.h"

using cpu::fail;

bool mlxn_device::compiler_settings(cpu::CompilerSettings &out) {
  std::lock_guard<std::mutex> lock(options_mu);
  if (!toolchain_resolved) {
    std::string error;
    if (!mslcpu::find_toolchain(cxx, toolchain, error)) {
      fail(MLXN_ERR_COMPILE, error);
      return false;
    }
    toolchain_resolved = true;
  }
  out.toolchain = toolchain;
  out.cache_dir = cache_dir.empty() ? mslcpu::default_cache_dir() : cache_dir;
  out.sanitize = sanitize;
  out.compile_timeout_ms = compile_timeout_ms;
  return true;
}

namespace {

// -D flags giving each declared function constant its value, or marking it undefined.
// `constants` holds n triplets [index, type, value] (see mlxn_pipeline_new).
bool constant_defines(const mslcpu::Program &prog, const uint32_t *constants, uint32_t n,
                      std::vector<std::string> &out, std::string &error) {
  for (uint32_t i = 0; i < n; ++i) {
    if (constants[3 * i + 1] > MLXN_CONSTANT_FLOAT) {
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
        case MLXN_CONSTANT_BOOL: value = v ? "1" : "0"; break;
        case MLXN_CONSTANT_INT: value = "(" + std::to_string(int32_t(v)) + ")"; break;
        case MLXN_CONSTANT_UINT: value = std::to_string(v) + "u"; break;
        default: value = "__builtin_bit_cast(float," + std::to_string(v) + "u)"; break;
      }
      defined = "1";
    }
    out.push_back("-DMSLCPU_FC_" + idx + "=" + value);
    out.push_back("-DMSLCPU_FCD_" + idx + "=" + defined);
  }
  return true;
}

// The -D flags of a compile: function constants, and MSLCPU_SANITIZE for bounds-checked builds.
bool compile_defines(const mlxn_library *lib, const uint32_t *constants, uint32_t n,
                     std::vector<std::string> &out, std::string &error) {
  if (lib->settings.sanitize) out.push_back("-DMSLCPU_SANITIZE=1");
  return constant_defines(lib->program, constants, n, out, error);
}

std::string joined(const std::vector<std::string> &v) {
  std::string s;
  for (const auto &x : v) s += x + " ";
  return s;
}

// The library's kernel object for these -D flags: loaded before, found in the disk cache, or
// compiled now. Returns a status (last error set on failure).
int32_t object_for(mlxn_library *lib, const std::vector<std::string> &defines,
                   std::shared_ptr<mslcpu::KernelObject> &out) {
  std::string key = joined(defines);
  std::lock_guard<std::mutex> lock(lib->mu);
  auto it = lib->objects.find(key);
  if (it != lib->objects.end()) {
    out = it->second;
    return MLXN_OK;
  }
  mslcpu::CompileJob job{&lib->settings.toolchain, lib->settings.cache_dir, lib->program.text,
                         defines, lib->label, false};
  job.timeout_ms = lib->settings.compile_timeout_ms;
  std::string path, cache_key, error;
  if (!mslcpu::compile(job, path, cache_key, error)) return fail(MLXN_ERR_COMPILE, error);
  out.reset(mslcpu::KernelObject::load(path, cache_key, error));
  if (!out) {
    // A damaged cache entry (truncated by a full disk, another key's file copied over it):
    // rebuild it once.
    unlink(path.c_str());
    if (!mslcpu::compile(job, path, cache_key, error)) return fail(MLXN_ERR_COMPILE, error);
    out.reset(mslcpu::KernelObject::load(path, cache_key, error));
  }
  if (!out) return fail(MLXN_ERR_INTERNAL, error);
  lib->objects[key] = out;
  return MLXN_OK;
}

// Syntax check of a library whose kernels take function constants, all left undefined.
int32_t check_syntax(mlxn_library *lib, const std::vector<std::string> &defines) {
  mslcpu::CompileJob job{&lib->settings.toolchain, lib->settings.cache_dir, lib->program.text,
                         defines, lib->label, true};
  job.timeout_ms = lib->settings.compile_timeout_ms;
  std::string none, key, error;
  return mslcpu::compile(job, none, key, error) ? MLXN_OK : fail(MLXN_ERR_COMPILE, error);
}

}  // namespace

extern "C" {

// With function constants, the library compile only checks syntax (every constant undefined):
// the objects that run are built per specialisation in mlxn_pipeline_new.
int32_t mlxn_library_new_source(mlxn_device_t dev, const char *source, uint64_t source_length,
                                const char *label, mlxn_library_t *out) {
  if (!dev || !source || !out)
    return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_library_new_source: null device, source or out");
  auto *lib = new mlxn_library;
  lib->label = label && *label ? label : "library";
  if (!dev->compiler_settings(lib->settings)) {
    lib->release();
    return MLXN_ERR_COMPILE;
  }
  mslcpu::PrepassOptions options;
  options.sanitize = lib->settings.sanitize;
  std::string error = mslcpu::prepass(std::string_view(source, source_length), lib->label, lib->program, options);
  if (!error.empty()) {
    lib->release();
    return fail(MLXN_ERR_COMPILE, error);
  }
  std::vector<std::string> defines;
  compile_defines(lib, nullptr, 0, defines, error);
  std::shared_ptr<mslcpu::KernelObject> obj;
  int32_t status = lib->program.constants.empty() ? object_for(lib, defines, obj)
                                                  : check_syntax(lib, defines);
  if (status != MLXN_OK) {
    lib->release();
    return status;
  }
  *out = lib;
  return MLXN_OK;
}

void mlxn_library_free(mlxn_library_t lib) {
  if (lib) lib->release();
}

int32_t mlxn_pipeline_new(mlxn_library_t lib, const char *name, const uint32_t *constants,
                          uint32_t n_constants, const char *label, mlxn_pipeline_t *out) {
  if (!lib || !name || !out || (n_constants && !constants))
    return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_pipeline_new: null library, name, constants or out");
  const mslcpu::Kernel *kernel = nullptr;
  for (const auto &k : lib->program.kernels)
    if (k.host_name == name) kernel = &k;
  if (!kernel)
    return fail(MLXN_ERR_NOT_FOUND, "no kernel function '" + std::string(name) + "' in library '" +
                                        lib->label + "'");
  std::vector<std::string> defines;
  std::string error;
  if (!compile_defines(lib, constants, n_constants, defines, error))
    return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_pipeline_new '" + std::string(name) + "': " + error);
  std::shared_ptr<mslcpu::KernelObject> obj;
  if (int32_t status = object_for(lib, defines, obj); status != MLXN_OK) return status;
  const mslcpu_kernel_info *info = obj->find(name);
  if (!info)
    return fail(MLXN_ERR_INTERNAL, "kernel object of '" + lib->label + "' lacks '" + name + "'");
  auto *p = new mlxn_pipeline;
  lib->retain();
  p->library = lib;
  p->object = std::move(obj);
  p->kernel = info;
  p->run.run = info->run;
  p->run.flags = info->flags;
  p->run.tg_static = p->object->tg_total();
  p->static_tg = p->object->static_tg(info);
  p->max_threads = kernel->max_threads;
  // A buffer the dispatch must bind: one the kernel declares, unless a function constant that is
  // false (or not given) leaves it out.
  for (const mslcpu::KernelParam &param : kernel->params) {
    if (param.kind != mslcpu::KernelParam::Buffer) continue;
    bool present = param.constant.empty();
    for (const mslcpu::FunctionConstant &fc : lib->program.constants)
      if (fc.name == param.constant)
        for (uint32_t i = 0; i < n_constants; ++i)
          if (constants[3 * i] == fc.index) present = constants[3 * i + 2] != 0;
    if (present) p->buffers |= 1u << param.index;
  }
  p->label = label ? label : "";
  *out = p;
  return MLXN_OK;
}

uint32_t mlxn_pipeline_thread_execution_width(mlxn_pipeline_t p) { return p ? 32 : 0; }
uint32_t mlxn_pipeline_max_total_threads_per_threadgroup(mlxn_pipeline_t p) {
  return p ? p->max_threads : 0;
}
// The block-scope threadgroup variables the kernel can reach, each rounded to 16 bytes.
uint64_t mlxn_pipeline_static_threadgroup_memory_length(mlxn_pipeline_t p) {
  return p ? p->static_tg : 0;
}

void mlxn_pipeline_free(mlxn_pipeline_t p) {
  if (p) p->release();
}

}  // extern "C"
