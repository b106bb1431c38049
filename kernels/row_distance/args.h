// The constant arguments of the row-distance Metal kernels, one struct shared
// by the shaders (kernels/row_distance/kernels.h) and the host
// (csrc/row_distance/metal_plan.cpp), so the two cannot disagree on its layout.
// No padding on either side: 64-bit fields first, then 32-bit ones, 96 bytes
// in all.
#pragma once

#ifndef __METAL_VERSION__
#include <cstdint>
#endif

namespace loss_kernels {

// The arrays whose row offsets the kernels compute from the rows' collapsed
// shape and per-array strides: the forward's are the vectors and the targets,
// the VJP's the vectors, the state, the cotangent and the gradients. An
// absent one (w of a pair, t of a kind without targets) has strides 0.
enum DistanceArray : int {
  kDistU = 0,
  kDistV = 1,
  kDistW = 2,
  kDistT = 3, // forward
  kDistState = 3, // VJP
  kDistCot = 4,
  kDistGrad = 5,
};
enum DistanceArrayCount : int { kDistForwardArrays = 4, kDistVjpArrays = 6 };

struct RowDistanceArgs {
  int64_t n_rows;
  int64_t n; // the vectors' length
  // Strides along the vector axis, in elements: u, v, w, a row's 3 state
  // values, the (row-major) gradients.
  int64_t u_stride;
  int64_t v_stride;
  int64_t w_stride;
  int64_t state_stride;
  int64_t grad_stride;
  // The loss's scalar parameters (DistanceParams).
  float margin;
  float eps;
  float p;
  int flags;
  int ndim; // axes of the rows' collapsed shape; array k's strides start at k * ndim
  int grad_u; // VJP: write d u, d v, d w
  int grad_v;
  int grad_w;
  int rows_per_group; // "simd" variants: rows of a threadgroup, one simdgroup each
  int reserved; // keeps the size a multiple of 8 on both sides
};

} // namespace loss_kernels
