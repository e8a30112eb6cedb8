/*
 * mlxn_packed.h — the packed dispatch record of mlxn_compute_encoder_dispatch_packed, defined once
 * for C: its layout as constants, a checked reader every backend decodes records with, and a
 * writer for C callers (tests, benches).
 *
 * A record is little-endian uint32 words:
 *
 *   header (MLXN_PACKED_HEADER_WORDS words)
 *     [KIND]                  MLXN_PACKED_DISPATCH_THREADS or MLXN_PACKED_DISPATCH_THREADGROUPS
 *     [N_BUFFERS]             B, buffer entries
 *     [N_INLINE]              I, inline-byte entries
 *     [N_THREADGROUP_MEMORY]  T, threadgroup-memory entries
 *     [PIPELINE_LO, _HI]      the mlxn_pipeline_t handle
 *     [GRID .. GRID + 2]      grid x, y, z (threads or threadgroups, by kind)
 *     [GROUP .. GROUP + 2]    threads per threadgroup x, y, z
 *   B buffer entries of MLXN_PACKED_BUFFER_WORDS words:
 *     binding index, 0, buffer handle low, high, byte offset low, high
 *   T threadgroup-memory entries of MLXN_PACKED_THREADGROUP_MEMORY_WORDS words:
 *     index, byte length
 *   I inline-byte entries: index, byte length L, then ceil(L / 4) words of data
 *
 * src/dispatch_record.ts is the TS twin (the encoder writes records with it, graph replay patches
 * them); tests/abi_parity.test.ts checks that every constant below has the same value there.
 *
 * Everything here is static inline: nothing is exported, and a backend pays no call per entry.
 * Valid C11, C++ and Objective-C.
 */
#ifndef MLXN_PACKED_H
#define MLXN_PACKED_H

#include <stdint.h>

#include "mlxn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ───────────────────────────── layout ───────────────────────────── */

/* Record kinds: which dispatch call the record stands for. */
enum {
  MLXN_PACKED_DISPATCH_THREADS = 0,      /* dispatchThreads: grid counts threads */
  MLXN_PACKED_DISPATCH_THREADGROUPS = 1  /* dispatchThreadgroups: grid counts threadgroups */
};

/* Word indices of the header, and its size. */
enum {
  MLXN_PACKED_KIND = 0,
  MLXN_PACKED_N_BUFFERS = 1,
  MLXN_PACKED_N_INLINE = 2,
  MLXN_PACKED_N_THREADGROUP_MEMORY = 3,
  MLXN_PACKED_PIPELINE_LO = 4,
  MLXN_PACKED_PIPELINE_HI = 5,
  MLXN_PACKED_GRID = 6,
  MLXN_PACKED_GROUP = 9,
  MLXN_PACKED_HEADER_WORDS = 12
};

/* Word indices within a buffer entry, and its size. Word 1 is reserved and written as 0. */
enum {
  MLXN_PACKED_BUFFER_INDEX = 0,
  MLXN_PACKED_BUFFER_HANDLE_LO = 2,
  MLXN_PACKED_BUFFER_HANDLE_HI = 3,
  MLXN_PACKED_BUFFER_OFFSET_LO = 4,
  MLXN_PACKED_BUFFER_OFFSET_HI = 5,
  MLXN_PACKED_BUFFER_WORDS = 6
};

/* A threadgroup-memory entry: [index, byte length]. */
enum { MLXN_PACKED_THREADGROUP_MEMORY_WORDS = 2 };

/* An inline-byte entry starts with [index, byte length]; its data follows, padded to a word. */
enum { MLXN_PACKED_INLINE_HEADER_WORDS = 2 };

/* ───────────────────────────── reading ───────────────────────────── */

/* A record opened by mlxn_packed_open. Counts and pointers are valid while the record is. */
typedef struct mlxn_packed_reader {
  uint32_t kind;
  mlxn_pipeline_t pipeline;
  const uint32_t *grid;  /* 3 words */
  const uint32_t *group; /* 3 words */
  uint32_t n_buffers;
  uint32_t n_threadgroup_memory;
  uint32_t n_inline;
  /* Total words of the record (trailing words the caller passed are not part of it). */
  uint64_t words;
  const uint32_t *buffers_;           /* first buffer entry */
  const uint32_t *threadgroup_memory_; /* first threadgroup-memory entry */
  const uint32_t *next_inline_;       /* the inline entry mlxn_packed_next_inline returns next */
} mlxn_packed_reader;

