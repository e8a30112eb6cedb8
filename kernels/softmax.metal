// Instantiations of softmax (body in softmax.h): without and with the causal mask, per dtype.
// Lines are literal, not macro-generated: kernel names are read from them lexically.
#include "softmax.h"

template [[host_name("softmax_f32")]] [[kernel]] decltype(softmax<float, false>) softmax<float, false>;
template [[host_name("softmax_f16")]] [[kernel]] decltype(softmax<half, false>) softmax<half, false>;
template [[host_name("softmax_bf16")]] [[kernel]] decltype(softmax<bfloat, false>) softmax<bfloat, false>;
template [[host_name("softmax_causal_f32")]] [[kernel]] decltype(softmax<float, true>) softmax<float, true>;
template [[host_name("softmax_causal_f16")]] [[kernel]] decltype(softmax<half, true>) softmax<half, true>;
template [[host_name("softmax_causal_bf16")]] [[kernel]] decltype(softmax<bfloat, true>) softmax<bfloat, true>;
