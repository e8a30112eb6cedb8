// Instantiations of the logit-processing kernels (bodies in logits.h), one line per dtype.
// Lines are literal, not macro-generated: kernel names are read from them lexically.
#include "logits.h"

template [[host_name("logits_process_f32")]] [[kernel]] decltype(logits_process<float>) logits_process<float>;
template [[host_name("logits_process_f16")]] [[kernel]] decltype(logits_process<half>) logits_process<half>;
template [[host_name("logits_process_bf16")]] [[kernel]] decltype(logits_process<bfloat>) logits_process<bfloat>;
template [[host_name("logprob_chosen_f32")]] [[kernel]] decltype(logprob_chosen<float>) logprob_chosen<float>;
template [[host_name("logprob_chosen_f16")]] [[kernel]] decltype(logprob_chosen<half>) logprob_chosen<half>;
template [[host_name("logprob_chosen_bf16")]] [[kernel]] decltype(logprob_chosen<bfloat>) logprob_chosen<bfloat>;
