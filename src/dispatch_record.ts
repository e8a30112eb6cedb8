/**
 * The packed dispatch record of `mlxn_compute_encoder_dispatch_packed`, defined once for TS: the
 * encoder writes records through this module and graph replay reads and patches them through it.
 * `shim/include/mlxn_packed.h` is the C definition (layout comment, constants, the reader every
 * backend decodes with); `tests/abi_parity.test.ts` checks that each upper-case constant here
 * equals the header's `MLXN_PACKED_<name>`.
 *
 * The writers are tiny functions on purpose: JSC inlines them into the encoder's packing loop, so
 * naming the layout costs nothing per dispatch (bench/dispatch.ts measures it).
 *
 * @example
 * let w = writeHeader(record, DISPATCH_THREADS, pipeline, nBuffers, nInline, 0, grid, threadgroup);
 * w = writeBuffer(record, w, 0, buffer.handleLo, buffer.handleHi, buffer.byteOffset);
 */
import type { Pipeline } from "./registry.ts";

/** Record kind: the grid counts threads (dispatchThreads). */
export const DISPATCH_THREADS = 0;
/** Record kind: the grid counts threadgroups (dispatchThreadgroups). */
export const DISPATCH_THREADGROUPS = 1;

// Header word indices, and its size.
export const KIND = 0;
export const N_BUFFERS = 1;
export const N_INLINE = 2;
export const N_THREADGROUP_MEMORY = 3;
export const PIPELINE_LO = 4;
export const PIPELINE_HI = 5;
export const GRID = 6;
export const GROUP = 9;
export const HEADER_WORDS = 12;

// Word indices within a buffer entry, and its size (word 1 is reserved, written as 0).
export const BUFFER_INDEX = 0;
export const BUFFER_HANDLE_LO = 2;
export const BUFFER_HANDLE_HI = 3;
export const BUFFER_OFFSET_LO = 4;
export const BUFFER_OFFSET_HI = 5;
export const BUFFER_WORDS = 6;

/** A threadgroup-memory entry: [index, byte length]. */
export const THREADGROUP_MEMORY_WORDS = 2;
/** An inline-byte entry starts with [index, byte length]; its data follows, padded to a word. */
export const INLINE_HEADER_WORDS = 2;

const TWO_32 = 0x100000000;

/** Words the largest record takes: `maxBindings` bindings, each inline with `maxInlineBytes` bytes, and as many threadgroup entries. */
export function maxRecordWords(maxBindings: number, maxInlineBytes: number): number {
  return HEADER_WORDS + maxBindings * (BUFFER_WORDS + THREADGROUP_MEMORY_WORDS + INLINE_HEADER_WORDS + maxInlineBytes / 4);
}

/** Word where the first inline entry starts, after the buffer and threadgroup-memory entries. */
export function firstInlineWord(nBuffers: number, nThreadgroupMemory: number): number {
  return HEADER_WORDS + nBuffers * BUFFER_WORDS + nThreadgroupMemory * THREADGROUP_MEMORY_WORDS;
}

/** Words an inline entry of `byteLength` data bytes occupies, its header included. */
export function inlineWords(byteLength: number): number {
  return INLINE_HEADER_WORDS + ((byteLength + 3) >>> 2);
}

/** Write the header at word 0; returns the first entry's word. */
export function writeHeader(r: Uint32Array, kind: number, pipeline: Pipeline, nBuffers: number, nInline: number, nThreadgroupMemory: number, grid: readonly number[], group: readonly number[]): number {
  r[KIND] = kind;
  r[N_BUFFERS] = nBuffers;
  r[N_INLINE] = nInline;
  r[N_THREADGROUP_MEMORY] = nThreadgroupMemory;
  r[PIPELINE_LO] = pipeline.handleLo;
  r[PIPELINE_HI] = pipeline.handleHi;
  r[GRID] = grid[0]!;
  r[GRID + 1] = grid[1]!;
  r[GRID + 2] = grid[2]!;
  r[GROUP] = group[0]!;
  r[GROUP + 1] = group[1]!;
  r[GROUP + 2] = group[2]!;
  return HEADER_WORDS;
}

/** Write a buffer entry at word `at` (buffer `index`, handle words, byte offset); returns the next word. */
export function writeBuffer(r: Uint32Array, at: number, index: number, handleLo: number, handleHi: number, byteOffset: number): number {
  r[at + BUFFER_INDEX] = index;
  r[at + 1] = 0;
  setBufferEntry(r, at, handleLo, handleHi, byteOffset);
  return at + BUFFER_WORDS;
}

/** Rebind the buffer entry at word `at` to another handle and byte offset (graph replay). */
export function setBufferEntry(r: Uint32Array, at: number, handleLo: number, handleHi: number, byteOffset: number): void {
  r[at + BUFFER_HANDLE_LO] = handleLo;
  r[at + BUFFER_HANDLE_HI] = handleHi;
  r[at + BUFFER_OFFSET_LO] = byteOffset >>> 0;
  r[at + BUFFER_OFFSET_HI] = byteOffset >= TWO_32 ? Math.floor(byteOffset / TWO_32) : 0;
}

/** Write a threadgroup-memory entry at word `at`; returns the next word. */
export function writeThreadgroupMemory(r: Uint32Array, at: number, index: number, byteLength: number): number {
  r[at] = index;
  r[at + 1] = byteLength;
  return at + THREADGROUP_MEMORY_WORDS;
}

/**
 * Write an inline entry's header at word `at`; the caller copies its `byteLength` data bytes to
 * word `at + INLINE_HEADER_WORDS`. Returns the next entry's word.
 */
export function writeInlineHeader(r: Uint32Array, at: number, index: number, byteLength: number): number {
  r[at] = index;
  r[at + 1] = byteLength;
  return at + inlineWords(byteLength);
}

/** Buffer entries of the record starting at word `at` of `r`. */
export function bufferCount(r: Uint32Array, at = 0): number {
  return r[at + N_BUFFERS]!;
}

/** Word of buffer entry `i` in a record starting at word 0. */
export function bufferEntryWord(i: number): number {
  return HEADER_WORDS + i * BUFFER_WORDS;
}

/** Binding index of the buffer entry at word `at`. */
export function bufferIndex(r: Uint32Array, at: number): number {
  return r[at + BUFFER_INDEX]!;
}

/** Byte offset of the buffer entry at word `at`. */
export function bufferOffset(r: Uint32Array, at: number): number {
  return r[at + BUFFER_OFFSET_LO]! + r[at + BUFFER_OFFSET_HI]! * TWO_32;
}
