/*
 * C baseline for bench/dispatch.ts: the same shim calls a TS dispatch makes, from a C loop.
 * Per dispatch it fills the packed record the TS encoder fills (three buffers and four inline
 * bytes) and calls mlxn_compute_encoder_dispatch_packed once; a second loop makes the granular
 * calls (set_pipeline, 3x set_buffer, set_bytes, dispatch_threads) for comparison.
 *
 * usage: bench_dispatch_c <assembled-source-file> <kernel> <dispatches> <rounds>
 * prints: packed_ns_per_dispatch=<x> granular_ns_per_dispatch=<y>
 */
#include "mlxn.h"
#include "mlxn_packed.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, mlxn_last_error());
  exit(1);
}

static char *read_file(const char *path, long *len) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(1); }
  fseek(f, 0, SEEK_END);
  *len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)*len + 1);
  if (fread(buf, 1, (size_t)*len, f) != (size_t)*len) { perror(path); exit(1); }
  fclose(f);
  return buf;
}

/* Returns the best (lowest) ns per dispatch over `rounds` rounds of `n` dispatches. */
static double run(mlxn_device_t dev, mlxn_pipeline_t pipe, mlxn_buffer_t *bufs, int n, int rounds, int packed) {
  double best = 1e30;
  uint32_t record[MLXN_PACKED_HEADER_WORDS + 3 * MLXN_PACKED_BUFFER_WORDS + MLXN_PACKED_INLINE_HEADER_WORDS + 1];
  uint32_t count = 4;
  for (int r = 0; r < rounds; r++) {
    mlxn_command_buffer_t cb;
    mlxn_compute_encoder_t enc;
    if (mlxn_command_buffer_new(dev, &cb) || mlxn_compute_encoder_new(cb, &enc)) die("encoder");
    double t0 = now_ns();
    for (int i = 0; i < n; i++) {
      if (packed) {
        const uint32_t grid[3] = {count, 1, 1}, group[3] = {4, 1, 1};
        uint64_t w = mlxn_packed_write_header(record, MLXN_PACKED_DISPATCH_THREADS, pipe, 3, 1, 0, grid, group);
        for (uint32_t b = 0; b < 3; b++) w = mlxn_packed_write_buffer(record, w, b, bufs[b], 0);
        w = mlxn_packed_write_inline(record, w, 3, &count, sizeof count);
        mlxn_compute_encoder_dispatch_packed(enc, record, w * 4);
      } else {
        mlxn_compute_encoder_set_pipeline(enc, pipe);
        for (uint32_t b = 0; b < 3; b++) mlxn_compute_encoder_set_buffer(enc, bufs[b], 0, b);
        mlxn_compute_encoder_set_bytes(enc, &count, 4, 3);
        mlxn_compute_encoder_dispatch_threads(enc, count, 1, 1, 4, 1, 1);
      }
    }
    double dt = (now_ns() - t0) / n;
    if (dt < best) best = dt;
    mlxn_compute_encoder_end(enc);
    if (mlxn_command_buffer_commit(cb)) die("commit");
    mlxn_command_buffer_wait(cb);
    if (mlxn_command_buffer_status(cb) != MLXN_CB_STATUS_COMPLETED) {
      fprintf(stderr, "command buffer failed: %s\n", mlxn_command_buffer_error(cb));
      exit(1);
    }
    mlxn_command_buffer_free(cb);
  }
  return best;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s <source-file> <kernel> <dispatches> <rounds>\n", argv[0]);
    return 2;
  }
  long len;
  char *src = read_file(argv[1], &len);
  int n = atoi(argv[3]), rounds = atoi(argv[4]);
  mlxn_device_t dev;
  mlxn_library_t lib;
  mlxn_pipeline_t pipe;
  if (mlxn_device_open(&dev)) die("device");
  const char *cache = getenv("MLXN_BENCH_CACHE_DIR");
  if (cache && mlxn_device_set_option(dev, "msl_cpu.cache_dir", cache)) die("option");
  if (mlxn_library_new_source(dev, src, (uint64_t)len, "kernels/elementwise.metal", &lib)) die("library");
  uint32_t none = 0;
  if (mlxn_pipeline_new(lib, argv[2], &none, 0, argv[2], &pipe)) die("pipeline");
  mlxn_buffer_t bufs[3];
  for (int b = 0; b < 3; b++)
    if (mlxn_buffer_new(dev, 16, &bufs[b])) die("buffer");
  double packed = run(dev, pipe, bufs, n, rounds, 1);
  double granular = run(dev, pipe, bufs, n, rounds, 0);
  printf("packed_ns_per_dispatch=%.1f granular_ns_per_dispatch=%.1f\n", packed, granular);
  for (int b = 0; b < 3; b++) mlxn_buffer_free(bufs[b]);
  mlxn_pipeline_free(pipe);
  mlxn_library_free(lib);
  mlxn_device_free(dev);
  free(src);
  return 0;
}
