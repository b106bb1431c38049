// Output buffers for the CPU kernels.
#pragma once

#include <cstdint>

#include <vector>

#include "mlx/allocator.h"
#include "mlx/array.h"
#include "mlx/backend/cpu/encoder.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace mlx_fused_losses::cpu {

// mx::allocator::malloc, asking Linux to back a large buffer with transparent
// huge pages (as numpy does). MLX's CPU allocator caches only 32 MB, so a
// gradient of the inputs' size is fresh memory on every step; faulting it in
// 4 KiB pages costs more than the kernel that fills it (1 GiB of logits: ~0.5 s
// of page faults against ~0.15 s of writing; 64 MB of a pointwise gradient:
// ~30 ms against ~5 ms), 2 MiB pages a fraction of that.
inline mlx::core::allocator::Data malloc_output(size_t nbytes) {
  auto data = mlx::core::allocator::malloc(nbytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t huge = uintptr_t(2) << 20;
  auto buffer = data.buffer();
  if (nbytes >= 2 * huge && buffer.ptr()) {
    // The aligned 2 MiB blocks inside the buffer; advice is only a hint.
    auto start = reinterpret_cast<uintptr_t>(buffer.raw_ptr());
    auto begin = (start + huge - 1) & ~(huge - 1);
    auto end = (start + nbytes) & ~(huge - 1);
    if (end > begin) {
      madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
    }
  }
#endif
  return data;
}

// The start of an eval_cpu: registers the inputs with the stream's CPU
// encoder, allocates the outputs (malloc_output) and registers them; returns
// the encoder to dispatch the kernels on.
inline mlx::core::cpu::CommandEncoder& begin_eval(const mlx::core::Stream& stream,
                                                  const std::vector<mlx::core::array>& inputs,
                                                  std::vector<mlx::core::array>& outputs) {
  auto& encoder = mlx::core::cpu::get_command_encoder(stream);
  for (const auto& in : inputs) {
    encoder.set_input_array(in);
  }
  for (auto& out : outputs) {
    out.set_data(malloc_output(out.nbytes()));
    encoder.set_output_array(out);
  }
  return encoder;
}

} // namespace mlx_fused_losses::cpu
