// The Python extension module: each family adds its bindings.
#include <nanobind/nanobind.h>

#include "common/bindings.h"

namespace mlx_fused_losses {
void add_pointwise_bindings(nanobind::module_& m); // csrc/pointwise/bindings.cpp
void add_row_softmax_bindings(nanobind::module_& m); // csrc/row_softmax/bindings.cpp
void add_row_distance_bindings(nanobind::module_& m); // csrc/row_distance/bindings.cpp
} // namespace mlx_fused_losses

NB_MODULE(_ext, m) {
  m.doc() = "Fused MLX loss primitives (C++); use the mlx_fused_losses package instead.";
  mlx_fused_losses::bindings::add_common_bindings(m);
  mlx_fused_losses::add_pointwise_bindings(m);
  mlx_fused_losses::add_row_softmax_bindings(m);
  mlx_fused_losses::add_row_distance_bindings(m);
}
