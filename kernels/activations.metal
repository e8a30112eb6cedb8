// Instantiations of the activation templates (bodies in activations.h), one line per variant.
// Lines are literal, not macro-generated: kernel names are read from them lexically.
#include "activations.h"

template [[host_name("silu_f32")]] [[kernel]] decltype(unary_activation<float, SiluAct>) unary_activation<float, SiluAct>;
template [[host_name("silu_f16")]] [[kernel]] decltype(unary_activation<half, SiluAct>) unary_activation<half, SiluAct>;
template [[host_name("silu_bf16")]] [[kernel]] decltype(unary_activation<bfloat, SiluAct>) unary_activation<bfloat, SiluAct>;
template [[host_name("sigmoid_f32")]] [[kernel]] decltype(unary_activation<float, SigmoidAct>) unary_activation<float, SigmoidAct>;
template [[host_name("sigmoid_f16")]] [[kernel]] decltype(unary_activation<half, SigmoidAct>) unary_activation<half, SigmoidAct>;
template [[host_name("sigmoid_bf16")]] [[kernel]] decltype(unary_activation<bfloat, SigmoidAct>) unary_activation<bfloat, SigmoidAct>;
template [[host_name("gelu_tanh_f32")]] [[kernel]] decltype(unary_activation<float, GeluTanhAct>) unary_activation<float, GeluTanhAct>;
template [[host_name("gelu_tanh_f16")]] [[kernel]] decltype(unary_activation<half, GeluTanhAct>) unary_activation<half, GeluTanhAct>;
template [[host_name("gelu_tanh_bf16")]] [[kernel]] decltype(unary_activation<bfloat, GeluTanhAct>) unary_activation<bfloat, GeluTanhAct>;
template [[host_name("gelu_erf_f32")]] [[kernel]] decltype(unary_activation<float, GeluErfAct>) unary_activation<float, GeluErfAct>;
template [[host_name("gelu_erf_f16")]] [[kernel]] decltype(unary_activation<half, GeluErfAct>) unary_activation<half, GeluErfAct>;
template [[host_name("gelu_erf_bf16")]] [[kernel]] decltype(unary_activation<bfloat, GeluErfAct>) unary_activation<bfloat, GeluErfAct>;
template [[host_name("softcap_f32")]] [[kernel]] decltype(unary_activation<float, SoftcapAct>) unary_activation<float, SoftcapAct>;
template [[host_name("softcap_f16")]] [[kernel]] decltype(unary_activation<half, SoftcapAct>) unary_activation<half, SoftcapAct>;
template [[host_name("softcap_bf16")]] [[kernel]] decltype(unary_activation<bfloat, SoftcapAct>) unary_activation<bfloat, SoftcapAct>;

template [[host_name("silu_mul_f32")]] [[kernel]] decltype(gated_activation<float, SiluAct>) gated_activation<float, SiluAct>;
template [[host_name("silu_mul_f16")]] [[kernel]] decltype(gated_activation<half, SiluAct>) gated_activation<half, SiluAct>;
template [[host_name("silu_mul_bf16")]] [[kernel]] decltype(gated_activation<bfloat, SiluAct>) gated_activation<bfloat, SiluAct>;
template [[host_name("sigmoid_mul_f32")]] [[kernel]] decltype(gated_activation<float, SigmoidAct>) gated_activation<float, SigmoidAct>;
template [[host_name("sigmoid_mul_f16")]] [[kernel]] decltype(gated_activation<half, SigmoidAct>) gated_activation<half, SigmoidAct>;
template [[host_name("sigmoid_mul_bf16")]] [[kernel]] decltype(gated_activation<bfloat, SigmoidAct>) gated_activation<bfloat, SigmoidAct>;
template [[host_name("gelu_tanh_mul_f32")]] [[kernel]] decltype(gated_activation<float, GeluTanhAct>) gated_activation<float, GeluTanhAct>;
template [[host_name("gelu_tanh_mul_f16")]] [[kernel]] decltype(gated_activation<half, GeluTanhAct>) gated_activation<half, GeluTanhAct>;
template [[host_name("gelu_tanh_mul_bf16")]] [[kernel]] decltype(gated_activation<bfloat, GeluTanhAct>) gated_activation<bfloat, GeluTanhAct>;
template [[host_name("gelu_erf_mul_f32")]] [[kernel]] decltype(gated_activation<float, GeluErfAct>) gated_activation<float, GeluErfAct>;
template [[host_name("gelu_erf_mul_f16")]] [[kernel]] decltype(gated_activation<half, GeluErfAct>) gated_activation<half, GeluErfAct>;
template [[host_name("gelu_erf_mul_bf16")]] [[kernel]] decltype(gated_activation<bfloat, GeluErfAct>) gated_activation<bfloat, GeluErfAct>;
