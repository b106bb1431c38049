// Memory-bandwidth probes for the benchmark; see bench_bandwidth.h.
#include "common/bench_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "common/parallel.h"

namespace mlx_fused_losses::bench {

namespace {

namespace mx = mlx::core;

// Slices per thread: small enough to balance, large enough to stream.
constexpr int64_t kSlice = int64_t(1) << 20;

const float* float_data(const mx::array& a, const char* fn) {
  if (a.dtype() != mx::float32) {
    throw std::invalid_argument(
        std::string(fn) + ": expected a float32 array, got another dtype");
  }
  mx::array b = a;
  b.eval();
  if (!b.flags().row_contiguous) {
    throw std::invalid_argument(std::string(fn) + ": expected a row-contiguous array");
  }
  return b.data<float>();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// 32 lanes of independent accumulators (8 SSE registers), so the adds do not
// serialise on their latency: the loop is bound by memory, not by the FPU.
float sum_slice(const float* x, int64_t n) {
  constexpr int kLanes = 32;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      acc[j] += x[i + j];
    }
  }
  float s = 0.0f;
  for (; i < n; ++i) {
    s += x[i];
  }
  for (float v : acc) {
    s += v;
  }
  return s;
}

} // namespace

std::pair<std::vector<double>, double> stream_read(const mx::array& a, int repeats) {
  const float* x = float_data(a, "stream_read");
  const int64_t n = static_cast<int64_t>(a.size());
  const int64_t tasks = (n + kSlice - 1) / kSlice;
  std::vector<double> partial(tasks);
  std::vector<double> times;
  double total = 0.0;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    cpu::parallel_for(tasks, n, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        int64_t lo = t * kSlice;
        partial[t] = sum_slice(x + lo, std::min(kSlice, n - lo));
      }
    });
    times.push_back(seconds_since(t0));
    for (double p : partial) {
      total += p;
    }
  }
  return {times, total};
}

std::vector<double> copy(const mx::array& a, int repeats) {
  const float* x = float_data(a, "copy");
  const int64_t n = static_cast<int64_t>(a.size());
  const int64_t tasks = (n + kSlice - 1) / kSlice;
  std::unique_ptr<float[]> dst(new float[n]);
  // One memcpy per thread over its whole range (one slice per thread): glibc
  // switches to non-temporal stores (no read of the destination) only above a
  // size threshold of MBs.
  auto pass = [&] {
    cpu::parallel_for(
        tasks, n,
        [&](int64_t begin, int64_t end) {
          int64_t lo = begin * kSlice;
          int64_t hi = std::min(end * kSlice, n);
          std::memcpy(dst.get() + lo, x + lo, sizeof(float) * (hi - lo));
        },
        /*slices_per_thread=*/1);
  };
  pass(); // maps the destination's pages outside the timing
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    pass();
    times.push_back(seconds_since(t0));
  }
  return times;
}

} // namespace mlx_fused_losses::bench
