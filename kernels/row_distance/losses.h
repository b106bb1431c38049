// The row-distance loss family: losses of two or three vectors along one axis
// (a "row" of each input) through their dot products, norms or p-distances,
// written once and compiled both by the CPU backend (C++) and by the Metal
// shaders.
//
// One pass over a row accumulates up to three sums of the row's vectors u, v
// (and w):
//   cosine kinds   s0 = sum u^2,         s1 = sum v^2,        s2 = sum u v
//   contrastive    s0 = sum |u - v|^p
//   triplet        s0 = sum |u - v|^p,   s1 = sum |u - w|^p,  s2 = sum |v - w|^p (swap)
// where u, v, w are (x1, x2) or (anchor, positive, negative). `finish_row`
// turns them into the row's loss and three gradient coefficients c, from which
// one more pass writes every vector's gradient (`distance_grads`):
//   cosine kinds   d u = c0 v + c1 u,    d v = c0 u + c2 v
//   distance kinds d u = c0 phi(u - v) + c1 phi(u - w),  phi(e) = |e|^(p-1) sign(e),
//                  d v = -c0 phi(u - v) + c2 phi(v - w), d w = -c1 phi(u - w) - c2 phi(v - w)
// (the cotangent multiplies them). The distances are mlx.nn.losses.triplet_loss's
// (sum |e|^p + eps)^(1/p); the cosine is mlx.nn.losses.cosine_similarity_loss's
// sum u v / max(|u| |v|, eps).
#pragma once

#include "kernels/common/math.h"

