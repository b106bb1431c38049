// The public functions: validate the arguments, promote dtypes, build the graph.
#include <cmath>

#include "mlx/ops.h"

#include "pointwise/primitive.h"
#include "common/validate.h"

namespace mlx_fused_losses {

namespace {

// One pointwise primitive over broadcast `operands` (and `weights`, a
// per-element multiplier).
mx::array pointwise(const char* fn, loss_kernels::PointwiseKind kind,
                    const std::vector<Arg>& operands,
                    const std::optional<Arg>& weights, loss_kernels::PointwiseParams<double> params,
                    Reduction reduction, mx::StreamOrDevice s) {
  std::vector<Arg> args(operands);
  if (weights) {
    args.push_back(*weights);
  }
  for (const auto& a : args) {
    check_real(fn, a);
  }
  check_reduction(fn, reduction);
  broadcast_shape(fn, args); // the error names the arguments
  mx::Dtype dtype = loss_dtype(args);
  std::vector<mx::array> inputs;
  for (const auto& a : args) {
    inputs.push_back(mx::astype(a.value, dtype, s));
  }
  // Stride-0 views, shaped from the arrays at evaluation time (so a
  // shapeless-compiled graph follows new shapes).
  inputs = mx::broadcast_arrays(inputs, s);
  PointwiseSpec spec{kind, params, reduction, static_cast<int>(operands.size()),
                     weights.has_value()};
  const mx::Stream stream = mx::to_stream(s);
  // Under mx.grad, a CPU sum or mean can write its gradients in the forward's
  // pass (see Pointwise): offer one for every input that depends on the
  // traced primals (a tracer; also under vmap and compile, where nothing asks
  // for them and they stay unwritten; MLX does not export in_grad_tracing).
  std::vector<int> grad_inputs;
  if (reduction != Reduction::None && stream.device == mx::Device::cpu) {
    for (int i = 0; i < static_cast<int>(inputs.size()); ++i) {
      if (inputs[i].is_tracer()) {
        grad_inputs.push_back(i);
      }
    }
  }
  return pointwise_outputs(std::make_shared<Pointwise>(stream, spec, grad_inputs), inputs)[0];
}

// An operand that stock MLX's formula first passes through a float function
// (log, logaddexp, or maximum with a Python float) is float32 there if it is
// integer or bool, before it meets the other operands: e.g. float16 targets
// with integer `vars` give a float32 gaussian_nll_loss. Same promotion here.
// (Complex stays complex, for check_real to reject.)
mx::array as_floating(const mx::array& a, mx::StreamOrDevice s) {
  bool exact = mx::issubdtype(a.dtype(), mx::integer) || a.dtype() == mx::bool_;
  return exact ? mx::astype(a, mx::float32, s) : a;
}

loss_kernels::PointwiseParams<double> params(double a = 0, double b = 0, double c = 0,
                                             int flags = 0) {
  return {a, b, c, flags};
}

} // namespace

using loss_kernels::PointwiseKind;

mx::array sum_of_products(const mx::array& a, const mx::array& b, Reduction reduction,
                          mx::StreamOrDevice s) {
  return pointwise("sum_of_products", PointwiseKind::product, {{"a", a}, {"b", b}}, {}, params(),
                   reduction, s);
}

mx::array mse_loss(const mx::array& predictions, const mx::array& targets, Reduction reduction,
                   mx::StreamOrDevice s) {
  Arg p{"predictions", predictions}, t{"targets", targets};
  check_same_shape("mse_loss", p, t);
  return pointwise("mse_loss", PointwiseKind::mse, {p, t}, {}, params(), reduction, s);
}

mx::array l1_loss(const mx::array& predictions, const mx::array& targets, Reduction reduction,
                  mx::StreamOrDevice s) {
  Arg p{"predictions", predictions}, t{"targets", targets};
  check_same_shape("l1_loss", p, t);
  return pointwise("l1_loss", PointwiseKind::l1, {p, t}, {}, params(), reduction, s);
}

mx::array huber_loss(const mx::array& inputs, const mx::array& targets, double delta,
                     Reduction reduction, mx::StreamOrDevice s) {
  check_param("huber_loss", "delta", delta, delta > 0, "a number > 0");
  return pointwise("huber_loss", PointwiseKind::huber, {{"inputs", inputs}, {"targets", targets}},
                   {}, params(delta), reduction, s);
}

mx::array smooth_l1_loss(const mx::array& predictions, const mx::array& targets, double beta,
                         Reduction reduction, mx::StreamOrDevice s) {
  Arg p{"predictions", predictions}, t{"targets", targets};
  check_same_shape("smooth_l1_loss", p, t);
  check_param("smooth_l1_loss", "beta", beta, beta >= 0, "a number >= 0");
  return pointwise("smooth_l1_loss", PointwiseKind::smooth_l1, {p, t}, {}, params(beta),
                   reduction, s);
}

mx::array log_cosh_loss(const mx::array& inputs, const mx::array& targets, Reduction reduction,
                        mx::StreamOrDevice s) {
  return pointwise("log_cosh_loss", PointwiseKind::log_cosh,
                   {{"inputs", inputs}, {"targets", targets}}, {}, params(), reduction, s);
}

mx::array hinge_loss(const mx::array& inputs, const mx::array& targets, Reduction reduction,
                     mx::StreamOrDevice s) {
  return pointwise("hinge_loss", PointwiseKind::hinge, {{"inputs", inputs}, {"targets", targets}},
                   {}, params(), reduction, s);
}

mx::array squared_hinge_loss(const mx::array& inputs, const mx::array& targets,
                             Reduction reduction, mx::StreamOrDevice s) {
  return pointwise("squared_hinge_loss", PointwiseKind::squared_hinge,
                   {{"inputs", inputs}, {"targets", targets}}, {}, params(), reduction, s);
}

mx::array margin_ranking_loss(const mx::array& inputs1, const mx::array& inputs2,
                              const mx::array& targets, double margin, Reduction reduction,
                              mx::StreamOrDevice s) {
  const char* fn = "margin_ranking_loss";
  Arg a{"inputs1", inputs1}, b{"inputs2", inputs2}, t{"targets", targets};
  check_same_shape(fn, a, b);
  check_same_shape(fn, a, t);
  check_param(fn, "margin", margin, std::isfinite(margin), "a finite number");
  return pointwise(fn, PointwiseKind::margin_ranking, {a, b, t}, {}, params(margin), reduction, s);
}

mx::array gaussian_nll_loss(const mx::array& inputs, const mx::array& targets,
                            const mx::array& vars, bool full, double eps, Reduction reduction,
                            mx::StreamOrDevice s) {
  const char* fn = "gaussian_nll_loss";
  mx::array float_vars = as_floating(vars, s);
  Arg i{"inputs", inputs}, t{"targets", targets}, v{"vars", float_vars};
  check_same_shape(fn, i, t);
  check_same_shape(fn, i, v);
  check_param(fn, "eps", eps, eps > 0, "a number > 0");
  double constant = full ? 0.5 * std::log(2 * M_PI) : 0.0;
  return pointwise(fn, PointwiseKind::gaussian_nll, {i, t, v}, {}, params(eps, constant),
                   reduction, s);
}

mx::array binary_cross_entropy(const mx::array& inputs, const mx::array& targets,
                               const std::optional<mx::array>& weights, bool with_logits,
                               Reduction reduction, const std::optional<mx::array>& pos_weight,
                               mx::StreamOrDevice s) {
  const char* fn = "binary_cross_entropy";
  mx::array float_inputs = as_floating(inputs, s);
  Arg i{"inputs", float_inputs}, t{"targets", targets};
  check_same_shape(fn, i, t);
  std::vector<Arg> operands{i, t};
  if (pos_weight) {
    Arg pw{"pos_weight", *pos_weight};
    if (broadcast_shape(fn, {t, pw}) != targets.shape()) {
      fail(fn, "`pos_weight` has shape " + shape_str(pos_weight->shape()) +
                   "; expected a shape that broadcasts to the shape of `targets`, " +
                   shape_str(targets.shape()));
    }
    operands.push_back(pw);
  }
  auto kind = with_logits ? PointwiseKind::bce_logits : PointwiseKind::bce_probs;
  if (!weights) {
    return pointwise(fn, kind, operands, {}, params(), reduction, s);
  }
  Arg w{"weights", *weights};
  check_same_shape(fn, i, w);
  return pointwise(fn, kind, operands, w, params(), reduction, s);
}

mx::array rmse_loss(const mx::array& predictions, const mx::array& targets, Reduction reduction,
                    mx::StreamOrDevice s) {
  Arg p{"predictions", predictions}, t{"targets", targets};
  check_same_shape("rmse_loss", p, t);
  return mx::sqrt(pointwise("rmse_loss", PointwiseKind::mse, {p, t}, {}, params(), reduction, s),
                  s);
}

mx::array charbonnier_loss(const mx::array& predictions, const mx::array& targets, double eps,
                           Reduction reduction, mx::StreamOrDevice s) {
  Arg p{"predictions", predictions}, t{"targets", targets};
  check_same_shape("charbonnier_loss", p, t);
  check_param("charbonnier_loss", "eps", eps, eps > 0, "a number > 0");
  return pointwise("charbonnier_loss", PointwiseKind::charbonnier, {p, t}, {}, params(eps),
                   reduction, s);
}

mx::array quantile_loss(const mx::array& predictions, const mx::array& targets, double tau,
                        Reduction reduction, mx::StreamOrDevice s) {
  Arg p{"predictions", predictions}, t{"targets", targets};
  check_same_shape("quantile_loss", p, t);
  check_param("quantile_loss", "tau", tau, tau >= 0 && tau <= 1, "a number in [0, 1]");
  return pointwise("quantile_loss", PointwiseKind::quantile, {p, t}, {}, params(tau), reduction,
                   s);
}

mx::array mape_loss(const mx::array& predictions, const mx::array& targets, double eps,
                    Reduction reduction, mx::StreamOrDevice s) {
  Arg p{"predictions", predictions}, t{"targets", targets};
  check_same_shape("mape_loss", p, t);
  check_param("mape_loss", "eps", eps, eps > 0, "a number > 0");
  return pointwise("mape_loss", PointwiseKind::mape, {p, t}, {}, params(eps), reduction, s);
}

mx::array msle_loss(const mx::array& predictions, const mx::array& targets, Reduction reduction,
                    mx::StreamOrDevice s) {
  Arg p{"predictions", predictions}, t{"targets", targets};
  check_same_shape("msle_loss", p, t);
  return pointwise("msle_loss", PointwiseKind::msle, {p, t}, {}, params(), reduction, s);
}

mx::array poisson_nll_loss(const mx::array& inputs, const mx::array& targets, bool log_input,
                           bool full, double eps, Reduction reduction, mx::StreamOrDevice s) {
  Arg i{"inputs", inputs}, t{"targets", targets};
  check_same_shape("poisson_nll_loss", i, t);
  check_param("poisson_nll_loss", "eps", eps, eps > 0, "a number > 0");
  int flags = (log_input ? 1 : 0) | (full ? 2 : 0);
  return pointwise("poisson_nll_loss", PointwiseKind::poisson_nll, {i, t}, {},
                   params(eps, 0, 0, flags), reduction, s);
}

mx::array sigmoid_focal_loss(const mx::array& inputs, const mx::array& targets, double alpha,
                             double gamma, Reduction reduction, mx::StreamOrDevice s) {
  const char* fn = "sigmoid_focal_loss";
  Arg i{"inputs", inputs}, t{"targets", targets};
  check_same_shape(fn, i, t);
  check_param(fn, "alpha", alpha, alpha <= 1, "a number in [0, 1], or negative to disable it");
  check_param(fn, "gamma", gamma, gamma >= 0 && std::isfinite(gamma), "a finite number >= 0");
  return pointwise(fn, PointwiseKind::sigmoid_focal, {i, t}, {},
                   params(alpha, gamma, 0, loss_kernels::SigmoidFocal::focal_gamma_flags(gamma)),
                   reduction, s);
}

} // namespace mlx_fused_losses
