/*
 * Smoke test of libmlxn_cpu through the C ABI alone: device, buffers, msl-cpu compile and cache,
 * dispatch paths (including edge threadgroups and packed records), events, misuse and errors.
 * Prints figures (compile times, encode cost) and ends with "cpu shim smoke: N passed, M failed".
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../include/mlxn.h"
#include "../../include/mlxn_packed.h"

static int passed, failed;

#define CHECK(cond, ...)                                 \
  do {                                                   \
    if (cond) {                                          \
      ++passed;                                          \
    } else {                                             \
      ++failed;                                          \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);        \
      printf(__VA_ARGS__);                               \
      printf(" [last error: %s]\n", mlxn_last_error()); \
    }                                                    \
  } while (0)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *kElementwise =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "template <typename T>\n"
    "kernel void elementwise_add(device const T* a [[buffer(0)]], device const T* b [[buffer(1)]],\n"
    "                            device T* out [[buffer(2)]], constant uint& n [[buffer(3)]],\n"
    "                            uint gid [[thread_position_in_grid]]) {\n"
    "  if (gid >= n) return;\n"
    "  out[gid] = static_cast<T>(float(a[gid]) + float(b[gid]));\n"
    "}\n"
    "template [[host_name(\"smoke_add_f32\")]] kernel void elementwise_add<float>(device const float*, device const float*, device float*, constant uint&, uint);\n"
    "template [[host_name(\"smoke_add_f16\")]] kernel void elementwise_add<half>(device const half*, device const half*, device half*, constant uint&, uint);\n"
    "template [[host_name(\"smoke_add_bf16\")]] [[kernel]] decltype(elementwise_add<bfloat>) elementwise_add<bfloat>;\n"
    "// per-thread builtins, to check edge threadgroups and vector constructors\n"
    "kernel void ids(device uint4* out [[buffer(0)]], uint2 gid [[thread_position_in_grid]],\n"
    "                uint2 size [[threads_per_threadgroup]], ushort2 lid [[thread_position_in_threadgroup]],\n"
    "                uint2 group [[threadgroup_position_in_grid]], uint2 grid [[threads_per_grid]],\n"
    "                uint index [[thread_index_in_threadgroup]]) {\n"
    "  out[gid.y * grid.x + gid.x] = uint4(size.x * 1000 + size.y, uint(lid.x), group.x + group.y * 100, index);\n"
    "}\n"
    "inline float reduce_helper(float x) { return simd_sum(x); }\n"
    "kernel void needs_simd(device float* o [[buffer(0)]], uint i [[thread_position_in_grid]]) {\n"
    "  o[i] = reduce_helper(o[i]);\n"
    "}\n";

static const char *kConstants =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "constant bool add_bias [[function_constant(0)]];\n"
    "constant int scale [[function_constant(1)]];\n"
    "constant float offset [[function_constant(2)]];\n"
    "kernel void affine(device float* out [[buffer(0)]], uint i [[thread_position_in_grid]]) {\n"
    "  float v = float(i);\n"
    "  if (is_function_constant_defined(scale)) v *= float(scale);\n"
    "  if (add_bias) v += 1000.0f;\n"
    "  if (is_function_constant_defined(offset)) v += offset;\n"
    "  out[i] = v;\n"
    "}\n";

static const char *kBroken =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void broken(device float* o [[buffer(0)]], uint i [[thread_position_in_grid]]) {\n"
    "  o[i] = undefined_thing;\n"
    "}\n";

/* Pre-pass corner cases: look-alike kernels in comments and strings, macros, namespaces, a
 * multi-line instantiation of a two-parameter template, half literals, vector constructors. */
static const char *kTricky =
    "#include <metal_stdlib>\n"
    "#include <metal_math>\n"
    "#pragma METAL internals : enable\n"
    "using namespace metal;\n"
    "/* kernel void fake_comment(device float* x [[buffer(0)]]) {} */\n"
    "// kernel void fake_line(device float* x [[buffer(0)]]) {}\n"
    "#define SCALE(x) ((x) * 2.0h)\n"
    "#define SYNC() threadgroup_barrier(mem_flags::mem_threadgroup)\n"
    "struct Params { uint n; float alpha; };\n"
    "constant constexpr float kOffset = 0.25f;\n"
    "namespace ops {\n"
    "inline float twice(float x) { return float(SCALE(half(x))); }\n"
    "template <typename T, int N>\n"
    "[[kernel]] void\n"
    "scaled(device const T* in [[buffer(0)]],\n"
    "       device float* out [[buffer(1)]],\n"
    "       constant Params& p [[buffer(2)]],\n"
    "       uint i [[thread_position_in_grid]])\n"
    "{\n"
    "  const char* s = \"[[buffer(9)]] kernel void in_string(\";\n"
    "  (void)s;\n"
    "  if (i >= p.n) return;\n"
    "  float4 v = float4(float(in[i]), 1.0f, float2(2.0f, 3.0f));\n"
    "  out[i] = twice(v.x) * p.alpha + kOffset + float(N) + dot(v.yzw, float3(0, 0, 0));\n"
    "}\n"
    "}  // namespace ops\n"
    "template [[host_name(\"scaled_f16\")]] [[kernel]] void ops::scaled<half, 3>(\n"
    "    device const half*, device float*, constant Params&, uint);\n"
    "kernel void uses_macro_barrier(device float* o [[buffer(0)]], uint i [[thread_position_in_grid]]) { SYNC(); o[i] = 0; }\n"
    "kernel void uses_tg(device float* o [[buffer(0)]], threadgroup float* t [[threadgroup(0)]],\n"
    "                    uint i [[thread_position_in_grid]]) { t[0] = 1; o[i] = t[0]; }\n"
    "kernel void conversions(device float* o [[buffer(0)]], uint i [[thread_position_in_grid]]) {\n"
    "  float4 v = float4(1.5f, -2.5f, 3.25f, 4.0f);\n"
    "  int4 iv = int4(v);\n"
    "  float4 back = float4(iv);\n"
    "  half4 hv = half4(v);\n"
    "  bfloat4 bv = bfloat4(hv);\n"
    "  float2 f2 = float2(3.0f);\n"
    "  o[0] = back.y; o[1] = float(hv.z); o[2] = float(bv.x); o[3] = f2.y;\n"
    "  o[4] = float(as_type<uint>(1.0f) == 0x3f800000u); o[5] = select(1.0f, 2.0f, v.x > 1.0f);\n"
    "  o[6] = clamp(5.0f, 0.0f, 1.0f); o[7] = float(max(3u, 7u)); o[8] = float4(int2(1, 2), 3, 4).w;\n"
    "  o[9] = metal::fast::exp(0.0f) + precise::sqrt(4.0f) + float(isnan(NAN)) + M_PI_F * 0.0f;\n"
    "}\n"
    "struct Reducer { float operator()(float x) const { return simd_sum(x); } };\n"
    "kernel void class_simd(device float* o [[buffer(0)]], uint i [[thread_position_in_grid]]) { o[i] = Reducer{}(o[i]); }\n"
    "#define PASTE(a, b) a##b\n"
    "kernel void hidden_simd(device float* o [[buffer(0)]], uint i [[thread_position_in_grid]]) { o[i] = PASTE(simd_, sum)(o[i]); }\n"
    "[[max_total_threads_per_threadgroup(64)]]\n"
    "kernel void small_groups(device uint* o [[buffer(0)]], uint i [[thread_position_in_grid]]) { o[i] = i; }\n";

