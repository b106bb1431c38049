// Memory-bandwidth probes for the benchmark (python -m mlx_fused_losses.bench).
// Private: bound as _ext._bench_* helpers, not part of the public C++ API.
//
// The fused CPU kernels run on all cores (common/parallel.h) while MLX's own CPU
// ops may use one, so the roofline the benchmark reports is measured with the
// same threads the kernels use.
#pragma once

#include <utility>
#include <vector>

#include "mlx/array.h"

namespace mlx_fused_losses::bench {

// Sums the float32 array `a` (row-contiguous) `repeats` times on all cores.
// Returns the seconds of each pass and the sum (which keeps the reads alive).
std::pair<std::vector<double>, double> stream_read(const mlx::core::array& a, int repeats);

// Copies the float32 array `a` into a private buffer of the same size
// `repeats` times on all cores (after one untimed copy that maps the buffer).
// Returns the seconds of each pass; each pass reads and writes a.nbytes().
std::vector<double> copy(const mlx::core::array& a, int repeats);

} // namespace mlx_fused_losses::bench
