// Executes the Metal launch plans of common/metal_plan.h with MLX's command encoder
// (compiled where MLX has Metal).
#include "common/run_plan.h"

#ifdef _METAL_

#include <dlfcn.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "mlx/allocator.h"
#include "mlx/backend/metal/device.h"
#include "mlx/backend/metal/utils.h"

namespace mlx_fused_losses::metal {

namespace {

// The directory of this library: mlx_fused_losses.metallib is installed next to it.
const std::string& library_dir() {
  static const std::string dir = [] {
    Dl_info info;
    if (!dladdr(reinterpret_cast<void*>(&library_dir), &info)) {
      throw std::runtime_error("mlx_fused_losses: cannot locate libmlx_fused_losses");
    }
    return std::filesystem::path(info.dli_fname).parent_path().string();
  }();
  return dir;
}

} // namespace

void run_plan(const MetalPlan& plan, const mx::Stream& s,
              const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) {
  for (auto& out : outputs) {
    out.set_data(mx::allocator::malloc(out.nbytes()));
  }
  if (plan.dispatches.empty()) {
    return;
  }
  auto& d = mx::metal::device(s.device);
  MTL::Library* lib = d.get_library("mlx_fused_losses", library_dir());
  auto& enc = mx::metal::get_command_encoder(s);

  // Partial sums of the reductions' first stage, freed when the command buffer completes.
  mx::array partials({static_cast<int>(std::max<int64_t>(1, plan.partials))}, mx::float32,
                     nullptr, {});
  if (plan.partials > 0) {
    partials.set_data(mx::allocator::malloc(partials.nbytes()));
  }

  using Binding = MetalBinding;
  for (const auto& dispatch : plan.dispatches) {
    MTL::ComputePipelineState* kernel = d.get_kernel(dispatch.kernel, lib);
    enc.set_compute_pipeline_state(kernel);
    for (int slot = 0; slot < static_cast<int>(dispatch.buffers.size()); ++slot) {
      const Binding& b = dispatch.buffers[slot];
      switch (b.kind) {
        case Binding::Input:
          enc.set_input_array(inputs[b.index], slot);
          break;
        case Binding::Output:
          enc.set_output_array(outputs[b.index], slot);
          break;
        case Binding::PartialsOut:
          enc.set_output_array(partials, slot);
          break;
        case Binding::PartialsIn:
          enc.set_input_array(partials, slot);
          break;
        case Binding::Bytes:
          enc.set_bytes(b.bytes.data(), static_cast<int>(b.bytes.size()), slot);
          break;
        case Binding::Placeholder:
          // Never accessed; Metal still wants every declared buffer bound.
          enc.set_input_array(inputs[0], slot);
          break;
      }
    }
    // The kernels are correct for any threadgroup size: stay within what the
    // compiled pipeline allows.
    const size_t limit = kernel->maxTotalThreadsPerThreadgroup();
    const size_t threads = std::min(dispatch.group[0], std::max<size_t>(32, limit / 32 * 32));
    enc.dispatch_threadgroups(MTL::Size(dispatch.grid[0], dispatch.grid[1], dispatch.grid[2]),
                              MTL::Size(threads, dispatch.group[1], dispatch.group[2]));
  }
  if (plan.partials > 0) {
    enc.add_temporary(std::move(partials));
  }
}

std::vector<mx::Strides> strides_of(const std::vector<mx::array>& arrays) {
  std::vector<mx::Strides> strides;
  for (const auto& a : arrays) {
    strides.push_back(a.strides());
  }
  return strides;
}

} // namespace mlx_fused_losses::metal

#endif
