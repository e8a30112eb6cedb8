// Logit processing before sampling, one threadgroup for one row of logits: penalties for the
// tokens of a history, additive biases, min-p masking; and the log-probability of a chosen token.
#pragma once
#include <metal_stdlib>
#include "reduce.h"
using namespace metal;

struct LogitsArgs {
  uint cols;
  // Entries of the history (distinct tokens, each with its count) and of the bias list (distinct tokens).
  uint history;
  uint biases;
  // 1 disables: a logit l of a history token becomes l / p when positive, l * p otherwise.
  float repetition_penalty;
  // Subtracted from a history token's logit: presence once, frequency once per occurrence.
  float presence_penalty;
  float frequency_penalty;
  // 0 disables: logits below max + temperature * log(min_p) become -inf, i.e. tokens whose
  // probability at that temperature is under min_p times the most likely one's.
  float min_p;
  float temperature;
};

// In place on x [cols]: penalties, then biases, then min-p. History and bias tokens are distinct
// within their list, so each element is written by one thread per phase.
template <typename T>
kernel void logits_process(device T* x [[buffer(0)]],
                           device const uint* history_tokens [[buffer(1)]],
                           device const uint* history_counts [[buffer(2)]],
                           device const uint* bias_tokens [[buffer(3)]],
                           device const float* bias_values [[buffer(4)]],
                           constant LogitsArgs& args [[buffer(5)]],
                           uint tid [[thread_position_in_threadgroup]],
                           uint threads [[threads_per_threadgroup]]) {
  threadgroup float scratch[32];
  const GroupPos p = group_pos(tid, threads);
  for (uint i = tid; i < args.history; i += threads) {
    const uint t = history_tokens[i];
    float v = float(x[t]);
    if (args.repetition_penalty != 1.0f) v = v > 0.0f ? v / args.repetition_penalty : v * args.repetition_penalty;
    v -= args.presence_penalty + args.frequency_penalty * float(history_counts[i]);
    x[t] = T(v);
  }
  threadgroup_barrier(mem_flags::mem_device);
  for (uint i = tid; i < args.biases; i += threads) {
    const uint t = bias_tokens[i];
    x[t] = T(float(x[t]) + bias_values[i]);
  }
  threadgroup_barrier(mem_flags::mem_device);
  if (args.min_p > 0.0f) {
    float m = -INFINITY;
    for (uint i = tid; i < args.cols; i += threads) m = max(m, float(x[i]));
    m = group_max(m, scratch, p);
    const float floor_value = m + args.temperature * log(args.min_p);
    for (uint i = tid; i < args.cols; i += threads)
      if (float(x[i]) < floor_value) x[i] = T(-INFINITY);
  }
}

// out[0] = log(sum(exp(x))) over the row, out[1] = x[token[0]] - out[0]: the chosen token's
// log-probability (at temperature 1, of the logits as given).
template <typename T>
kernel void logprob_chosen(device const T* x [[buffer(0)]],
                           device const uint* token [[buffer(1)]],
                           device float* out [[buffer(2)]],
                           constant LogitsArgs& args [[buffer(3)]],
                           uint tid [[thread_position_in_threadgroup]],
                           uint threads [[threads_per_threadgroup]]) {
  threadgroup float scratch[32];
  const GroupPos p = group_pos(tid, threads);
  float m = -INFINITY;
  for (uint i = tid; i < args.cols; i += threads) m = max(m, float(x[i]));
  m = group_max(m, scratch, p);
  float s = 0.0f;
  for (uint i = tid; i < args.cols; i += threads) s += exp(float(x[i]) - m);
  s = group_sum(s, scratch, p);
  if (tid == 0) {
    const float lse = m + log(s);
    out[0] = lse;
    out[1] = float(x[min(token[0], args.cols - 1)]) - lse;  // clamped: never read past the row
  }
}
