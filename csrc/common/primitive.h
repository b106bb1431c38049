// What every family's primitives share. Each family has a forward primitive
// (the loss and its reduction in one pass) and a VJP primitive (every
// requested gradient in one pass), declared in csrc/<family>/primitive.h;
// backends in csrc/<family>/{cpu,metal}.cpp, graph-level logic (vjp, jvp,
// vmap, shapes) in csrc/<family>/primitive.cpp.
#pragma once

#include <vector>

#include "mlx/primitives.h"

#include "mlx_fused_losses/losses.h"

namespace mlx_fused_losses {

// vmap helper shared by the families: moves each mapped axis to the front and
// broadcasts unmapped inputs along it (stride 0, no copy), so the batched
// primitive sees one more leading axis.
std::vector<mx::array> batch_front(const mx::Stream& stream, const std::vector<mx::array>& inputs,
                                   const std::vector<int>& axes);

} // namespace mlx_fused_losses
