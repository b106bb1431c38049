// Metal dispatch of the row-distance family (compiled where MLX has Metal).
// The geometry and bindings come from csrc/row_distance/metal_plan.cpp; this
// file only executes those plans with MLX's command encoder.
#include "row_distance/primitive.h"

#ifdef _METAL_

#include "mlx/backend/metal/utils.h"

#include "common/run_plan.h"
#include "row_distance/metal_plan.h"

#endif

namespace mlx_fused_losses {

#ifdef _METAL_

void RowDistance::eval_gpu(const std::vector<mx::array>& inputs,
                           std::vector<mx::array>& outputs) {
  check_distance_inputs(spec_, inputs);
  auto plan = metal::row_distance_forward_plan(spec_, mx::type_to_name(inputs[0]),
                                               inputs[0].shape(), metal::strides_of(inputs));
  metal::run_plan(plan, stream(), inputs, outputs);
}

void RowDistanceVJP::eval_gpu(const std::vector<mx::array>& inputs,
                              std::vector<mx::array>& outputs) {
  check_distance_inputs(spec_, inputs, true);
  auto plan = metal::row_distance_vjp_plan(spec_, wrt_, mx::type_to_name(inputs[0]),
                                           inputs[0].shape(), metal::strides_of(inputs));
  metal::run_plan(plan, stream(), inputs, outputs);
}

#else

void RowDistance::eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) {
  throw std::runtime_error(
      "mlx_fused_losses: this build has no Metal support; run the loss on the CPU "
      "(stream=mx.cpu)");
}

void RowDistanceVJP::eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) {
  throw std::runtime_error(
      "mlx_fused_losses: this build has no Metal support; run the loss on the CPU "
      "(stream=mx.cpu)");
}

#endif

} // namespace mlx_fused_losses