typedef struct mlxn_packed_buffer {
  uint32_t index;
  mlxn_buffer_t buffer;
  uint64_t offset;
} mlxn_packed_buffer;

typedef struct mlxn_packed_threadgroup_memory {
  uint32_t index;
  uint32_t length;
} mlxn_packed_threadgroup_memory;

typedef struct mlxn_packed_inline {
  uint32_t index;
  uint32_t length; /* bytes */
  const void *bytes;
} mlxn_packed_inline;

/* A 64-bit value (a handle, an offset) carried as two words. */
static inline uint64_t mlxn_packed_u64(const uint32_t *low_then_high) {
  return (uint64_t)low_then_high[1] << 32 | low_then_high[0];
}

/* Words an inline entry whose data is `length` bytes occupies, header included. */
static inline uint64_t mlxn_packed_inline_words(uint32_t length) {
  return MLXN_PACKED_INLINE_HEADER_WORDS + ((uint64_t)length + 3) / 4;
}

/*
 * Check that `record` (record_bytes long) holds a whole record and set `reader` at its start.
 * Returns NULL when it does, else what is wrong with it (a static string, for the caller's
 * message): only words known to lie inside the record are read, including each inline entry's
 * length, and sums are 64-bit so huge counts cannot wrap. Words past the record's end are
 * ignored, so a caller may pass a reused scratch array.
 */
static inline const char *mlxn_packed_open(mlxn_packed_reader *reader, const uint32_t *record,
                                           uint64_t record_bytes) {
  const uint64_t words = record_bytes / 4;
  if (!record || words < MLXN_PACKED_HEADER_WORDS) return "shorter than its 12-word header";
  if (record[MLXN_PACKED_KIND] > MLXN_PACKED_DISPATCH_THREADGROUPS)
    return "kind is neither 0 (threads) nor 1 (threadgroups)";
  const uint32_t n_buffers = record[MLXN_PACKED_N_BUFFERS];
  const uint32_t n_tg = record[MLXN_PACKED_N_THREADGROUP_MEMORY];
  const uint32_t n_inline = record[MLXN_PACKED_N_INLINE];
  uint64_t need = MLXN_PACKED_HEADER_WORDS + (uint64_t)MLXN_PACKED_BUFFER_WORDS * n_buffers +
                  (uint64_t)MLXN_PACKED_THREADGROUP_MEMORY_WORDS * n_tg;
  if (need > words) return "its buffer and threadgroup-memory counts run past its end";
  const uint64_t first_inline = need;
  for (uint32_t i = 0; i < n_inline; i++) {
    if (need + MLXN_PACKED_INLINE_HEADER_WORDS > words) return "an inline-byte entry runs past its end";
    need += mlxn_packed_inline_words(record[need + 1]);
    if (need > words) return "an inline-byte entry runs past its end";
  }
  reader->kind = record[MLXN_PACKED_KIND];
  reader->pipeline = (mlxn_pipeline_t)(uintptr_t)mlxn_packed_u64(record + MLXN_PACKED_PIPELINE_LO);
  reader->grid = record + MLXN_PACKED_GRID;
  reader->group = record + MLXN_PACKED_GROUP;
  reader->n_buffers = n_buffers;
  reader->n_threadgroup_memory = n_tg;
  reader->n_inline = n_inline;
  reader->words = need;
  reader->buffers_ = record + MLXN_PACKED_HEADER_WORDS;
  reader->threadgroup_memory_ = reader->buffers_ + (uint64_t)MLXN_PACKED_BUFFER_WORDS * n_buffers;
  reader->next_inline_ = record + first_inline;
  return 0;
}

/* Buffer entry `i` (< n_buffers). */
static inline mlxn_packed_buffer mlxn_packed_buffer_at(const mlxn_packed_reader *reader, uint32_t i) {
  const uint32_t *e = reader->buffers_ + (uint64_t)MLXN_PACKED_BUFFER_WORDS * i;
  mlxn_packed_buffer b;
  b.index = e[MLXN_PACKED_BUFFER_INDEX];
  b.buffer = (mlxn_buffer_t)(uintptr_t)mlxn_packed_u64(e + MLXN_PACKED_BUFFER_HANDLE_LO);
  b.offset = mlxn_packed_u64(e + MLXN_PACKED_BUFFER_OFFSET_LO);
  return b;
}

