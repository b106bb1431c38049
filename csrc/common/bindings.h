// What every family's Python bindings share (nanobind, sharing MLX's type
// registry through NB_DOMAIN mlx): the `reduction` string as a Reduction, and
// the Metal dispatch plans as Python data for the emulator tests. Each family's
// csrc/<family>/bindings.cpp defines add_<family>_bindings(m); csrc/module.cpp
// calls them. Thin: validation and docs live in the ops and in the Python layer.
#pragma once

#include <string>
#include <vector>

#include <nanobind/nanobind.h>

#include "common/metal_plan.h"
#include "mlx_fused_losses/common.h"

namespace nanobind::detail {

// "none" | "mean" | "sum" | "batchmean" <-> Reduction. The Python layer
// checks the string first (with an error naming the function); anything else
// fails overload resolution here.
template <>
struct type_caster<mlx_fused_losses::Reduction> {
  NB_TYPE_CASTER(mlx_fused_losses::Reduction, const_name("str"))

  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(src.ptr(), &size);
    if (!text) {
      PyErr_Clear();
      return false;
    }
    try {
      value = mlx_fused_losses::parse_reduction(std::string(text, size));
      return true;
    } catch (...) {
      return false;
    }
  }

  static handle from_cpp(mlx_fused_losses::Reduction r, rv_policy, cleanup_list*) noexcept {
    static const char* names[] = {"none", "mean", "sum", "batchmean"};
    return PyUnicode_FromString(names[static_cast<int>(r)]);
  }
};

} // namespace nanobind::detail

namespace mlx_fused_losses::bindings {

namespace nb = nanobind;

// Strides given as Python lists, as MLX's.
std::vector<mx::Strides> to_strides(const std::vector<std::vector<int64_t>>& strides);

// {"partials": n, "dispatches": [{"kernel", "grid", "group",
//   "buffers": [(kind, index or bytes), ...]}, ...]}
nb::dict plan_dict(const metal::MetalPlan& plan);

// The exception translator (TypeError) and the private probes.
void add_common_bindings(nb::module_& m);

} // namespace mlx_fused_losses::bindings
