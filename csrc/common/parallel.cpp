// The persistent worker threads of parallel_for (see parallel.h).
#include "common/parallel.h"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <pthread.h>

namespace mlx_fused_losses::cpu {

int num_threads() {
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

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Workers 1..n-1 wait for a job; the caller is worker 0. Never destroyed: the
// detached workers are still blocked in wait() when the process exits.
class Pool {
 public:
  explicit Pool(int n_workers) : n_workers_(n_workers) {
    for (int t = 1; t <= n_workers; ++t) {
      std::thread([this, t] { loop(t); }).detach();
    }
  }

  void run(int n, void (*job)(void*, int), void* ctx) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    n = std::min(n, n_workers_ + 1);
    if (!busy.owns_lock() || n <= 1) {
      for (int t = 0; t < n; ++t) {
        job(ctx, t);
      }
      return;
    }
    {
      std::lock_guard<std::mutex> lock(m_);
      job_ = job;
      ctx_ = ctx;
      n_ = n;
      remaining_ = n - 1;
      generation_.fetch_add(1, std::memory_order_release);
    }
    start_.notify_all();
    job(ctx, 0);
    std::unique_lock<std::mutex> lock(m_);
    done_.wait(lock, [&] { return remaining_ == 0; });
  }

 private:
  void loop(int t) {
    uint64_t seen = 0;
    for (;;) {
      // A short spin first: kernels often come in quick succession (a
      // forward, its gradient, the reduction over rows), and waking a thread
      // blocked in wait() takes longer than a small loss.
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
      while (generation_.load(std::memory_order_acquire) == seen &&
             std::chrono::steady_clock::now() < until) {
        for (int i = 0; i < 64; ++i) {
          cpu_relax();
        }
      }
      std::unique_lock<std::mutex> lock(m_);
      start_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
      seen = generation_.load(std::memory_order_relaxed);
      if (t >= n_) {
        continue; // not needed for this job
      }
      auto* job = job_;
      void* ctx = ctx_;
      lock.unlock();
      job(ctx, t);
      lock.lock();
      if (--remaining_ == 0) {
        done_.notify_one();
      }
    }
  }

  const int n_workers_;
  std::mutex busy_; // one job at a time
  std::mutex m_;
  std::condition_variable start_, done_;
  std::atomic<uint64_t> generation_{0};
  void (*job_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
  int n_ = 0;
  int remaining_ = 0;
};

Pool* pool = nullptr;
std::mutex pool_mutex;

Pool& the_pool() {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (!pool) {
    // A forked child has none of its parent's threads: it starts its own pool
    // (the parent's is left behind, unused).
    static const int registered = pthread_atfork(nullptr, nullptr, [] { pool = nullptr; });
    (void)registered;
    pool = new Pool(num_threads() - 1);
  }
  return *pool;
}

} // namespace

void run_on_threads(int n, void (*job)(void* ctx, int t), void* ctx) {
  the_pool().run(n, job, ctx);
}

} // namespace mlx_fused_losses::cpu
