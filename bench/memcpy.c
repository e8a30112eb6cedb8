/*
 * memcpy and read bandwidth of this machine, the yardsticks the kernel benches compare against.
 *   memcpy: one thread copies a buffer larger than the caches repeatedly; the best rate counts
 *           bytes read plus bytes written (as the kernel benches count bytes moved);
 *   read:   `threads` threads each sum their slice of a buffer larger than the caches (64-bit
 *           loads the compiler vectorizes); the best rate counts bytes read. This is the ceiling
 *           of a memory-bound kernel that only reads, such as a decode matrix-vector product.
 *
 * usage: bench_memcpy [megabytes=256] [rounds=8] [threads=online cores]
 * prints: memcpy_gbps=<x> and read_gbps=<x> threads=<n>
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct slice {
  const uint64_t *p;
  size_t n;
  uint64_t sum;
};

static void *sum_slice(void *arg) {
  struct slice *s = arg;
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= s->n; i += 4) {
    a += s->p[i];
    b += s->p[i + 1];
    c += s->p[i + 2];
    d += s->p[i + 3];
  }
  s->sum = a + b + c + d;
  return NULL;
}

static double seconds(struct timespec a, struct timespec b) { return (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9; }

int main(int argc, char **argv) {
  size_t mb = argc > 1 ? (size_t)atol(argv[1]) : 256;
  int rounds = argc > 2 ? atoi(argv[2]) : 8;
  int threads = argc > 3 ? atoi(argv[3]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (threads < 1) threads = 1;
  if (threads > 256) threads = 256;
  size_t n = mb << 20;
  char *src = malloc(n), *dst = malloc(n);
  if (!src || !dst) return 1;
  memset(src, 1, n);
  memset(dst, 2, n);
  double best = 0;
  for (int r = 0; r < rounds; r++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    memcpy(dst, src, n);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double gbps = 2.0 * n / seconds(a, b) / 1e9;
    if (gbps > best) best = gbps;
  }
  printf("memcpy_gbps=%.2f\n", best + (dst[n / 2] == 3 ? 1e-9 : 0)); /* keep the copy observable */

  double best_read = 0;
  uint64_t total = 0;
  size_t words = n / 8, per = words / (size_t)threads;
  for (int r = 0; r < rounds; r++) {
    pthread_t tid[256];
    struct slice s[256];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int t = 0; t < threads; t++) {
      s[t] = (struct slice){(const uint64_t *)src + (size_t)t * per, per, 0};
      pthread_create(&tid[t], NULL, sum_slice, &s[t]);
    }
    for (int t = 0; t < threads; t++) {
      pthread_join(tid[t], NULL);
      total += s[t].sum;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double gbps = (double)per * 8 * threads / seconds(a, b) / 1e9;
    if (gbps > best_read) best_read = gbps;
  }
  printf("read_gbps=%.2f threads=%d\n", best_read + (total == 1 ? 1e-9 : 0), threads);
  free(src);
  free(dst);
  return 0;
}
