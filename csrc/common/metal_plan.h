// A Metal launch as plain data: kernel names, grids, threadgroup sizes and what
// each buffer slot is bound to. No Metal types, so the planners
// (pointwise_plan.cpp, row_softmax_plan.cpp) compile on every platform: eval_gpu
// executes the plans (common/run_plan.cpp), and the emulator tests run the
// kernels from the very same plans (csrc/<family>/bindings.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

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

// A constant buffer holding n values of T.
template <typename T>
MetalBinding bytes_of(const T* data, size_t n) {
  MetalBinding b{MetalBinding::Bytes};
  b.bytes.resize(sizeof(T) * n);
  std::memcpy(b.bytes.data(), data, b.bytes.size());
  return b;
}

} // namespace mlx_fused_losses::metal
