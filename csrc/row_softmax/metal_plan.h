// How the row-softmax primitives launch their Metal kernels (kernels/row_softmax/kernels.h),
// as plain data (common/metal_plan.h): eval_gpu (csrc/row_softmax/metal.cpp) executes
// these plans, and the emulator tests (tests/row_softmax/test_emulator_row_softmax.py, through
// _ext._row_softmax_metal_plan) run the kernels from the very same plans.
#pragma once

#include <string>
#include <vector>

#include "common/metal_plan.h"
#include "row_softmax/primitive.h"

namespace mlx_fused_losses::metal {

// Rows of at most this many classes take the "simd" kernels (one simdgroup
// per row); longer ones the "looped" kernels (one threadgroup per row).
constexpr int64_t kRowSimdMaxClasses = 256;

// `dtype`: the logits' dtype and `targets_dtype` the targets', as MLX's
// type_to_name spells them (logits float32, float16 or bfloat16; targets int64
// class indices for class-index kinds, else the logits' dtype or float32;
// anything else throws std::invalid_argument). `shape`: the logits' shape;
// `strides`: each input's strides, in elements.
//
// Forward: inputs logits, targets[, class weights]; outputs loss, weight, state.
MetalPlan row_softmax_forward_plan(const RowSoftmaxSpec& spec, const std::string& dtype,
                                   const std::string& targets_dtype, const mx::Shape& shape,
                                   const std::vector<mx::Strides>& strides);
// Backward: inputs are the forward's, then its state and the loss's
// cotangent; one output per entry of `wrt` (0: logits, 1: distribution targets).
MetalPlan row_softmax_vjp_plan(const RowSoftmaxSpec& spec, const std::vector<int>& wrt,
                               const std::string& dtype, const std::string& targets_dtype,
                               const mx::Shape& shape, const std::vector<mx::Strides>& strides);

} // namespace mlx_fused_losses::metal
