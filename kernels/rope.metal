// Instantiations of rope (body in rope.h): NeoX and traditional layouts, one line per dtype.
// Lines are literal, not macro-generated: kernel names are read from them lexically.
#include "rope.h"

template [[host_name("rope_neox_f32")]] [[kernel]] decltype(rope<float, false>) rope<float, false>;
template [[host_name("rope_neox_f16")]] [[kernel]] decltype(rope<half, false>) rope<half, false>;
template [[host_name("rope_neox_bf16")]] [[kernel]] decltype(rope<bfloat, false>) rope<bfloat, false>;
template [[host_name("rope_traditional_f32")]] [[kernel]] decltype(rope<float, true>) rope<float, true>;
template [[host_name("rope_traditional_f16")]] [[kernel]] decltype(rope<half, true>) rope<half, true>;
template [[host_name("rope_traditional_bf16")]] [[kernel]] decltype(rope<bfloat, true>) rope<bfloat, true>;
