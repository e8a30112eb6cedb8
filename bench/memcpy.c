/*
 * memcpy bandwidth of this machine, the yardstick the kernel benches compare against.
 * Copies a buffer larger than the caches repeatedly and prints the best rate, counting bytes
 * read plus bytes written (as the kernel benches count bytes moved).
 *
 * usage: bench_memcpy [megabytes=256] [rounds=8]   prints: memcpy_gbps=<x>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
  size_t mb = argc > 1 ? (size_t)atol(argv[1]) : 256;
  int rounds = argc > 2 ? atoi(argv[2]) : 8;
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
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    double gbps = 2.0 * n / s / 1e9;
    if (gbps > best) best = gbps;
  }
  printf("memcpy_gbps=%.2f\n", best + (dst[n / 2] == 3 ? 1e-9 : 0)); /* keep the copy observable */
  free(src);
  free(dst);
  return 0;
}
