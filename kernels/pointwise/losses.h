// The pointwise loss family: per-element value and derivative of every loss,
// written once and compiled both by the CPU backend (C++) and by the Metal shaders.
//
// A loss is a struct with
//   value(x, y, z, p)  the per-element loss,
//   grad(x, y, z, p)   its partial derivatives {d/dx, d/dy, d/dz},
// where x, y, z are the loss's operands in the order of its Python signature
// (z is unused by two-operand losses) and p holds its scalar parameters.
// Kernels accumulate in T = float (double for float64 inputs on the CPU).
//
// To add a loss: write its struct here and add one line to
// MFL_POINTWISE_LOSSES; kernels, dispatch and bindings pick it up from there.
#pragma once

#include "kernels/common/math.h"

namespace loss_kernels {

// Scalar parameters of a pointwise loss; what a, b, c mean is up to the loss.
template <typename T>
struct PointwiseParams {
  T a;
  T b;
  T c;
  int flags;
};

template <typename T>
struct PointwiseGrad {
  T dx;
  T dy;
  T dz;
};

// Mean squared error: (x - y)^2.
struct Mse {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T>) {
    T e = x - y;
    return e * e;
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T>) {
    T g = T(2) * (x - y);
    return {g, -g, T(0)};
  }
};

// |x - y|; gradient sign(x - y) with sign(0) = 0, as MLX.
struct L1 {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T>) {
    return abs_(x - y);
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T>) {
    T g = sign_(x - y);
    return {g, -g, T(0)};
  }
};

// Huber (a = delta): 0.5 e^2 for |e| <= delta, else delta (|e| - 0.5 delta).
struct Huber {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T> p) {
    T a = abs_(x - y);
    T q = min_(a, p.a);
    return T(0.5) * q * q + p.a * (a - q);
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T> p) {
    T g = clamp_(x - y, -p.a, p.a);
    return {g, -g, T(0)};
  }
};

// Smooth L1 (a = beta): 0.5 e^2 / beta for |e| < beta, else |e| - 0.5 beta.
struct SmoothL1 {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T> p) {
    T a = abs_(x - y);
    return a < p.a ? T(0.5) * a * a / p.a : a - T(0.5) * p.a;
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T> p) {
    T e = x - y;
    T g = abs_(e) < p.a ? e / p.a : sign_(e);
    return {g, -g, T(0)};
  }
};

// sinh(t) = t (1 + q(t)) for |t| < 1/2 from its Taylor series: q to t^12
// (truncation < 1e-16 relative), and to t^6 for float (Metal; < 5e-9 for
// log-cosh's t < 0.45).
template <typename T>
MFL_FN T sinh_series_tail_(T t) {
  T t2 = t * t;
  return t2 * T(1.0 / 6) * (T(1) + t2 * T(1.0 / 20) * (T(1) + t2 * T(1.0 / 42) *
      (T(1) + t2 * T(1.0 / 72) * (T(1) + t2 * T(1.0 / 110) * (T(1) + t2 * T(1.0 / 156))))));
}
MFL_FN float sinh_series_tail_(float t) {
  float t2 = t * t;
  return t2 * (1.0f / 6) * (1.0f + t2 * (1.0f / 20) * (1.0f + t2 * (1.0f / 42)));
}
// 2 sinh(t)^2 = cosh(2t) - 1.
template <typename T>
MFL_FN T two_sinh_squared_(T t) {
  T s = t * (T(1) + sinh_series_tail_(t));
  return T(2) * s * s;
}

