// Mixture-of-experts kernels (kernels/moe.h): routing, gathered expert products, combine.
#include "moe.h"

template [[host_name("moe_route_f32")]] [[kernel]] decltype(moe_route<float>) moe_route<float>;
template [[host_name("moe_combine_f32")]] [[kernel]] decltype(moe_combine<float>) moe_combine<float>;
template [[host_name("moe_route_f16")]] [[kernel]] decltype(moe_route<half>) moe_route<half>;
template [[host_name("moe_combine_f16")]] [[kernel]] decltype(moe_combine<half>) moe_combine<half>;
template [[host_name("moe_route_bf16")]] [[kernel]] decltype(moe_route<bfloat>) moe_route<bfloat>;
template [[host_name("moe_combine_bf16")]] [[kernel]] decltype(moe_combine<bfloat>) moe_combine<bfloat>;
template [[host_name("gather_gemv_f32_f32")]] [[kernel]] decltype(gather_gemv<float, float>) gather_gemv<float, float>;
template [[host_name("gather_qmv_f32_f32_b4")]] [[kernel]] decltype(gather_qmv<float, float, 4>) gather_qmv<float, float, 4>;
template [[host_name("gather_qmv_f32_f32_b8")]] [[kernel]] decltype(gather_qmv<float, float, 8>) gather_qmv<float, float, 8>;
template [[host_name("gather_gemv_f32_f16")]] [[kernel]] decltype(gather_gemv<float, half>) gather_gemv<float, half>;
template [[host_name("gather_qmv_f32_f16_b4")]] [[kernel]] decltype(gather_qmv<float, half, 4>) gather_qmv<float, half, 4>;
template [[host_name("gather_qmv_f32_f16_b8")]] [[kernel]] decltype(gather_qmv<float, half, 8>) gather_qmv<float, half, 8>;
template [[host_name("gather_gemv_f32_bf16")]] [[kernel]] decltype(gather_gemv<float, bfloat>) gather_gemv<float, bfloat>;
template [[host_name("gather_qmv_f32_bf16_b4")]] [[kernel]] decltype(gather_qmv<float, bfloat, 4>) gather_qmv<float, bfloat, 4>;
template [[host_name("gather_qmv_f32_bf16_b8")]] [[kernel]] decltype(gather_qmv<float, bfloat, 8>) gather_qmv<float, bfloat, 8>;
template [[host_name("gather_gemv_f16_f32")]] [[kernel]] decltype(gather_gemv<half, float>) gather_gemv<half, float>;
template [[host_name("gather_qmv_f16_f32_b4")]] [[kernel]] decltype(gather_qmv<half, float, 4>) gather_qmv<half, float, 4>;
template [[host_name("gather_qmv_f16_f32_b8")]] [[kernel]] decltype(gather_qmv<half, float, 8>) gather_qmv<half, float, 8>;
template [[host_name("gather_gemv_f16_f16")]] [[kernel]] decltype(gather_gemv<half, half>) gather_gemv<half, half>;
template [[host_name("gather_qmv_f16_f16_b4")]] [[kernel]] decltype(gather_qmv<half, half, 4>) gather_qmv<half, half, 4>;
template [[host_name("gather_qmv_f16_f16_b8")]] [[kernel]] decltype(gather_qmv<half, half, 8>) gather_qmv<half, half, 8>;
template [[host_name("gather_gemv_f16_bf16")]] [[kernel]] decltype(gather_gemv<half, bfloat>) gather_gemv<half, bfloat>;
template [[host_name("gather_qmv_f16_bf16_b4")]] [[kernel]] decltype(gather_qmv<half, bfloat, 4>) gather_qmv<half, bfloat, 4>;
template [[host_name("gather_qmv_f16_bf16_b8")]] [[kernel]] decltype(gather_qmv<half, bfloat, 8>) gather_qmv<half, bfloat, 8>;
template [[host_name("gather_gemv_bf16_f32")]] [[kernel]] decltype(gather_gemv<bfloat, float>) gather_gemv<bfloat, float>;
template [[host_name("gather_qmv_bf16_f32_b4")]] [[kernel]] decltype(gather_qmv<bfloat, float, 4>) gather_qmv<bfloat, float, 4>;
template [[host_name("gather_qmv_bf16_f32_b8")]] [[kernel]] decltype(gather_qmv<bfloat, float, 8>) gather_qmv<bfloat, float, 8>;
template [[host_name("gather_gemv_bf16_f16")]] [[kernel]] decltype(gather_gemv<bfloat, half>) gather_gemv<bfloat, half>;
template [[host_name("gather_qmv_bf16_f16_b4")]] [[kernel]] decltype(gather_qmv<bfloat, half, 4>) gather_qmv<bfloat, half, 4>;
template [[host_name("gather_qmv_bf16_f16_b8")]] [[kernel]] decltype(gather_qmv<bfloat, half, 8>) gather_qmv<bfloat, half, 8>;
template [[host_name("gather_gemv_bf16_bf16")]] [[kernel]] decltype(gather_gemv<bfloat, bfloat>) gather_gemv<bfloat, bfloat>;
template [[host_name("gather_qmv_bf16_bf16_b4")]] [[kernel]] decltype(gather_qmv<bfloat, bfloat, 4>) gather_qmv<bfloat, bfloat, 4>;
template [[host_name("gather_qmv_bf16_bf16_b8")]] [[kernel]] decltype(gather_qmv<bfloat, bfloat, 8>) gather_qmv<bfloat, bfloat, 8>;
