// Walking same-shaped, arbitrarily strided arrays (transposed, sliced,
// broadcast with stride 0) in logical row-major order, one run along the last
// axis at a time, so inner loops see a pointer and a constant stride.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "mlx/array.h"

namespace mlx_fused_losses::cpu {

constexpr int kMaxStrided = 6; // operands, weight, cotangent, ...

// A shape or strides without one axis (the class axis of a row-softmax loss).
template <typename V>
V drop_axis(V v, int axis) {
  v.erase(v.begin() + axis);
  return v;
}

// The strides of a row-major array of `shape`.
inline mlx::core::Strides row_major_strides(const mlx::core::Shape& shape) {
  mlx::core::Strides st(shape.size(), 1);
  for (int ax = static_cast<int>(shape.size()) - 2; ax >= 0; --ax) {
    st[ax] = st[ax + 1] * shape[ax + 1];
  }
  return st;
}

inline int64_t element_count(const mlx::core::Shape& shape) {
  int64_t n = 1;
  for (auto v : shape) {
    n *= v;
  }
  return n;
}

struct StridedLayout {
  std::vector<int64_t> shape; // collapsed; at least one axis
  std::vector<std::array<int64_t, kMaxStrided>> strides; // per axis, per array
  int n_arrays = 0;
};

// Joint layout of arrays of one `shape` with the given strides (in elements,
// at most kMaxStrided arrays): size-1 axes dropped and neighbouring axes
// merged where every array is contiguous across them.
inline StridedLayout make_layout(const mlx::core::Shape& shape,
                                 const std::vector<mlx::core::Strides>& strides) {
  StridedLayout l;
  l.n_arrays = static_cast<int>(strides.size());
  for (int ax = 0; ax < static_cast<int>(shape.size()); ++ax) {
    if (shape[ax] == 1) {
      continue;
    }
    std::array<int64_t, kMaxStrided> st{};
    for (int k = 0; k < l.n_arrays; ++k) {
      st[k] = strides[k][ax];
    }
    bool mergeable = !l.shape.empty();
    for (int k = 0; mergeable && k < l.n_arrays; ++k) {
      mergeable = l.strides.back()[k] == st[k] * shape[ax];
    }
    if (mergeable) {
      l.shape.back() *= shape[ax];
      l.strides.back() = st;
    } else {
      l.shape.push_back(shape[ax]);
      l.strides.push_back(st);
    }
  }
  if (l.shape.empty()) {
    l.shape.push_back(1);
    l.strides.push_back({});
  }
  return l;
}

inline StridedLayout make_layout(const std::vector<mlx::core::array>& arrays) {
  std::vector<mlx::core::Strides> strides;
  for (const auto& a : arrays) {
    strides.push_back(a.strides());
  }
  return make_layout(arrays[0].shape(), strides);
}

// Calls run(first, offsets, last_strides, length) for the runs covering the
// logical element range [begin, end): `first` is the run's logical index,
// offsets are in elements, per array.
template <typename Run>
void for_each_run(const StridedLayout& l, int64_t begin, int64_t end, Run&& run) {
  if (begin >= end) {
    return; // also keeps an empty layout's zero-length axes out of the `%` below
  }
  const int nd = static_cast<int>(l.shape.size());
  std::vector<int64_t> idx(nd);
  std::array<int64_t, kMaxStrided> off{};
  int64_t rest = begin;
  for (int ax = nd - 1; ax >= 0; --ax) {
    idx[ax] = rest % l.shape[ax];
    rest /= l.shape[ax];
    for (int k = 0; k < l.n_arrays; ++k) {
      off[k] += idx[ax] * l.strides[ax][k];
    }
  }
  const auto& last = l.strides[nd - 1];
  for (int64_t i = begin; i < end;) {
    int64_t len = std::min(l.shape[nd - 1] - idx[nd - 1], end - i);
    run(i, off, last, len);
    i += len;
    // Advance the multi-index by len (a carry out of the last axis).
    idx[nd - 1] += len;
    for (int k = 0; k < l.n_arrays; ++k) {
      off[k] += len * last[k];
    }
    for (int ax = nd - 1; ax > 0 && idx[ax] == l.shape[ax]; --ax) {
      idx[ax] = 0;
      idx[ax - 1] += 1;
      for (int k = 0; k < l.n_arrays; ++k) {
        off[k] += l.strides[ax - 1][k] - l.shape[ax] * l.strides[ax][k];
      }
    }
  }
}

} // namespace mlx_fused_losses::cpu