namespace loss_kernels {

enum class DistanceKind : int {
  cosine_similarity = 0, // the cosine itself
  cosine_embedding = 1, // 1 - cos for target 1, max(0, cos - margin) for target -1
  triplet = 2, // max(d(u, v) - d(u, w) + margin, 0)
  contrastive = 3, // t d^2 + (1 - t) max(0, margin - d)^2
};

// The norm of the distance kinds: p = 2 and p = 1 have their own code (no pow).
enum class Norm : int { l2 = 0, l1 = 1, lp = 2 };

// triplet: PyTorch's distance swap, the negative's distance being
// min(d(u, w), d(v, w)).
constexpr MFL_CONSTANT int kSwap = 1;

template <typename T>
struct DistanceParams {
  T margin;
  T eps;
  T p;
  int flags;
};

template <typename T>
struct DistanceSums {
  T s0;
  T s1;
  T s2;
};

// A row's loss, its gradient coefficients (above) and d loss / d target.
template <typename T>
struct DistanceResult {
  T loss;
  T c0;
  T c1;
  T c2;
  T dt;
};

MFL_FN constexpr bool is_cosine(DistanceKind k) {
  return k == DistanceKind::cosine_similarity || k == DistanceKind::cosine_embedding;
}

// Vectors of a row: 3 for the triplet, else 2.
MFL_FN constexpr int vector_count(DistanceKind k) {
  return k == DistanceKind::triplet ? 3 : 2;
}

// Whether the kind reads a target per row.
MFL_FN constexpr bool has_targets(DistanceKind k) {
  return k == DistanceKind::cosine_embedding || k == DistanceKind::contrastive;
}

// |e|^p and phi(e) = d |e|^p / d e / p.
template <Norm N, typename T>
MFL_FN T abs_pow(T e, T p) {
  if (N == Norm::l2) {
    return e * e;
  } else if (N == Norm::l1) {
    return abs_(e);
  } else {
    // (the library's pow, not the CPU's vectorised one: its few-ulp error would
    // move a distance such as (2^3 + 1e-6)^(1/3) off its float rounding)
    return pow_<T>(abs_(e), p);
  }
}
template <Norm N, typename T>
MFL_FN T phi(T e, T p) {
  if (N == Norm::l2) {
    return e;
  } else if (N == Norm::l1) {
    return sign_(e);
  } else {
    return copysign_(pow_(abs_(e), p - T(1)), e); // (p > 1 here: 0 at e = 0)
  }
}

// The row's sums with one more element of each vector (T: the accumulator's type).
template <DistanceKind K, Norm N, typename T>
MFL_FN DistanceSums<T> accumulate(DistanceSums<T> s, T u, T v, T w, T p, bool swap) {
  if (is_cosine(K)) {
    return {s.s0 + u * u, s.s1 + v * v, s.s2 + u * v};
  }
  if (K == DistanceKind::contrastive) {
    return {s.s0 + abs_pow<N>(u - v, p), s.s1, s.s2};
  }
  return {s.s0 + abs_pow<N>(u - v, p), s.s1 + abs_pow<N>(u - w, p),
          swap ? s.s2 + abs_pow<N>(v - w, p) : s.s2};
}

// The sums of two parts of a row.
template <typename T>
MFL_FN DistanceSums<T> add_sums(DistanceSums<T> a, DistanceSums<T> b) {
  return {a.s0 + b.s0, a.s1 + b.s1, a.s2 + b.s2};
}

// (s + eps)^(1/p), and d loss / d distance turned into its coefficient c:
// d distance / d e = distance^(1-p) phi(e).
template <Norm N, typename T>
MFL_FN T distance(T s, T eps, T p) {
  if (N == Norm::l2) {
    return sqrt_(s + eps);
  } else if (N == Norm::l1) {
    return s + eps;
  } else {
    return pow_<T>(s + eps, T(1) / p); // (the library's pow, as in abs_pow)
  }
}
template <Norm N, typename T>
MFL_FN T distance_coef(T dloss_ddist, T dist, T p) {
  if (N == Norm::l2) {
    return dloss_ddist / dist;
  } else if (N == Norm::l1) {
    return dloss_ddist;
  } else {
    return dloss_ddist / pow_<T>(dist, p - T(1));
  }
}

// The row's loss and coefficients from its sums and its target t (cosine
// embedding: 1 or -1, anything else gives NaN; contrastive: 1 similar, 0 not).
// A hinge at exactly 0 passes no gradient, and a cosine denominator at exactly
// eps is the clamped one, as mlx.core.maximum's gradient.
template <DistanceKind K, Norm N, typename T>
MFL_FN DistanceResult<T> finish_row(DistanceSums<T> s, T t, DistanceParams<T> prm) {
  DistanceResult<T> r = {T(0), T(0), T(0), T(0), T(0)};
  if (is_cosine(K)) {
    const T norms = sqrt_(s.s0) * sqrt_(s.s1);
    const bool clamped = !(norms > prm.eps) && !isnan_(norms);
    const T den = clamped ? prm.eps : norms;
    const T cos = s.s2 / den;
    T g = T(1); // d loss / d cos
    if (K == DistanceKind::cosine_similarity) {
      r.loss = cos;
    } else if (t == T(1)) {
      r.loss = T(1) - cos;
      g = T(-1);
    } else if (t == T(-1)) {
      const T h = cos - prm.margin;
      r.loss = max_(h, T(0));
      g = h > T(0) ? T(1) : (isnan_(h) ? h : T(0));
    } else {
      r.loss = nan_<T>();
      g = nan_<T>();
    }
    r.c0 = g / den;
    r.c1 = clamped ? T(0) : -g * cos / s.s0;
    r.c2 = clamped ? T(0) : -g * cos / s.s1;
  } else if (K == DistanceKind::contrastive) {
    const T d = distance<N>(s.s0, prm.eps, prm.p);
    const T h = max_(prm.margin - d, T(0));
    r.loss = t * d * d + (T(1) - t) * h * h;
    r.c0 = distance_coef<N>(T(2) * (t * d - (T(1) - t) * h), d, prm.p);
    r.dt = d * d - h * h;
  } else {
    const T d_pos = distance<N>(s.s0, prm.eps, prm.p);
    const T d_an = distance<N>(s.s1, prm.eps, prm.p);
    T neg_an = T(1); // the shares of d(u, w) and d(v, w) in the negative's distance
    T neg_pn = T(0);
    T d_neg = d_an;
    T d_pn = T(0);
    if (prm.flags & kSwap) {
      d_pn = distance<N>(s.s2, prm.eps, prm.p);
      d_neg = min_(d_an, d_pn);
      // (a tie splits the gradient, as torch.min's)
      neg_an = d_an < d_pn ? T(1) : (d_an == d_pn ? T(0.5) : T(0));
      neg_pn = T(1) - neg_an;
    }
    const T z = d_pos - d_neg + prm.margin;
    r.loss = max_(z, T(0));
    const T g = z > T(0) ? T(1) : (isnan_(z) ? z : T(0));
    r.c0 = distance_coef<N>(g, d_pos, prm.p);
    r.c1 = distance_coef<N>(-g * neg_an, d_an, prm.p);
    r.c2 = neg_pn == T(0) ? T(0) : distance_coef<N>(-g * neg_pn, d_pn, prm.p);
  }
  return r;
}

// The gradients of one element of each vector (without the cotangent).
template <typename T>
struct DistanceGrads {
  T u;
  T v;
  T w;
};

template <DistanceKind K, Norm N, typename T>
MFL_FN DistanceGrads<T> distance_grads(T u, T v, T w, T c0, T c1, T c2, T p) {
  if (is_cosine(K)) {
    return {c0 * v + c1 * u, c0 * u + c2 * v, T(0)};
  } else if (K == DistanceKind::contrastive) {
    const T g = c0 * phi<N>(u - v, p);
    return {g, -g, T(0)};
  } else {
    const T g_pos = c0 * phi<N>(u - v, p);
    const T g_an = c1 * phi<N>(u - w, p);
    const T g_pn = c2 == T(0) ? T(0) : c2 * phi<N>(v - w, p);
    return {g_pos + g_an, g_pn - g_pos, -g_an - g_pn};
  }
}

} // namespace loss_kernels
