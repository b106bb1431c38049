// Metal dispatch of the row-softmax family (compiled where MLX has Metal). The
// geometry and bindings come from csrc/row_softmax/metal_plan.cpp; this file
// only executes those plans with MLX's command encoder.
#include "row_softmax/primitive.h"

#ifdef _METAL_

#include "mlx/backend/metal/utils.h"

#include "row_softmax/metal_plan.h"
#include "common/run_plan.h"

#endif

namespace mlx_fused_losses {

#ifdef _METAL_

void RowSoftmax::eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) {
  check_row_inputs(spec_, inputs);
  auto plan = metal::row_softmax_forward_plan(spec_, mx::type_to_name(inputs[0]),
                                              mx::type_to_name(inputs[1]), inputs[0].shape(),
                                              metal::strides_of(inputs));
  metal::run_plan(plan, stream(), inputs, outputs);
}

void RowSoftmaxVJP::eval_gpu(const std::vector<mx::array>& inputs,
                             std::vector<mx::array>& outputs) {
  check_row_inputs(spec_, inputs, true);
  auto plan = metal::row_softmax_vjp_plan(spec_, wrt_, mx::type_to_name(inputs[0]),
                                          mx::type_to_name(inputs[1]), inputs[0].shape(),
                                          metal::strides_of(inputs));
  metal::run_plan(plan, stream(), inputs, outputs);
}

#else

void RowSoftmax::eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) {
  throw std::runtime_error(
      "mlx_fused_losses: this build has no Metal support; run the loss on the CPU "
      "(stream=mx.cpu)");
}

void RowSoftmaxVJP::eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) {
  throw std::runtime_error(
      "mlx_fused_losses: this build has no Metal support; run the loss on the CPU "
      "(stream=mx.cpu)");
}

#endif

} // namespace mlx_fused_losses
