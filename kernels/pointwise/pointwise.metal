// Instantiations of the pointwise kernels: for every loss of
// MFL_POINTWISE_LOSSES, every dtype and every variant. Host names are
// "pointwise_<kind>_<variant>_<dtype>" (csrc/pointwise/metal_plan.cpp builds the
// same strings), dtypes spelled as MLX's type_to_name.
#include <metal_stdlib>

#include "mlx/backend/metal/kernels/utils.h"

#include "kernels/pointwise/kernels.h"

using namespace metal;
using namespace loss_kernels;

#define MFL_INSTANTIATE_LOSS_DTYPE(kind, Loss, tname, T)                               \
  instantiate_kernel("pointwise_" #kind "_none_" #tname, loss_kernels::pointwise_none, \
                     Loss, T, false)                                                   \
  instantiate_kernel("pointwise_" #kind "_none_strided_" #tname,                       \
                     loss_kernels::pointwise_none, Loss, T, true)                      \
  instantiate_kernel("pointwise_" #kind "_partial_" #tname,                            \
                     loss_kernels::pointwise_partial, Loss, T, false)                  \
  instantiate_kernel("pointwise_" #kind "_partial_strided_" #tname,                    \
                     loss_kernels::pointwise_partial, Loss, T, true)                   \
  instantiate_kernel("pointwise_" #kind "_vjp_" #tname, loss_kernels::pointwise_vjp,   \
                     Loss, T, false)                                                   \
  instantiate_kernel("pointwise_" #kind "_vjp_strided_" #tname,                        \
                     loss_kernels::pointwise_vjp, Loss, T, true)

#define MFL_INSTANTIATE_LOSS(kind, Loss, arity)                \
  MFL_INSTANTIATE_LOSS_DTYPE(kind, Loss, float32, float)       \
  MFL_INSTANTIATE_LOSS_DTYPE(kind, Loss, float16, half)        \
  MFL_INSTANTIATE_LOSS_DTYPE(kind, Loss, bfloat16, bfloat16_t)

MFL_POINTWISE_LOSSES(MFL_INSTANTIATE_LOSS)

instantiate_kernel("pointwise_finish_float32", loss_kernels::pointwise_finish, float)
instantiate_kernel("pointwise_finish_float16", loss_kernels::pointwise_finish, half)
instantiate_kernel("pointwise_finish_bfloat16", loss_kernels::pointwise_finish, bfloat16_t)
