// Metal kernels of the pointwise loss family (Metal only; instantiated in
// kernels/pointwise.metal). The per-element math is Loss::value / Loss::grad
// from kernels/pointwise/losses.h, the very functions the CPU backend runs.
//
// Geometry (see csrc/pointwise/metal_plan.cpp, which launches them): a 2-D grid
// of threadgroups; y walks the batch entries, x splits an entry's `inner`
// elements among threadgroups, and each thread strides through the entry by
// the x-extent of the grid. Values are computed and summed in float.
//
// Variants: Strided = false reads every array at the logical index (all
// row-contiguous); true maps it through shape/strides like MLX's elem_to_loc.
// The third operand and the weight are runtime flags (uniform branches, no
// extra kernels); a missing one reads as 1 as on the CPU.
#pragma once

#include "kernels/common/strided.h"
#include "kernels/pointwise/args.h"
#include "kernels/pointwise/losses.h"

namespace loss_kernels {

template <int N, bool Strided>
METAL_FUNC void locations(
    int64_t i,
    constant const int64_t* shape,
    constant const int64_t* strides,
    int ndim,
    thread int64_t* loc) {
  if (Strided) {
    elem_to_locs<N>(i, shape, strides, ndim, loc);
  } else {
    for (int k = 0; k < N; ++k) {
      loc[k] = i;
    }
  }
}

// The operands of one element, in float; absent ones read as 1.
struct Operands {
  float x;
  float y;
  float z;
  float w;
};

template <typename T>
METAL_FUNC Operands load_operands(
    const device T* x,
    const device T* y,
    const device T* z,
    const device T* w,
    constant const PointwiseArgs& args,
    const thread int64_t* loc) {
  Operands o;
  o.x = float(x[loc[kSlotX]]);
  o.y = float(y[loc[kSlotY]]);
  o.z = args.has_z ? float(z[loc[kSlotZ]]) : 1.0f;
  o.w = args.has_w ? float(w[loc[kSlotW]]) : 1.0f;
  return o;
}

METAL_FUNC PointwiseParams<float> loss_params(constant const PointwiseArgs& args) {
  return PointwiseParams<float>{args.a, args.b, args.c, args.flags};
}

// Sum of v over the threadgroup (simd_sum, then one simd_sum of the
// simdgroups' sums); the result is valid in simdgroup 0.
METAL_FUNC float threadgroup_sum(
    float v,
    threadgroup float* shared,
    uint tg_size,
    uint simd_lane,
    uint simd_group) {
  v = simd_sum(v);
  if (simd_lane == 0) {
    shared[simd_group] = v;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  uint n_simd = (tg_size + kSimdSize - 1) / kSimdSize;
  v = simd_lane < n_simd ? shared[simd_lane] : 0.0f;
  return simd_sum(v);
}

// ---------------------------------------------------------------- forward
// Reduction none: out[i] = weight * loss(element i). Outputs are contiguous.
template <typename Loss, typename T, bool Strided>
[[kernel]] void pointwise_none(
    const device T* x [[buffer(0)]],
    const device T* y [[buffer(1)]],
    const device T* z [[buffer(2)]],
    const device T* w [[buffer(3)]],
    device T* out [[buffer(4)]],
    constant const PointwiseArgs& args [[buffer(5)]],
    constant const int64_t* shape [[buffer(6)]],
    constant const int64_t* strides [[buffer(7)]],
    uint2 group [[threadgroup_position_in_grid]],
    uint2 groups [[threadgroups_per_grid]],
    uint2 tg_dims [[threads_per_threadgroup]],
    uint lid [[thread_index_in_threadgroup]]) {
  const PointwiseParams<float> p = loss_params(args);
  const uint tg_size = tg_dims.x;
  const int64_t base = int64_t(group.y) * args.inner;
  const int64_t step = int64_t(groups.x) * tg_size;
  for (int64_t j = int64_t(group.x) * tg_size + lid; j < args.inner; j += step) {
    int64_t loc[4];
    locations<4, Strided>(base + j, shape, strides, args.ndim, loc);
    Operands o = load_operands(x, y, z, w, args, loc);
    out[base + j] = T(Loss::value(o.x, o.y, o.z, p) * o.w);
  }
}

// Reductions, stage 1: partials[b * partials + g] = the sum of the weighted
// loss over the elements of batch entry b that threadgroup g visits.
template <typename Loss, typename T, bool Strided>
[[kernel]] void pointwise_partial(
    const device T* x [[buffer(0)]],
    const device T* y [[buffer(1)]],
    const device T* z [[buffer(2)]],
    const device T* w [[buffer(3)]],
    device float* partials [[buffer(4)]],
    constant const PointwiseArgs& args [[buffer(5)]],
    constant const int64_t* shape [[buffer(6)]],
    constant const int64_t* strides [[buffer(7)]],
    uint2 group [[threadgroup_position_in_grid]],
    uint2 groups [[threadgroups_per_grid]],
    uint2 tg_dims [[threads_per_threadgroup]],
    uint lid [[thread_index_in_threadgroup]],
    uint simd_lane [[thread_index_in_simdgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]) {
  threadgroup float shared[kSimdSize];
  const PointwiseParams<float> p = loss_params(args);
  const uint tg_size = tg_dims.x;
  const int64_t base = int64_t(group.y) * args.inner;
  const int64_t step = int64_t(groups.x) * tg_size;
  float sum = 0.0f;
  for (int64_t j = int64_t(group.x) * tg_size + lid; j < args.inner; j += step) {
    int64_t loc[4];
    locations<4, Strided>(base + j, shape, strides, args.ndim, loc);
    Operands o = load_operands(x, y, z, w, args, loc);
    sum += Loss::value(o.x, o.y, o.z, p) * o.w;
  }
  sum = threadgroup_sum(sum, shared, tg_size, simd_lane, simd_group);
  if (lid == 0) {
    partials[int64_t(group.y) * args.partials + group.x] = sum;
  }
}

// Reductions, stage 2 (one threadgroup per batch entry): out[b] = the sum of
// the entry's partials, added in tree order, times args.scale.
template <typename T>
[[kernel]] void pointwise_finish(
    const device float* partials [[buffer(0)]],
    device T* out [[buffer(1)]],
    constant const PointwiseArgs& args [[buffer(2)]],
    uint group [[threadgroup_position_in_grid]],
    uint lid [[thread_index_in_threadgroup]],
    uint tg_size [[threads_per_threadgroup]],
    uint simd_lane [[thread_index_in_simdgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]) {
  threadgroup float shared[kSimdSize];
  partials += int64_t(group) * args.partials;
  float sum = 0.0f;
  for (int k = lid; k < args.partials; k += tg_size) {
    sum += partials[k];
  }
  sum = threadgroup_sum(sum, shared, tg_size, simd_lane, simd_group);
  if (lid == 0) {
    out[group] = T(sum * args.scale);
  }
}

// --------------------------------------------------------------- backward
// Output k = d(weighted loss)/d(slot wrt[k]) * cotangent * scale. The weight's
// gradient is the unweighted loss. Outputs are contiguous; unrequested output
// slots are bound to placeholders and never written.
template <typename Loss, typename T, bool Strided>
[[kernel]] void pointwise_vjp(
    const device T* x [[buffer(0)]],
    const device T* y [[buffer(1)]],
    const device T* z [[buffer(2)]],
    const device T* w [[buffer(3)]],
    const device T* cot [[buffer(4)]],
    device T* out0 [[buffer(5)]],
    device T* out1 [[buffer(6)]],
    device T* out2 [[buffer(7)]],
    device T* out3 [[buffer(8)]],
    constant const PointwiseArgs& args [[buffer(9)]],
    constant const int64_t* shape [[buffer(10)]],
    constant const int64_t* strides [[buffer(11)]],
    uint2 group [[threadgroup_position_in_grid]],
    uint2 groups [[threadgroups_per_grid]],
    uint2 tg_dims [[threads_per_threadgroup]],
    uint lid [[thread_index_in_threadgroup]]) {
  const PointwiseParams<float> p = loss_params(args);
  const uint tg_size = tg_dims.x;
  const int64_t base = int64_t(group.y) * args.inner;
  const int64_t step = int64_t(groups.x) * tg_size;
  const bool weight_grad = args.has_w &&
      (args.wrt[0] == kSlotW || args.wrt[1] == kSlotW || args.wrt[2] == kSlotW ||
       args.wrt[3] == kSlotW);
  for (int64_t j = int64_t(group.x) * tg_size + lid; j < args.inner; j += step) {
    const int64_t i = base + j;
    int64_t loc[5];
    locations<5, Strided>(i, shape, strides, args.ndim, loc);
    if (!Strided) {
      loc[kSlotCot] = int64_t(group.y) * args.cot_batch_stride + j * args.cot_inner_stride;
    }
    Operands o = load_operands(x, y, z, w, args, loc);
    float c = float(cot[loc[kSlotCot]]) * args.scale;
    float g[4];
    g[kSlotW] = weight_grad ? Loss::value(o.x, o.y, o.z, p) * c : 0.0f;
    c *= o.w;
    PointwiseGrad<float> d = Loss::grad(o.x, o.y, o.z, p);
    g[kSlotX] = d.dx * c;
    g[kSlotY] = d.dy * c;
    g[kSlotZ] = d.dz * c;
    if (args.n_grads > 0) {
      out0[i] = T(g[args.wrt[0]]);
    }
    if (args.n_grads > 1) {
      out1[i] = T(g[args.wrt[1]]);
    }
    if (args.n_grads > 2) {
      out2[i] = T(g[args.wrt[2]]);
    }
    if (args.n_grads > 3) {
      out3[i] = T(g[args.wrt[3]]);
    }
  }
}

} // namespace loss_kernels
