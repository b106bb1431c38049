// The shared math of kernels/common/math.h, one function applied elementwise, for the
// tests (tests/test_math_functions.py). Private: bound as _ext._math_probe, not
// part of the public C++ API.
#pragma once

#include <string>
#include <vector>

namespace mlx_fused_losses::probe {

// `name`(x[i]) (or `name`(x[i], y[i]) for pow_) computed in float when `single`,
// else in double, for each i. Names: exp, exp_nonpositive, log, log1p,
// log1p_unit, expm1, tanh, pow. Throws std::invalid_argument for another name.
std::vector<double> math(const std::string& name, const std::vector<double>& x,
                         const std::vector<double>& y, bool single);

} // namespace mlx_fused_losses::probe
