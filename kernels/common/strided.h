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

} // namespace loss_kernels
