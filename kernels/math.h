// Scalar math shared by the CPU kernels (C++) and the Metal shaders.
//
// Everything the per-element loss formulas need goes through these wrappers, so
// one formula compiles unchanged on both backends. On Metal the transcendental
// functions are the `precise::` ones: the shaders build with fast math, whose
// approximate exp/log would make the GPU disagree with the CPU.
#pragma once

#ifdef __METAL_VERSION__
#include <metal_stdlib>
#define MFL_FN inline
#define MFL_MATH metal::precise
#else
#include <cmath>
#define MFL_FN inline
#define MFL_MATH std
#endif

namespace mfl {

template <typename T>
MFL_FN T abs_(T x) {
  return x < T(0) ? -x : x;
}
template <typename T>
MFL_FN T max_(T a, T b) {
  return a > b ? a : b;
}
template <typename T>
MFL_FN T min_(T a, T b) {
  return a < b ? a : b;
}
// sign(0) == 0, as mlx.core.sign (and so the gradient of |x| at 0).
template <typename T>
MFL_FN T sign_(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
}
template <typename T>
MFL_FN T exp_(T x) {
  return MFL_MATH::exp(x);
}
template <typename T>
MFL_FN T log_(T x) {
  return MFL_MATH::log(x);
}
template <typename T>
MFL_FN T sqrt_(T x) {
  return MFL_MATH::sqrt(x);
}
template <typename T>
MFL_FN T tanh_(T x) {
  return MFL_MATH::tanh(x);
}
template <typename T>
MFL_FN T pow_(T x, T y) {
  return MFL_MATH::pow(x, y);
}
template <typename T>
MFL_FN bool isnan_(T x) {
  return x != x;
}

// log(1 + x) accurate for small x (Metal has no log1p): with u = 1 + x rounded,
// log(u) * x / (u - 1) cancels the rounding error of u (Goldberg, 1991).
template <typename T>
MFL_FN T log1p_(T x) {
  T u = T(1) + x;
  T d = u - T(1);
  return d == T(0) ? x : log_(u) * (x / d);
}

// log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|)).
template <typename T>
MFL_FN T softplus_(T x) {
  return max_(x, T(0)) + log1p_(exp_(-abs_(x)));
}

// 1 / (1 + exp(-x)) without overflow on either side.
template <typename T>
MFL_FN T sigmoid_(T x) {
  T e = exp_(-abs_(x));
  T s = T(1) / (T(1) + e);
  return x >= T(0) ? s : e * s;
}

} // namespace mfl
