// What every family's bindings share (see bindings.h), and the private probes.
#include "common/bindings.h"

#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common/bench_bandwidth.h"
#include "common/math_probe.h"

namespace mlx_fused_losses::bindings {

using namespace nb::literals;

std::vector<mx::Strides> to_strides(const std::vector<std::vector<int64_t>>& strides) {
  std::vector<mx::Strides> st;
  for (const auto& s : strides) {
    st.emplace_back(s.begin(), s.end());
  }
  return st;
}

nb::dict plan_dict(const metal::MetalPlan& plan) {
  using Binding = metal::MetalBinding;
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

void add_common_bindings(nb::module_& m) {
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });

  // Private: kernels/common/math.h elementwise, for tests/test_math_functions.py.
  m.def("_math_probe", &probe::math, "name"_a, "x"_a, "y"_a, "single"_a,
        "name(x[i] (, y[i])) with the kernels' shared math, in float if single, else double.");

  // Private probes of the benchmark (mlx_fused_losses/bench/bandwidth.py).
  m.def("_bench_stream_read", &bench::stream_read, "a"_a, "repeats"_a,
        "Seconds of each multi-threaded sum of the float32 array `a`, and the sum.");
  m.def("_bench_copy", &bench::copy, "a"_a, "repeats"_a,
        "Seconds of each multi-threaded copy of the float32 array `a` into a private buffer.");
}

} // namespace mlx_fused_losses::bindings
