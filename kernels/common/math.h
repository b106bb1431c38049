// Scalar math shared by the CPU kernels (C++) and the Metal shaders.
//
// Everything the per-element loss formulas need goes through these wrappers, so
// one formula compiles unchanged on both backends. On Metal the transcendental
// functions are the `precise::` ones (the approximate exp/log of fast math
// would make the GPU disagree with the CPU; the metallib builds without it).
#pragma once

#ifdef __METAL_VERSION__
#include <metal_stdlib>
#define MFL_FN inline
#define MFL_MATH metal::precise
// Metal requires program-scope and static member constants in the constant
// address space (Apple's compiler rejects them otherwise).
#define MFL_CONSTANT constant
#else
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
// Forced: the CPU kernels instantiate every loss for every dtype, and past
// GCC's unit-growth limit it stops inlining these, which stops vectorisation.
#define MFL_FN inline __attribute__((always_inline))
#define MFL_MATH std
#define MFL_CONSTANT
#endif

namespace loss_kernels {

template <typename T>
MFL_FN T abs_(T x) {
  return x < T(0) ? -x : x;
}
#ifndef __METAL_VERSION__
// The sign bit cleared: one vandps, where GCC made the select a compare, a
// negation and a blend (and |-0| is +0, as mlx.core.abs).
MFL_FN float abs_(float x) {
  return std::bit_cast<float>(std::bit_cast<uint32_t>(x) & 0x7fffffffu);
}
#endif
// NaN in either argument gives NaN, as mlx.core.maximum / minimum (and numpy):
// a clamp like max(log(p), -100) must not turn a NaN input into a finite loss.
template <typename T>
MFL_FN T max_(T a, T b) {
  return (a > b || a != a) ? a : b;
}
template <typename T>
MFL_FN T min_(T a, T b) {
  return (a < b || a != a) ? a : b;
}
// max(x, 0) with 0 for a NaN x (one vmaxps, where max_ compares twice and
// blends): only for terms added to one that is NaN whenever x is.
template <typename T>
MFL_FN T positive_part_(T x) {
  return x > T(0) ? x : T(0);
}
// -|x|, NaN staying NaN.
template <typename T>
MFL_FN T neg_abs_(T x) {
  return -abs_(x);
}
#ifndef __METAL_VERSION__
// The sign bit set: one vorps, where GCC made abs_ and the negation two
// compares and blends.
MFL_FN float neg_abs_(float x) {
  return std::bit_cast<float>(std::bit_cast<uint32_t>(x) | 0x80000000u);
}
#endif
// x limited to [lo, hi] (bounds not NaN), NaN staying NaN: max_(min_(x, hi), lo)
// in a form GCC 12 vectorises (it does not vectorise that nesting).
template <typename T>
MFL_FN T clamp_(T x, T lo, T hi) {
  return x != x ? x : (x > hi ? hi : (x < lo ? lo : x));
}
// |a| with the sign of b (bit operations, no select).
template <typename T>
MFL_FN T copysign_(T a, T b) {
#ifdef __METAL_VERSION__
  return metal::copysign(a, b);
#else
  return std::copysign(a, b);
#endif
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
// exp(x) for x <= 0 (or NaN): a faster float exp_ on the CPU.
template <typename T>
MFL_FN T exp_nonpositive_(T x) {
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

#ifndef __METAL_VERSION__
// ln 2 in two parts (Cody & Waite): the first has 9 significant bits, so its
// product with an exponent or a rounded integer of up to 2^14 is exact.
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;

// float exp, log, tanh and pow for the CPU written without calls or branches, so
// loops over them vectorise (libm's are scalar calls). Cephes' polynomials
// (S. Moshier); at most ~1 ulp from the correctly rounded result over the
// whole range (pow: ~3 ulp), with IEEE behaviour at 0, subnormals, inf and NaN.
// x = n ln 2 + r with n rounded to an integer (returned in ni) and r in
// [-ln2/2, ln2/2]; a NaN x gives a NaN r, which carries through exp_poly_.
MFL_FN float exp_split_(float x, int32_t& ni) {
  const float magic = 12582912.0f; // 1.5 * 2^23: adding it rounds to an integer
  float t = x * 1.44269504088896341f + magic;
  float n = t - magic;
  ni = static_cast<int32_t>(std::bit_cast<uint32_t>(t) - std::bit_cast<uint32_t>(magic));
  return (x - n * kLn2Hi) - n * kLn2Lo; // x - n ln 2 in two parts
}
// exp(r) for r from exp_split_ (Cephes' expf polynomial).
MFL_FN float exp_poly_(float r) {
  float p = ((((1.9875691500E-4f * r + 1.3981999507E-3f) * r + 8.3333120521E-3f) * r +
              4.1665795894E-2f) * r + 1.6666665459E-1f) * r + 5.0000001201E-1f;
  return p * (r * r) + r + 1.0f;
}
MFL_FN float exp_(float x) {
  // x limited to [-104, 89] in the form of vminps / vmaxps, which return
  // their second operand for a NaN: a NaN x stays NaN and propagates to the
  // result through p, with no select at the end.
  float below = 89.0f < x ? 89.0f : x;
  float xc = -104.0f > below ? -104.0f : below;
  int32_t ni;
  float p = exp_poly_(exp_split_(xc, ni));
  // 2^n as two factors, so n in [-150, 128] reaches subnormals and inf.
  int32_t n1 = ni >> 1;
  float s1 = std::bit_cast<float>(static_cast<uint32_t>(n1 + 127) << 23);
  float s2 = std::bit_cast<float>(static_cast<uint32_t>(ni - n1 + 127) << 23);
  return p * s1 * s2;
}
// exp_ for the x <= 0 of softplus and sigmoids (exp(-|x|)), the same results
// from 10-14 fewer instructions per 16 elements in their loops: n is in
// [-150, 0], so p 2^(n + 25) is exact and normal and its product with 2^-25
// rounds once, as p s1 s2 does. Only for x <= 0 or NaN, which is not checked
// (a positive x gives a wrong result): an upper clamp cost 5-9 instructions
// per 16 elements.
MFL_FN float exp_nonpositive_(float x) {
  float xc = -104.0f > x ? -104.0f : x;
  int32_t ni;
  float p = exp_poly_(exp_split_(xc, ni));
  float s = std::bit_cast<float>(static_cast<uint32_t>(ni + (25 + 127)) << 23);
  return (p * s) * 2.98023223876953125e-8f; // 2^-25
}

// x > 0 as m 2^e with m in [sqrt(1/2), sqrt(2)): f = m - 1 (exact) and e.
// Subnormal x are scaled into the normal range first. Out-parameters: GCC 12
// zero-fills a returned struct in memory and then does not vectorise the loop.
MFL_FN void reduce_for_log_(float x, float& f, float& e) {
  bool subnormal = x < 1.17549435e-38f;
  uint32_t b = std::bit_cast<uint32_t>(subnormal ? x * 8388608.0f : x);
  float exponent = static_cast<float>(static_cast<int32_t>((b >> 23) & 0xff) - 126) -
      (subnormal ? 23.0f : 0.0f);
  float m = std::bit_cast<float>((b & 0x007fffffu) | 0x3f000000u); // [0.5, 1)
  bool low = m < 0.707106781186547524f;
  f = low ? m + m - 1.0f : m - 1.0f;
  e = low ? exponent - 1.0f : exponent;
}

// log(m 2^e) = kLn2Hi e + log_low_(f, e) for f = m - 1: Cephes' logf
// polynomial, with e ln 2 in two parts (kLn2Hi e is exact).
MFL_FN float log_low_(float f, float e) {
  float z = f * f;
  float y = ((((((((7.0376836292E-2f * f - 1.1514610310E-1f) * f + 1.1676998740E-1f) * f -
                 1.2420140846E-1f) * f + 1.4249322787E-1f) * f - 1.6668057665E-1f) * f +
              2.0000714765E-1f) * f - 2.4999993993E-1f) * f + 3.3333331174E-1f) * f * z;
  return f + ((y + kLn2Lo * e) + -0.5f * z);
}
MFL_FN float log_reduced_(float f, float e) {
  return log_low_(f, e) + kLn2Hi * e;
}

MFL_FN float log_(float x) {
  float f, e;
  reduce_for_log_(x, f, e);
  float out = log_reduced_(f, e);
  const float inf = std::numeric_limits<float>::infinity();
  out = x == 0.0f ? -inf : out;
  out = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : out;
  out = x == inf ? inf : out;
  return x != x ? x : out;
}

MFL_FN float tanh_(float x) {
  float a = x < 0.0f ? -x : x;
  float z = x * x;
  float small = ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z - 5.37397155531E-2f) * z +
                  1.33314422036E-1f) * z - 3.33332819422E-1f) * z * x + x;
  float large = 1.0f - 2.0f / (exp_(2.0f * a) + 1.0f);
  large = x < 0.0f ? -large : large;
  // (x itself at 0: the series' x + x (...) would turn -0 into +0)
  return x == 0.0f ? x : (a < 0.625f ? small : large);
}

