// What every family's CPU kernels share about their inner loops.
#pragma once

#include <type_traits>

// The hot loops are compiled three times on x86-64 Linux (GCC): for AVX-512
// (x86-64-v4, with 512-bit vectors: CMakeLists.txt sets -mprefer-vector-width),
// for AVX2 + FMA and for the baseline, picked at load time. The vectorised
// exp/log of kernels/common/math.h are 3x faster with AVX2 than with SSE (which stock
// MLX's x86 wheels use), and AVX-512 halves the time of the losses built on them.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define MFL_HOT_LOOP __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MFL_HOT_LOOP
#endif

namespace mlx_fused_losses::cpu {

// The accumulation type of an input dtype: float, double for double.
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

} // namespace mlx_fused_losses::cpu
