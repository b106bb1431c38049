// How the pointwise primitives launch their Metal kernels, as plain data: kernel
// names, grids, threadgroup sizes and what each buffer slot is bound to. No
// Metal types, so it compiles on every platform: eval_gpu
// (csrc/pointwise/metal.cpp) executes these plans, and the emulator tests
// (tests/pointwise/test_emulator_pointwise.py, through _ext._pointwise_metal_plan) run the
// kernels from the very same plans.
#pragma once

#include <string>
#include <vector>

#include "common/metal_plan.h"
#include "pointwise/primitive.h"

namespace mlx_fused_losses::metal {

// `dtype`: the inputs' dtype as MLX's type_to_name spells it (float32,
// float16, bfloat16; anything else throws std::invalid_argument). `shape`: the
// inputs' common shape; `strides`: each input's strides, in elements.
//
// Forward: inputs are the operands, then the weight if spec.weighted.
MetalPlan pointwise_forward_plan(const PointwiseSpec& spec, const std::string& dtype,
                                 const mx::Shape& shape, const std::vector<mx::Strides>& strides);
// Backward: inputs are the forward's, then the cotangent; one output per
// entry of `wrt` (indices into the forward's inputs).
MetalPlan pointwise_vjp_plan(const PointwiseSpec& spec, const std::vector<int>& wrt,
                             const std::string& dtype, const mx::Shape& shape,
                             const std::vector<mx::Strides>& strides);

} // namespace mlx_fused_losses::metal