// x^y for y > 0 (the focal losses' gamma: they return 1 for gamma 0 themselves,
// as selects on the uniform y made GCC unswitch their loops and not vectorise
// them); negative x gives NaN. exp(y log x) with a rounded product is off by
// |y log x| ulps (28 for a focal loss's gamma 1.5 at x ~ 1e-7), so y log x is
// kept as hi + lo (y times log x's exact part kLn2Hi e, with an FMA for the
// product's error) and exp(hi + lo) = exp(hi) (1 + lo).
MFL_FN float pow_(float x, float y) {
  const float inf = std::numeric_limits<float>::infinity();
  float f, e;
  reduce_for_log_(x, f, e);
  const float exact_part = kLn2Hi * e;
  float big = y * exact_part;
  float rest = std::fma(y, exact_part, -big) + y * log_low_(f, e);
  float hi = big + rest;
  float lo = (big - hi) + rest; // exact: |big| >= |rest| unless e = 0, when big = 0
  float p = exp_(hi);
  float out = p == inf ? p : std::fma(p, lo, p);
  out = x == 0.0f ? 0.0f : out;
  out = x == inf ? inf : out;
  out = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : out;
  return x != x ? x : out;
}
#endif
template <typename T>
MFL_FN bool isnan_(T x) {
  return x != x;
}

