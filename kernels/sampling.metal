// Instantiations of the selection kernels (bodies in sampling.h), one line per dtype.
// Lines are literal, not macro-generated: kernel names are read from them lexically.
#include "sampling.h"

template [[host_name("top_k_f32")]] [[kernel]] decltype(top_k<float>) top_k<float>;
template [[host_name("top_k_f16")]] [[kernel]] decltype(top_k<half>) top_k<half>;
template [[host_name("top_k_bf16")]] [[kernel]] decltype(top_k<bfloat>) top_k<bfloat>;
template [[host_name("sample_f32")]] [[kernel]] decltype(sample_logits<float>) sample_logits<float>;
template [[host_name("sample_f16")]] [[kernel]] decltype(sample_logits<half>) sample_logits<half>;
template [[host_name("sample_bf16")]] [[kernel]] decltype(sample_logits<bfloat>) sample_logits<bfloat>;

