// How the pointwise primitives launch their Metal kernels, as plain data: kernel
// names, grids, threadgroup sizes and what each buffer slot is bound to. No
// Metal types, so it compiles on every platform: eval_gpu
// (csrc/metal/pointwise.cpp) executes these plans, and the emulator tests
// (tests/test_metal_pointwise.py, through _ext._pointwise_metal_plan) run the
// kernels from the very same plans.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "primitives.h"

namespace mlx_fused_losses::metal {

// What one buffer slot of a dispatch is bound to.
struct MetalBinding {
  enum Kind {
    Input, // the primitive's inputs[index]
    Output, // the primitive's outputs[index]
    PartialsOut, // the temporary float buffer of partial sums, written
    PartialsIn, // ... read
    Bytes, // a constant buffer with these contents (setBytes)
    Placeholder, // an unused slot (absent operand or gradient); never accessed
  };
  Kind kind;
  int index = 0;
  std::vector<char> bytes = {};
};

struct MetalDispatch {
  std::string kernel;
  std::array<size_t, 3> grid; // threadgroups per grid (dispatchThreadgroups)
  std::array<size_t, 3> group; // threads per threadgroup
  std::vector<MetalBinding> buffers = {}; // buffers[i] binds [[buffer(i)]]
};

struct MetalPlan {
  int64_t partials = 0; // floats in the temporary partial-sums buffer (0: none)
  std::vector<MetalDispatch> dispatches; // in order; empty for empty arrays
};

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