// +inf and a quiet NaN of T.
template <typename T>
MFL_FN T inf_() {
#ifdef __METAL_VERSION__
  return metal::numeric_limits<T>::infinity();
#else
  return std::numeric_limits<T>::infinity();
#endif
}
template <typename T>
MFL_FN T nan_() {
#ifdef __METAL_VERSION__
  return metal::numeric_limits<T>::quiet_NaN();
#else
  return std::numeric_limits<T>::quiet_NaN();
#endif
}

// exp(x) - 1 accurate for small x (Metal has no expm1): with u = exp(x)
// rounded, (u - 1) * x / log(u) cancels the rounding error of u (Kahan).
// Beyond |x| = 0.5, u - 1 has no cancellation to undo.
template <typename T>
MFL_FN T expm1_(T x) {
  T u = exp_(x);
  T d = u - T(1);
  T small = d == T(0) ? x : d * (x / log_(u));
  return abs_(x) < T(0.5) ? small : d;
}

// log(1 + x) accurate for small x (Metal has no log1p): with u = 1 + x rounded,
// log(u) * x / (u - 1) cancels the rounding error of u (Goldberg, 1991).
template <typename T>
MFL_FN T log1p_(T x) {
  T u = T(1) + x;
  T d = u - T(1);
  // x / d corrects the rounding of 1 + x (at x = inf it would be inf / inf).
  return d == T(0) ? x : log_(u) * (u == inf_<T>() ? T(1) : x / d);
}