// log(cosh(e)), a = |e|. Below a = 0.9 it is log1p(2 sinh(a/2)^2) (cosh a - 1 =
// 2 sinh^2(a/2)): no cancellation, a few ulp in float and double down to
// e = 0, where stock MLX's formula loses all digits. Above, the overflow-free
// (a - log 2) + log1p(exp(-2a)), whose first difference is exact up to
// a = 2 log 2.
template <typename T>
MFL_FN T log_cosh_(T e) {
  T a = abs_(e);
  bool small = a < T(0.9);
  T l = log1p_unit_(small ? two_sinh_squared_(T(0.5) * a) : exp_nonpositive_(T(-2) * a));
  return small ? l : (a - T(0.693147180559945309417232121458176568)) + l;
}
#ifndef __METAL_VERSION__
// The float one for the CPU, the same two forms without a general log1p (50
// instructions per 16 elements instead of 75): below a = 0.9, a^2 R(a^2) with R
// a degree-6 fit of log(cosh(a)) / a^2 (relative error 7.4e-9 with its float
// coefficients) and a^2's rounding error added back; above, log1p(u) = u P(u)
// for u = exp(-2a) <= 0.17 with P a degree-5 fit of log1p(u) / u (3.5e-9;
// tools/polynomials.py checks both). Within 1.2 ulp.
MFL_FN float log_cosh_(float e) {
  float a = abs_(e);
  float z = a * a;
  float z_error = std::fma(a, a, -z);
  float r = (((((1.055043831e-04f * z - 6.033105310e-04f) * z + 2.121148864e-03f) * z -
              6.729172077e-03f) * z + 2.222019434e-02f) * z - 8.333325386e-02f) * z + 0.5f;
  float small = std::fma(z, r, z_error * r);
  float u = exp_nonpositive_(-2.0f * a);
  float p = ((((-1.123757288e-01f * u + 1.909866184e-01f) * u - 2.492899597e-01f) * u +
              3.333084881e-01f) * u - 4.999997020e-01f) * u + 1.0f;
  float large = (a - 0.693147180559945309417232121458176568f) + u * p;
  return a < 0.9f ? small : large;
}
#endif

struct LogCosh {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T>) {
    return log_cosh_(x - y);
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T>) {
    T g = tanh_(x - y);
    return {g, -g, T(0)};
  }
};

// Hinge: max(0, 1 - x y), targets y in {-1, 1}.
struct Hinge {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T>) {
    return max_(T(1) - x * y, T(0));
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T>) {
    bool active = T(1) - x * y > T(0);
    return {active ? -y : T(0), active ? -x : T(0), T(0)};
  }
};

// Squared hinge: max(0, 1 - x y)^2.
struct SquaredHinge {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T>) {
    T m = max_(T(1) - x * y, T(0));
    return m * m;
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T>) {
    T m2 = T(2) * max_(T(1) - x * y, T(0));
    return {-y * m2, -x * m2, T(0)};
  }
};

// Margin ranking (a = margin): max(0, -z (x - y) + margin), x = inputs1,
// y = inputs2, z = targets in {-1, 1}. At the kink (a tie with margin 0) the
// gradient is the active side's, as stock MLX and PyTorch: training leaves a tie.
struct MarginRanking {
  template <typename T>
  static MFL_FN T value(T x, T y, T z, PointwiseParams<T> p) {
    return max_(-z * (x - y) + p.a, T(0));
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T z, PointwiseParams<T> p) {
    bool active = -z * (x - y) + p.a >= T(0);
    return {active ? -z : T(0), active ? z : T(0), active ? y - x : T(0)};
  }
};

// Gaussian NLL (a = eps, b = constant term: 0.5 log(2 pi) when full, else 0),
// x = mean, y = target, z = variance clamped below at eps:
// 0.5 (log v + (y - x)^2 / v) + b.
struct GaussianNll {
  template <typename T>
  static MFL_FN T value(T x, T y, T z, PointwiseParams<T> p) {
    T v = max_(z, p.a);
    T e = y - x;
    return T(0.5) * (log_(v) + e * e / v) + p.b;
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T z, PointwiseParams<T> p) {
    T v = max_(z, p.a);
    T r = (x - y) / v;
    // The clamp passes no gradient where it is active (z <= eps), as MLX.
    T dv = z > p.a ? T(0.5) * (T(1) / v - r * r) : T(0);
    return {r, -r, dv};
  }
};

