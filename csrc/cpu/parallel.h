// Splitting a CPU kernel's work over the machine's cores.
#pragma once

#include <algorithm>
#include <atomic>
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
// num_threads() threads (the calling thread is one of them). Work under
// `min_work` total (in the caller's units, e.g. elements) stays on one thread:
// starting a thread costs more than a small loss.
//
// The slices (about slices_per_thread per thread) are handed out on demand,
// not split up front: a thread that starts late or loses its core (another
// process; a VM whose host has descheduled an idle vCPU, ~10 ms here) leaves
// its share to the others instead of holding up the whole call, which with
// halves fixed up front took 1-2x the one-thread time after a pause. Callers
// write per-task results, so which thread takes a slice never changes them.
template <typename Fn>
void parallel_for(int64_t n_tasks, int64_t total_work, Fn&& fn, int slices_per_thread = 8) {
  constexpr int64_t min_work = int64_t(1) << 17;
  int64_t n_threads = std::min<int64_t>(num_threads(), n_tasks);
  if (total_work < min_work || n_threads <= 1) {
    fn(int64_t(0), n_tasks);
    return;
  }
  const int64_t n_slices = std::min<int64_t>(n_tasks, n_threads * slices_per_thread);
  std::atomic<int64_t> next{0};
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(n_threads);
  auto work = [&](int64_t t) {
    try {
      for (int64_t k = next.fetch_add(1); k < n_slices; k = next.fetch_add(1)) {
        fn(n_tasks * k / n_slices, n_tasks * (k + 1) / n_slices);
      }
    } catch (...) {
      errors[t] = std::current_exception();
      next.store(n_slices); // the others stop after their current slice
    }
  };
  for (int64_t t = 1; t < n_threads; ++t) {
    threads.emplace_back(work, t);
  }
  work(0);
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
