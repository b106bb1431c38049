// Instantiations of the row-distance kernels: every kind with each of its
// norms (the cosine kinds have none: l2 stands for them), every dtype,
// forward and VJP, "looped" and "simd" variants. Host names are
// "distance_<kind>_<norm>_<pass>_<variant>_<dtype>"
// (csrc/row_distance/metal_plan.cpp builds the same strings), dtypes spelled
// as MLX's type_to_name.
#include <metal_stdlib>

#include "mlx/backend/metal/kernels/utils.h"

#include "kernels/row_distance/kernels.h"

using namespace metal;
using namespace loss_kernels;

#define MFL_DISTANCE_INSTANTIATE_DTYPE(kind, norm, tname, T)                                 \
  instantiate_kernel("distance_" #kind "_" #norm "_forward_looped_" #tname,                  \
                     loss_kernels::row_distance_forward, loss_kernels::DistanceKind::kind,   \
                     loss_kernels::Norm::norm, T, false)                                     \
  instantiate_kernel("distance_" #kind "_" #norm "_forward_simd_" #tname,                    \
                     loss_kernels::row_distance_forward, loss_kernels::DistanceKind::kind,   \
                     loss_kernels::Norm::norm, T, true)                                      \
  instantiate_kernel("distance_" #kind "_" #norm "_vjp_looped_" #tname,                      \
                     loss_kernels::row_distance_vjp, loss_kernels::DistanceKind::kind,       \
                     loss_kernels::Norm::norm, T, false)                                     \
  instantiate_kernel("distance_" #kind "_" #norm "_vjp_simd_" #tname,                        \
                     loss_kernels::row_distance_vjp, loss_kernels::DistanceKind::kind,       \
                     loss_kernels::Norm::norm, T, true)

#define MFL_DISTANCE_INSTANTIATE(kind, norm)                       \
  MFL_DISTANCE_INSTANTIATE_DTYPE(kind, norm, float32, float)       \
  MFL_DISTANCE_INSTANTIATE_DTYPE(kind, norm, float16, half)        \
  MFL_DISTANCE_INSTANTIATE_DTYPE(kind, norm, bfloat16, bfloat16_t)

// The distance kinds: p = 2 and p = 1 have their own code, any other p the
// pow one.
#define MFL_DISTANCE_INSTANTIATE_NORMS(kind) \
  MFL_DISTANCE_INSTANTIATE(kind, l2)         \
  MFL_DISTANCE_INSTANTIATE(kind, l1)         \
  MFL_DISTANCE_INSTANTIATE(kind, lp)

MFL_DISTANCE_INSTANTIATE(cosine_similarity, l2)
MFL_DISTANCE_INSTANTIATE(cosine_embedding, l2)
MFL_DISTANCE_INSTANTIATE_NORMS(triplet)
MFL_DISTANCE_INSTANTIATE_NORMS(contrastive)