/* Threadgroup-memory entry `i` (< n_threadgroup_memory). */
static inline mlxn_packed_threadgroup_memory mlxn_packed_threadgroup_memory_at(const mlxn_packed_reader *reader,
                                                                               uint32_t i) {
  const uint32_t *e = reader->threadgroup_memory_ + (uint64_t)MLXN_PACKED_THREADGROUP_MEMORY_WORDS * i;
  mlxn_packed_threadgroup_memory t;
  t.index = e[0];
  t.length = e[1];
  return t;
}

/* The next inline-byte entry: call exactly n_inline times (entries have variable length). */
static inline mlxn_packed_inline mlxn_packed_next_inline(mlxn_packed_reader *reader) {
  const uint32_t *e = reader->next_inline_;
  mlxn_packed_inline in;
  in.index = e[0];
  in.length = e[1];
  in.bytes = e + MLXN_PACKED_INLINE_HEADER_WORDS;
  reader->next_inline_ = e + mlxn_packed_inline_words(in.length);
  return in;
}

/* ───────────────────────────── writing (C callers) ───────────────────────────── */

/*
 * Write the header; entries follow at MLXN_PACKED_HEADER_WORDS, buffers first, then
 * threadgroup memory, then inline bytes, each writer returning the next free word.
 */
static inline uint64_t mlxn_packed_write_header(uint32_t *record, uint32_t kind, mlxn_pipeline_t pipeline,
                                                uint32_t n_buffers, uint32_t n_inline,
                                                uint32_t n_threadgroup_memory, const uint32_t grid[3],
                                                const uint32_t group[3]) {
  const uint64_t p = (uint64_t)(uintptr_t)pipeline;
  record[MLXN_PACKED_KIND] = kind;
  record[MLXN_PACKED_N_BUFFERS] = n_buffers;
  record[MLXN_PACKED_N_INLINE] = n_inline;
  record[MLXN_PACKED_N_THREADGROUP_MEMORY] = n_threadgroup_memory;
  record[MLXN_PACKED_PIPELINE_LO] = (uint32_t)p;
  record[MLXN_PACKED_PIPELINE_HI] = (uint32_t)(p >> 32);
  for (int d = 0; d < 3; d++) {
    record[MLXN_PACKED_GRID + d] = grid[d];
    record[MLXN_PACKED_GROUP + d] = group[d];
  }
  return MLXN_PACKED_HEADER_WORDS;
}

static inline uint64_t mlxn_packed_write_buffer(uint32_t *record, uint64_t at, uint32_t index,
                                                mlxn_buffer_t buffer, uint64_t offset) {
  const uint64_t h = (uint64_t)(uintptr_t)buffer;
  uint32_t *e = record + at;
  e[MLXN_PACKED_BUFFER_INDEX] = index;
  e[1] = 0;
  e[MLXN_PACKED_BUFFER_HANDLE_LO] = (uint32_t)h;
  e[MLXN_PACKED_BUFFER_HANDLE_HI] = (uint32_t)(h >> 32);
  e[MLXN_PACKED_BUFFER_OFFSET_LO] = (uint32_t)offset;
  e[MLXN_PACKED_BUFFER_OFFSET_HI] = (uint32_t)(offset >> 32);
  return at + MLXN_PACKED_BUFFER_WORDS;
}

static inline uint64_t mlxn_packed_write_threadgroup_memory(uint32_t *record, uint64_t at, uint32_t index,
                                                            uint32_t length) {
  record[at] = index;
  record[at + 1] = length;
  return at + MLXN_PACKED_THREADGROUP_MEMORY_WORDS;
}

static inline uint64_t mlxn_packed_write_inline(uint32_t *record, uint64_t at, uint32_t index,
                                                const void *bytes, uint32_t length) {
  record[at] = index;
  record[at + 1] = length;
  uint8_t *dst = (uint8_t *)(record + at + MLXN_PACKED_INLINE_HEADER_WORDS);
  const uint8_t *src = (const uint8_t *)bytes;
  for (uint32_t i = 0; i < length; i++) dst[i] = src[i];
  return at + mlxn_packed_inline_words(length);
}

#ifdef __cplusplus
}
#endif

#endif /* MLXN_PACKED_H */