// Binary cross-entropy on logits x with targets y and positive-class weight w
// (PyTorch's pos_weight; 1 gives MLX's loss):
//   -(w y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))
//   = w y softplus(-x) + (1 - y) softplus(x),
// a sum of non-negative terms, so tiny losses keep their digits (the textbook
// softplus(x) - x y cancels for confident predictions).
template <typename T>
MFL_FN T bce_with_logits(T x, T y, T w) {
  T shared = log1p_exp_neg_abs_(x);
  return w * y * (positive_part_(-x) + shared) + (T(1) - y) * (positive_part_(x) + shared);
}

struct BceLogits {
  template <typename T>
  static MFL_FN T value(T x, T y, T z, PointwiseParams<T>) {
    return bce_with_logits(x, y, z);
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T z, PointwiseParams<T>) {
    T shared = log1p_exp_neg_abs_(x);
    T sp_pos = positive_part_(x) + shared; // softplus(x)
    T sp_neg = positive_part_(-x) + shared; // softplus(-x)
    SigmoidPair<T> sig = sigmoid_pair_(x);
    T dx = (T(1) - y) * sig.pos - z * y * sig.neg;
    return {dx, z * sp_neg - sp_pos, y * sp_neg};
  }
};

// Binary cross-entropy on probabilities x with targets y and positive-class
// weight z; each log is clamped below at -100 as MLX and PyTorch do:
// -(z y max(log x, -100) + (1 - y) max(log(1 - x), -100)).
struct BceProbs {
  template <typename T>
  static MFL_FN T value(T x, T y, T z, PointwiseParams<T>) {
    T lp = max_(log_(x), T(-100));
    T lq = max_(log_(T(1) - x), T(-100));
    return -(z * y * lp + (T(1) - y) * lq);
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T z, PointwiseParams<T>) {
    T lp = log_(x);
    T lq = log_(T(1) - x);
    // A clamped log passes no gradient. y / x, not y (1 / x): for a subnormal
    // x, 1 / x overflows, and a zero target would make the product NaN.
    T pos = lp > T(-100) ? z * y / x : T(0);
    T neg = lq > T(-100) ? (T(1) - y) / (T(1) - x) : T(0);
    lp = max_(lp, T(-100));
    lq = max_(lq, T(-100));
    return {neg - pos, lq - z * lp, -y * lp};
  }
};

// Charbonnier (a = eps): sqrt(e^2 + eps^2) (Charbonnier et al., 1994).
struct Charbonnier {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T> p) {
    T e = x - y;
    return sqrt_(e * e + p.a * p.a);
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T> p) {
    T e = x - y;
    T g = e / sqrt_(e * e + p.a * p.a);
    return {g, -g, T(0)};
  }
};

// Quantile / pinball (a = tau), x = prediction, y = target, e = y - x:
// max(tau e, (tau - 1) e) (Koenker & Bassett, 1978).
struct Quantile {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T> p) {
    T e = y - x;
    return max_(p.a * e, (p.a - T(1)) * e);
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T> p) {
    T e = y - x;
    T g = e > T(0) ? -p.a : (e < T(0) ? T(1) - p.a : T(0));
    return {g, -g, T(0)};
  }
};

// Mean absolute percentage error (a = eps): |x - y| / max(|y|, eps), as
// scikit-learn's mean_absolute_percentage_error.
struct Mape {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T> p) {
    return abs_(x - y) / max_(abs_(y), p.a);
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T> p) {
    T d = max_(abs_(y), p.a);
    T dx = sign_(x - y) / d;
    T dd = abs_(y) > p.a ? sign_(y) : T(0);
    return {dx, -dx - abs_(x - y) / (d * d) * dd, T(0)};
  }
};

