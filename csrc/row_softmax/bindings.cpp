// The row-softmax family's Python bindings.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include "common/bindings.h"
#include "mlx_fused_losses/row_softmax.h"
#include "row_softmax/metal_plan.h"

namespace mlx_fused_losses {

namespace nb = nanobind;
using namespace nb::literals;

namespace {

loss_kernels::RowKind row_kind(const std::string& name) {
#define MFL_ROW_KIND_FROM_NAME(kind, type) \
  if (name == #kind) {                     \
    return loss_kernels::RowKind::kind;             \
  }
  MFL_ROW_LOSSES(MFL_ROW_KIND_FROM_NAME)
#undef MFL_ROW_KIND_FROM_NAME
  throw std::invalid_argument("`kind` is '" + name + "'; expected a row-softmax loss kind");
}

} // namespace

void add_row_softmax_bindings(nb::module_& m) {
  auto s = "stream"_a = nb::none();
  m.def("cross_entropy", &cross_entropy, "logits"_a, "targets"_a, "weights"_a.none(), "axis"_a,
        "label_smoothing"_a, "reduction"_a, "class_weights"_a.none(), "ignore_index"_a.none(),
        nb::kw_only(), s);
  m.def("nll_loss", &nll_loss, "inputs"_a, "targets"_a, "axis"_a, "reduction"_a,
        "class_weights"_a.none(), "ignore_index"_a.none(), nb::kw_only(), s);
  m.def("kl_div_loss", &kl_div_loss, "inputs"_a, "targets"_a, "axis"_a, "reduction"_a,
        "log_target"_a, nb::kw_only(), s);
  m.def("softmax_focal_loss", &softmax_focal_loss, "logits"_a, "targets"_a, "alpha"_a.none(),
        "gamma"_a, "axis"_a, "reduction"_a, nb::kw_only(), s);
  m.def("info_nce_loss", &info_nce_loss, "query"_a, "keys"_a, "temperature"_a, "reduction"_a,
        "negative_keys"_a.none(), "normalize"_a, nb::kw_only(), s);
  m.def("nt_xent_loss", &nt_xent_loss, "z1"_a, "z2"_a, "temperature"_a, "reduction"_a,
        nb::kw_only(), s);
  m.def(
      "clip_loss",
      [](const mx::array& image_embeds, const mx::array& text_embeds,
         const std::variant<double, mx::array>& temperature, Reduction reduction, bool normalize,
         mx::StreamOrDevice st) {
        return std::visit(
            [&](const auto& tau) {
              return clip_loss(image_embeds, text_embeds, tau, reduction, normalize, st);
            },
            temperature);
      },
      "image_embeds"_a, "text_embeds"_a, "temperature"_a, "reduction"_a, "normalize"_a,
      nb::kw_only(), s);

  // For the emulator tests: the plan eval_gpu would execute.
  m.def(
      "_row_softmax_metal_plan",
      [](const std::string& kind, const std::string& dtype, const std::string& targets_dtype,
         const std::vector<int>& shape, const std::vector<std::vector<int64_t>>& strides,
         int axis, bool class_weights, bool dot, std::optional<int64_t> ignore_index,
         std::vector<double> params, std::optional<std::vector<int>> wrt) {
        params.resize(4, 0.0);
        RowSoftmaxSpec spec{};
        spec.kind = row_kind(kind);
        spec.params = {params[0], params[1], params[2], static_cast<int>(params[3])};
        spec.axis = axis;
        spec.class_weights = class_weights;
        spec.dot = dot;
        spec.has_ignore = ignore_index.has_value();
        spec.ignore_index = ignore_index.value_or(0);
        mx::Shape sh(shape.begin(), shape.end());
        auto st = bindings::to_strides(strides);
        return bindings::plan_dict(
            wrt ? metal::row_softmax_vjp_plan(spec, *wrt, dtype, targets_dtype, sh, st)
                : metal::row_softmax_forward_plan(spec, dtype, targets_dtype, sh, st));
      },
      "kind"_a, "dtype"_a, "targets_dtype"_a, "shape"_a, "strides"_a, "axis"_a,
      "class_weights"_a = false, "dot"_a = false, "ignore_index"_a = nb::none(),
      "params"_a = std::vector<double>{}, "wrt"_a = nb::none(),
      "The Metal dispatch plan of a row-softmax loss (forward, or the VJP of `wrt`): "
      "for the emulator tests. params = (a, b, c, flags) of the loss's kernel.");
}

} // namespace mlx_fused_losses
