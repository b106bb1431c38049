// mlx-fused-losses (C++ API): what every family's functions share. Include
// mlx_fused_losses/losses.h for all of them.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "mlx/array.h"
#include "mlx/stream.h"
#include "mlx/utils.h"

namespace mlx_fused_losses {

namespace mx = mlx::core;

// BatchMean (PyTorch's "batchmean": the sum divided by the size of the first
// axis) is accepted by kl_div_loss only; every other function rejects it.
enum class Reduction { None, Mean, Sum, BatchMean };

// "none" | "mean" | "sum" | "batchmean"; anything else throws std::invalid_argument.
Reduction parse_reduction(const std::string& reduction);

// An argument of the wrong dtype (Python: TypeError).
struct TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

} // namespace mlx_fused_losses
