// Binding for the Metal emulator tests: _ext._pointwise_metal_plan returns the
// dispatch plan eval_gpu would execute (csrc/metal/pointwise_plan.h), so the
// tests launch the kernels exactly as the host does. Compiled on every platform.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "metal/pointwise_plan.h"
#include "metal/row_softmax_plan.h"
#include "primitives.h"

namespace nb = nanobind;
using namespace nb::literals;
namespace fl = mlx_fused_losses;

namespace {

mfl::PointwiseKind pointwise_kind(const std::string& name) {
#define MFL_KIND_FROM_NAME(kind, type, arity) \
  if (name == #kind) {                        \
    return mfl::PointwiseKind::kind;          \
  }
  MFL_POINTWISE_LOSSES(MFL_KIND_FROM_NAME)
#undef MFL_KIND_FROM_NAME
  throw std::invalid_argument("`kind` is '" + name + "'; expected a pointwise loss kind");
}

mfl::RowKind row_kind(const std::string& name) {
#define MFL_ROW_KIND_FROM_NAME(kind, type) \
  if (name == #kind) {                     \
    return mfl::RowKind::kind;             \
  }
  MFL_ROW_LOSSES(MFL_ROW_KIND_FROM_NAME)
#undef MFL_ROW_KIND_FROM_NAME
  throw std::invalid_argument("`kind` is '" + name + "'; expected a row-softmax loss kind");
}

std::vector<fl::mx::Strides> to_strides(const std::vector<std::vector<int64_t>>& strides) {
  std::vector<fl::mx::Strides> st;
  for (const auto& s : strides) {
    st.emplace_back(s.begin(), s.end());
  }
  return st;
}

// {"partials": n, "dispatches": [{"kernel", "grid", "group",
//   "buffers": [(kind, index or bytes), ...]}, ...]}
nb::dict plan_dict(const fl::metal::MetalPlan& plan) {
  using Binding = fl::metal::MetalBinding;
  static const char* kinds[] = {"input", "output", "partials_out", "partials_in", "bytes",
                                "placeholder"};
  nb::list dispatches;
  for (const auto& d : plan.dispatches) {
    nb::list buffers;
    for (const auto& b : d.buffers) {
      if (b.kind == Binding::Bytes) {
        buffers.append(nb::make_tuple(kinds[b.kind], nb::bytes(b.bytes.data(), b.bytes.size())));
      } else {
        buffers.append(nb::make_tuple(kinds[b.kind], b.index));
      }
    }
    nb::dict entry;
    entry["kernel"] = d.kernel;
    entry["grid"] = nb::make_tuple(d.grid[0], d.grid[1], d.grid[2]);
    entry["group"] = nb::make_tuple(d.group[0], d.group[1], d.group[2]);
    entry["buffers"] = buffers;
    dispatches.append(entry);
  }
  nb::dict out;
  out["partials"] = plan.partials;
  out["dispatches"] = dispatches;
  return out;
}

} // namespace

void add_metal_plan_bindings(nb::module_& m) {
  m.def(
      "_pointwise_metal_plan",
      [](const std::string& kind, const std::string& dtype, const std::string& reduction,
         const std::vector<int>& shape, const std::vector<std::vector<int64_t>>& strides,
         int n_operands, bool weighted, int batch_ndim, std::vector<double> params,
         std::optional<std::vector<int>> wrt) {
        params.resize(4, 0.0);
        fl::PointwiseSpec spec{pointwise_kind(kind),
                               {params[0], params[1], params[2], static_cast<int>(params[3])},
                               fl::parse_reduction(reduction),
                               n_operands,
                               weighted,
                               batch_ndim};
        fl::mx::Shape sh(shape.begin(), shape.end());
        auto st = to_strides(strides);
        return plan_dict(wrt ? fl::metal::pointwise_vjp_plan(spec, *wrt, dtype, sh, st)
                             : fl::metal::pointwise_forward_plan(spec, dtype, sh, st));
      },
      "kind"_a, "dtype"_a, "reduction"_a, "shape"_a, "strides"_a, "n_operands"_a = 2,
      "weighted"_a = false, "batch_ndim"_a = 0, "params"_a = std::vector<double>{},
      "wrt"_a = nb::none(),
      "The Metal dispatch plan of a pointwise loss (forward, or the VJP of `wrt`): "
      "for the emulator tests. params = (a, b, c, flags) of the loss's kernel.");

  m.def(
      "_row_softmax_metal_plan",
      [](const std::string& kind, const std::string& dtype, const std::string& targets_dtype,
         const std::vector<int>& shape, const std::vector<std::vector<int64_t>>& strides,
         int axis, bool class_weights, bool dot, std::optional<int64_t> ignore_index,
         std::vector<double> params, std::optional<std::vector<int>> wrt) {
        params.resize(4, 0.0);
        fl::RowSoftmaxSpec spec{};
        spec.kind = row_kind(kind);
        spec.params = {params[0], params[1], params[2], static_cast<int>(params[3])};
        spec.axis = axis;
        spec.class_weights = class_weights;
        spec.dot = dot;
        spec.has_ignore = ignore_index.has_value();
        spec.ignore_index = ignore_index.value_or(0);
        fl::mx::Shape sh(shape.begin(), shape.end());
        auto st = to_strides(strides);
        return plan_dict(
            wrt ? fl::metal::row_softmax_vjp_plan(spec, *wrt, dtype, targets_dtype, sh, st)
                : fl::metal::row_softmax_forward_plan(spec, dtype, targets_dtype, sh, st));
      },
      "kind"_a, "dtype"_a, "targets_dtype"_a, "shape"_a, "strides"_a, "axis"_a,
      "class_weights"_a = false, "dot"_a = false, "ignore_index"_a = nb::none(),
      "params"_a = std::vector<double>{}, "wrt"_a = nb::none(),
      "The Metal dispatch plan of a row-softmax loss (forward, or the VJP of `wrt`): "
      "for the emulator tests. params = (a, b, c, flags) of the loss's kernel.");
}
