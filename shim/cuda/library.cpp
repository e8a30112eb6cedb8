// Libraries and pipelines: MSL through msl-cpu's pre-pass (CUDA target) and clang into PTX (or
// straight from the PTX cache), loaded with cuModuleLoadDataEx; a module per function-constant
// specialisation, a pipeline per kernel entry.
#include "compile.h"
#include "internal.h"

using cuda::fail;

CudaModule::~CudaModule() {
  if (!module) return;
  ctx->bind();
  ctx->d->cuModuleUnload(module);
}

namespace {

std::string joined(const std::vector<std::string> &v) {
  std::string s;
  for (const auto &x : v) s += x + " ";
  return s;
}

// The library's module for these -D flags: loaded before, or PTX from the cache or clang, JIT-
// compiled by the driver now. Returns a status (last error set on failure).
int32_t module_for(mlxn_library *lib, const std::vector<std::string> &defines, std::shared_ptr<CudaModule> &out) {
  std::string key = joined(defines);
  std::lock_guard<std::mutex> lock(lib->mu);
  auto it = lib->modules.find(key);
  if (it != lib->modules.end()) {
    out = it->second;
    return MLXN_OK;
  }
  mslcuda::PtxJob job{lib->settings.clang, lib->settings.cache_dir, lib->settings.arch, lib->program.text,
                      defines, lib->label};
  std::string ptx, error;
  switch (mslcuda::ptx_for(job, ptx, error)) {
    case mslcuda::PtxStatus::Ok: break;
    case mslcuda::PtxStatus::IoError: return fail(MLXN_ERR_INTERNAL, error);
    default: return fail(MLXN_ERR_COMPILE, error);
  }
  char log[8192] = {0};
  int options[] = {cuda::kJitErrorLogBuffer, cuda::kJitErrorLogBufferSizeBytes};
  void *values[] = {log, reinterpret_cast<void *>(uintptr_t(sizeof log - 1))};
  auto m = std::make_shared<CudaModule>();
  m->ctx = lib->ctx;
  lib->ctx->bind();
  CUresult r = lib->ctx->d->cuModuleLoadDataEx(&m->module, ptx.c_str(), 2, options, values);
  if (r != cuda::kSuccess) {
    m->module = nullptr;
    return fail(r == cuda::kErrorOutOfMemory ? MLXN_ERR_OUT_OF_MEMORY : MLXN_ERR_COMPILE,
                "cuda: the driver could not load the PTX of '" + lib->label + "' (" + job.arch + "): " +
                    cuda::describe(r) + (log[0] ? std::string("\n") + log : std::string()));
  }
  lib->modules[key] = m;
  out = m;
  return MLXN_OK;
}

}  // namespace

