// Metal dispatch of the row-distance family (compiled where MLX has Metal).
#include "row_distance/primitive.h"

namespace mlx_fused_losses {

void RowDistance::eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) {
  throw std::runtime_error(
      "mlx_fused_losses: the row-distance losses have no Metal kernels yet; run them on the "
      "CPU (stream=mx.cpu)");
}

void RowDistanceVJP::eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) {
  throw std::runtime_error(
      "mlx_fused_losses: the row-distance losses have no Metal kernels yet; run them on the "
      "CPU (stream=mx.cpu)");
}

} // namespace mlx_fused_losses