/* The fiber runtime through the C ABI: a block-scope threadgroup array, a barrier, and a barrier
 * that threads which returned early can never complete. */
static const char *kFibers =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void reverse(device uint* o [[buffer(0)]], uint tid [[thread_index_in_threadgroup]],\n"
    "                    uint n [[threads_per_threadgroup]], uint g [[threadgroup_position_in_grid]]) {\n"
    "  threadgroup uint t[256];\n"
    "  t[tid] = tid + 1000 * g;\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  o[g * n + tid] = t[n - 1 - tid];\n"
    "}\n"
    "kernel void early(device uint* o [[buffer(0)]], uint tid [[thread_index_in_threadgroup]]) {\n"
    "  if (tid == 3) return;\n"
    "  threadgroup_barrier(mem_flags::mem_device);\n"
    "  o[tid] = 1;\n"
    "}\n";

static uint16_t f32_to_f16(float f) {
  _Float16 h = (_Float16)f;
  uint16_t u;
  memcpy(&u, &h, 2);
  return u;
}
static float f16_to_f32(uint16_t u) {
  _Float16 h;
  memcpy(&h, &u, 2);
  return (float)h;
}
static uint16_t f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
static float bf16_to_f32(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static int count_objects(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  if (!d) return -1;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len > 3 && strcmp(e->d_name + len - 3, ".so") == 0) ++n;
  }
  closedir(d);
  return n;
}

static mlxn_buffer_t new_buffer(mlxn_device_t dev, uint64_t bytes) {
  mlxn_buffer_t b = NULL;
  int32_t rc = mlxn_buffer_new(dev, bytes, &b);
  CHECK(rc == MLXN_OK && b, "buffer_new(%llu)", (unsigned long long)bytes);
  return b;
}

static int run_cb(mlxn_command_buffer_t cb) {
  CHECK(mlxn_command_buffer_commit(cb) == MLXN_OK, "commit");
  CHECK(mlxn_command_buffer_wait(cb) == MLXN_OK, "wait");
  return mlxn_command_buffer_status(cb);
}

/* One dispatch of `p` with `b` at [[buffer(0)]], in a command buffer of its own, committed and
 * waited for; the caller reads its status and error, then frees it. */
static mlxn_command_buffer_t dispatch1(mlxn_device_t dev, mlxn_pipeline_t p, mlxn_buffer_t b, int threadgroups,
                                       uint32_t gx, uint32_t gy, uint32_t tx, uint32_t ty) {
  mlxn_command_buffer_t cb = NULL;
  mlxn_compute_encoder_t enc = NULL;
  CHECK(mlxn_command_buffer_new(dev, &cb) == MLXN_OK && mlxn_compute_encoder_new(cb, &enc) == MLXN_OK, "cb");
  mlxn_compute_encoder_set_pipeline(enc, p);
  mlxn_compute_encoder_set_buffer(enc, b, 0, 0);
  if (threadgroups) mlxn_compute_encoder_dispatch_threadgroups(enc, gx, gy, 1, tx, ty, 1);
  else mlxn_compute_encoder_dispatch_threads(enc, gx, gy, 1, tx, ty, 1);
  mlxn_compute_encoder_end(enc);
  run_cb(cb);
  return cb;
}

/* Writes a packed dispatch record (mlxn_packed.h) for one 3- or 4-binding elementwise dispatch. */
static uint64_t pack(uint32_t *r, uint32_t kind, mlxn_pipeline_t p, mlxn_buffer_t *bufs, int nbuf,
                     uint32_t n, uint32_t grid, uint32_t group) {
  const uint32_t grid3[3] = {grid, 1, 1}, group3[3] = {group, 1, 1};
  uint64_t w = mlxn_packed_write_header(r, kind, p, (uint32_t)nbuf, 1, 0, grid3, group3);
  for (int i = 0; i < nbuf; ++i) w = mlxn_packed_write_buffer(r, w, (uint32_t)i, bufs[i], 0);
  w = mlxn_packed_write_inline(r, w, (uint32_t)nbuf, &n, sizeof n);
  return w * 4;
}

