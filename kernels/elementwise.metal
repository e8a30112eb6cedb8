// Instantiations of the elementwise templates (bodies in elementwise.h), one line per dtype.
// Lines are literal, not macro-generated: kernel names are read from them lexically.
#include "elementwise.h"

template [[host_name("elementwise_add_f32")]] [[kernel]] decltype(elementwise_add<float>) elementwise_add<float>;
template [[host_name("elementwise_add_f16")]] [[kernel]] decltype(elementwise_add<half>) elementwise_add<half>;
template [[host_name("elementwise_add_bf16")]] [[kernel]] decltype(elementwise_add<bfloat>) elementwise_add<bfloat>;
