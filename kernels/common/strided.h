// Helpers shared by the Metal kernels of every family (Metal only).
#pragma once

namespace loss_kernels {

constant constexpr int kSimdSize = 32;

// Memory locations of logical element i in N arrays of one collapsed shape:
// array k has strides strides[k * ndim, (k + 1) * ndim).
template <int N>
METAL_FUNC void elem_to_locs(
    int64_t i,
    constant const int64_t* shape,
    constant const int64_t* strides,
    int ndim,
    thread int64_t* loc) {
  for (int k = 0; k < N; ++k) {
    loc[k] = 0;
  }
  for (int d = ndim - 1; d >= 0 && i > 0; --d) {
    int64_t r = i % shape[d];
    i /= shape[d];
    for (int k = 0; k < N; ++k) {
      loc[k] += r * strides[k * ndim + d];
    }
  }
}

// The rows of a "simd" threadgroup of the row families: rows_per_group rows
// from group * rows_per_group on, one simdgroup each; simdgroup k takes rows
// first, first + step, ... below end, with `lanes` threads (the last
// simdgroup may be partial, when the host lowered the threadgroup size).
struct SimdRows {
  int64_t first;
  int64_t end;
  uint step;
  uint lanes;
};

METAL_FUNC SimdRows simd_rows(
    uint group,
    uint tg_size,
    uint simd_group,
    int64_t n_rows,
    int rows_per_group) {
  const int64_t begin = int64_t(group) * rows_per_group;
  const int64_t rest = n_rows - begin;
  SimdRows rows;
  rows.first = begin + simd_group;
  rows.end = begin + (rest < rows_per_group ? rest : rows_per_group);
  rows.step = (tg_size + kSimdSize - 1) / kSimdSize;
  rows.lanes = min(uint(kSimdSize), tg_size - simd_group * kSimdSize);
  return rows;
}

} // namespace loss_kernels
