// The row-distance family's Python bindings.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>

#include "common/bindings.h"
#include "mlx_fused_losses/row_distance.h"

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
}

} // namespace mlx_fused_losses
