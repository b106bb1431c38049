// Argument checks shared by every family's ops: each failure names the
// function, the argument, what it got and what was expected.
#pragma once

#include <string>
#include <vector>

#include "mlx_fused_losses/losses.h"

namespace mlx_fused_losses {

// An argument as the user named it.
struct Arg {
  const char* name;
  const mx::array& value;
};

// Python-style spellings: "(3, 4)", "float32".
std::string shape_str(const mx::Shape& shape);
std::string dtype_str(mx::Dtype dtype);

// Throws std::invalid_argument("<fn>: <message>").
[[noreturn]] void fail(const char* fn, const std::string& message);

// TypeError unless the dtype is real (floating, integer or bool).
void check_real(const char* fn, const Arg& arg);
// ValueError unless b has a's shape.
void check_same_shape(const char* fn, const Arg& a, const Arg& b);
// The broadcast shape of the arguments, or a ValueError naming them all.
mx::Shape broadcast_shape(const char* fn, const std::vector<Arg>& args);
// ValueError unless `ok` (NaN never passes); `expected` says what is allowed.
void check_param(const char* fn, const char* name, double value, bool ok, const char* expected);

// ValueError unless `reduction` is None, Mean or Sum (or BatchMean where allowed).
void check_reduction(const char* fn, Reduction reduction, bool batchmean_ok = false);

// The loss's dtype: the arguments' promoted dtype, float32 for integers and
// bools (as mlx.nn.losses, whose arithmetic and mean promote them to float32).
mx::Dtype loss_dtype(const std::vector<Arg>& args);

} // namespace mlx_fused_losses
