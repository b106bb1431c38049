// Splitting a CPU kernel's work over the machine's cores.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <thread>
#include <vector>

namespace mlx_fused_losses::cpu {

// Worker threads to use: MLX_FUSED_LOSSES_NUM_THREADS if set, else all cores.
inline int num_threads() {
  static const int n = [] {
    if (const char* env = std::getenv("MLX_FUSED_LOSSES_NUM_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) {
        return v;
      }
    }
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }();
  return n;
}

// Calls fn(begin, end) on contiguous slices of [0, n_tasks) on up to
// num_threads() threads (the calling thread takes the first slice). Work under
// `min_work` total (in the caller's units, e.g. elements) stays on one thread:
// starting a thread costs more than a small loss.
template <typename Fn>
void parallel_for(int64_t n_tasks, int64_t total_work, Fn&& fn) {
  constexpr int64_t min_work = int64_t(1) << 17;
  int64_t n_threads = std::min<int64_t>(num_threads(), n_tasks);
  if (total_work < min_work || n_threads <= 1) {
    fn(int64_t(0), n_tasks);
    return;
  }
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(n_threads);
  auto slice = [&](int64_t t) {
    try {
      fn(n_tasks * t / n_threads, n_tasks * (t + 1) / n_threads);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  for (int64_t t = 1; t < n_threads; ++t) {
    threads.emplace_back(slice, t);
  }
  slice(0);
  for (auto& th : threads) {
    th.join();
  }
  for (auto& e : errors) {
    if (e) {
      std::rethrow_exception(e);
    }
  }
}

} // namespace mlx_fused_losses::cpu
