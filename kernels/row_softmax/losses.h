// The row-softmax loss family: losses of a distribution along one axis of the
// logits (a "row"), written once and compiled both by the CPU backend (C++) and
// by the Metal shaders.
//
// One pass over a row accumulates, relative to the row's running maximum m,
//   s = sum_c exp(x_c - m)                 (the logsumexp is m + log s),
//   d = sum_c term(x_c - m, t_c, w_c)      (the loss's per-class term),
//   u = sum_c weight(t_c, w_c)             (d moves by u * (m_old - m_new) when m does),
// where t_c is the target distribution (0 for class-index targets) and w_c the
// class weight (1 without class weights). Parts of a row, from a vectorised CPU
// chunk down to a single element on a GPU thread, are combined with `merge`, so
// the max and the sums stay exact under large shared offsets of the logits.
//
// A loss (a "kind") is a struct with
//   kLse     whether it needs the logsumexp (cross-entropies) or not (nll, kl_div),
//   kIndex   whether its targets are class indices (else distributions),
//   kTerm    whether weight/term can be non-zero (else the pass only needs s),
//   weight(t, w, p), term(xs, t, w, p)      the per-class sums above (xs = x - m),
//   row(sums, xt, wt, p) -> RowResult       the row's loss and gradient coefficients,
//                                           given xt = x_target - m and wt = w_target
//                                           (class-index kinds),
//   grad_x(xs, t, w, prob, coef, p)         d loss / d x_c, prob = softmax_c, without
//                                           the one-hot part (- hot at the target class),
//   grad_t(xs, t, w, log_s, p)              d loss / d t_c (distribution kinds).
// Kernels accumulate in T = float (double for float64 inputs on the CPU). For
// kinds without a logsumexp, m = 0 and s is unused.
//
// To add a loss: write its struct here and add one line to MFL_ROW_LOSSES.
#pragma once

#include "kernels/common/math.h"

