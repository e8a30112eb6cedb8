// Instantiations of the norm templates (bodies in norms.h), one line per variant and dtype.
// Lines are literal, not macro-generated: kernel names are read from them lexically.
#include "norms.h"

template [[host_name("rms_norm_f32")]] [[kernel]] decltype(rms_norm<float, true, false>) rms_norm<float, true, false>;
template [[host_name("rms_norm_f16")]] [[kernel]] decltype(rms_norm<half, true, false>) rms_norm<half, true, false>;
template [[host_name("rms_norm_bf16")]] [[kernel]] decltype(rms_norm<bfloat, true, false>) rms_norm<bfloat, true, false>;
template [[host_name("rms_norm_no_weight_f32")]] [[kernel]] decltype(rms_norm<float, false, false>) rms_norm<float, false, false>;
template [[host_name("rms_norm_no_weight_f16")]] [[kernel]] decltype(rms_norm<half, false, false>) rms_norm<half, false, false>;
template [[host_name("rms_norm_no_weight_bf16")]] [[kernel]] decltype(rms_norm<bfloat, false, false>) rms_norm<bfloat, false, false>;
template [[host_name("add_rms_norm_f32")]] [[kernel]] decltype(rms_norm<float, true, true>) rms_norm<float, true, true>;
template [[host_name("add_rms_norm_f16")]] [[kernel]] decltype(rms_norm<half, true, true>) rms_norm<half, true, true>;
template [[host_name("add_rms_norm_bf16")]] [[kernel]] decltype(rms_norm<bfloat, true, true>) rms_norm<bfloat, true, true>;
template [[host_name("add_rms_norm_no_weight_f32")]] [[kernel]] decltype(rms_norm<float, false, true>) rms_norm<float, false, true>;
template [[host_name("add_rms_norm_no_weight_f16")]] [[kernel]] decltype(rms_norm<half, false, true>) rms_norm<half, false, true>;
template [[host_name("add_rms_norm_no_weight_bf16")]] [[kernel]] decltype(rms_norm<bfloat, false, true>) rms_norm<bfloat, false, true>;

template [[host_name("layer_norm_f32")]] [[kernel]] decltype(layer_norm<float, true, true>) layer_norm<float, true, true>;
template [[host_name("layer_norm_f16")]] [[kernel]] decltype(layer_norm<half, true, true>) layer_norm<half, true, true>;
template [[host_name("layer_norm_bf16")]] [[kernel]] decltype(layer_norm<bfloat, true, true>) layer_norm<bfloat, true, true>;
template [[host_name("layer_norm_no_bias_f32")]] [[kernel]] decltype(layer_norm<float, true, false>) layer_norm<float, true, false>;
template [[host_name("layer_norm_no_bias_f16")]] [[kernel]] decltype(layer_norm<half, true, false>) layer_norm<half, true, false>;
template [[host_name("layer_norm_no_bias_bf16")]] [[kernel]] decltype(layer_norm<bfloat, true, false>) layer_norm<bfloat, true, false>;
template [[host_name("layer_norm_no_affine_f32")]] [[kernel]] decltype(layer_norm<float, false, false>) layer_norm<float, false, false>;
template [[host_name("layer_norm_no_affine_f16")]] [[kernel]] decltype(layer_norm<half, false, false>) layer_norm<half, false, false>;
template [[host_name("layer_norm_no_affine_bf16")]] [[kernel]] decltype(layer_norm<bfloat, false, false>) layer_norm<bfloat, false, false>;