// log(1 + t) for t in [0, 1] (or NaN): what softplus and log-cosh need.
template <typename T>
MFL_FN T log1p_unit_(T t) {
  return log1p_(t);
}
#ifndef __METAL_VERSION__
// The float one for the CPU: t + t^2 Q(t), Q a degree-9 fit of
// (log(1 + t) - t) / t^2 on [0, 1] (9.1e-10 relative to log(1 + t) with its
// float coefficients; tools/polynomials.py checks it). No division and no reduction of
// 1 + t: 10 instructions where 2 atanh(t / (t + 2)) with its roundings added
// back took 24 and a division, which made the BCE loop 25-30% slower. Within
// 1.13 ulp (that form: 0.8), softplus within 1.86 (1.6); accurate forms
// without a division (two ranges sharing Q, log 2 + v kept as a Fast2Sum)
// cost back half the time saved.
MFL_FN float log1p_unit_(float t) {
  float q = (((((((((2.084440086e-03f * t - 1.369118690e-02f) * t + 4.211390764e-02f) * t -
                   8.323805034e-02f) * t + 1.247948110e-01f) * t - 1.613515764e-01f) * t +
                1.989962161e-01f) * t - 2.498886436e-01f) * t + 3.333271444e-01f) * t -
            4.999998808e-01f);
  return std::fma(t * t, q, t);
}
#endif

// log1p(x) - log1p(y) for x, y > -1 (MSLE).
template <typename T>
MFL_FN T log1p_difference_(T x, T y) {
  return log1p_(x) - log1p_(y);
}
#ifndef __METAL_VERSION__
// The float one for the CPU, as one log of the ratio (1 + x) / (1 + y): the
// difference of two float logs loses every digit when x ~ y (a 1e-6 relative
// difference came out 15% off). With u = 1 + x rounded and its exact error c
// (Knuth's two-sum), likewise v and d, q = u / v and the division's exact
// residual r: log((u + c) / (v + d)) = log q + (r + c - q d) / u to first
// order. When one of u, v is above 2^64 and the other below 1, the large one
// is first scaled by 2^-64 (exactly), so q neither overflows nor underflows;
// the 64 ln 2 added back then has the sign of log q, so nothing cancels (a
// scaling of one operand only, for operands on both sides of 2^64, made
// log q + 64 ln 2 cancel). A negative u or v (an operand below -1, -inf
// included) gives NaN, as log1p does; 0, inf and NaN give log q's -inf / inf /
// NaN and drop the correction.
// The exact rounding error of u = 1 + x, for any x (Knuth's two-sum).
MFL_FN float one_plus_error_(float x, float u) {
  return (1.0f - (u - (u - 1.0f))) + (x - (u - 1.0f));
}
MFL_FN float log1p_difference_(float x, float y) {
  float u = 1.0f + x;
  float v = 1.0f + y;
  float c = one_plus_error_(x, u);
  float d = one_plus_error_(y, v);
  const float big = 18446744073709551616.0f; // 2^64
  const float small = 5.42101086242752217e-20f; // 2^-64
  float su = u > big && v < 1.0f ? small : 1.0f;
  float sv = v > big && u < 1.0f ? small : 1.0f;
  u *= su;
  c *= su;
  v *= sv;
  d *= sv;
  float q = u / v;
  float r = std::fma(-q, v, u);
  float correction = (r + c - q * d) / u;
  correction = isnan_(correction) ? 0.0f : correction;
  // u / v = (u' / v') (sv / su): log(sv / su) = 64 ln 2 times -1, 0 or 1.
  float scaled = (su < 1.0f ? 1.0f : 0.0f) - (sv < 1.0f ? 1.0f : 0.0f);
  const float log_ratio = (log_(q) + correction) + scaled * 44.3614195558364998f;
  return u < 0.0f || v < 0.0f ? nan_<float>() : log_ratio;
}
#endif

// log(1 + exp(-|x|)): what softplus(x) = max(x, 0) + it and softplus(-x)
// share.
template <typename T>
MFL_FN T log1p_exp_neg_abs_(T x) {
  return log1p_unit_(exp_nonpositive_(neg_abs_(x)));
}

// sigmoid(x) = 1 / (1 + exp(-x)) and sigmoid(-x), without overflow on either
// side, from one exp and one division (GCC does not see that two separate
// sigmoids share them: the BCE gradient took 2.6x as long).
template <typename T>
struct SigmoidPair {
  T pos; // sigmoid(x)
  T neg; // sigmoid(-x)
};
template <typename T>
MFL_FN SigmoidPair<T> sigmoid_pair_(T x) {
  T e = exp_nonpositive_(neg_abs_(x));
  T s = T(1) / (T(1) + e);
  T es = e * s;
  return {x >= T(0) ? s : es, x >= T(0) ? es : s};
}

} // namespace loss_kernels
