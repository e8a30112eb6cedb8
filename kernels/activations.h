// Activation kernels. The activation is a functor type parameter with one static
// `float apply(float x, float param)`; `unary_activation` applies it to x, `gated_activation`
// multiplies it into a second input (SwiGLU: silu(gate) * up; sigmoid-mul: sigmoid(gate) * x).
// Everything is computed in float and rounded once on the store. Each thread handles a block of
// BLOCK consecutive elements, with one vector load or store per operand where aligned (block.h's
// for_block_vector).
#pragma once
#include <metal_stdlib>
#include "block.h"
using namespace metal;

// erf is not part of Metal's standard library. Two fits made for this file (least squares with
// relative-error reweighting, in float64 against an arbitrary-precision erf):
//   a <= 1:        erf(a) = a * P(a^2), P of degree 6 (relative error 1.2e-9);
//   1 < a < 9.2:   erfc(a) = exp(-a^2) * R(1/a) / a, R of degree 10 (relative error 3.1e-8);
//   a >= 9.2:      erf(a) = 1, erfc(a) = 0 (exp(-a^2) underflows float).
// exp(-a^2) is taken as exp(-z^2) * exp(-(a - z)(a + z)) with z = a cut to 12 significant bits,
// so z^2 is exact and the rounding of a^2 does not reach the result. In float, erf's largest
// absolute error is 1.4e-7 (2 ulp, near a = 0.99) and erfc's relative error stays near 1e-6.
// Returns erf(a) for a = |x| and sets `erfc` to 1 - erf(a), computed directly where it is small,
// so that 1 + erf(x) for negative x (which is erfc(|x|)) keeps its relative accuracy.
inline float erf_abs(float a, thread float& erfc) {
  if (a <= 1.0f) {
    const float s = a * a;
    float p = 7.853819617e-05f;
    p = fma(p, s, -8.010171386e-04f);
    p = fma(p, s, 5.188323807e-03f);
    p = fma(p, s, -2.685380896e-02f);
    p = fma(p, s, 1.128358505e-01f);
    p = fma(p, s, -3.761262581e-01f);
    p = fma(p, s, 1.128379166e+00f);
    const float e = a * p;
    erfc = 1.0f - e;
    return e;
  }
  if (a < 9.2f) {
    const float w = 1.0f / a;
    float r = -4.463869736e-02f;
    r = fma(r, w, 2.142390171e-01f);
    r = fma(r, w, -3.485051064e-01f);
    r = fma(r, w, 1.838537079e-02f);
    r = fma(r, w, 7.545689436e-01f);
    r = fma(r, w, -1.212884669e+00f);
    r = fma(r, w, 8.408318620e-01f);
    r = fma(r, w, -8.661345762e-02f);
    r = fma(r, w, -2.712621472e-01f);
    r = fma(r, w, -7.489921648e-04f);
    r = fma(r, w, 5.642114391e-01f);
    const float z = as_type<float>(as_type<uint>(a) & 0xfffff000u);
    erfc = exp(-z * z) * exp(-(a - z) * (a + z)) * r * w;
    return 1.0f - erfc;
  }
  erfc = 0.0f;
  return 1.0f;
}

// 1 / (1 + e^-x), written so that neither branch overflows.
inline float sigmoid_f32(float x) {
  const float e = exp(-fabs(x));
  const float s = 1.0f / (1.0f + e);
  return x >= 0.0f ? s : e * s;
}

struct SiluAct {
  static float apply(float x, float) { return x * sigmoid_f32(x); }
};
struct SigmoidAct {
  static float apply(float x, float) { return sigmoid_f32(x); }
};
// 0.5 x (1 + tanh(z)), z = sqrt(2/pi) (x + 0.044715 x^3), computed as x * sigmoid(2 z) (the same
// function, since 1 + tanh(z) = 2 sigmoid(2 z)) so that the negative tail has no cancellation.
struct GeluTanhAct {
  static float apply(float x, float) {
    return x * sigmoid_f32(1.5957691216f * fma(0.044715f * x, x * x, x));
  }
};
// 0.5 x (1 + erf(x / sqrt(2))); for x < 0 the bracket is erfc(|x| / sqrt(2)).
struct GeluErfAct {
  static float apply(float x, float) {
    float erfc;
    const float e = erf_abs(fabs(x) * 0.7071067812f, erfc);
    return 0.5f * x * (x >= 0.0f ? 1.0f + e : erfc);
  }
};
// cap * tanh(x / cap); the parameter is the cap.
struct SoftcapAct {
  static float apply(float x, float cap) { return cap * precise::tanh(x / cap); }
};

struct ActivationArgs {
  uint n;
  float param;
};

template <typename T, typename Act>
struct UnaryAt {
  device const T* x;
  device T* out;
  float param;
  void operator()(uint i) const { out[i] = static_cast<T>(Act::apply(float(x[i]), param)); }
  bool block(uint first) const {
    if (!block_aligned<T>(x + first) || !block_aligned<T>(out + first)) return false;
    const float4 v = load_vec4<T>(x + first);
    store_vec4<T>(out + first, float4(Act::apply(v.x, param), Act::apply(v.y, param), Act::apply(v.z, param), Act::apply(v.w, param)));
    return true;
  }
};

template <typename T, typename Act>
struct GatedAt {
  device const T* gate;
  device const T* x;
  device T* out;
  float param;
  void operator()(uint i) const { out[i] = static_cast<T>(Act::apply(float(gate[i]), param) * float(x[i])); }
  bool block(uint first) const {
    if (!block_aligned<T>(gate + first) || !block_aligned<T>(x + first) || !block_aligned<T>(out + first)) return false;
    const float4 g = load_vec4<T>(gate + first);
    const float4 v = load_vec4<T>(x + first);
    store_vec4<T>(out + first, float4(Act::apply(g.x, param), Act::apply(g.y, param), Act::apply(g.z, param), Act::apply(g.w, param)) * v);
    return true;
  }
};

// out[i] = Act(x[i]). Grid: ceil(n / BLOCK) threads (dispatchThreads).
template <typename T, typename Act>
kernel void unary_activation(device const T* x [[buffer(0)]],
                             device T* out [[buffer(1)]],
                             constant ActivationArgs& args [[buffer(2)]],
                             uint gid [[thread_position_in_grid]]) {
  const UnaryAt<T, Act> f = {x, out, args.param};
  for_block_vector(gid, args.n, f);
}

// out[i] = Act(gate[i]) * x[i]. Grid: ceil(n / BLOCK) threads.
template <typename T, typename Act>
kernel void gated_activation(device const T* gate [[buffer(0)]],
                             device const T* x [[buffer(1)]],
                             device T* out [[buffer(2)]],
                             constant ActivationArgs& args [[buffer(3)]],
                             uint gid [[thread_position_in_grid]]) {
  const GatedAt<T, Act> f = {gate, x, out, args.param};
  for_block_vector(gid, args.n, f);
}
