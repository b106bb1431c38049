// How the row-distance primitives launch their Metal kernels
// (kernels/row_distance/kernels.h), as plain data (common/metal_plan.h):
// eval_gpu (csrc/row_distance/metal.cpp) executes these plans, and the
// emulator tests (tests/row_distance/test_emulator_row_distance.py, through
// _ext._row_distance_metal_plan) run the kernels from the very same plans.
#pragma once

#include <string>
#include <vector>

#include "common/metal_plan.h"
#include "row_distance/primitive.h"

namespace mlx_fused_losses::metal {

// Rows of at most this many elements take the "simd" kernels (one simdgroup
// per row); longer ones the "looped" kernels (one threadgroup per row).
constexpr int64_t kDistanceSimdMaxLength = 256;

// The kind as the kernel names spell it ("cosine_similarity", "triplet", ...).
const char* distance_kind_name(loss_kernels::DistanceKind kind);

// `dtype`: the vectors' dtype as MLX's type_to_name spells it (float32,
// float16 or bfloat16; anything else throws std::invalid_argument); the
// targets are float32. `shape`: the inputs' shape; `strides`: each input's
// strides, in elements.
//
// Forward: inputs the vectors[, targets]; outputs loss, dt, state.
MetalPlan row_distance_forward_plan(const RowDistanceSpec& spec, const std::string& dtype,
                                    const mx::Shape& shape,
                                    const std::vector<mx::Strides>& strides);
// Backward: inputs are the forward's, then its state and the loss's
// cotangent; one output per entry of `wrt` (vector indices, each once).
MetalPlan row_distance_vjp_plan(const RowDistanceSpec& spec, const std::vector<int>& wrt,
                                const std::string& dtype, const mx::Shape& shape,
                                const std::vector<mx::Strides>& strides);

} // namespace mlx_fused_losses::metal
