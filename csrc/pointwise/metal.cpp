// Metal dispatch of the pointwise family (compiled where MLX has Metal). The
// geometry and bindings come from csrc/pointwise/metal_plan.cpp; this file only
// executes those plans with MLX's command encoder.
#include "pointwise/primitive.h"

#ifdef _METAL_

#include "mlx/backend/metal/utils.h"

#include "pointwise/metal_plan.h"
#include "common/run_plan.h"

#endif

namespace mlx_fused_losses {

#ifdef _METAL_

void Pointwise::eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) {
  check_pointwise_inputs(spec_, inputs);
  if (outputs.size() != 1) {
    // ops.cpp offers the forward's own gradient outputs on the CPU only.
    throw std::logic_error("mlx_fused_losses: a pointwise forward with gradients on the GPU");
  }
  auto plan = metal::pointwise_forward_plan(spec_, mx::type_to_name(inputs[0]), inputs[0].shape(),
                                            metal::strides_of(inputs));
  metal::run_plan(plan, stream(), inputs, outputs);
}

void PointwiseVJP::eval_gpu(const std::vector<mx::array>& inputs,
                            std::vector<mx::array>& outputs) {
  check_pointwise_inputs(spec_, inputs);
  auto plan = metal::pointwise_vjp_plan(spec_, wrt_, mx::type_to_name(inputs[0]),
                                        inputs[0].shape(), metal::strides_of(inputs));
  metal::run_plan(plan, stream(), inputs, outputs);
}

#else

void Pointwise::eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) {
  throw std::runtime_error(
      "mlx_fused_losses: this build has no Metal support; run the loss on the CPU "
      "(stream=mx.cpu)");
}

void PointwiseVJP::eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) {
  throw std::runtime_error(
      "mlx_fused_losses: this build has no Metal support; run the loss on the CPU "
      "(stream=mx.cpu)");
}

#endif

} // namespace mlx_fused_losses
