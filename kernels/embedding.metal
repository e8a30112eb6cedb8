// Instantiations of the embedding templates (bodies in embedding.h): float tables by
// table x output type; affine-quantized tables by bits x scale type x output type.
// Lines are literal, not macro-generated: kernel names are read from them lexically.
#include "embedding.h"

template [[host_name("embedding_f32_f32")]] [[kernel]] decltype(embedding<float, float>) embedding<float, float>;
template [[host_name("embedding_f32_f16")]] [[kernel]] decltype(embedding<float, half>) embedding<float, half>;
template [[host_name("embedding_f32_bf16")]] [[kernel]] decltype(embedding<float, bfloat>) embedding<float, bfloat>;
template [[host_name("embedding_f16_f32")]] [[kernel]] decltype(embedding<half, float>) embedding<half, float>;
template [[host_name("embedding_f16_f16")]] [[kernel]] decltype(embedding<half, half>) embedding<half, half>;
template [[host_name("embedding_f16_bf16")]] [[kernel]] decltype(embedding<half, bfloat>) embedding<half, bfloat>;
template [[host_name("embedding_bf16_f32")]] [[kernel]] decltype(embedding<bfloat, float>) embedding<bfloat, float>;
template [[host_name("embedding_bf16_f16")]] [[kernel]] decltype(embedding<bfloat, half>) embedding<bfloat, half>;
template [[host_name("embedding_bf16_bf16")]] [[kernel]] decltype(embedding<bfloat, bfloat>) embedding<bfloat, bfloat>;

template [[host_name("embedding_q2_f32_f32")]] [[kernel]] decltype(embedding_affine<2, float, float>) embedding_affine<2, float, float>;
template [[host_name("embedding_q2_f32_f16")]] [[kernel]] decltype(embedding_affine<2, float, half>) embedding_affine<2, float, half>;
template [[host_name("embedding_q2_f32_bf16")]] [[kernel]] decltype(embedding_affine<2, float, bfloat>) embedding_affine<2, float, bfloat>;
template [[host_name("embedding_q2_f16_f32")]] [[kernel]] decltype(embedding_affine<2, half, float>) embedding_affine<2, half, float>;
template [[host_name("embedding_q2_f16_f16")]] [[kernel]] decltype(embedding_affine<2, half, half>) embedding_affine<2, half, half>;
template [[host_name("embedding_q2_f16_bf16")]] [[kernel]] decltype(embedding_affine<2, half, bfloat>) embedding_affine<2, half, bfloat>;
template [[host_name("embedding_q2_bf16_f32")]] [[kernel]] decltype(embedding_affine<2, bfloat, float>) embedding_affine<2, bfloat, float>;
template [[host_name("embedding_q2_bf16_f16")]] [[kernel]] decltype(embedding_affine<2, bfloat, half>) embedding_affine<2, bfloat, half>;
template [[host_name("embedding_q2_bf16_bf16")]] [[kernel]] decltype(embedding_affine<2, bfloat, bfloat>) embedding_affine<2, bfloat, bfloat>;

template [[host_name("embedding_q3_f32_f32")]] [[kernel]] decltype(embedding_affine<3, float, float>) embedding_affine<3, float, float>;
template [[host_name("embedding_q3_f32_f16")]] [[kernel]] decltype(embedding_affine<3, float, half>) embedding_affine<3, float, half>;
template [[host_name("embedding_q3_f32_bf16")]] [[kernel]] decltype(embedding_affine<3, float, bfloat>) embedding_affine<3, float, bfloat>;
template [[host_name("embedding_q3_f16_f32")]] [[kernel]] decltype(embedding_affine<3, half, float>) embedding_affine<3, half, float>;
template [[host_name("embedding_q3_f16_f16")]] [[kernel]] decltype(embedding_affine<3, half, half>) embedding_affine<3, half, half>;
template [[host_name("embedding_q3_f16_bf16")]] [[kernel]] decltype(embedding_affine<3, half, bfloat>) embedding_affine<3, half, bfloat>;
template [[host_name("embedding_q3_bf16_f32")]] [[kernel]] decltype(embedding_affine<3, bfloat, float>) embedding_affine<3, bfloat, float>;
template [[host_name("embedding_q3_bf16_f16")]] [[kernel]] decltype(embedding_affine<3, bfloat, half>) embedding_affine<3, bfloat, half>;
template [[host_name("embedding_q3_bf16_bf16")]] [[kernel]] decltype(embedding_affine<3, bfloat, bfloat>) embedding_affine<3, bfloat, bfloat>;

