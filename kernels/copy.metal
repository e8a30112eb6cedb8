// Instantiations of copy_strided and copy_flat (bodies in copy.h): every source x destination
// float type. Lines are literal, not macro-generated: kernel names are read from them lexically.
#include "copy.h"

template [[host_name("copy_f32_f32")]] [[kernel]] decltype(copy_strided<float, float>) copy_strided<float, float>;
template [[host_name("copy_f32_f16")]] [[kernel]] decltype(copy_strided<float, half>) copy_strided<float, half>;
template [[host_name("copy_f32_bf16")]] [[kernel]] decltype(copy_strided<float, bfloat>) copy_strided<float, bfloat>;
template [[host_name("copy_f16_f32")]] [[kernel]] decltype(copy_strided<half, float>) copy_strided<half, float>;
template [[host_name("copy_f16_f16")]] [[kernel]] decltype(copy_strided<half, half>) copy_strided<half, half>;
template [[host_name("copy_f16_bf16")]] [[kernel]] decltype(copy_strided<half, bfloat>) copy_strided<half, bfloat>;
template [[host_name("copy_bf16_f32")]] [[kernel]] decltype(copy_strided<bfloat, float>) copy_strided<bfloat, float>;
template [[host_name("copy_bf16_f16")]] [[kernel]] decltype(copy_strided<bfloat, half>) copy_strided<bfloat, half>;
template [[host_name("copy_bf16_bf16")]] [[kernel]] decltype(copy_strided<bfloat, bfloat>) copy_strided<bfloat, bfloat>;

template [[host_name("copy_flat_f32_f32")]] [[kernel]] decltype(copy_flat<float, float>) copy_flat<float, float>;
template [[host_name("copy_flat_f32_f16")]] [[kernel]] decltype(copy_flat<float, half>) copy_flat<float, half>;
template [[host_name("copy_flat_f32_bf16")]] [[kernel]] decltype(copy_flat<float, bfloat>) copy_flat<float, bfloat>;
template [[host_name("copy_flat_f16_f32")]] [[kernel]] decltype(copy_flat<half, float>) copy_flat<half, float>;
template [[host_name("copy_flat_f16_f16")]] [[kernel]] decltype(copy_flat<half, half>) copy_flat<half, half>;
template [[host_name("copy_flat_f16_bf16")]] [[kernel]] decltype(copy_flat<half, bfloat>) copy_flat<half, bfloat>;
template [[host_name("copy_flat_bf16_f32")]] [[kernel]] decltype(copy_flat<bfloat, float>) copy_flat<bfloat, float>;
template [[host_name("copy_flat_bf16_f16")]] [[kernel]] decltype(copy_flat<bfloat, half>) copy_flat<bfloat, half>;
template [[host_name("copy_flat_bf16_bf16")]] [[kernel]] decltype(copy_flat<bfloat, bfloat>) copy_flat<bfloat, bfloat>;
