// The constant arguments of the pointwise Metal kernels, one struct shared by
// the shaders (kernels/pointwise/kernels.h) and the host (csrc/pointwise/metal_plan.cpp),
// so the two cannot disagree on its layout. No padding on either side: 64-bit
// fields first, then 32-bit ones, 80 bytes in all.
#pragma once

#ifndef __METAL_VERSION__
#include <cstdint>
#endif

namespace loss_kernels {

// Buffer slots of the operands (a missing one is bound to a placeholder and
// never read), in the kernels and in the host's plan.
enum PointwiseSlot : int { kSlotX = 0, kSlotY = 1, kSlotZ = 2, kSlotW = 3, kSlotCot = 4 };

struct PointwiseArgs {
  // Elements per batch entry; batch entry b is logical elements
  // [b * inner, (b + 1) * inner) and the grid's y axis walks the entries.
  int64_t inner;
  // Contiguous VJP: the cotangent of element j of entry b is at
  // b * cot_batch_stride + j * cot_inner_stride.
  int64_t cot_batch_stride;
  int64_t cot_inner_stride;
  // The loss's scalar parameters (PointwiseParams).
  float a;
  float b;
  float c;
  // Mean: 1 / inner (NaN for an empty mean), else 1. The finishing kernel
  // multiplies each sum by it, the VJP each cotangent.
  float scale;
  int flags;
  // Strided variants: number of axes of `shape`, and of each array's run of
  // `strides` (array k's strides start at k * ndim).
  int ndim;
  int has_z; // the third operand is bound (else it reads as 1)
  int has_w; // the per-element weight is bound (else 1)
  // VJP: output k (k < n_grads) is the gradient of slot wrt[k] (0..3).
  int n_grads;
  int wrt[4];
  // Reductions: partial sums per batch entry (threadgroups along x).
  int partials;
};

} // namespace loss_kernels