int main(void) {
  char cache[] = "/tmp/mlxn-cpu-smoke-XXXXXX";
  if (!mkdtemp(cache)) { perror("mkdtemp"); return 1; }

  CHECK(mlxn_abi_version() == MLXN_ABI_VERSION, "abi version");
  CHECK(strcmp(mlxn_backend_name(), "cpu") == 0, "backend name");

  /* device */
  mlxn_device_t dev = NULL;
  CHECK(mlxn_device_open(&dev) == MLXN_OK && dev, "device_open");
  if (!dev) return 1;
  CHECK(strstr(mlxn_device_name(dev), "msl-cpu") != NULL, "device name '%s'", mlxn_device_name(dev));
  CHECK(mlxn_device_limit(dev, MLXN_LIMIT_MAX_THREADS_PER_THREADGROUP) == 1024, "max threads");
  CHECK(mlxn_device_limit(dev, MLXN_LIMIT_MAX_THREADGROUP_MEMORY) == 32768, "tg memory");
  CHECK(mlxn_device_limit(dev, MLXN_LIMIT_SIMD_WIDTH) == 32, "simd width");
  CHECK(mlxn_device_limit(dev, MLXN_LIMIT_HAS_RESIDENCY_SETS) == 0, "residency sets");
  CHECK(mlxn_device_limit(dev, MLXN_LIMIT_HAS_UNIFIED_MEMORY) == 1, "unified memory");
  CHECK(mlxn_device_limit(dev, MLXN_LIMIT_MAX_INLINE_BYTES) == 4095, "inline bytes");
  CHECK(mlxn_device_limit(dev, MLXN_LIMIT_MAX_BUFFER_BINDINGS) == 31, "bindings");
  CHECK(mlxn_device_limit(dev, MLXN_LIMIT_WORKER_THREADS) >= 1, "worker threads");
  CHECK(mlxn_device_limit(dev, MLXN_LIMIT_MAX_BUFFER_LENGTH) >= (1ull << 30), "max buffer length");
  CHECK(mlxn_device_limit(dev, 999) == 0, "unknown limit");
  CHECK(mlxn_device_set_option(dev, "msl_cpu.cache_dir", cache) == MLXN_OK, "cache_dir option");
  CHECK(mlxn_device_set_option(dev, "no.such.key", "x") == MLXN_OK, "unknown option");
  CHECK(mlxn_device_set_option(dev, "msl_cpu.sanitize", "2") == MLXN_ERR_INVALID_ARGUMENT, "bad sanitize");
  CHECK(mlxn_device_set_option(dev, "msl_cpu.threads", "lots") == MLXN_ERR_INVALID_ARGUMENT, "bad threads");
  CHECK(mlxn_device_set_option(dev, "msl_cpu.threads", "2") == MLXN_OK, "threads option");
  CHECK(strstr(mlxn_device_name(dev), "2 threads") != NULL, "renamed '%s'", mlxn_device_name(dev));
  CHECK(mlxn_capture_begin(dev) == MLXN_ERR_UNSUPPORTED && strstr(mlxn_last_error(), "Metal"), "capture");

  /* buffers */
  mlxn_buffer_t tmp = NULL;
  CHECK(mlxn_buffer_new(dev, 0, &tmp) == MLXN_ERR_INVALID_ARGUMENT, "zero-length buffer");
  CHECK(mlxn_buffer_new(dev, UINT64_MAX / 2, &tmp) == MLXN_ERR_OUT_OF_MEMORY &&
            strstr(mlxn_last_error(), "9223372036854775807"), "huge buffer");
  mlxn_buffer_t small = new_buffer(dev, 100), big = new_buffer(dev, 1 << 20);
  const unsigned char *sp = mlxn_buffer_contents(small), *bp = mlxn_buffer_contents(big);
  int zero = ((uintptr_t)sp % 64) == 0 && ((uintptr_t)bp % 64) == 0;
  for (int i = 0; i < 100; ++i) zero &= sp[i] == 0;
  for (int i = 0; i < (1 << 20); ++i) zero &= bp[i] == 0;
  CHECK(zero, "buffers zero-filled and aligned");
  CHECK(mlxn_buffer_length(small) == 100, "buffer length");
  mlxn_buffer_free(small);
  mlxn_buffer_free(big);

  /* residency sets are accepted and do nothing */
  mlxn_residency_set_t rs = NULL;
  CHECK(mlxn_residency_set_new(dev, "weights", &rs) == MLXN_OK && rs, "residency set");
  CHECK(mlxn_residency_set_add(rs, NULL) == MLXN_ERR_INVALID_ARGUMENT, "residency null buffer");
  CHECK(mlxn_residency_set_commit(rs) == MLXN_OK && mlxn_residency_set_attach(rs, dev) == MLXN_OK, "residency");
  mlxn_residency_set_free(rs);

  /* compile: cold, then a second library from the same source hits the cache */
  mlxn_library_t lib = NULL, lib2 = NULL;
  double t0 = now();
  int32_t rc = mlxn_library_new_source(dev, kElementwise, strlen(kElementwise),
                                       "kernels/elementwise.metal", &lib);
  double cold = now() - t0;
  CHECK(rc == MLXN_OK && lib, "compile elementwise");
  if (!lib) { printf("%s\n", mlxn_last_error()); return 1; }
  int objects = count_objects(cache);
  t0 = now();
  rc = mlxn_library_new_source(dev, kElementwise, strlen(kElementwise), "kernels/elementwise.metal", &lib2);
  double warm = now() - t0;
  CHECK(rc == MLXN_OK && count_objects(cache) == objects && objects == 1, "cache hit (%d objects)", objects);
  printf("compile elementwise.metal: cold %.0f ms, cached %.2f ms\n", cold * 1e3, warm * 1e3);
  mlxn_library_free(lib2);

  mlxn_pipeline_t p32 = NULL, p16 = NULL, pbf = NULL, pids = NULL, psimd = NULL, pmissing = NULL;
  CHECK(mlxn_pipeline_new(lib, "smoke_add_f32", NULL, 0, "add_f32", &p32) == MLXN_OK, "pipeline f32");
  CHECK(mlxn_pipeline_new(lib, "smoke_add_f16", NULL, 0, "add_f16", &p16) == MLXN_OK, "pipeline f16");
  CHECK(mlxn_pipeline_new(lib, "smoke_add_bf16", NULL, 0, "add_bf16", &pbf) == MLXN_OK, "pipeline bf16");
  CHECK(mlxn_pipeline_new(lib, "ids", NULL, 0, "ids", &pids) == MLXN_OK, "pipeline ids");
  CHECK(mlxn_pipeline_new(lib, "nope", NULL, 0, "", &pmissing) == MLXN_ERR_NOT_FOUND &&
            strstr(mlxn_last_error(), "nope"), "missing function");
  CHECK(mlxn_pipeline_new(lib, "needs_simd", NULL, 0, "", &psimd) == MLXN_OK, "simd kernel pipeline");
  if (!p32 || !p16 || !pbf || !pids || !psimd) return 1;
  CHECK(mlxn_pipeline_thread_execution_width(p32) == 32, "execution width");
  CHECK(mlxn_pipeline_max_total_threads_per_threadgroup(p32) == 1024, "max total threads");

  /* f32 through the individual calls: 1000 elements in groups of 256 (a 232-thread edge group) */
  const uint32_t n = 1000;
  mlxn_buffer_t a = new_buffer(dev, n * 4), b = new_buffer(dev, n * 4), out = new_buffer(dev, n * 4);
  float *af = mlxn_buffer_contents(a), *bf = mlxn_buffer_contents(b), *of = mlxn_buffer_contents(out);
  for (uint32_t i = 0; i < n; ++i) { af[i] = (float)i * 0.5f; bf[i] = 1.0f - (float)i; }
  mlxn_command_buffer_t cb = NULL;
  mlxn_compute_encoder_t enc = NULL;
  CHECK(mlxn_command_buffer_new(dev, &cb) == MLXN_OK, "cb new");
  CHECK(strcmp(mlxn_command_buffer_label(cb), "") == 0, "empty label");
  mlxn_command_buffer_set_label(cb, "f32-add");
  CHECK(strcmp(mlxn_command_buffer_label(cb), "f32-add") == 0, "label");
  CHECK(mlxn_command_buffer_status(cb) == MLXN_CB_STATUS_NOT_ENQUEUED, "not enqueued");
  CHECK(mlxn_compute_encoder_new(cb, &enc) == MLXN_OK, "encoder");
  mlxn_compute_encoder_t enc2 = NULL;
  mlxn_compute_encoder_set_pipeline(enc, p32);
  mlxn_compute_encoder_set_buffer(enc, a, 0, 0);
  mlxn_compute_encoder_set_buffer(enc, b, 0, 1);
  mlxn_compute_encoder_set_buffer(enc, out, 0, 2);
  mlxn_compute_encoder_set_bytes(enc, &n, 4, 3);
  mlxn_compute_encoder_dispatch_threads(enc, n, 1, 1, 256, 1, 1);
  CHECK(mlxn_command_buffer_commit(cb) == MLXN_ERR_INVALID_ARGUMENT, "commit with open encoder");
  mlxn_compute_encoder_end(enc);
  mlxn_command_buffer_free(cb); /* discards an uncommitted buffer (now marked failed anyway) */

  CHECK(mlxn_command_buffer_new(dev, &cb) == MLXN_OK, "cb new");
  CHECK(mlxn_compute_encoder_new(cb, &enc) == MLXN_OK, "encoder");
  mlxn_compute_encoder_set_label(enc, "adds");
  mlxn_compute_encoder_set_pipeline(enc, p32);
  mlxn_compute_encoder_set_buffer(enc, a, 0, 0);
  mlxn_compute_encoder_set_buffer(enc, b, 0, 1);
  mlxn_compute_encoder_set_buffer(enc, out, 0, 2);
  mlxn_compute_encoder_set_bytes(enc, &n, 4, 3);
  mlxn_compute_encoder_dispatch_threads(enc, n, 1, 1, 256, 1, 1);
  mlxn_compute_encoder_end(enc);
  CHECK(run_cb(cb) == MLXN_CB_STATUS_COMPLETED, "f32 cb completed: %s", mlxn_command_buffer_error(cb));
  int ok = 1;
  for (uint32_t i = 0; i < n; ++i) ok &= of[i] == af[i] + bf[i];
  CHECK(ok, "f32 results");
  double ts = mlxn_command_buffer_gpu_start_time(cb), te = mlxn_command_buffer_gpu_end_time(cb);
  CHECK(ts > 0 && te >= ts, "gpu times %f %f", ts, te);
  mlxn_command_buffer_free(cb);

  /* dispatch_threadgroups: 4 full groups of 256, the kernel's guard drops the last 24 threads */
  memset(of, 0, n * 4);
  CHECK(mlxn_command_buffer_new(dev, &cb) == MLXN_OK, "cb new");
  CHECK(mlxn_compute_encoder_new(cb, &enc) == MLXN_OK, "encoder");
  CHECK(mlxn_compute_encoder_new(cb, &enc2) == MLXN_ERR_INVALID_ARGUMENT, "second encoder");
  mlxn_compute_encoder_end(enc);
  mlxn_command_buffer_free(cb);
  CHECK(mlxn_command_buffer_new(dev, &cb) == MLXN_OK, "cb new");
  CHECK(mlxn_compute_encoder_new(cb, &enc) == MLXN_OK, "encoder");
  mlxn_compute_encoder_set_pipeline(enc, p32);
  mlxn_compute_encoder_set_buffer(enc, a, 0, 0);
  mlxn_compute_encoder_set_buffer(enc, b, 0, 1);
  mlxn_compute_encoder_set_buffer(enc, out, 0, 2);
  mlxn_compute_encoder_set_bytes(enc, &n, 4, 3);
  mlxn_compute_encoder_dispatch_threadgroups(enc, 4, 1, 1, 256, 1, 1);
  mlxn_compute_encoder_end(enc);
  CHECK(run_cb(cb) == MLXN_CB_STATUS_COMPLETED, "threadgroups cb");
  ok = 1;
  for (uint32_t i = 0; i < n; ++i) ok &= of[i] == af[i] + bf[i];
  CHECK(ok, "dispatch_threadgroups results");
  mlxn_command_buffer_free(cb);

  /* f16 and bf16 through dispatch_packed */
  mlxn_buffer_t ha = new_buffer(dev, n * 2), hb = new_buffer(dev, n * 2), ho = new_buffer(dev, n * 2);
  mlxn_buffer_t ba = new_buffer(dev, n * 2), bb = new_buffer(dev, n * 2), bo = new_buffer(dev, n * 2);
  uint16_t *h0 = mlxn_buffer_contents(ha), *h1 = mlxn_buffer_contents(hb), *h2 = mlxn_buffer_contents(ho);
  uint16_t *b0 = mlxn_buffer_contents(ba), *b1 = mlxn_buffer_contents(bb), *b2 = mlxn_buffer_contents(bo);
  for (uint32_t i = 0; i < n; ++i) {
    h0[i] = f32_to_f16((float)i * 0.25f); h1[i] = f32_to_f16(3.0f - (float)i * 0.125f);
    b0[i] = f32_to_bf16((float)i * 1.5f); b1[i] = f32_to_bf16(-2.0f * (float)i + 7.0f);
  }
  uint32_t rec[64];
  mlxn_buffer_t hbufs[3] = {ha, hb, ho}, bbufs[3] = {ba, bb, bo};
  CHECK(mlxn_command_buffer_new(dev, &cb) == MLXN_OK, "cb new");
  CHECK(mlxn_compute_encoder_new(cb, &enc) == MLXN_OK, "encoder");
  uint64_t len = pack(rec, MLXN_PACKED_DISPATCH_THREADS, p16, hbufs, 3, n, n, 256);
  mlxn_compute_encoder_dispatch_packed(enc, rec, len);
  mlxn_compute_encoder_memory_barrier(enc);
  len = pack(rec, MLXN_PACKED_DISPATCH_THREADS, pbf, bbufs, 3, n, n, 128);
  mlxn_compute_encoder_dispatch_packed(enc, rec, len);
  mlxn_compute_encoder_end(enc);
  CHECK(run_cb(cb) == MLXN_CB_STATUS_COMPLETED, "packed cb: %s", mlxn_command_buffer_error(cb));
  int ok16 = 1, okbf = 1;
  for (uint32_t i = 0; i < n; ++i) {
    float e16 = f16_to_f32(f32_to_f16(f16_to_f32(h0[i]) + f16_to_f32(h1[i])));
    float ebf = bf16_to_f32(f32_to_bf16(bf16_to_f32(b0[i]) + bf16_to_f32(b1[i])));
    ok16 &= f16_to_f32(h2[i]) == e16;
    okbf &= bf16_to_f32(b2[i]) == ebf;
  }
  CHECK(ok16, "f16 results");
  CHECK(okbf, "bf16 results");
  mlxn_command_buffer_free(cb);

  /* builtins of a 2D dispatch with edge groups in x and y: grid 10x3, groups 4x2 */
  mlxn_buffer_t idb = new_buffer(dev, 30 * 16);
  cb = dispatch1(dev, pids, idb, 0, 10, 3, 4, 2);
  CHECK(mlxn_command_buffer_status(cb) == MLXN_CB_STATUS_COMPLETED, "ids cb: %s", mlxn_command_buffer_error(cb));
  const uint32_t *idv = mlxn_buffer_contents(idb);
  ok = 1;
  for (uint32_t y = 0; y < 3; ++y)
    for (uint32_t x = 0; x < 10; ++x) {
      const uint32_t *v = idv + (y * 10 + x) * 4;
      uint32_t sx = x >= 8 ? 2 : 4, sy = y >= 2 ? 1 : 2;
      uint32_t want[4] = {sx * 1000 + sy, x % 4, x / 4 + (y / 2) * 100, (y % 2) * sx + x % 4};
      if (memcmp(v, want, 16) != 0) {
        if (ok) printf("  ids(%u,%u) = %u %u %u %u, want %u %u %u %u\n", x, y, v[0], v[1], v[2], v[3],
                       want[0], want[1], want[2], want[3]);
        ok = 0;
      }
    }
  CHECK(ok, "edge-group builtins");
  mlxn_command_buffer_free(cb);
  mlxn_buffer_free(idb);

  /* a collective through a helper function runs on fibers: simd_sum per 32 threads */
  {
    mlxn_buffer_t sb = new_buffer(dev, 100 * 4);
    float *sv = mlxn_buffer_contents(sb);
    for (int i = 0; i < 100; ++i) sv[i] = (float)i;
    cb = dispatch1(dev, psimd, sb, 0, 100, 1, 64, 1); /* groups of 64 and 36 */
    CHECK(mlxn_command_buffer_status(cb) == MLXN_CB_STATUS_COMPLETED, "simd cb: %s", mlxn_command_buffer_error(cb));
    ok = 1;
    for (int i = 0; i < 100; ++i) {
      int lo = i / 32 * 32, hi = lo + 32 < 100 ? lo + 32 : 100; /* the last SIMD-group has 4 lanes */
      if (i >= 64) { lo = 64 + (i - 64) / 32 * 32; hi = lo + 32 < 100 ? lo + 32 : 100; }
      float want = 0;
      for (int j = lo; j < hi; ++j) want += (float)j;
      if (sv[i] != want) { if (ok) printf("  simd_sum[%d] = %g, want %g\n", i, sv[i], want); ok = 0; }
    }
    CHECK(ok, "simd_sum through a helper");
    mlxn_command_buffer_free(cb);
    mlxn_buffer_free(sb);
  }

  /* a large dispatch over the pool: 1M elements */
  const uint32_t N = 1 << 20;
  mlxn_buffer_t la = new_buffer(dev, N * 4), lb = new_buffer(dev, N * 4), lo = new_buffer(dev, N * 4);
  float *lav = mlxn_buffer_contents(la), *lbv = mlxn_buffer_contents(lb), *lov = mlxn_buffer_contents(lo);
  for (uint32_t i = 0; i < N; ++i) { lav[i] = (float)(i % 1000); lbv[i] = (float)(i / 1000); }
  CHECK(mlxn_command_buffer_new(dev, &cb) == MLXN_OK, "cb new");
  CHECK(mlxn_compute_encoder_new(cb, &enc) == MLXN_OK, "encoder");
  mlxn_buffer_t lbufs[3] = {la, lb, lo};
  len = pack(rec, MLXN_PACKED_DISPATCH_THREADS, p32, lbufs, 3, N, N, 1024);
  mlxn_compute_encoder_dispatch_packed(enc, rec, len);
  mlxn_compute_encoder_end(enc);
  CHECK(run_cb(cb) == MLXN_CB_STATUS_COMPLETED, "large cb");
  ok = 1;
  for (uint32_t i = 0; i < N; ++i) ok &= lov[i] == lav[i] + lbv[i];
  CHECK(ok, "large dispatch results");
  printf("1M-element f32 add: %.2f ms (%u executors)\n",
         (mlxn_command_buffer_gpu_end_time(cb) - mlxn_command_buffer_gpu_start_time(cb)) * 1e3,
         (unsigned)mlxn_device_limit(dev, MLXN_LIMIT_WORKER_THREADS));
  mlxn_command_buffer_free(cb);

  /* events across command buffers: cb1 computes out and signals 1; cb2 waits, then adds again */
  mlxn_event_t ev = NULL;
  CHECK(mlxn_event_new(dev, &ev) == MLXN_OK && mlxn_event_signaled_value(ev) == 0, "event");
  mlxn_command_buffer_t cb1 = NULL, cb2 = NULL;
  memset(of, 0, n * 4);
  mlxn_buffer_t o2 = new_buffer(dev, n * 4);
  mlxn_buffer_t first[3] = {a, b, out}, second[3] = {out, b, o2};
  CHECK(mlxn_command_buffer_new(dev, &cb1) == MLXN_OK && mlxn_command_buffer_new(dev, &cb2) == MLXN_OK, "cbs");
  CHECK(mlxn_compute_encoder_new(cb1, &enc) == MLXN_OK, "enc1");
  len = pack(rec, MLXN_PACKED_DISPATCH_THREADGROUPS, p32, first, 3, n, 4, 256);
  mlxn_compute_encoder_dispatch_packed(enc, rec, len);
  mlxn_compute_encoder_end(enc);
  CHECK(mlxn_command_buffer_encode_signal_event(cb1, ev, 1) == MLXN_OK, "signal");
  CHECK(mlxn_command_buffer_encode_wait_event(cb2, ev, 1) == MLXN_OK, "wait event");
  CHECK(mlxn_compute_encoder_new(cb2, &enc) == MLXN_OK, "enc2");
  CHECK(mlxn_command_buffer_encode_signal_event(cb2, ev, 2) == MLXN_ERR_INVALID_ARGUMENT, "event with open encoder");
  len = pack(rec, MLXN_PACKED_DISPATCH_THREADS, p32, second, 3, n, n, 64);
  mlxn_compute_encoder_dispatch_packed(enc, rec, len);
  mlxn_compute_encoder_end(enc);
  CHECK(mlxn_command_buffer_commit(cb1) == MLXN_OK && mlxn_command_buffer_commit(cb2) == MLXN_OK, "commit both");
  CHECK(mlxn_command_buffer_commit(cb2) == MLXN_ERR_INVALID_ARGUMENT, "double commit");
  mlxn_command_buffer_wait(cb2);
  CHECK(mlxn_command_buffer_status(cb1) == MLXN_CB_STATUS_COMPLETED &&
            mlxn_command_buffer_status(cb2) == MLXN_CB_STATUS_COMPLETED, "both completed");
  CHECK(mlxn_event_signaled_value(ev) == 1, "event value %llu", (unsigned long long)mlxn_event_signaled_value(ev));
  const float *o2v = mlxn_buffer_contents(o2);
  ok = 1;
  for (uint32_t i = 0; i < n; ++i) ok &= o2v[i] == (af[i] + bf[i]) + bf[i];
  CHECK(ok, "event-ordered results");
  mlxn_command_buffer_free(cb1);
  mlxn_command_buffer_free(cb2);

  /* misuse: a dispatch without a pipeline fails its command buffer, the next one still runs */
  CHECK(mlxn_command_buffer_new(dev, &cb1) == MLXN_OK && mlxn_command_buffer_new(dev, &cb2) == MLXN_OK, "cbs");
  mlxn_command_buffer_set_label(cb1, "broken");
  CHECK(mlxn_compute_encoder_new(cb1, &enc) == MLXN_OK, "enc");
  mlxn_compute_encoder_set_buffer(enc, a, 0, 0);
  mlxn_compute_encoder_dispatch_threads(enc, 4, 1, 1, 4, 1, 1);
  mlxn_compute_encoder_set_buffer(enc, a, 0, 40); /* a later misuse does not replace the first */
  mlxn_compute_encoder_end(enc);
  CHECK(mlxn_command_buffer_encode_signal_event(cb1, ev, 5) == MLXN_OK, "signal on failing cb");
  CHECK(mlxn_compute_encoder_new(cb2, &enc) == MLXN_OK, "enc");
  uint32_t bad[16] = {0, 1000, 0, 0};
  mlxn_compute_encoder_dispatch_packed(enc, bad, sizeof bad); /* claims 1000 bindings in 64 bytes */
  mlxn_compute_encoder_end(enc);
  mlxn_command_buffer_t cb3 = NULL;
  CHECK(mlxn_command_buffer_new(dev, &cb3) == MLXN_OK, "cb3");
  CHECK(mlxn_compute_encoder_new(cb3, &enc) == MLXN_OK, "enc");
  len = pack(rec, MLXN_PACKED_DISPATCH_THREADS, p32, first, 3, n, n, 256);
  mlxn_compute_encoder_dispatch_packed(enc, rec, len);
  mlxn_compute_encoder_end(enc);
  CHECK(run_cb(cb1) == MLXN_CB_STATUS_ERROR, "misuse -> error status");
  CHECK(strstr(mlxn_command_buffer_error(cb1), "without a pipeline") &&
            strstr(mlxn_command_buffer_error(cb1), "broken"), "misuse message '%s'", mlxn_command_buffer_error(cb1));
  CHECK(mlxn_event_signaled_value(ev) == 5, "failed cb still signals");
  CHECK(run_cb(cb2) == MLXN_CB_STATUS_ERROR && strstr(mlxn_command_buffer_error(cb2), "malformed"),
        "malformed packed record '%s'", mlxn_command_buffer_error(cb2));
  CHECK(run_cb(cb3) == MLXN_CB_STATUS_COMPLETED, "next cb completes");
  mlxn_command_buffer_free(cb1);
  mlxn_command_buffer_free(cb2);
  mlxn_command_buffer_free(cb3);

  /* mlxn_packed.h: what the writers write, the reader reads back; malformed records are named */
  {
    uint32_t r[64] = {0};
    const uint32_t grid[3] = {7, 2, 1}, group[3] = {32, 1, 1};
    const float scale = 0.5f;
    const uint8_t three[3] = {1, 2, 3};
    uint64_t w = mlxn_packed_write_header(r, MLXN_PACKED_DISPATCH_THREADGROUPS, p32, 2, 2, 1, grid, group);
    w = mlxn_packed_write_buffer(r, w, 0, a, 0);
    w = mlxn_packed_write_buffer(r, w, 5, b, (uint64_t)1 << 33);
    w = mlxn_packed_write_threadgroup_memory(r, w, 1, 4096);
    w = mlxn_packed_write_inline(r, w, 3, &scale, sizeof scale);
    w = mlxn_packed_write_inline(r, w, 4, three, sizeof three);
    mlxn_packed_reader rd;
    CHECK(mlxn_packed_open(&rd, r, sizeof r) == NULL, "packed: well-formed record opens (trailing words ignored)");
    CHECK(rd.words == w && rd.kind == MLXN_PACKED_DISPATCH_THREADGROUPS && rd.pipeline == p32, "packed: header");
    CHECK(rd.grid[0] == 7 && rd.grid[1] == 2 && rd.group[0] == 32 && rd.n_buffers == 2 &&
              rd.n_threadgroup_memory == 1 && rd.n_inline == 2, "packed: counts and sizes");
    mlxn_packed_buffer e1 = mlxn_packed_buffer_at(&rd, 1);
    CHECK(e1.index == 5 && e1.buffer == b && e1.offset == (uint64_t)1 << 33, "packed: 64-bit buffer offset");
    mlxn_packed_threadgroup_memory t0 = mlxn_packed_threadgroup_memory_at(&rd, 0);
    CHECK(t0.index == 1 && t0.length == 4096, "packed: threadgroup memory entry");
    mlxn_packed_inline i0 = mlxn_packed_next_inline(&rd), i1 = mlxn_packed_next_inline(&rd);
    CHECK(i0.index == 3 && i0.length == 4 && *(const float *)i0.bytes == 0.5f, "packed: first inline entry");
    CHECK(i1.index == 4 && i1.length == 3 && memcmp(i1.bytes, three, 3) == 0, "packed: padded inline entry");
    const char *problem = mlxn_packed_open(&rd, r, (w - 1) * 4);
    CHECK(problem && strstr(problem, "inline-byte entry"), "packed: truncated inline entry '%s'", problem ? problem : "");
    problem = mlxn_packed_open(&rd, r, 11 * 4);
    CHECK(problem && strstr(problem, "12-word header"), "packed: short header '%s'", problem ? problem : "");
    r[MLXN_PACKED_KIND] = 2;
    problem = mlxn_packed_open(&rd, r, sizeof r);
    CHECK(problem && strstr(problem, "kind"), "packed: unknown kind '%s'", problem ? problem : "");
    r[MLXN_PACKED_KIND] = 0;
    r[MLXN_PACKED_N_BUFFERS] = 0xffffffffu;
    problem = mlxn_packed_open(&rd, r, sizeof r);
    CHECK(problem && strstr(problem, "buffer and threadgroup-memory counts"), "packed: huge count '%s'", problem ? problem : "");
  }

  /* objects freed while in flight stay alive until the command buffer completes */
  mlxn_buffer_t fa = new_buffer(dev, N * 4), fb = new_buffer(dev, N * 4), fo = new_buffer(dev, N * 4);
  mlxn_buffer_t fbufs[3] = {fa, fb, fo};
  mlxn_pipeline_t ptmp = NULL;
  CHECK(mlxn_pipeline_new(lib, "smoke_add_f32", NULL, 0, "tmp", &ptmp) == MLXN_OK, "tmp pipeline");
  CHECK(mlxn_command_buffer_new(dev, &cb1) == MLXN_OK, "cb");
  CHECK(mlxn_compute_encoder_new(cb1, &enc) == MLXN_OK, "enc");
  for (int i = 0; i < 8; ++i) {
    len = pack(rec, MLXN_PACKED_DISPATCH_THREADS, ptmp, fbufs, 3, N, N, 256);
    mlxn_compute_encoder_dispatch_packed(enc, rec, len);
  }
  mlxn_compute_encoder_end(enc);
  CHECK(mlxn_command_buffer_encode_signal_event(cb1, ev, 9) == MLXN_OK, "signal 9");
  CHECK(mlxn_command_buffer_commit(cb1) == MLXN_OK, "commit");
  mlxn_command_buffer_free(cb1);
  mlxn_buffer_free(fa); mlxn_buffer_free(fb); mlxn_buffer_free(fo);
  mlxn_pipeline_free(ptmp);
  CHECK(mlxn_command_buffer_new(dev, &cb2) == MLXN_OK, "cb");
  CHECK(mlxn_command_buffer_encode_wait_event(cb2, ev, 9) == MLXN_OK, "wait 9");
  CHECK(run_cb(cb2) == MLXN_CB_STATUS_COMPLETED && mlxn_event_signaled_value(ev) == 9, "in-flight frees");
  mlxn_command_buffer_free(cb2);

  /* compile errors carry the label and the MSL line */
  mlxn_library_t broken = NULL;
  CHECK(mlxn_library_new_source(dev, kBroken, strlen(kBroken), "kernels/broken.metal", &broken) == MLXN_ERR_COMPILE &&
            strstr(mlxn_last_error(), "kernels/broken.metal:4:") && strstr(mlxn_last_error(), "undefined_thing"),
        "compile error");

  /* pre-pass corner cases */
  mlxn_library_t tlib = NULL;
  CHECK(mlxn_library_new_source(dev, kTricky, strlen(kTricky), "tricky.metal", &tlib) == MLXN_OK, "tricky lib");
  if (tlib) {
    mlxn_pipeline_t ps = NULL, px = NULL, psmall = NULL;
    const char *absent[] = {"fake_comment", "fake_line", "in_string", "scaled"};
    for (int i = 0; i < 4; ++i)
      CHECK(mlxn_pipeline_new(tlib, absent[i], NULL, 0, "", &px) == MLXN_ERR_NOT_FOUND, "no '%s'", absent[i]);
    const char *fibers[] = {"uses_macro_barrier", "uses_tg", "class_simd"};
    for (int i = 0; i < 3; ++i) {
      CHECK(mlxn_pipeline_new(tlib, fibers[i], NULL, 0, "", &px) == MLXN_OK, "pipeline '%s'", fibers[i]);
      mlxn_pipeline_free(px);
    }
    /* token pasting hides simd_sum from the pre-pass: the call itself fails the command buffer */
    mlxn_pipeline_t phidden = NULL;
    CHECK(mlxn_pipeline_new(tlib, "hidden_simd", NULL, 0, "hidden", &phidden) == MLXN_OK, "hidden_simd pipeline");
    if (phidden) {
      mlxn_buffer_t hb2 = new_buffer(dev, 64 * 4);
      cb = dispatch1(dev, phidden, hb2, 0, 64, 1, 32, 1);
      CHECK(mlxn_command_buffer_status(cb) == MLXN_CB_STATUS_ERROR && strstr(mlxn_command_buffer_error(cb), "hidden_simd") &&
                strstr(mlxn_command_buffer_error(cb), "simd_sum"), "kernel fault: '%s'", mlxn_command_buffer_error(cb));
      mlxn_command_buffer_free(cb);
      mlxn_buffer_free(hb2);
      mlxn_pipeline_free(phidden);
    }
    CHECK(mlxn_pipeline_new(tlib, "small_groups", NULL, 0, "", &psmall) == MLXN_OK &&
              mlxn_pipeline_max_total_threads_per_threadgroup(psmall) == 64, "max_total_threads attribute");
    CHECK(mlxn_pipeline_new(tlib, "scaled_f16", NULL, 0, "", &ps) == MLXN_OK, "namespaced template kernel");
    if (ps && psmall) {
      struct { uint32_t n; float alpha; } params = {10, 0.5f};
      mlxn_buffer_t in = new_buffer(dev, 32), res = new_buffer(dev, 64), sm = new_buffer(dev, 512);
      uint16_t *inv = mlxn_buffer_contents(in);
      for (int i = 0; i < 16; ++i) inv[i] = f32_to_f16((float)i);
      CHECK(mlxn_command_buffer_new(dev, &cb) == MLXN_OK && mlxn_compute_encoder_new(cb, &enc) == MLXN_OK, "cb");
      mlxn_compute_encoder_set_pipeline(enc, ps);
      mlxn_compute_encoder_set_buffer(enc, in, 0, 0);
      mlxn_compute_encoder_set_buffer(enc, res, 0, 1);
      mlxn_compute_encoder_set_bytes(enc, &params, sizeof params, 2);
      mlxn_compute_encoder_dispatch_threads(enc, 16, 1, 1, 8, 1, 1);
      mlxn_compute_encoder_set_pipeline(enc, psmall);
      mlxn_compute_encoder_set_buffer(enc, sm, 0, 0);
      mlxn_compute_encoder_dispatch_threads(enc, 128, 1, 1, 64, 1, 1);
      mlxn_compute_encoder_end(enc);
      CHECK(run_cb(cb) == MLXN_CB_STATUS_COMPLETED, "tricky cb: %s", mlxn_command_buffer_error(cb));
      const float *rv = mlxn_buffer_contents(res);
      ok = 1;
      for (int i = 0; i < 16; ++i) ok &= rv[i] == (i < 10 ? (float)i + 3.25f : 0.0f);
      CHECK(ok, "tricky results (r[3]=%g)", rv[3]);
      CHECK(((const uint32_t *)mlxn_buffer_contents(sm))[127] == 127, "small groups");
      mlxn_command_buffer_free(cb);
      cb = dispatch1(dev, psmall, sm, 0, 128, 1, 128, 1);
      CHECK(mlxn_command_buffer_status(cb) == MLXN_CB_STATUS_ERROR && strstr(mlxn_command_buffer_error(cb), "1..64"),
            "group above the kernel's maximum: '%s'", mlxn_command_buffer_error(cb));
      mlxn_command_buffer_free(cb);
      mlxn_pipeline_t pc = NULL;
      CHECK(mlxn_pipeline_new(tlib, "conversions", NULL, 0, "", &pc) == MLXN_OK, "conversions pipeline");
      cb = dispatch1(dev, pc, res, 0, 1, 1, 1, 1);
      CHECK(mlxn_command_buffer_status(cb) == MLXN_CB_STATUS_COMPLETED, "conversions cb");
      const float want[10] = {-2, 3.25f, 1.5f, 3, 1, 2, 1, 7, 4, 4};
      for (int i = 0; i < 10; ++i) CHECK(rv[i] == want[i], "conversion %d: %g, want %g", i, rv[i], want[i]);
      mlxn_command_buffer_free(cb);
      mlxn_pipeline_free(pc);
      mlxn_buffer_free(in);
      mlxn_buffer_free(res);
      mlxn_buffer_free(sm);
    }
    mlxn_pipeline_free(ps);
    mlxn_pipeline_free(psmall);
    mlxn_library_free(tlib);
  }
  {
    /* an error after all those constructs is still reported at its own line */
    int lines = 0;
    for (const char *c = kTricky; *c; ++c) lines += *c == '\n';
    char late[4096], want[64];
    snprintf(late, sizeof late, "%skernel void late(device float* o [[buffer(0)]]) { o[0] = nope_late; }\n", kTricky);
    snprintf(want, sizeof want, "tricky.metal:%d:", lines + 1);
    CHECK(mlxn_library_new_source(dev, late, strlen(late), "tricky.metal", &tlib) == MLXN_ERR_COMPILE &&
              strstr(mlxn_last_error(), want), "late error at %s", want);
  }

  /* pre-pass errors honour the #line markers the TS core writes where it inlines a header */
  {
    const char *inlined = "#include <metal_stdlib>\n#line 1 \"kernels/x.h\"\n// header\n"
                          "kernel void k(device float* o) { }\n#line 3 \"kernels/x.metal\"\n";
    mlxn_library_t xl = NULL;
    CHECK(mlxn_library_new_source(dev, inlined, strlen(inlined), "kernels/x.metal", &xl) == MLXN_ERR_COMPILE &&
              strstr(mlxn_last_error(), "kernels/x.h:2:") && strstr(mlxn_last_error(), "no attribute"),
          "pre-pass error location");
  }

  /* a second device, whose compiler option names nothing that exists */
  {
    mlxn_device_t other = NULL;
    mlxn_library_t none = NULL;
    CHECK(mlxn_device_open(&other) == MLXN_OK, "second device");
    CHECK(mlxn_device_set_option(other, "msl_cpu.cxx", "clang++-no-such-version") == MLXN_OK, "cxx option");
    CHECK(mlxn_library_new_source(other, kConstants, strlen(kConstants), "c.metal", &none) == MLXN_ERR_COMPILE &&
              strstr(mlxn_last_error(), "clang++-no-such-version") && strstr(mlxn_last_error(), "make setup"),
          "no compiler message");
    mlxn_device_free(other);
  }

  /* fibers: threadgroup memory and barriers; a divergent barrier fails the command buffer */
  {
    mlxn_library_t flib = NULL;
    mlxn_pipeline_t prev = NULL, pearly = NULL;
    CHECK(mlxn_library_new_source(dev, kFibers, strlen(kFibers), "fibers.metal", &flib) == MLXN_OK, "fibers lib");
    CHECK(flib && mlxn_pipeline_new(flib, "reverse", NULL, 0, "", &prev) == MLXN_OK, "reverse pipeline");
    CHECK(flib && mlxn_pipeline_new(flib, "early", NULL, 0, "", &pearly) == MLXN_OK, "early pipeline");
    if (prev && pearly) {
      CHECK(mlxn_pipeline_static_threadgroup_memory_length(prev) == 1024, "static threadgroup memory %llu",
            (unsigned long long)mlxn_pipeline_static_threadgroup_memory_length(prev));
      mlxn_buffer_t fb = new_buffer(dev, 4 * 256 * 4);
      cb = dispatch1(dev, prev, fb, 1, 4, 1, 256, 1);
      CHECK(mlxn_command_buffer_status(cb) == MLXN_CB_STATUS_COMPLETED, "reverse cb: %s", mlxn_command_buffer_error(cb));
      const uint32_t *fv = mlxn_buffer_contents(fb);
      ok = 1;
      for (uint32_t g = 0; g < 4; ++g)
        for (uint32_t t = 0; t < 256; ++t) ok &= fv[g * 256 + t] == 255 - t + 1000 * g;
      CHECK(ok, "threadgroup array across a barrier");
      mlxn_command_buffer_free(cb);
      cb = dispatch1(dev, pearly, fb, 0, 32, 1, 32, 1);
      CHECK(mlxn_command_buffer_status(cb) == MLXN_CB_STATUS_ERROR && strstr(mlxn_command_buffer_error(cb), "early") &&
                strstr(mlxn_command_buffer_error(cb), "divergent threadgroup_barrier at fibers.metal:12"),
            "divergent barrier: '%s'", mlxn_command_buffer_error(cb));
      mlxn_command_buffer_free(cb);
      mlxn_buffer_free(fb);
    }
    mlxn_pipeline_free(prev);
    mlxn_pipeline_free(pearly);
    mlxn_library_free(flib);
  }

  /* function constants: bool, int and float specialisations */
  mlxn_library_t clib = NULL;
  CHECK(mlxn_library_new_source(dev, kConstants, strlen(kConstants), "constants.metal", &clib) == MLXN_OK, "constants lib");
  if (clib) {
    const uint32_t spec_a[] = {0, MLXN_CONSTANT_BOOL, 1, 1, MLXN_CONSTANT_INT, (uint32_t)-3};
    float half_f = 0.5f;
    uint32_t half_bits;
    memcpy(&half_bits, &half_f, 4);
    const uint32_t spec_b[] = {0, MLXN_CONSTANT_BOOL, 0, 2, MLXN_CONSTANT_FLOAT, half_bits};
    const uint32_t spec_bad[] = {0, 17, 0};
    mlxn_pipeline_t pa = NULL, pb = NULL, px = NULL;
    CHECK(mlxn_pipeline_new(clib, "affine", spec_a, 2, "affine|a", &pa) == MLXN_OK, "spec a");
    CHECK(mlxn_pipeline_new(clib, "affine", spec_b, 2, "affine|b", &pb) == MLXN_OK, "spec b");
    CHECK(mlxn_pipeline_new(clib, "affine", spec_bad, 1, "", &px) == MLXN_ERR_INVALID_ARGUMENT, "bad constant type");
    mlxn_buffer_t ca = new_buffer(dev, 64 * 4), cbuf = new_buffer(dev, 64 * 4);
    CHECK(mlxn_command_buffer_new(dev, &cb) == MLXN_OK, "cb");
    CHECK(mlxn_compute_encoder_new(cb, &enc) == MLXN_OK, "enc");
    mlxn_compute_encoder_set_pipeline(enc, pa);
    mlxn_compute_encoder_set_buffer(enc, ca, 0, 0);
    mlxn_compute_encoder_dispatch_threads(enc, 64, 1, 1, 32, 1, 1);
    mlxn_compute_encoder_set_pipeline(enc, pb);
    mlxn_compute_encoder_set_buffer(enc, cbuf, 0, 0);
    mlxn_compute_encoder_dispatch_threads(enc, 64, 1, 1, 32, 1, 1);
    mlxn_compute_encoder_end(enc);
    CHECK(run_cb(cb) == MLXN_CB_STATUS_COMPLETED, "constants cb");
    const float *cav = mlxn_buffer_contents(ca), *cbv = mlxn_buffer_contents(cbuf);
    ok = 1;
    for (int i = 0; i < 64; ++i) ok &= cav[i] == (float)i * -3.0f + 1000.0f && cbv[i] == (float)i + 0.5f;
    CHECK(ok, "specialised results (a[5]=%g b[5]=%g)", cav[5], cbv[5]);
    mlxn_command_buffer_free(cb);
    mlxn_pipeline_free(pa);
    mlxn_pipeline_free(pb);
    mlxn_buffer_free(ca);
    mlxn_buffer_free(cbuf);
    mlxn_library_free(clib);
  }

  /* encode cost: tight loops of 1000 dispatches per command buffer (not executed) */
  {
    const int per_cb = 1000, rounds = 100;
    uint64_t rl = pack(rec, MLXN_PACKED_DISPATCH_THREADS, p32, first, 3, n, n, 256);
    double packed = 0, calls = 0;
    int encoded = 1;
    for (int round = 0; round < rounds; ++round) {
      encoded &= mlxn_command_buffer_new(dev, &cb) == MLXN_OK && mlxn_compute_encoder_new(cb, &enc) == MLXN_OK;
      t0 = now();
      for (int i = 0; i < per_cb; ++i) mlxn_compute_encoder_dispatch_packed(enc, rec, rl);
      packed += now() - t0;
      t0 = now();
      for (int i = 0; i < per_cb; ++i) {
        mlxn_compute_encoder_set_pipeline(enc, p32);
        mlxn_compute_encoder_set_buffer(enc, a, 0, 0);
        mlxn_compute_encoder_set_buffer(enc, b, 0, 1);
        mlxn_compute_encoder_set_buffer(enc, out, 0, 2);
        mlxn_compute_encoder_set_bytes(enc, &n, 4, 3);
        mlxn_compute_encoder_dispatch_threads(enc, n, 1, 1, 256, 1, 1);
      }
      calls += now() - t0;
      mlxn_compute_encoder_end(enc);
      mlxn_command_buffer_free(cb);
    }
    CHECK(encoded, "encode-cost command buffers");
    printf("encode cost: dispatch_packed %.1f ns/dispatch, set_* + dispatch_threads %.1f ns/dispatch\n",
           packed / (per_cb * rounds) * 1e9, calls / (per_cb * rounds) * 1e9);
  }

  mlxn_pipeline_free(p32);
  mlxn_pipeline_free(p16);
  mlxn_pipeline_free(pbf);
  mlxn_pipeline_free(pids);
  mlxn_pipeline_free(psimd);
  mlxn_library_free(lib);
  mlxn_event_free(ev);
  mlxn_buffer_t all[] = {a, b, out, ha, hb, ho, ba, bb, bo, la, lb, lo, o2};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) mlxn_buffer_free(all[i]);
  mlxn_device_free(dev);

  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
  if (system(cmd) != 0) printf("could not remove %s\n", cache);
  printf("cpu shim smoke: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
