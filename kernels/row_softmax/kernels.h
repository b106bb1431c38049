// Metal kernels of the row-softmax loss family (Metal only; instantiated in
// kernels/row_softmax.metal). The per-class and per-row math is the one of
// kernels/row_softmax/losses.h (RowAcc, merge, Kind::row / grad_x / grad_t),
// the very functions the CPU backend runs; everything is computed in float.
//
// Geometry (csrc/row_softmax/metal_plan.cpp launches them): the grid's x walks
// the rows (as MLX's softmax: x has the largest range). Two variants of each kernel:
//   "looped": one threadgroup per row (the VJP: groups.y threadgroups per row);
//             each thread walks the row with a stride of all the row's threads,
//             so any row length works (vocabularies of 256k and more);
//   "simd":   short rows; a threadgroup takes args.rows_per_group rows, one
//             simdgroup per row, reductions by simd collectives only.
// Both are correct for any threadgroup size (the host may lower it).
//
// A row is found through the rows' collapsed shape and per-array strides
// (elem_to_locs), its classes through the arrays' class strides, so any axis
// and any layout (transposed, sliced, broadcast) is read in place. Class
// indices outside [0, C) are never used as offsets.
#pragma once

#include "kernels/common/strided.h"
#include "kernels/row_softmax/args.h"
#include "kernels/row_softmax/losses.h"

