// Splitting a CPU kernel's work over the machine's cores.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <vector>

namespace mlx_fused_losses::cpu {

// Worker threads to use: MLX_FUSED_LOSSES_NUM_THREADS if set, else all cores.
int num_threads();

// Runs job(ctx, t) for t in [0, n) at once, t = 0 on the calling thread and the
// others on persistent worker threads (started at the first call, then kept
// waiting: starting threads for each call cost more than a small loss). Returns
// when all have returned. A call made while another is running (from another
// stream's thread) runs its n parts one after another on its own thread.
void run_on_threads(int n, void (*job)(void* ctx, int t), void* ctx);

// Calls fn(begin, end) on contiguous slices of [0, n_tasks) on up to
// num_threads() threads (the calling thread is one of them). Work under
// `min_work` total (in the caller's units, e.g. elements) stays on one thread.
//
// The slices (about slices_per_thread per thread) are handed out on demand,
// not split up front: a thread that starts late or loses its core (another
// process; a VM whose host has descheduled an idle vCPU) leaves its share to
// the others instead of holding up the whole call. Callers write per-task
// results, so which thread takes a slice never changes them.
template <typename Fn>
void parallel_for(int64_t n_tasks, int64_t total_work, Fn&& fn, int slices_per_thread = 8) {
  constexpr int64_t min_work = int64_t(1) << 17;
  const int64_t n_threads = std::min<int64_t>(num_threads(), n_tasks);
  if (total_work < min_work || n_threads <= 1) {
    fn(int64_t(0), n_tasks);
    return;
  }
  struct Context {
    Fn& fn;
    int64_t n_tasks;
    int64_t n_slices;
    std::atomic<int64_t> next{0};
    std::vector<std::exception_ptr> errors;
  } ctx{fn, n_tasks, std::min<int64_t>(n_tasks, n_threads * slices_per_thread)};
  ctx.errors.resize(n_threads);
  auto work = [](void* p, int t) {
    auto& c = *static_cast<Context*>(p);
    try {
      for (int64_t k = c.next.fetch_add(1); k < c.n_slices; k = c.next.fetch_add(1)) {
        c.fn(c.n_tasks * k / c.n_slices, c.n_tasks * (k + 1) / c.n_slices);
      }
    } catch (...) {
      c.errors[t] = std::current_exception();
      c.next.store(c.n_slices); // the others stop after their current slice
    }
  };
  run_on_threads(static_cast<int>(n_threads), work, &ctx);
  for (auto& e : ctx.errors) {
    if (e) {
      std::rethrow_exception(e);
    }
  }
}

} // namespace mlx_fused_losses::cpu
