// Executes a Metal launch plan (common/metal_plan.h) on MLX's command encoder:
// allocates the outputs, binds each slot, dispatches in order. Metal only.
#pragma once

#include "common/metal_plan.h"
#include "common/primitive.h"

namespace mlx_fused_losses::metal {

#ifdef _METAL_
// The strides of each array, as the plans take them.
std::vector<mx::Strides> strides_of(const std::vector<mx::array>& arrays);

void run_plan(const MetalPlan& plan, const mx::Stream& s, const std::vector<mx::array>& inputs,
              std::vector<mx::array>& outputs);
#endif

} // namespace mlx_fused_losses::metal