namespace loss_kernels {

// Classes a thread reads per step of its walk (one block: max, then sums).
constant constexpr int kRowReads = 4;

METAL_FUNC RowParams<float> row_params(constant const RowSoftmaxArgs& args) {
  return RowParams<float>{args.a, args.b, args.c, args.flags};
}

// Whether the kind's per-class term is accumulated, as the CPU's `Dot`:
// distribution kinds always, class-index kinds when asked (label smoothing).
template <class Kind>
METAL_FUNC bool row_dot(constant const RowSoftmaxArgs& args) {
  return Kind::kTerm && (args.dot != 0 || !Kind::kIndex);
}

// The target distribution's value at offset `off` (0 for class-index kinds).
template <class Kind, typename T>
METAL_FUNC float row_target(
    const device T* t,
    const device float* tf,
    int64_t off,
    constant const RowSoftmaxArgs& args) {
  if (Kind::kIndex) {
    return 0.0f;
  }
  return args.wide_targets ? tf[off] : float(t[off]);
}

// One thread's part of a row: classes lane, lane + lanes, ..., read kRowReads
// at a time (coalesced across the simdgroup). Each block's sums are taken
// relative to the block's max, then merged into the running sums.
template <class Kind, bool Dot, typename T>
METAL_FUNC RowAcc<float> row_scan(
    const device T* x,
    const device T* t,
    const device float* tf,
    const device float* w,
    int64_t x_row,
    int64_t t_row,
    uint lane,
    uint lanes,
    constant const RowSoftmaxArgs& args) {
  const RowParams<float> p = row_params(args);
  const int64_t n = args.n_classes;
  const bool read_w = Dot && args.class_weights != 0;
  RowAcc<float> acc = row_acc_empty<float>();
  for (int64_t c0 = lane; c0 < n; c0 += int64_t(lanes) * kRowReads) {
    float xv[kRowReads];
    float bm = -inf_<float>();
    for (int k = 0; k < kRowReads; ++k) {
      const int64_t c = c0 + int64_t(k) * lanes;
      xv[k] = c < n ? float(x[x_row + c * args.x_stride]) : -inf_<float>();
      bm = max_(bm, xv[k]);
    }
    const float m = Kind::kLse ? bm : 0.0f;
    const float shift = Kind::kLse ? row_shift(bm) : 0.0f;
    RowAcc<float> block = {m, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < kRowReads; ++k) {
      const int64_t c = c0 + int64_t(k) * lanes;
      if (c >= n) {
        break;
      }
      const float xs = xv[k] - shift;
      if (Kind::kLse) {
        block.s += exp_(xs);
      }
      if (Dot) {
        const float tc = row_target<Kind>(t, tf, t_row + c * args.t_stride, args);
        const float wc = read_w ? w[c * args.w_stride] : 1.0f;
        block.d += Kind::term(xs, tc, wc, p);
        block.u += Kind::weight(tc, wc, p);
      }
    }
    acc = merge(acc, block);
  }
  return acc;
}

// The merged sums of a simdgroup's active lanes, in every lane (simd_max,
// then sums moved to the common max: also right for partial simdgroups).
METAL_FUNC RowAcc<float> simd_merge(RowAcc<float> a) {
  const float m = simd_max(a.m);
  RowAcc<float> r;
  r.m = m;
  r.s = simd_sum(a.s * row_rescale(a.m, m));
  r.d = simd_sum(a.d + row_moved(a, m));
  r.u = simd_sum(a.u);
  return r;
}

// The merged sums of the whole threadgroup, in every thread. `shared` holds
// 4 * kSimdSize floats.
METAL_FUNC RowAcc<float> threadgroup_merge(
    RowAcc<float> a,
    threadgroup float* shared,
    uint tg_size,
    uint simd_lane,
    uint simd_group) {
  a = simd_merge(a);
  if (simd_lane == 0) {
    shared[simd_group] = a.m;
    shared[kSimdSize + simd_group] = a.s;
    shared[2 * kSimdSize + simd_group] = a.d;
    shared[3 * kSimdSize + simd_group] = a.u;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  const uint n_simd = (tg_size + kSimdSize - 1) / kSimdSize;
  RowAcc<float> b = row_acc_empty<float>();
  if (simd_lane < n_simd) {
    b.m = shared[simd_lane];
    b.s = shared[kSimdSize + simd_lane];
    b.d = shared[2 * kSimdSize + simd_lane];
    b.u = shared[3 * kSimdSize + simd_lane];
  }
  return simd_merge(b);
}

// ---------------------------------------------------------------- forward
// Row r's loss, weight and state, as RowSoftmax documents them (csrc/<family>/primitive.h).
// Group: the row's threads are the whole threadgroup (else one simdgroup).
template <class Kind, typename T, bool Group>
METAL_FUNC void row_forward(
    int64_t r,
    uint lane,
    uint lanes,
    const device T* x,
    const device int64_t* idx,
    const device T* t,
    const device float* tf,
    const device float* w,
    device float* loss,
    device float* weight,
    device float* state,
    constant const RowSoftmaxArgs& args,
    constant const int64_t* shape,
    constant const int64_t* strides,
    threadgroup float* shared,
    uint tg_size,
    uint simd_lane,
    uint simd_group) {
  int64_t loc[kRowForwardArrays];
  elem_to_locs<kRowForwardArrays>(r, shape, strides, args.ndim, loc);
  int64_t y = 0;
  if (Kind::kIndex) {
    y = idx[loc[kRowT]];
    const bool ignored = args.has_ignore != 0 && y == args.ignore_index;
    if (ignored || y < 0 || y >= args.n_classes) {
      // The same branch for all of the row's threads: no barrier is skipped.
      if (lane == 0) {
        const float v = ignored ? 0.0f : nan_<float>();
        loss[r] = v;
        weight[r] = v;
        state[4 * r] = 0.0f;
        state[4 * r + 1] = 0.0f;
        state[4 * r + 2] = v;
        state[4 * r + 3] = v;
      }
      return;
    }
  }
  RowAcc<float> acc = row_acc_empty<float>();
  const bool dot = row_dot<Kind>(args);
  if (Kind::kLse || dot) {
    acc = dot ? row_scan<Kind, true>(x, t, tf, w, loc[kRowX], loc[kRowT], lane, lanes, args)
              : row_scan<Kind, false>(x, t, tf, w, loc[kRowX], loc[kRowT], lane, lanes, args);
    acc = Group ? threadgroup_merge(acc, shared, tg_size, simd_lane, simd_group)
                : simd_merge(acc);
  }
  if (lane != 0) {
    return;
  }
  const float m = Kind::kLse ? acc.m : 0.0f;
  const float log_s = Kind::kLse ? log_(acc.s) : 0.0f;
  float xt = 0.0f;
  float wt = 1.0f;
  if (Kind::kIndex) {
    xt = float(x[loc[kRowX] + y * args.x_stride]) - m;
    wt = args.class_weights != 0 ? w[y * args.w_stride] : 1.0f;
  }
  const RowResult<float> res =
      Kind::row(RowSums<float>{log_s, acc.d, acc.u}, xt, wt, row_params(args));
  loss[r] = res.loss;
  weight[r] = wt;
  state[4 * r] = m;
  state[4 * r + 1] = log_s;
  state[4 * r + 2] = res.coef;
  state[4 * r + 3] = res.hot;
}

// Buffers: the logits, the targets as class indices (idx) or a distribution
// in T (t) or float (tf, args.wide_targets), the class weights; unused ones
// are bound to placeholders and never read. Outputs are contiguous float rows.
template <class Kind, typename T, bool PerSimd>
[[kernel]] void row_softmax_forward(
    const device T* x [[buffer(0)]],
    const device int64_t* idx [[buffer(1)]],
    const device T* t [[buffer(2)]],
    const device float* tf [[buffer(3)]],
    const device float* w [[buffer(4)]],
    device float* loss [[buffer(5)]],
    device float* weight [[buffer(6)]],
    device float* state [[buffer(7)]],
    constant const RowSoftmaxArgs& args [[buffer(8)]],
    constant const int64_t* shape [[buffer(9)]],
    constant const int64_t* strides [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]],
    uint2 tg_dims [[threads_per_threadgroup]],
    uint lid [[thread_index_in_threadgroup]],
    uint simd_lane [[thread_index_in_simdgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]) {
  threadgroup float shared[4 * kSimdSize];
  const uint tg_size = tg_dims.x;
  if (PerSimd) {
    const SimdRows rows = simd_rows(group.x, tg_size, simd_group, args.n_rows, args.rows_per_group);
    for (int64_t r = rows.first; r < rows.end; r += rows.step) {
      row_forward<Kind, T, false>(r, simd_lane, rows.lanes, x, idx, t, tf, w, loss, weight, state,
                                  args, shape, strides, shared, tg_size, simd_lane, simd_group);
    }
  } else {
    row_forward<Kind, T, true>(group.x, lid, tg_size, x, idx, t, tf, w, loss, weight, state,
                               args, shape, strides, shared, tg_size, simd_lane, simd_group);
  }
}

// --------------------------------------------------------------- backward
// Row r's gradients from its saved state, no reduction: for class c,
//   d logits  = cot (grad_x - hot [c == target]),
//   d targets = cot grad_t (distribution kinds),
// an ignored row's d logits 0 and those of a row whose class index is out of
// range NaN (as its loss). Threads lane, lane + lanes, ... of the row.
template <class Kind, typename T>
METAL_FUNC void row_vjp(
    int64_t r,
    int64_t lane,
    int64_t lanes,
    const device T* x,
    const device int64_t* idx,
    const device T* t,
    const device float* tf,
    const device float* w,
    const device float* state,
    const device float* cot,
    device T* gx,
    device T* gt,
    device float* gtf,
    constant const RowSoftmaxArgs& args,
    constant const int64_t* shape,
    constant const int64_t* strides) {
  int64_t loc[kRowVjpArrays];
  elem_to_locs<kRowVjpArrays>(r, shape, strides, args.ndim, loc);
  const RowParams<float> p = row_params(args);
  const device float* st = state + loc[kRowState];
  const float m = st[0];
  const float log_s = st[args.state_stride];
  const float coef = st[2 * args.state_stride];
  const float hot = st[3 * args.state_stride];
  const float c = cot[loc[kRowCot]];
  int64_t y = -1;
  bool skip = false; // no gradient computed: the row's d logits are all `fill`
  float fill = 0.0f;
  if (Kind::kIndex) {
    y = idx[loc[kRowT]];
    const bool ignored = args.has_ignore != 0 && y == args.ignore_index;
    skip = ignored || y < 0 || y >= args.n_classes;
    fill = ignored ? 0.0f : nan_<float>();
  }
  const bool read_w = row_dot<Kind>(args) && args.class_weights != 0;
  for (int64_t k = lane; k < args.n_classes; k += lanes) {
    const int64_t g_off = loc[kRowGrad] + k * args.grad_stride;
    if (skip) {
      if (args.grad_x != 0) {
        gx[g_off] = T(fill);
      }
      continue;
    }
    const float xs = float(x[loc[kRowX] + k * args.x_stride]) - m;
    const float tk = row_target<Kind>(t, tf, loc[kRowT] + k * args.t_stride, args);
    const float wk = read_w ? w[k * args.w_stride] : 1.0f;
    if (args.grad_x != 0) {
      const float prob = Kind::kLse ? exp_(xs - log_s) : 0.0f;
      float g = Kind::grad_x(xs, tk, wk, prob, coef, p);
      if (Kind::kIndex && k == y) {
        g -= hot;
      }
      gx[g_off] = T(c * g);
    }
    if constexpr (!Kind::kIndex) {
      if (args.grad_t != 0) {
        const float g = c * Kind::grad_t(xs, tk, wk, log_s, p);
        if (args.wide_targets != 0) {
          gtf[g_off] = g;
        } else {
          gt[g_off] = T(g);
        }
      }
    }
  }
}

// Buffers 0-4 as the forward's, then the forward's state (rows, 4) and the
// loss's cotangent (rows), both float; outputs: d logits (gx), d targets in T
// (gt) or float (gtf), row-major; unrequested ones are placeholders.
template <class Kind, typename T, bool PerSimd>
[[kernel]] void row_softmax_vjp(
    const device T* x [[buffer(0)]],
    const device int64_t* idx [[buffer(1)]],
    const device T* t [[buffer(2)]],
    const device float* tf [[buffer(3)]],
    const device float* w [[buffer(4)]],
    const device float* state [[buffer(5)]],
    const device float* cot [[buffer(6)]],
    device T* gx [[buffer(7)]],
    device T* gt [[buffer(8)]],
    device float* gtf [[buffer(9)]],
    constant const RowSoftmaxArgs& args [[buffer(10)]],
    constant const int64_t* shape [[buffer(11)]],
    constant const int64_t* strides [[buffer(12)]],
    uint2 group [[threadgroup_position_in_grid]],
    uint2 groups [[threadgroups_per_grid]],
    uint2 tg_dims [[threads_per_threadgroup]],
    uint lid [[thread_index_in_threadgroup]],
    uint simd_lane [[thread_index_in_simdgroup]],
    uint simd_group [[simdgroup_index_in_threadgroup]]) {
  const uint tg_size = tg_dims.x;
  if (PerSimd) {
    const SimdRows rows = simd_rows(group.x, tg_size, simd_group, args.n_rows, args.rows_per_group);
    for (int64_t r = rows.first; r < rows.end; r += rows.step) {
      row_vjp<Kind, T>(r, simd_lane, rows.lanes, x, idx, t, tf, w, state, cot, gx, gt, gtf, args,
                       shape, strides);
    }
  } else {
    // groups.y threadgroups share the row.
    row_vjp<Kind, T>(group.x, int64_t(group.y) * tg_size + lid, int64_t(groups.y) * tg_size, x,
                     idx, t, tf, w, state, cot, gx, gt, gtf, args, shape, strides);
  }
}

} // namespace loss_kernels
