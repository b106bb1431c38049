// What every family's primitives share (see primitive.h).
#include "common/primitive.h"

#include "mlx/ops.h"

namespace mlx_fused_losses {

std::vector<mx::array> batch_front(const mx::Stream& stream, const std::vector<mx::array>& inputs,
                                   const std::vector<int>& axes) {
  int size = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] >= 0) {
      size = inputs[i].shape(axes[i]);
    }
  }
  std::vector<mx::array> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] >= 0) {
      out.push_back(mx::moveaxis(inputs[i], axes[i], 0, stream));
    } else {
      mx::Shape shape = inputs[i].shape();
      shape.insert(shape.begin(), size);
      out.push_back(mx::broadcast_to(mx::expand_dims(inputs[i], 0, stream), shape, stream));
    }
  }
  return out;
}

} // namespace mlx_fused_losses
