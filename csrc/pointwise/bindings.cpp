// The pointwise family's Python bindings.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include "common/bindings.h"
#include "mlx_fused_losses/pointwise.h"
#include "pointwise/metal_plan.h"

namespace mlx_fused_losses {

namespace nb = nanobind;
using namespace nb::literals;

namespace {

loss_kernels::PointwiseKind pointwise_kind(const std::string& name) {
#define MFL_KIND_FROM_NAME(kind, type, arity) \
  if (name == #kind) {                        \
    return loss_kernels::PointwiseKind::kind;      \
  }
  MFL_POINTWISE_LOSSES(MFL_KIND_FROM_NAME)
#undef MFL_KIND_FROM_NAME
  throw std::invalid_argument("`kind` is '" + name + "'; expected a pointwise loss kind");
}

} // namespace

void add_pointwise_bindings(nb::module_& m) {
  auto s = "stream"_a = nb::none();
  auto two = [&](const char* name, auto fn, const char* a, const char* b) {
    m.def(name, fn, nb::arg(a), nb::arg(b), "reduction"_a, nb::kw_only(), s);
  };
  two("mse_loss", &mse_loss, "predictions", "targets");
  two("l1_loss", &l1_loss, "predictions", "targets");
  two("rmse_loss", &rmse_loss, "predictions", "targets");
  two("msle_loss", &msle_loss, "predictions", "targets");
  two("log_cosh_loss", &log_cosh_loss, "inputs", "targets");
  two("hinge_loss", &hinge_loss, "inputs", "targets");
  two("squared_hinge_loss", &squared_hinge_loss, "inputs", "targets");
  m.def("huber_loss", &huber_loss, "inputs"_a, "targets"_a, "delta"_a, "reduction"_a,
        nb::kw_only(), s);
  m.def("smooth_l1_loss", &smooth_l1_loss, "predictions"_a, "targets"_a, "beta"_a,
        "reduction"_a, nb::kw_only(), s);
  m.def("charbonnier_loss", &charbonnier_loss, "predictions"_a, "targets"_a, "eps"_a,
        "reduction"_a, nb::kw_only(), s);
  m.def("quantile_loss", &quantile_loss, "predictions"_a, "targets"_a, "tau"_a, "reduction"_a,
        nb::kw_only(), s);
  m.def("mape_loss", &mape_loss, "predictions"_a, "targets"_a, "eps"_a, "reduction"_a,
        nb::kw_only(), s);
  m.def("margin_ranking_loss", &margin_ranking_loss, "inputs1"_a, "inputs2"_a, "targets"_a,
        "margin"_a, "reduction"_a, nb::kw_only(), s);
  m.def("gaussian_nll_loss", &gaussian_nll_loss, "inputs"_a, "targets"_a, "vars"_a, "full"_a,
        "eps"_a, "reduction"_a, nb::kw_only(), s);
  m.def("binary_cross_entropy", &binary_cross_entropy, "inputs"_a, "targets"_a,
        "weights"_a.none(), "with_logits"_a, "reduction"_a, "pos_weight"_a.none(), nb::kw_only(),
        s);
  m.def("poisson_nll_loss", &poisson_nll_loss, "inputs"_a, "targets"_a, "log_input"_a, "full"_a,
        "eps"_a, "reduction"_a, nb::kw_only(), s);
  m.def("sigmoid_focal_loss", &sigmoid_focal_loss, "inputs"_a, "targets"_a, "alpha"_a,
        "gamma"_a, "reduction"_a, nb::kw_only(), s);

  // For the emulator tests: the plan eval_gpu would execute.
  m.def(
      "_pointwise_metal_plan",
      [](const std::string& kind, const std::string& dtype, Reduction reduction,
         const std::vector<int>& shape, const std::vector<std::vector<int64_t>>& strides,
         int n_operands, bool weighted, int batch_ndim, std::vector<double> params,
         std::optional<std::vector<int>> wrt) {
        params.resize(4, 0.0);
        PointwiseSpec spec{pointwise_kind(kind),
                           {params[0], params[1], params[2], static_cast<int>(params[3])},
                           reduction,
                           n_operands,
                           weighted,
                           batch_ndim};
        mx::Shape sh(shape.begin(), shape.end());
        auto st = bindings::to_strides(strides);
        return bindings::plan_dict(wrt ? metal::pointwise_vjp_plan(spec, *wrt, dtype, sh, st)
                                       : metal::pointwise_forward_plan(spec, dtype, sh, st));
      },
      "kind"_a, "dtype"_a, "reduction"_a, "shape"_a, "strides"_a, "n_operands"_a = 2,
      "weighted"_a = false, "batch_ndim"_a = 0, "params"_a = std::vector<double>{},
      "wrt"_a = nb::none(),
      "The Metal dispatch plan of a pointwise loss (forward, or the VJP of `wrt`): "
      "for the emulator tests. params = (a, b, c, flags) of the loss's kernel.");
}

} // namespace mlx_fused_losses
