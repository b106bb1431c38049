// Metal dispatch of the row-softmax family (compiled where MLX has Metal).
#include "primitives.h"

namespace mlx_fused_losses {

#ifndef _METAL_

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
