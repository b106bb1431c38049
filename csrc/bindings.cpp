// Python bindings (nanobind, sharing MLX's type registry through NB_DOMAIN mlx).
// Thin: argument conversion only; validation and docs live in C++ (ops.cpp) and
// in python/mlx_fused_losses.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include "bench_bandwidth.h"
#include "math_probe.h"
#include "mlx_fused_losses/losses.h"

namespace nb = nanobind;
using namespace nb::literals;
namespace mfl = mlx_fused_losses;
using mfl::mx::array;
using mfl::mx::StreamOrDevice;

void add_metal_plan_bindings(nb::module_& m); // bindings_metal_plan.cpp

namespace {


mfl::Reduction reduction(const std::string& name) {
  return mfl::parse_reduction(name);
}

} // namespace

NB_MODULE(_ext, m) {
  m.doc() = "Fused MLX loss primitives (C++); use the mlx_fused_losses package instead.";

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const mfl::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });

  add_metal_plan_bindings(m);

  auto s = "stream"_a = nb::none();

  m.def("mse_loss", [](const array& p, const array& t, const std::string& r, StreamOrDevice st) {
    return mfl::mse_loss(p, t, reduction(r), st);
  }, "predictions"_a, "targets"_a, "reduction"_a, nb::kw_only(), s);
  m.def("l1_loss", [](const array& p, const array& t, const std::string& r, StreamOrDevice st) {
    return mfl::l1_loss(p, t, reduction(r), st);
  }, "predictions"_a, "targets"_a, "reduction"_a, nb::kw_only(), s);
  m.def("rmse_loss", [](const array& p, const array& t, const std::string& r, StreamOrDevice st) {
    return mfl::rmse_loss(p, t, reduction(r), st);
  }, "predictions"_a, "targets"_a, "reduction"_a, nb::kw_only(), s);
  m.def("msle_loss", [](const array& p, const array& t, const std::string& r, StreamOrDevice st) {
    return mfl::msle_loss(p, t, reduction(r), st);
  }, "predictions"_a, "targets"_a, "reduction"_a, nb::kw_only(), s);
  m.def("log_cosh_loss", [](const array& i, const array& t, const std::string& r, StreamOrDevice st) {
    return mfl::log_cosh_loss(i, t, reduction(r), st);
  }, "inputs"_a, "targets"_a, "reduction"_a, nb::kw_only(), s);
  m.def("hinge_loss", [](const array& i, const array& t, const std::string& r, StreamOrDevice st) {
    return mfl::hinge_loss(i, t, reduction(r), st);
  }, "inputs"_a, "targets"_a, "reduction"_a, nb::kw_only(), s);
  m.def("squared_hinge_loss", [](const array& i, const array& t, const std::string& r, StreamOrDevice st) {
    return mfl::squared_hinge_loss(i, t, reduction(r), st);
  }, "inputs"_a, "targets"_a, "reduction"_a, nb::kw_only(), s);
  m.def("huber_loss", [](const array& i, const array& t, double delta, const std::string& r, StreamOrDevice st) {
    return mfl::huber_loss(i, t, delta, reduction(r), st);
  }, "inputs"_a, "targets"_a, "delta"_a, "reduction"_a, nb::kw_only(), s);
  m.def("smooth_l1_loss", [](const array& p, const array& t, double beta, const std::string& r, StreamOrDevice st) {
    return mfl::smooth_l1_loss(p, t, beta, reduction(r), st);
  }, "predictions"_a, "targets"_a, "beta"_a, "reduction"_a, nb::kw_only(), s);
  m.def("charbonnier_loss", [](const array& p, const array& t, double eps, const std::string& r, StreamOrDevice st) {
    return mfl::charbonnier_loss(p, t, eps, reduction(r), st);
  }, "predictions"_a, "targets"_a, "eps"_a, "reduction"_a, nb::kw_only(), s);
  m.def("quantile_loss", [](const array& p, const array& t, double tau, const std::string& r, StreamOrDevice st) {
    return mfl::quantile_loss(p, t, tau, reduction(r), st);
  }, "predictions"_a, "targets"_a, "tau"_a, "reduction"_a, nb::kw_only(), s);
  m.def("mape_loss", [](const array& p, const array& t, double eps, const std::string& r, StreamOrDevice st) {
    return mfl::mape_loss(p, t, eps, reduction(r), st);
  }, "predictions"_a, "targets"_a, "eps"_a, "reduction"_a, nb::kw_only(), s);
  m.def("margin_ranking_loss", [](const array& a, const array& b, const array& t, double margin, const std::string& r, StreamOrDevice st) {
    return mfl::margin_ranking_loss(a, b, t, margin, reduction(r), st);
  }, "inputs1"_a, "inputs2"_a, "targets"_a, "margin"_a, "reduction"_a, nb::kw_only(), s);
  m.def("gaussian_nll_loss", [](const array& i, const array& t, const array& v, bool full, double eps, const std::string& r, StreamOrDevice st) {
    return mfl::gaussian_nll_loss(i, t, v, full, eps, reduction(r), st);
  }, "inputs"_a, "targets"_a, "vars"_a, "full"_a, "eps"_a, "reduction"_a, nb::kw_only(), s);
  m.def("binary_cross_entropy", [](const array& i, const array& t, const std::optional<array>& w, bool with_logits, const std::string& r, const std::optional<array>& pw, StreamOrDevice st) {
    return mfl::binary_cross_entropy(i, t, w, with_logits, reduction(r), pw, st);
  }, "inputs"_a, "targets"_a, "weights"_a.none(), "with_logits"_a, "reduction"_a, "pos_weight"_a.none(), nb::kw_only(), s);
  m.def("poisson_nll_loss", [](const array& i, const array& t, bool log_input, bool full, double eps, const std::string& r, StreamOrDevice st) {
    return mfl::poisson_nll_loss(i, t, log_input, full, eps, reduction(r), st);
  }, "inputs"_a, "targets"_a, "log_input"_a, "full"_a, "eps"_a, "reduction"_a, nb::kw_only(), s);
  m.def("sigmoid_focal_loss", [](const array& i, const array& t, double alpha, double gamma, const std::string& r, StreamOrDevice st) {
    return mfl::sigmoid_focal_loss(i, t, alpha, gamma, reduction(r), st);
  }, "inputs"_a, "targets"_a, "alpha"_a, "gamma"_a, "reduction"_a, nb::kw_only(), s);

  // ------------------------------------------------------------- row softmax
  using Opt = std::optional<array>;
  m.def("cross_entropy", [](const array& logits, const array& targets, const Opt& weights, int axis, double label_smoothing, const std::string& r, const Opt& class_weights, std::optional<int64_t> ignore_index, StreamOrDevice st) {
    return mfl::cross_entropy(logits, targets, weights, axis, label_smoothing, reduction(r), class_weights, ignore_index, st);
  }, "logits"_a, "targets"_a, "weights"_a.none(), "axis"_a, "label_smoothing"_a, "reduction"_a, "class_weights"_a.none(), "ignore_index"_a.none(), nb::kw_only(), s);
  m.def("nll_loss", [](const array& inputs, const array& targets, int axis, const std::string& r, const Opt& class_weights, std::optional<int64_t> ignore_index, StreamOrDevice st) {
    return mfl::nll_loss(inputs, targets, axis, reduction(r), class_weights, ignore_index, st);
  }, "inputs"_a, "targets"_a, "axis"_a, "reduction"_a, "class_weights"_a.none(), "ignore_index"_a.none(), nb::kw_only(), s);
  m.def("kl_div_loss", [](const array& inputs, const array& targets, int axis, const std::string& r, bool log_target, StreamOrDevice st) {
    return mfl::kl_div_loss(inputs, targets, axis, reduction(r), log_target, st);
  }, "inputs"_a, "targets"_a, "axis"_a, "reduction"_a, "log_target"_a, nb::kw_only(), s);
  m.def("softmax_focal_loss", [](const array& logits, const array& targets, const Opt& alpha, double gamma, int axis, const std::string& r, StreamOrDevice st) {
    return mfl::softmax_focal_loss(logits, targets, alpha, gamma, axis, reduction(r), st);
  }, "logits"_a, "targets"_a, "alpha"_a.none(), "gamma"_a, "axis"_a, "reduction"_a, nb::kw_only(), s);
  m.def("info_nce_loss", [](const array& query, const array& keys, double temperature, const std::string& r, const Opt& negative_keys, bool normalize, StreamOrDevice st) {
    return mfl::info_nce_loss(query, keys, temperature, reduction(r), negative_keys, normalize, st);
  }, "query"_a, "keys"_a, "temperature"_a, "reduction"_a, "negative_keys"_a.none(), "normalize"_a, nb::kw_only(), s);
  m.def("nt_xent_loss", [](const array& z1, const array& z2, double temperature, const std::string& r, StreamOrDevice st) {
    return mfl::nt_xent_loss(z1, z2, temperature, reduction(r), st);
  }, "z1"_a, "z2"_a, "temperature"_a, "reduction"_a, nb::kw_only(), s);
  m.def("clip_loss", [](const array& image_embeds, const array& text_embeds, const std::variant<double, array>& temperature, const std::string& r, bool normalize, StreamOrDevice st) {
    return std::visit([&](const auto& tau) { return mfl::clip_loss(image_embeds, text_embeds, tau, reduction(r), normalize, st); }, temperature);
  }, "image_embeds"_a, "text_embeds"_a, "temperature"_a, "reduction"_a, "normalize"_a, nb::kw_only(), s);

  // Private: kernels/math.h elementwise, for tests/test_math_functions.py.
  m.def("_math_probe", &mfl::probe::math, "name"_a, "x"_a, "y"_a, "single"_a,
        "name(x[i] (, y[i])) with the kernels' shared math, in float if single, else double.");

  // Private probes of the benchmark (mlx_fused_losses/bench/bandwidth.py).
  m.def("_bench_stream_read", &mfl::bench::stream_read, "a"_a, "repeats"_a,
        "Seconds of each multi-threaded sum of the float32 array `a`, and the sum.");
  m.def("_bench_copy", &mfl::bench::copy, "a"_a, "repeats"_a,
        "Seconds of each multi-threaded copy of the float32 array `a` into a private buffer.");
}
