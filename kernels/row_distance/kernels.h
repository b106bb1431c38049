// Metal kernels of the row-distance loss family (Metal only; instantiated in
// kernels/row_distance/row_distance.metal). The per-element and per-row math
// is the one of kernels/row_distance/losses.h (accumulate, add_sums,
// finish_row, distance_grads), the very functions the CPU backend runs;
// everything is computed in float.
//
// Geometry (csrc/row_distance/metal_plan.cpp launches them): the grid's x
// walks the rows. Two variants of each kernel:
//   "looped": one threadgroup per row (the VJP: groups.y threadgroups per
//             row); each thread walks the row with a stride of all the row's
//             threads, so any vector length works;
//   "simd":   short rows; a threadgroup takes args.rows_per_group rows, one
//             simdgroup per row, reductions by simd collectives only.
// Both are correct for any threadgroup size (the host may lower it).
//
// A row is found through the rows' collapsed shape and per-array strides
// (elem_to_locs), its elements through the arrays' strides along the vector
// axis, so any axis and any layout (transposed, sliced, broadcast with
// stride 0) is read in place.
#pragma once

#include "kernels/common/strided.h"
#include "kernels/row_distance/args.h"
#include "kernels/row_distance/losses.h"

namespace loss_kernels {

// Elements a thread reads per step of its walk: independent loads and sums
// in flight, combined with add_sums.
constant constexpr int kDistReads = 4;

METAL_FUNC DistanceParams<float> distance_params(constant const RowDistanceArgs& args) {
  return DistanceParams<float>{args.margin, args.eps, args.p, args.flags};
}

// One thread's part of a row's sums: elements lane, lane + lanes, ... (read
// coalesced across the simdgroup when the vector axis is contiguous). u_row,
// v_row, w_row: the row's first elements; w is read by the triplet only.
template <DistanceKind K, Norm N, typename T>
METAL_FUNC DistanceSums<float> row_sums(
    const device T* u,
    const device T* v,
    const device T* w,
    int64_t u_row,
    int64_t v_row,
    int64_t w_row,
    uint lane,
    uint lanes,
    constant const RowDistanceArgs& args) {
  const float p = args.p;
  const bool swap = (args.flags & kSwap) != 0;
  const int64_t n = args.n;
  DistanceSums<float> part[kDistReads];
  for (int k = 0; k < kDistReads; ++k) {
    part[k] = DistanceSums<float>{0.0f, 0.0f, 0.0f};
  }
  for (int64_t j0 = lane; j0 < n; j0 += int64_t(lanes) * kDistReads) {
    for (int k = 0; k < kDistReads; ++k) {
      const int64_t j = j0 + int64_t(k) * lanes;
      if (j >= n) {
        break;
      }
      const float uj = float(u[u_row + j * args.u_stride]);
      const float vj = float(v[v_row + j * args.v_stride]);
      const float wj = K == DistanceKind::triplet ? float(w[w_row + j * args.w_stride]) : 0.0f;
      part[k] = accumulate<K, N, float>(part[k], uj, vj, wj, p, swap);
    }
  }
  DistanceSums<float> s = part[0];
  for (int k = 1; k < kDistReads; ++k) {
    s = add_sums(s, part[k]);
  }
  return s;
}

// The sums of a simdgroup's active lanes, in every lane.
METAL_FUNC DistanceSums<float> simd_sums(DistanceSums<float> s) {
  return DistanceSums<float>{simd_sum(s.s0), simd_sum(s.s1), simd_sum(s.s2)};
}

// The sums of the whole threadgroup, in every thread. `shared` holds
// 3 * kSimdSize floats.
METAL_FUNC DistanceSums<float> threadgroup_sums(
    DistanceSums<float> s,
    threadgroup float* shared,
    uint tg_size,
    uint simd_lane,
    uint simd_group) {
  s = simd_sums(s);
  if (simd_lane == 0) {
    shared[simd_group] = s.s0;
    shared[kSimdSize + simd_group] = s.s1;
    shared[2 * kSimdSize + simd_group] = s.s2;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  const uint n_simd = (tg_size + kSimdSize - 1) / kSimdSize;
  DistanceSums<float> b = {0.0f, 0.0f, 0.0f};
  if (simd_lane < n_simd) {
    b.s0 = shared[simd_lane];
    b.s1 = shared[kSimdSize + simd_lane];
    b.s2 = shared[2 * kSimdSize + simd_lane];
  }
  return simd_sums(b);
}

// ---------------------------------------------------------------- forward
// Row r's loss, d loss / d target and state (c0, c1, c2), as RowDistance
// documents them (csrc/row_distance/primitive.h). Group: the row's threads
// are the whole threadgroup (else one simdgroup).
template <DistanceKind K, Norm N, typename T, bool Group>
METAL_FUNC void row_forward(
    int64_t r,
    uint lane,
    uint lanes,
    const device T* u,
    const device T* v,
    const device T* w,
    const device float* t,
    device float* loss,
    device float* dt,
    device float* state,
    constant const RowDistanceArgs& args,
    constant const int64_t* shape,
    constant const int64_t* strides,
    threadgroup float* shared,
    uint tg_size,
    uint simd_lane,
    uint simd_group) {
  int64_t loc[kDistForwardArrays];
  elem_to_locs<kDistForwardArrays>(r, shape, strides, args.ndim, loc);
  DistanceSums<float> s =
      row_sums<K, N, T>(u, v, w, loc[kDistU], loc[kDistV], loc[kDistW], lane, lanes, args);
  if (Group) {
    s = threadgroup_sums(s, shared, tg_size, simd_lane, simd_group);
  } else {
    s = simd_sums(s);
  }
  if (lane != 0) {
    return;
  }
  // The targets are constant along the vector axis: the row's first one.
  const float target = has_targets(K) ? t[loc[kDistT]] : 0.0f;
  const DistanceResult<float> res = finish_row<K, N, float>(s, target, distance_params(args));
  loss[r] = res.loss;
  dt[r] = res.dt;
  state[3 * r] = res.c0;
  state[3 * r + 1] = res.c1;
  state[3 * r + 2] = res.c2;
}

// Buffers: the vectors u, v, w (w of the triplet only) and the float targets
// (kinds with targets); unused ones are bound to placeholders and never read.
// Outputs are contiguous float rows: loss, dt (rows), state (rows, 3).
template <DistanceKind K, Norm N, typename T, bool PerSimd>
[[kernel]] void row_distance_forward(
    const device T* u [[buffer(0)]],
    const device T* v [[buffer(1)]],
    const device T* w [[buffer(2)]],
    const device float* t [[buffer(3)]],
    device float* loss [[buffer(4)]],
    device float* dt [[buffer(5)]],
    device float* state [[buffer(6)]],
    constant const RowDistanceArgs& args [[buffer(7)]],
    constant const int64_t* shape [[buffer(8)]],
    constant const int64_t* strides [[buffer(9)]],
    uint2 group [[threadgroup_position_in_grid]],
    uint2 tg_dims [[threads_per_threadgroup]],
    uint lid [[thread_index_in_threadgroup]],
    uint simd_lane [[thread_index_in_simdgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]) {
  threadgroup float shared[3 * kSimdSize];
  const uint tg_size = tg_dims.x;
  if (PerSimd) {
    const SimdRows rows =
        simd_rows(group.x, tg_size, simd_group, args.n_rows, args.rows_per_group);
    for (int64_t r = rows.first; r < rows.end; r += rows.step) {
      row_forward<K, N, T, false>(r, simd_lane, rows.lanes, u, v, w, t, loss, dt, state, args,
                                  shape, strides, shared, tg_size, simd_lane, simd_group);
    }
  } else {
    row_forward<K, N, T, true>(group.x, lid, tg_size, u, v, w, t, loss, dt, state, args, shape,
                               strides, shared, tg_size, simd_lane, simd_group);
  }
}

// --------------------------------------------------------------- backward
// Row r's gradients from its saved coefficients, no reduction: element j of
// each requested vector gets distance_grads with the coefficients scaled by
// the row's cotangent (as the CPU kernels scale them). Threads lane,
// lane + lanes, ... of the row.
template <DistanceKind K, Norm N, typename T>
METAL_FUNC void row_vjp(
    int64_t r,
    int64_t lane,
    int64_t lanes,
    const device T* u,
    const device T* v,
    const device T* w,
    const device float* state,
    const device float* cot,
    device T* gu,
    device T* gv,
    device T* gw,
    constant const RowDistanceArgs& args,
    constant const int64_t* shape,
    constant const int64_t* strides) {
  int64_t loc[kDistVjpArrays];
  elem_to_locs<kDistVjpArrays>(r, shape, strides, args.ndim, loc);
  const device float* st = state + loc[kDistState];
  const float c = cot[loc[kDistCot]];
  const float c0 = c * st[0];
  const float c1 = c * st[args.state_stride];
  const float c2 = c * st[2 * args.state_stride];
  for (int64_t j = lane; j < args.n; j += lanes) {
    const float uj = float(u[loc[kDistU] + j * args.u_stride]);
    const float vj = float(v[loc[kDistV] + j * args.v_stride]);
    const float wj =
        K == DistanceKind::triplet ? float(w[loc[kDistW] + j * args.w_stride]) : 0.0f;
    const DistanceGrads<float> g = distance_grads<K, N, float>(uj, vj, wj, c0, c1, c2, args.p);
    const int64_t o = loc[kDistGrad] + j * args.grad_stride;
    if (args.grad_u != 0) {
      gu[o] = T(g.u);
    }
    if (args.grad_v != 0) {
      gv[o] = T(g.v);
    }
    if (K == DistanceKind::triplet && args.grad_w != 0) {
      gw[o] = T(g.w);
    }
  }
}

// Buffers 0-2 as the forward's, then the forward's state (rows, 3) and the
// loss's cotangent (rows), both float; outputs: d u, d v, d w in T,
// row-major; unrequested ones are placeholders.
template <DistanceKind K, Norm N, typename T, bool PerSimd>
[[kernel]] void row_distance_vjp(
    const device T* u [[buffer(0)]],
    const device T* v [[buffer(1)]],
    const device T* w [[buffer(2)]],
    const device float* state [[buffer(3)]],
    const device float* cot [[buffer(4)]],
    device T* gu [[buffer(5)]],
    device T* gv [[buffer(6)]],
    device T* gw [[buffer(7)]],
    constant const RowDistanceArgs& args [[buffer(8)]],
    constant const int64_t* shape [[buffer(9)]],
    constant const int64_t* strides [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]],
    uint2 groups [[threadgroups_per_grid]],
    uint2 tg_dims [[threads_per_threadgroup]],
    uint lid [[thread_index_in_threadgroup]],
    uint simd_lane [[thread_index_in_simdgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]) {
  const uint tg_size = tg_dims.x;
  if (PerSimd) {
    const SimdRows rows =
        simd_rows(group.x, tg_size, simd_group, args.n_rows, args.rows_per_group);
    for (int64_t r = rows.first; r < rows.end; r += rows.step) {
      row_vjp<K, N, T>(r, simd_lane, rows.lanes, u, v, w, state, cot, gu, gv, gw, args, shape,
                       strides);
    }
  } else {
    // groups.y threadgroups share the row.
    row_vjp<K, N, T>(group.x, int64_t(group.y) * tg_size + lid, int64_t(groups.y) * tg_size, u,
                     v, w, state, cot, gu, gv, gw, args, shape, strides);
  }
}

} // namespace loss_kernels
