// See math_probe.h.
#include "common/math_probe.h"

#include <stdexcept>

#include "kernels/common/math.h"

namespace mlx_fused_losses::probe {

namespace {

template <typename T>
T apply(const std::string& name, T x, T y) {
  if (name == "exp") {
    return loss_kernels::exp_(x);
  }
  if (name == "exp_nonpositive") {
    return loss_kernels::exp_nonpositive_(x);
  }
  if (name == "log") {
    return loss_kernels::log_(x);
  }
  if (name == "log1p") {
    return loss_kernels::log1p_(x);
  }
  if (name == "log1p_unit") {
    return loss_kernels::log1p_unit_(x);
  }
  if (name == "expm1") {
    return loss_kernels::expm1_(x);
  }
  if (name == "tanh") {
    return loss_kernels::tanh_(x);
  }
  if (name == "pow") {
    return loss_kernels::pow_(x, y);
  }
  throw std::invalid_argument("math probe: unknown function '" + name + "'");
}

} // namespace

std::vector<double> math(const std::string& name, const std::vector<double>& x,
                         const std::vector<double>& y, bool single) {
  if (!y.empty() && y.size() != x.size()) {
    throw std::invalid_argument("math probe: x and y differ in length");
  }
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double yi = y.empty() ? 0.0 : y[i];
    out[i] = single ? double(apply<float>(name, float(x[i]), float(yi)))
                    : apply<double>(name, x[i], yi);
  }
  return out;
}

} // namespace mlx_fused_losses::probe