template [[host_name("embedding_q4_f32_f32")]] [[kernel]] decltype(embedding_affine<4, float, float>) embedding_affine<4, float, float>;
template [[host_name("embedding_q4_f32_f16")]] [[kernel]] decltype(embedding_affine<4, float, half>) embedding_affine<4, float, half>;
template [[host_name("embedding_q4_f32_bf16")]] [[kernel]] decltype(embedding_affine<4, float, bfloat>) embedding_affine<4, float, bfloat>;
template [[host_name("embedding_q4_f16_f32")]] [[kernel]] decltype(embedding_affine<4, half, float>) embedding_affine<4, half, float>;
template [[host_name("embedding_q4_f16_f16")]] [[kernel]] decltype(embedding_affine<4, half, half>) embedding_affine<4, half, half>;
template [[host_name("embedding_q4_f16_bf16")]] [[kernel]] decltype(embedding_affine<4, half, bfloat>) embedding_affine<4, half, bfloat>;
template [[host_name("embedding_q4_bf16_f32")]] [[kernel]] decltype(embedding_affine<4, bfloat, float>) embedding_affine<4, bfloat, float>;
template [[host_name("embedding_q4_bf16_f16")]] [[kernel]] decltype(embedding_affine<4, bfloat, half>) embedding_affine<4, bfloat, half>;
template [[host_name("embedding_q4_bf16_bf16")]] [[kernel]] decltype(embedding_affine<4, bfloat, bfloat>) embedding_affine<4, bfloat, bfloat>;

template [[host_name("embedding_q5_f32_f32")]] [[kernel]] decltype(embedding_affine<5, float, float>) embedding_affine<5, float, float>;
template [[host_name("embedding_q5_f32_f16")]] [[kernel]] decltype(embedding_affine<5, float, half>) embedding_affine<5, float, half>;
template [[host_name("embedding_q5_f32_bf16")]] [[kernel]] decltype(embedding_affine<5, float, bfloat>) embedding_affine<5, float, bfloat>;
template [[host_name("embedding_q5_f16_f32")]] [[kernel]] decltype(embedding_affine<5, half, float>) embedding_affine<5, half, float>;
template [[host_name("embedding_q5_f16_f16")]] [[kernel]] decltype(embedding_affine<5, half, half>) embedding_affine<5, half, half>;
template [[host_name("embedding_q5_f16_bf16")]] [[kernel]] decltype(embedding_affine<5, half, bfloat>) embedding_affine<5, half, bfloat>;
template [[host_name("embedding_q5_bf16_f32")]] [[kernel]] decltype(embedding_affine<5, bfloat, float>) embedding_affine<5, bfloat, float>;
template [[host_name("embedding_q5_bf16_f16")]] [[kernel]] decltype(embedding_affine<5, bfloat, half>) embedding_affine<5, bfloat, half>;
template [[host_name("embedding_q5_bf16_bf16")]] [[kernel]] decltype(embedding_affine<5, bfloat, bfloat>) embedding_affine<5, bfloat, bfloat>;

template [[host_name("embedding_q6_f32_f32")]] [[kernel]] decltype(embedding_affine<6, float, float>) embedding_affine<6, float, float>;
template [[host_name("embedding_q6_f32_f16")]] [[kernel]] decltype(embedding_affine<6, float, half>) embedding_affine<6, float, half>;
template [[host_name("embedding_q6_f32_bf16")]] [[kernel]] decltype(embedding_affine<6, float, bfloat>) embedding_affine<6, float, bfloat>;
template [[host_name("embedding_q6_f16_f32")]] [[kernel]] decltype(embedding_affine<6, half, float>) embedding_affine<6, half, float>;
template [[host_name("embedding_q6_f16_f16")]] [[kernel]] decltype(embedding_affine<6, half, half>) embedding_affine<6, half, half>;
template [[host_name("embedding_q6_f16_bf16")]] [[kernel]] decltype(embedding_affine<6, half, bfloat>) embedding_affine<6, half, bfloat>;
template [[host_name("embedding_q6_bf16_f32")]] [[kernel]] decltype(embedding_affine<6, bfloat, float>) embedding_affine<6, bfloat, float>;
template [[host_name("embedding_q6_bf16_f16")]] [[kernel]] decltype(embedding_affine<6, bfloat, half>) embedding_affine<6, bfloat, half>;
template [[host_name("embedding_q6_bf16_bf16")]] [[kernel]] decltype(embedding_affine<6, bfloat, bfloat>) embedding_affine<6, bfloat, bfloat>;

template [[host_name("embedding_q8_f32_f32")]] [[kernel]] decltype(embedding_affine<8, float, float>) embedding_affine<8, float, float>;
template [[host_name("embedding_q8_f32_f16")]] [[kernel]] decltype(embedding_affine<8, float, half>) embedding_affine<8, float, half>;
template [[host_name("embedding_q8_f32_bf16")]] [[kernel]] decltype(embedding_affine<8, float, bfloat>) embedding_affine<8, float, bfloat>;
template [[host_name("embedding_q8_f16_f32")]] [[kernel]] decltype(embedding_affine<8, half, float>) embedding_affine<8, half, float>;
template [[host_name("embedding_q8_f16_f16")]] [[kernel]] decltype(embedding_affine<8, half, half>) embedding_affine<8, half, half>;
template [[host_name("embedding_q8_f16_bf16")]] [[kernel]] decltype(embedding_affine<8, half, bfloat>) embedding_affine<8, half, bfloat>;
template [[host_name("embedding_q8_bf16_f32")]] [[kernel]] decltype(embedding_affine<8, bfloat, float>) embedding_affine<8, bfloat, float>;
template [[host_name("embedding_q8_bf16_f16")]] [[kernel]] decltype(embedding_affine<8, bfloat, half>) embedding_affine<8, bfloat, half>;
template [[host_name("embedding_q8_bf16_bf16")]] [[kernel]] decltype(embedding_affine<8, bfloat, bfloat>) embedding_affine<8, bfloat, bfloat>;