// Mean squared logarithmic error: (log1p(x) - log1p(y))^2, x, y > -1; the
// difference by log1p_difference_ (on the CPU one log, exact to a few ulp
// when x ~ y).
struct Msle {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T>) {
    T e = log1p_difference_(x, y);
    return e * e;
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T>) {
    T g = T(2) * log1p_difference_(x, y);
    return {g / (T(1) + x), -g / (T(1) + y), T(0)};
  }
};

// Poisson NLL as PyTorch's poisson_nll_loss (a = eps, flags: 1 = log_input,
// 2 = full). x = input, y = target:
//   log_input: exp(x) - y x        else: x - y log(x + eps)
//   full adds Stirling's term y log y - y + 0.5 log(2 pi y) where y > 1.
struct PoissonNll {
  template <typename T>
  static MFL_FN T stirling(T y) {
    return y > T(1) ? y * log_(y) - y + T(0.5) * log_(T(6.283185307179586476925286766559)* y) : T(0);
  }
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T> p) {
    T v = (p.flags & 1) ? exp_(x) - y * x : x - y * log_(x + p.a);
    return (p.flags & 2) ? v + stirling(y) : v;
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T> p) {
    T dx = (p.flags & 1) ? exp_(x) - y : T(1) - y / (x + p.a);
    T dy = (p.flags & 1) ? -x : -log_(x + p.a);
    if ((p.flags & 2) && y > T(1)) {
      dy += log_(y) + T(0.5) / y;
    }
    return {dx, dy, T(0)};
  }
};

// Sigmoid focal loss as torchvision.ops.sigmoid_focal_loss (a = alpha, b =
// gamma; alpha < 0 disables the class weighting) (Lin et al., 2017):
//   ce = bce_with_logits(x, y),  m = 1 - p_t = p (1 - y) + (1 - p) y,  p = sigmoid(x),
//   loss = alpha_t ce m^gamma,  alpha_t = alpha y + (1 - alpha)(1 - y).
struct SigmoidFocal {
  // flags: how m = 1 - p_t is raised to gamma, classified once per call
  // (focal_gamma_flags): gamma 2, the default, as m m (2-3x faster than
  // pow); m < 0 (targets outside [0, 1]) as torch.pow, a real power for a
  // whole gamma and NaN for any other. A constant on the CPU, where kernels
  // are compiled per flag value: uniform selects on gamma inside the loop
  // made GCC unswitch it into unvectorised copies.
  static constexpr MFL_CONSTANT int kGammaFractional = 0;
  static constexpr MFL_CONSTANT int kGammaTwo = 1;
  static constexpr MFL_CONSTANT int kGammaEven = 2; // whole and even, not 2
  static constexpr MFL_CONSTANT int kGammaOdd = 3; // whole and odd
  static constexpr MFL_CONSTANT int kGammaKinds = 4;