namespace loss_kernels {

// Scalar parameters of a row loss; what a, b, c and flags mean is up to the loss.
template <typename T>
struct RowParams {
  T a;
  T b;
  T c;
  int flags;
};

// cross_entropy_probs: the loss is MLX's logsumexp(x) - <t', x> (the target
// mass taken as 1) rather than PyTorch's -sum_c w_c t'_c log_softmax(x)_c.
constexpr MFL_CONSTANT int kUnitMass = 1;
// kl_div: the targets are log-probabilities.
constexpr MFL_CONSTANT int kLogTarget = 1;

// The running sums of a row (or of a part of it) described above.
template <typename T>
struct RowAcc {
  T m; // the maximum so far; -inf for nothing yet
  T s;
  T d;
  T u;
};

template <typename T>
MFL_FN RowAcc<T> row_acc_empty() {
  return {-inf_<T>(), T(0), T(0), T(0)};
}

// What is subtracted from the elements of a part whose maximum is m: m, or 0
// when the part is all -inf, so that those elements add exp(-inf) = 0 (not
// exp(NaN)) and -inf terms (label smoothing over -inf logits: +inf loss).
template <typename T>
MFL_FN T row_shift(T m) {
  return m == -inf_<T>() ? T(0) : m;
}

// exp(from - to) for rescaling sums taken relative to `from` to `to` >= from;
// 1 when they are equal (both -inf included).
template <typename T>
MFL_FN T row_rescale(T from, T to) {
  return from == to ? T(1) : exp_(from - to);
}

// How much d moves when its reference moves from a.m to m; nothing for an
// empty part (whose m is -inf) or an unmoved one.
template <typename T>
MFL_FN T row_moved(RowAcc<T> a, T m) {
  return (a.u == T(0) || a.m == m) ? T(0) : a.u * (a.m - m);
}

// The sums of two parts of a row, in either order.
template <typename T>
MFL_FN RowAcc<T> merge(RowAcc<T> a, RowAcc<T> b) {
  T m = max_(a.m, b.m);
  return {m, a.s * row_rescale(a.m, m) + b.s * row_rescale(b.m, m),
          (a.d + row_moved(a, m)) + (b.d + row_moved(b, m)), a.u + b.u};
}

// The sums of one element (a part of length 1), for per-thread online updates:
// acc = merge(acc, row_element<Kind>(x, t, w, p)).
template <class Kind, typename T>
MFL_FN RowAcc<T> row_element(T x, T t, T w, RowParams<T> p) {
  if (!Kind::kLse) {
    return {T(0), T(0), Kind::term(x, t, w, p), T(0)};
  }
  T xs = x - row_shift(x);
  return {x, exp_(xs), Kind::term(xs, t, w, p), Kind::weight(t, w, p)};
}

// A finished row: log s, d and u as above.
template <typename T>
struct RowSums {
  T log_s;
  T d;
  T u;
};

// A row's loss and its gradient: d loss / d x_c = grad_x(...) - hot [c == target],
// where grad_x uses coef (for the softmax kinds, the weight of softmax_c).
template <typename T>
struct RowResult {
  T loss;
  T coef;
  T hot;
};

// Cross-entropy with class-index targets y, label smoothing eps and class
// weights w, as PyTorch's F.cross_entropy (and mlx.nn.losses.cross_entropy
// without class weights): a = 1 - eps, b = eps / C,
//   (1 - eps) w_y (lse - x_y) + eps / C sum_c w_c (lse - x_c).
struct CrossEntropy {
  static constexpr MFL_CONSTANT bool kLse = true;
  static constexpr MFL_CONSTANT bool kIndex = true;
  static constexpr MFL_CONSTANT bool kTerm = true;
  template <typename T>
  static MFL_FN T weight(T, T w, RowParams<T> p) {
    return p.b * w;
  }
  template <typename T>
  static MFL_FN T term(T xs, T t, T w, RowParams<T> p) {
    return weight(t, w, p) * xs;
  }
  template <typename T>
  static MFL_FN RowResult<T> row(RowSums<T> r, T xt, T wt, RowParams<T> p) {
    T hot = p.a * wt;
    return {hot * (r.log_s - xt) + (r.u * r.log_s - r.d), hot + r.u, hot};
  }
  template <typename T>
  static MFL_FN T grad_x(T, T t, T w, T prob, T coef, RowParams<T> p) {
    return coef * prob - weight(t, w, p);
  }
};

// Cross-entropy with a target distribution t, smoothed to t' = (1 - eps) t +
// eps / C (a = 1 - eps, b = eps / C), with class weights w:
//   PyTorch:                   -sum_c w_c t'_c log_softmax(x)_c = U lse - <w t', x>,
//   MLX (flags & kUnitMass):   lse - <t', x>,
// with U = sum_c w_c t'_c; both are taken relative to the row max, as MLX does.
struct CrossEntropyProbs {
  static constexpr MFL_CONSTANT bool kLse = true;
  static constexpr MFL_CONSTANT bool kIndex = false;
  static constexpr MFL_CONSTANT bool kTerm = true;
  template <typename T>
  static MFL_FN T weight(T t, T w, RowParams<T> p) {
    return w * (p.a * t + p.b);
  }
  template <typename T>
  static MFL_FN T term(T xs, T t, T w, RowParams<T> p) {
    return weight(t, w, p) * xs;
  }
  template <typename T>
  static MFL_FN RowResult<T> row(RowSums<T> r, T, T, RowParams<T> p) {
    T coef = (p.flags & kUnitMass) ? T(1) : r.u;
    return {coef * r.log_s - r.d, coef, T(0)};
  }
  template <typename T>
  static MFL_FN T grad_x(T, T t, T w, T prob, T coef, RowParams<T> p) {
    return coef * prob - weight(t, w, p);
  }
  template <typename T>
  static MFL_FN T grad_t(T xs, T, T w, T log_s, RowParams<T> p) {
    return p.a * w * ((p.flags & kUnitMass) ? -xs : log_s - xs);
  }
};

// Negative log likelihood of log-probabilities x: -w_y x_y.
struct Nll {
  static constexpr MFL_CONSTANT bool kLse = false;
  static constexpr MFL_CONSTANT bool kIndex = true;
  static constexpr MFL_CONSTANT bool kTerm = false;
  template <typename T>
  static MFL_FN T weight(T, T, RowParams<T>) {
    return T(0);
  }
  template <typename T>
  static MFL_FN T term(T, T, T, RowParams<T>) {
    return T(0);
  }
  template <typename T>
  static MFL_FN RowResult<T> row(RowSums<T>, T xt, T wt, RowParams<T>) {
    return {-wt * xt, T(0), wt};
  }
  template <typename T>
  static MFL_FN T grad_x(T, T, T, T, T, RowParams<T>) {
    return T(0);
  }
};

// Kullback-Leibler divergence sum_c p_c (log p_c - x_c) of the target
// distribution p from the log-probabilities x: targets t = log p when
// flags & kLogTarget (MLX), else t = p with 0 log 0 = 0 (PyTorch's default).
struct KlDiv {
  static constexpr MFL_CONSTANT bool kLse = false;
  static constexpr MFL_CONSTANT bool kIndex = false;
  static constexpr MFL_CONSTANT bool kTerm = true;
  template <typename T>
  static MFL_FN T weight(T, T, RowParams<T>) {
    return T(0);
  }
  template <typename T>
  static MFL_FN T term(T x, T t, T, RowParams<T> p) {
    T log_form = exp_(t) * (t - x);
    T prob_form = (t == T(0) ? T(0) : t * log_(t)) - t * x;
    return (p.flags & kLogTarget) ? log_form : prob_form;
  }
  template <typename T>
  static MFL_FN RowResult<T> row(RowSums<T> r, T, T, RowParams<T>) {
    return {r.d, T(0), T(0)};
  }
  template <typename T>
  static MFL_FN T grad_x(T, T t, T, T, T, RowParams<T> p) {
    return (p.flags & kLogTarget) ? -exp_(t) : -t;
  }
  template <typename T>
  static MFL_FN T grad_t(T x, T t, T, T, RowParams<T> p) {
    return (p.flags & kLogTarget) ? exp_(t) * (t - x + T(1)) : log_(t) + T(1) - x;
  }
};

// Multi-class focal loss (Lin et al., 2017) with class-index targets y,
// a = gamma and alpha as the class weights: -alpha_y (1 - p_y)^gamma log p_y,
// p = softmax(x). With L = log p_y and q = 1 - p_y, d loss / d x_c =
// K (p_c - [c == y]) with K = alpha_y (q^gamma - gamma q^(gamma-1) p_y L).
struct SoftmaxFocal {
  static constexpr MFL_CONSTANT bool kLse = true;
  static constexpr MFL_CONSTANT bool kIndex = true;
  static constexpr MFL_CONSTANT bool kTerm = false;
  template <typename T>
  static MFL_FN T weight(T, T, RowParams<T>) {
    return T(0);
  }
  template <typename T>
  static MFL_FN T term(T, T, T, RowParams<T>) {
    return T(0);
  }
  template <typename T>
  static MFL_FN RowResult<T> row(RowSums<T> r, T xt, T wt, RowParams<T> p) {
    T gamma = p.a;
    T logp = xt - r.log_s;
    T q = -expm1_(logp); // 1 - p_y without cancellation near p_y = 1
    T mq = gamma == T(0) ? T(1) : pow_(q, gamma);
    // gamma q^(gamma-1), written so q = 0 (then L = 0) gives 0, not 0 * inf.
    T dmq = (gamma == T(0) || q <= T(0)) ? T(0) : gamma * mq / q;
    T k = wt * (mq - dmq * exp_(logp) * logp);
    return {-wt * mq * logp, k, k};
  }
  template <typename T>
  static MFL_FN T grad_x(T, T, T, T prob, T coef, RowParams<T>) {
    return coef * prob;
  }
};

} // namespace loss_kernels

// Every row loss: X(kind name, struct). The kind name is used in the kind enum,
// kernel names ("row_<name>_<dtype>") and the dispatch.
#define MFL_ROW_LOSSES(X)                      \
  X(cross_entropy, CrossEntropy)               \
  X(cross_entropy_probs, CrossEntropyProbs)    \
  X(nll, Nll)                                  \
  X(kl_div, KlDiv)                             \
  X(softmax_focal, SoftmaxFocal)

namespace loss_kernels {
enum class RowKind : int {
#define MFL_ROW_KIND_ENUM(name, type) name,
  MFL_ROW_LOSSES(MFL_ROW_KIND_ENUM)
#undef MFL_ROW_KIND_ENUM
};
} // namespace loss_kernels
