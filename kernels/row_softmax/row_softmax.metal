// Instantiations of the row-softmax kernels: for every loss of
// MFL_ROW_LOSSES, every dtype, forward and VJP, "looped" and "simd" variants.
// Host names are "row_<kind>_<pass>_<variant>_<dtype>" (csrc/row_softmax/metal_plan.cpp
// builds the same strings), dtypes spelled as MLX's type_to_name.
#include <metal_stdlib>

#include "mlx/backend/metal/kernels/utils.h"

#include "kernels/row_softmax/kernels.h"

using namespace metal;
using namespace loss_kernels;

#define MFL_ROW_INSTANTIATE_DTYPE(kind, Kind, tname, T)                                         \
  instantiate_kernel("row_" #kind "_forward_looped_" #tname, loss_kernels::row_softmax_forward, \
                     Kind, T, false)                                                            \
  instantiate_kernel("row_" #kind "_forward_simd_" #tname, loss_kernels::row_softmax_forward,   \
                     Kind, T, true)                                                             \
  instantiate_kernel("row_" #kind "_vjp_looped_" #tname, loss_kernels::row_softmax_vjp,         \
                     Kind, T, false)                                                            \
  instantiate_kernel("row_" #kind "_vjp_simd_" #tname, loss_kernels::row_softmax_vjp, Kind,     \
                     T, true)

#define MFL_ROW_INSTANTIATE(kind, Kind)                       \
  MFL_ROW_INSTANTIATE_DTYPE(kind, Kind, float32, float)       \
  MFL_ROW_INSTANTIATE_DTYPE(kind, Kind, float16, half)        \
  MFL_ROW_INSTANTIATE_DTYPE(kind, Kind, bfloat16, bfloat16_t)

MFL_ROW_LOSSES(MFL_ROW_INSTANTIATE)
