// The row-distance family's Python bindings.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include "common/bindings.h"
#include "mlx_fused_losses/row_distance.h"
#include "row_distance/metal_plan.h"

namespace mlx_fused_losses {

namespace nb = nanobind;
using namespace nb::literals;

void add_row_distance_bindings(nb::module_& m) {
  auto s = "stream"_a = nb::none();
  m.def("cosine_similarity_loss", &cosine_similarity_loss, "x1"_a, "x2"_a, "axis"_a, "eps"_a,
        "reduction"_a, nb::kw_only(), s);
  m.def("triplet_loss", &triplet_loss, "anchors"_a, "positives"_a, "negatives"_a, "axis"_a,
        "p"_a, "margin"_a, "eps"_a, "reduction"_a, "swap"_a, nb::kw_only(), s);
  m.def("contrastive_loss", &contrastive_loss, "x1"_a, "x2"_a, "targets"_a, "margin"_a, "axis"_a,
        "p"_a, "eps"_a, "reduction"_a, nb::kw_only(), s);
  m.def("cosine_embedding_loss", &cosine_embedding_loss, "x1"_a, "x2"_a, "targets"_a,
        "margin"_a, "axis"_a, "eps"_a, "reduction"_a, nb::kw_only(), s);

  // For the emulator tests: the plan eval_gpu would execute.
  m.def(
      "_row_distance_metal_plan",
      [](const std::string& kind, const std::string& dtype, const std::vector<int>& shape,
         const std::vector<std::vector<int64_t>>& strides, int axis, std::vector<double> params,
         std::optional<std::vector<int>> wrt) {
        params.resize(4, 0.0);
        RowDistanceSpec spec{};
        bool known = false;
        for (auto k : {loss_kernels::DistanceKind::cosine_similarity,
                       loss_kernels::DistanceKind::cosine_embedding,
                       loss_kernels::DistanceKind::triplet,
                       loss_kernels::DistanceKind::contrastive}) {
          if (kind == metal::distance_kind_name(k)) {
            spec.kind = k;
            known = true;
          }
        }
        if (!known) {
          throw std::invalid_argument("`kind` is '" + kind +
                                      "'; expected a row-distance loss kind");
        }
        spec.params = {params[0], params[1], params[2], static_cast<int>(params[3])};
        spec.axis = axis;
        mx::Shape sh(shape.begin(), shape.end());
        auto st = bindings::to_strides(strides);
        return bindings::plan_dict(wrt ? metal::row_distance_vjp_plan(spec, *wrt, dtype, sh, st)
                                       : metal::row_distance_forward_plan(spec, dtype, sh, st));
      },
      "kind"_a, "dtype"_a, "shape"_a, "strides"_a, "axis"_a,
      "params"_a = std::vector<double>{0.0, 0.0, 2.0, 0.0}, "wrt"_a = nb::none(),
      "The Metal dispatch plan of a row-distance loss (forward, or the VJP of `wrt`): for the "
      "emulator tests. params = (margin, eps, p, flags) of the loss's kernel.");
}

} // namespace mlx_fused_losses
