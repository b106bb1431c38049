// mlx-fused-losses: fused loss functions for MLX (C++ API), every family.
//
// Every function builds one custom primitive that computes the loss and its
// reduction in a single pass over the inputs; its gradient is one more
// primitive that writes every input's gradient in a single pass. Signatures and
// defaults follow mlx.nn.losses (Python) where MLX has the loss.
//
// Errors: std::invalid_argument for bad values and shapes, and
// mlx_fused_losses::TypeError (also a std::invalid_argument) for bad dtypes,
// each naming the function, the argument, what it got and what was expected.
#pragma once

#include "mlx_fused_losses/common.h"
#include "mlx_fused_losses/pointwise.h"
#include "mlx_fused_losses/row_distance.h"
#include "mlx_fused_losses/row_softmax.h"