extern "C" {

// Without function constants the whole library is compiled and loaded here, so that errors show
// at once, as on Metal; with them, each specialisation is built in mlxn_pipeline_new.
int32_t mlxn_library_new_source(mlxn_device_t dev, const char *source, uint64_t source_length, const char *label,
                                mlxn_library_t *out) {
  if (!dev || !source || !out)
    return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_library_new_source: null device, source or out");
  auto *lib = new mlxn_library;
  lib->label = label && *label ? label : "library";
  lib->ctx = dev->ctx;
  dev->compiler_settings(lib->settings);
  mslcpu::PrepassOptions options;
  options.cuda = true;
  std::string error = mslcpu::prepass(std::string_view(source, source_length), lib->label, lib->program, options);
  for (const mslcpu::Kernel &k : lib->program.kernels) {
    bool identifier = !k.host_name.empty() && !(k.host_name[0] >= '0' && k.host_name[0] <= '9');
    for (char c : k.host_name)
      identifier &= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (error.empty() && !identifier)
      error = lib->label + ": error: kernel name '" + k.host_name +
              "' is not a C identifier; the cuda backend exports each kernel under its name";
  }
  if (!error.empty()) {
    lib->release();
    return fail(MLXN_ERR_COMPILE, error);
  }
  if (lib->program.constants.empty()) {
    std::shared_ptr<CudaModule> m;
    if (int32_t status = module_for(lib, {}, m); status != MLXN_OK) {
      lib->release();
      return status;
    }
  }
  *out = lib;
  return MLXN_OK;
}

void mlxn_library_free(mlxn_library_t lib) {
  if (lib) lib->release();
}

int32_t mlxn_pipeline_new(mlxn_library_t lib, const char *name, const uint32_t *constants, uint32_t n_constants,
                          const char *label, mlxn_pipeline_t *out) {
  if (!lib || !name || !out || (n_constants && !constants))
    return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_pipeline_new: null library, name, constants or out");
  const mslcpu::Kernel *kernel = nullptr;
  for (const auto &k : lib->program.kernels)
    if (k.host_name == name) kernel = &k;
  if (!kernel)
    return fail(MLXN_ERR_NOT_FOUND, "no kernel function '" + std::string(name) + "' in library '" + lib->label + "'");
  std::vector<std::string> defines;
  std::string error;
  if (!mslcuda::constant_defines(lib->program, constants, n_constants, defines, error))
    return fail(MLXN_ERR_INVALID_ARGUMENT, "mlxn_pipeline_new '" + std::string(name) + "': " + error);
  std::shared_ptr<CudaModule> m;
  if (int32_t status = module_for(lib, defines, m); status != MLXN_OK) return status;
  const cuda::Driver *d = lib->ctx->d;
  lib->ctx->bind();
  CUfunction fn = nullptr;
  CUresult r = d->cuModuleGetFunction(&fn, m->module, name);
  if (r != cuda::kSuccess)
    return fail(MLXN_ERR_INTERNAL, "the PTX of '" + lib->label + "' lacks entry '" + name + "': " + cuda::describe(r));
  int max_threads = 1024, static_shared = 0;
  d->cuFuncGetAttribute(&max_threads, cuda::kFuncMaxThreadsPerBlock, fn);
  d->cuFuncGetAttribute(&static_shared, cuda::kFuncSharedSizeBytes, fn);
  auto *p = new mlxn_pipeline;
  lib->retain();
  p->library = lib;
  p->module = std::move(m);
  p->fn = fn;
  p->name = name;
  p->label = label ? label : "";
  // The kernel's own bound, lowered to what its registers allow (the driver's per-function limit).
  p->max_threads = std::min<uint32_t>(kernel->max_threads, uint32_t(max_threads));
  p->static_tg = uint64_t(static_shared);
  int allowed = int(cuda::kDefaultSharedLimit) - static_shared;
  p->dynamic_shared_allowed.store(allowed > 0 ? allowed : 0);
  for (const mslcpu::KernelParam &param : kernel->params) {
    if (param.kind != mslcpu::KernelParam::Buffer) continue;
    bool present = param.constant.empty();
    for (const mslcpu::FunctionConstant &fc : lib->program.constants)
      if (fc.name == param.constant)
        for (uint32_t i = 0; i < n_constants; ++i)
          if (constants[3 * i] == fc.index) present = constants[3 * i + 2] != 0;
    if (present) p->buffers |= 1u << param.index;
  }
  *out = p;
  return MLXN_OK;
}

uint32_t mlxn_pipeline_thread_execution_width(mlxn_pipeline_t p) { return p ? 32 : 0; }
uint32_t mlxn_pipeline_max_total_threads_per_threadgroup(mlxn_pipeline_t p) { return p ? p->max_threads : 0; }
// Shared memory the kernel declares statically (block-scope threadgroup variables), per ptxas.
uint64_t mlxn_pipeline_static_threadgroup_memory_length(mlxn_pipeline_t p) { return p ? p->static_tg : 0; }

void mlxn_pipeline_free(mlxn_pipeline_t p) {
  if (p) p->release();
}

}  // extern "C"
