// Instantiations of the elementwise templates (bodies in elementwise.h), one line per variant.
// Lines are literal, not macro-generated: kernel names are read from them lexically.
#include "elementwise.h"

template [[host_name("elementwise_add_f32")]] [[kernel]] decltype(elementwise_binary<float, AddOp>) elementwise_binary<float, AddOp>;
template [[host_name("elementwise_add_f16")]] [[kernel]] decltype(elementwise_binary<half, AddOp>) elementwise_binary<half, AddOp>;
template [[host_name("elementwise_add_bf16")]] [[kernel]] decltype(elementwise_binary<bfloat, AddOp>) elementwise_binary<bfloat, AddOp>;
template [[host_name("elementwise_sub_f32")]] [[kernel]] decltype(elementwise_binary<float, SubOp>) elementwise_binary<float, SubOp>;
template [[host_name("elementwise_sub_f16")]] [[kernel]] decltype(elementwise_binary<half, SubOp>) elementwise_binary<half, SubOp>;
template [[host_name("elementwise_sub_bf16")]] [[kernel]] decltype(elementwise_binary<bfloat, SubOp>) elementwise_binary<bfloat, SubOp>;
template [[host_name("elementwise_mul_f32")]] [[kernel]] decltype(elementwise_binary<float, MulOp>) elementwise_binary<float, MulOp>;
template [[host_name("elementwise_mul_f16")]] [[kernel]] decltype(elementwise_binary<half, MulOp>) elementwise_binary<half, MulOp>;
template [[host_name("elementwise_mul_bf16")]] [[kernel]] decltype(elementwise_binary<bfloat, MulOp>) elementwise_binary<bfloat, MulOp>;
template [[host_name("elementwise_div_f32")]] [[kernel]] decltype(elementwise_binary<float, DivOp>) elementwise_binary<float, DivOp>;
template [[host_name("elementwise_div_f16")]] [[kernel]] decltype(elementwise_binary<half, DivOp>) elementwise_binary<half, DivOp>;
template [[host_name("elementwise_div_bf16")]] [[kernel]] decltype(elementwise_binary<bfloat, DivOp>) elementwise_binary<bfloat, DivOp>;

template [[host_name("elementwise_add_row_f32")]] [[kernel]] decltype(elementwise_binary_row<float, AddOp>) elementwise_binary_row<float, AddOp>;
template [[host_name("elementwise_add_row_f16")]] [[kernel]] decltype(elementwise_binary_row<half, AddOp>) elementwise_binary_row<half, AddOp>;
template [[host_name("elementwise_add_row_bf16")]] [[kernel]] decltype(elementwise_binary_row<bfloat, AddOp>) elementwise_binary_row<bfloat, AddOp>;
template [[host_name("elementwise_sub_row_f32")]] [[kernel]] decltype(elementwise_binary_row<float, SubOp>) elementwise_binary_row<float, SubOp>;
template [[host_name("elementwise_sub_row_f16")]] [[kernel]] decltype(elementwise_binary_row<half, SubOp>) elementwise_binary_row<half, SubOp>;
template [[host_name("elementwise_sub_row_bf16")]] [[kernel]] decltype(elementwise_binary_row<bfloat, SubOp>) elementwise_binary_row<bfloat, SubOp>;
template [[host_name("elementwise_mul_row_f32")]] [[kernel]] decltype(elementwise_binary_row<float, MulOp>) elementwise_binary_row<float, MulOp>;
template [[host_name("elementwise_mul_row_f16")]] [[kernel]] decltype(elementwise_binary_row<half, MulOp>) elementwise_binary_row<half, MulOp>;
template [[host_name("elementwise_mul_row_bf16")]] [[kernel]] decltype(elementwise_binary_row<bfloat, MulOp>) elementwise_binary_row<bfloat, MulOp>;
template [[host_name("elementwise_div_row_f32")]] [[kernel]] decltype(elementwise_binary_row<float, DivOp>) elementwise_binary_row<float, DivOp>;
template [[host_name("elementwise_div_row_f16")]] [[kernel]] decltype(elementwise_binary_row<half, DivOp>) elementwise_binary_row<half, DivOp>;
template [[host_name("elementwise_div_row_bf16")]] [[kernel]] decltype(elementwise_binary_row<bfloat, DivOp>) elementwise_binary_row<bfloat, DivOp>;

template [[host_name("elementwise_scalar_f32")]] [[kernel]] decltype(elementwise_scalar<float>) elementwise_scalar<float>;
template [[host_name("elementwise_scalar_f16")]] [[kernel]] decltype(elementwise_scalar<half>) elementwise_scalar<half>;
template [[host_name("elementwise_scalar_bf16")]] [[kernel]] decltype(elementwise_scalar<bfloat>) elementwise_scalar<bfloat>;
