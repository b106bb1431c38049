// Output buffers for the CPU kernels.
#pragma once

#include <cstdint>

#include "mlx/allocator.h"

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

} // namespace mlx_fused_losses::cpu