  template <typename T>
  static MFL_FN T modulator(T m, PointwiseParams<T> p) {
    if (p.flags == kGammaTwo) {
      return m * m;
    }
    // pow_ is evaluated unconditionally: GCC does not vectorise a loop whose
    // body calls it under a branch (the CPU loss was 9x slower).
    // For m < 0, pow_ itself gives NaN; a whole gamma takes |m| and an odd one
    // the sign back (a select on m < 0 here stopped GCC vectorising the loop).
    const T power = pow_(p.flags == kGammaFractional ? m : abs_(m), p.b);
    const T signed_power = p.flags == kGammaOdd ? copysign_(power, m) : power;
    return p.b == T(0) ? T(1) : signed_power;
  }
  // d(m^gamma)/dm from mg = m^gamma.
  template <typename T>
  static MFL_FN T modulator_slope(T m, T mg, PointwiseParams<T> p) {
    if (p.flags == kGammaTwo) {
      return T(2) * m;
    }
    // Written so m = 0 gives 0 rather than 0 * inf; m^gamma / m = m^(gamma - 1)
    // also for m < 0 (soft targets outside [0, 1], where gamma is whole).
    return (p.b == T(0) || m == T(0)) ? T(0) : p.b * mg / m;
  }
#ifndef __METAL_VERSION__
  static int focal_gamma_flags(double gamma) {
    if (gamma == 2) {
      return kGammaTwo;
    }
    if (gamma != std::floor(gamma)) {
      return kGammaFractional;
    }
    return std::fmod(gamma, 2.0) == 0 ? kGammaEven : kGammaOdd;
  }
#endif
  template <typename T>
  static MFL_FN T alpha_t(T y, T alpha) {
    return alpha >= T(0) ? alpha * y + (T(1) - alpha) * (T(1) - y) : T(1);
  }
  // m = 1 - p_t = p (1 - y) + (1 - p) y with p and 1 - p both from
  // sigmoid_pair_: p + y - 2 p y as torchvision writes it cancels to ~1e-3
  // relative error for confident predictions (p ~ 1 - 1e-4).
  template <typename T>
  static MFL_FN T one_minus_pt(SigmoidPair<T> prob, T y) {
    return prob.pos * (T(1) - y) + prob.neg * y;
  }
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T> p) {
    T m = one_minus_pt(sigmoid_pair_(x), y);
    T ce = bce_with_logits(x, y, T(1));
    return alpha_t(y, p.a) * ce * modulator(m, p);
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T> p) {
    SigmoidPair<T> prob = sigmoid_pair_(x);
    T m = one_minus_pt(prob, y);
    T ce = bce_with_logits(x, y, T(1));
    T mg = modulator(m, p);
    T dmg = modulator_slope(m, mg, p);
    T at = alpha_t(y, p.a);
    // p - y, p (1 - p) and 1 - 2 p without cancellation, as m.
    T p_minus_y = prob.pos * (T(1) - y) - prob.neg * y;
    T dx = at * (p_minus_y * mg + ce * dmg * (T(1) - T(2) * y) * prob.pos * prob.neg);
    T dy = at * (-x * mg + ce * dmg * (prob.neg - prob.pos));
    if (p.a >= T(0)) {
      dy += (T(2) * p.a - T(1)) * ce * mg;
    }
    return {dx, dy, T(0)};
  }
};

// x y: not a loss, the accurate sums (mean, weighted sum) over the per-row
// losses of the row families.
struct Product {
  template <typename T>
  static MFL_FN T value(T x, T y, T, PointwiseParams<T>) {
    return x * y;
  }
  template <typename T>
  static MFL_FN PointwiseGrad<T> grad(T x, T y, T, PointwiseParams<T>) {
    return {y, x, T(0)};
  }
};

} // namespace loss_kernels

// Every pointwise loss: X(kind name, struct, number of operands). The kind
// name is used in the kind enum, kernel names ("pointwise_<name>_<dtype>") and
// the Python/C++ dispatch.
#define MFL_POINTWISE_LOSSES(X)    \
  X(mse, Mse, 2)                   \
  X(l1, L1, 2)                     \
  X(huber, Huber, 2)               \
  X(smooth_l1, SmoothL1, 2)        \
  X(log_cosh, LogCosh, 2)          \
  X(hinge, Hinge, 2)               \
  X(squared_hinge, SquaredHinge, 2) \
  X(margin_ranking, MarginRanking, 3) \
  X(gaussian_nll, GaussianNll, 3)  \
  X(bce_logits, BceLogits, 3)      \
  X(bce_probs, BceProbs, 3)        \
  X(charbonnier, Charbonnier, 2)   \
  X(quantile, Quantile, 2)         \
  X(mape, Mape, 2)                 \
  X(msle, Msle, 2)                 \
  X(poisson_nll, PoissonNll, 2)    \
  X(sigmoid_focal, SigmoidFocal, 2) \
  X(product, Product, 2)

namespace loss_kernels {
enum class PointwiseKind : int {
#define MFL_KIND_ENUM(name, type, arity) name,
  MFL_POINTWISE_LOSSES(MFL_KIND_ENUM)
#undef MFL_KIND_ENUM
};
} // namespace loss_kernels
