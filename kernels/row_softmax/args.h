// The constant arguments of the row-softmax Metal kernels, one struct shared by
// the shaders (kernels/row_softmax/kernels.h) and the host (csrc/row_softmax/metal_plan.cpp),
// so the two cannot disagree on its layout. No padding on either side: 64-bit
// fields first, then 32-bit ones, 112 bytes in all.
#pragma once

#ifndef __METAL_VERSION__
#include <cstdint>
#endif

namespace loss_kernels {

// The arrays whose row offsets the kernels compute from the rows' collapsed
// shape and per-array strides (the forward uses the first two).
enum RowArray : int { kRowX = 0, kRowT = 1, kRowState = 2, kRowCot = 3, kRowGrad = 4 };
enum RowArrayCount : int { kRowForwardArrays = 2, kRowVjpArrays = 5 };

struct RowSoftmaxArgs {
  int64_t n_rows;
  int64_t n_classes;
  // Strides along the class axis, in elements: logits, distribution targets,
  // class weights, a row's 4 state values, the (row-major) gradients.
  int64_t x_stride;
  int64_t t_stride;
  int64_t w_stride;
  int64_t state_stride;
  int64_t grad_stride;
  int64_t ignore_index;
  // The loss's scalar parameters (RowParams).
  float a;
  float b;
  float c;
  int flags;
  int ndim; // axes of the rows' collapsed shape; array k's strides start at k * ndim
  int has_ignore; // rows whose class index is ignore_index are ignored
  int class_weights; // the (C,) class weights are bound
  int dot; // RowSoftmaxSpec::dot: accumulate the per-class term
  int wide_targets; // distribution targets are float32 (else the logits' dtype)
  int grad_x; // VJP: write d logits
  int grad_t; // VJP: write d targets (distribution kinds)
  int rows_per_group; // "simd" variants: rows of a threadgroup, one simdgroup each
};

} // namespace loss_kernels
