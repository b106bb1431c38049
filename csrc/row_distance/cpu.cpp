// CPU kernels of the row-distance family: per row, one pass over its vectors
// for the sums of kernels/row_distance/losses.h (blocks of 128 elements summed
// in float, the blocks in double; all in double for float64) and the row's
// loss, and one pass that writes every requested gradient from the
// saved coefficients; rows in parallel on all cores. A vector axis that is not
// contiguous is read in place with its stride.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "common/hot_loop.h"
#include "common/memory.h"
#include "common/parallel.h"
#include "common/strided.h"
#include "row_distance/primitive.h"

namespace mlx_fused_losses {

namespace {

using cpu::acc_t;
using loss_kernels::DistanceKind;
using loss_kernels::Norm;
using Offsets = std::array<int64_t, cpu::kMaxStrided>;

// The elements of a row's vectors: pointers to the row's first elements and
// their stride along the vector axis (Contig: all 1).
template <typename T, bool Contig>
struct RowView {
  const T* u;
  const T* v;
  const T* w;
  int64_t us, vs, ws;

  MFL_FN static int64_t at(int64_t j, int64_t stride) {
    return Contig ? j : j * stride;
  }
};

template <DistanceKind K, Norm N, typename T>
struct DistanceKernels {
  using A = acc_t<T>;
  static constexpr int kVectors = loss_kernels::vector_count(K);
  static constexpr bool kTargets = loss_kernels::has_targets(K);
  static constexpr int64_t kBlock = 128;

  // The row's sums: each block of kBlock elements summed in A (vector lanes),
  // the blocks in double.
  template <bool Contig, bool Swap>
  MFL_HOT_LOOP static loss_kernels::DistanceSums<double> row_sums(RowView<T, Contig> r,
                                                                   int64_t n, A p) {
    using View = RowView<T, Contig>;
    loss_kernels::DistanceSums<double> total = {0, 0, 0};
    for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
      const int64_t j1 = std::min(n, j0 + kBlock);
      A s0 = 0, s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s0, s1, s2)
      for (int64_t j = j0; j < j1; ++j) {
        const A w = kVectors == 3 ? A(r.w[View::at(j, r.ws)]) : A(0);
        auto e = loss_kernels::accumulate<K, N, A>({A(0), A(0), A(0)}, A(r.u[View::at(j, r.us)]),
                                                   A(r.v[View::at(j, r.vs)]), w, p, Swap);
        s0 += e.s0;
        s1 += e.s1;
        s2 += e.s2;
      }
      total = loss_kernels::add_sums<double>(total, {double(s0), double(s1), double(s2)});
    }
    return total;
  }

  // A gradient row: where it starts and its stride.
  struct OutRow {
    T* p;
    int64_t stride;
  };

  // Writes c * the gradients of n elements into gu, gv, gw (an output not
  // requested points to a scratch row, so the loop has no branches).
  template <bool Contig>
  MFL_HOT_LOOP static void row_grads(RowView<T, Contig> r, int64_t n, A c0, A c1, A c2, A p,
                                     OutRow gu, OutRow gv, OutRow gw) {
    using View = RowView<T, Contig>;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const A w = kVectors == 3 ? A(r.w[View::at(j, r.ws)]) : A(0);
      auto g = loss_kernels::distance_grads<K, N, A>(A(r.u[View::at(j, r.us)]),
                                                     A(r.v[View::at(j, r.vs)]), w, c0, c1, c2, p);
      gu.p[View::at(j, gu.stride)] = T(g.u);
      gv.p[View::at(j, gv.stride)] = T(g.v);
      if constexpr (kVectors == 3) {
        gw.p[View::at(j, gw.stride)] = T(g.w);
      }
    }
  }

  // What both passes need about the inputs: the rows' layout over the arrays
  // (vectors, targets, then the extra ones the caller adds).
  struct Rows {
    int64_t n_rows;
    int64_t n; // the vectors' length
    const T* x[3] = {nullptr, nullptr, nullptr};
    int64_t xs[3] = {0, 0, 0}; // strides along the vector axis
    const A* t = nullptr;
    bool contiguous;
    loss_kernels::DistanceParams<double> prm;
    std::vector<mx::Strides> strides;

    Rows(const std::vector<mx::array>& inputs, const RowDistanceSpec& spec) : prm(spec.params) {
      const auto& shape = inputs[0].shape();
      n = shape[spec.axis];
      n_rows = cpu::element_count(cpu::drop_axis(shape, spec.axis));
      contiguous = true;
      for (int k = 0; k < kVectors; ++k) {
        x[k] = inputs[k].data<T>();
        xs[k] = inputs[k].strides()[spec.axis];
        contiguous = contiguous && xs[k] == 1;
        strides.push_back(cpu::drop_axis(inputs[k].strides(), spec.axis));
      }
      if constexpr (kTargets) {
        t = inputs[kVectors].data<A>();
        strides.push_back(cpu::drop_axis(inputs[kVectors].strides(), spec.axis));
      }
    }

    template <bool Contig>
    RowView<T, Contig> view(const Offsets& off, const Offsets& st, int64_t j) const {
      const T* w = kVectors == 3 ? x[2] + off[2] + j * st[2] : nullptr;
      return {x[0] + off[0] + j * st[0], x[1] + off[1] + j * st[1], w, xs[0], xs[1], xs[2]};
    }
    A target(const Offsets& off, const Offsets& st, int64_t j) const {
      if constexpr (kTargets) {
        return t[off[kVectors] + j * st[kVectors]];
      } else {
        return A(0);
      }
    }
  };

  static constexpr int kFirstExtra = kVectors + (kTargets ? 1 : 0);

  template <bool Contig, bool Swap>
  static void forward_rows(const Rows& rows, int64_t first, const Offsets& off,
                           const Offsets& st, int64_t len, A* loss, A* dt, A* state) {
    const A p = A(rows.prm.p);
    // The row is finished in A, as on the GPU and in stock MLX (whose own
    // tests hold a float32 triplet loss to its float32 rounding).
    const loss_kernels::DistanceParams<A> prm = {A(rows.prm.margin), A(rows.prm.eps), p,
                                                 rows.prm.flags};
    for (int64_t j = 0; j < len; ++j) {
      auto sums = row_sums<Contig, Swap>(rows.template view<Contig>(off, st, j), rows.n, p);
      auto res = loss_kernels::finish_row<K, N, A>({A(sums.s0), A(sums.s1), A(sums.s2)},
                                                   rows.target(off, st, j), prm);
      const int64_t r = first + j;
      loss[r] = A(res.loss);
      dt[r] = A(res.dt);
      state[3 * r] = A(res.c0);
      state[3 * r + 1] = A(res.c1);
      state[3 * r + 2] = A(res.c2);
    }
  }

  static void forward(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs,
                      const RowDistanceSpec& spec) {
    const Rows rows(inputs, spec);
    if (rows.n_rows == 0) {
      return;
    }
    const auto layout = cpu::make_layout(cpu::drop_axis(inputs[0].shape(), spec.axis),
                                         rows.strides);
    A* loss = outputs[0].data<A>();
    A* dt = outputs[1].data<A>();
    A* state = outputs[2].data<A>();
    cpu::parallel_for(rows.n_rows, rows.n_rows * std::max<int64_t>(rows.n, 1),
                      [&](int64_t r0, int64_t r1) {
      cpu::for_each_run(layout, r0, r1,
                        [&](int64_t first, const Offsets& off, const Offsets& st, int64_t len) {
        const bool swap = K == DistanceKind::triplet && (rows.prm.flags & loss_kernels::kSwap);
        if (rows.contiguous) {
          swap ? forward_rows<true, true>(rows, first, off, st, len, loss, dt, state)
               : forward_rows<true, false>(rows, first, off, st, len, loss, dt, state);
        } else {
          swap ? forward_rows<false, true>(rows, first, off, st, len, loss, dt, state)
               : forward_rows<false, false>(rows, first, off, st, len, loss, dt, state);
        }
      });
    });
  }

  // Inputs: the forward's, state, cotangent; outputs: the gradients of the
  // vectors in wrt, row-major.
  static void backward(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs,
                       const RowDistanceSpec& spec, const std::vector<int>& wrt) {
    Rows rows(inputs, spec);
    if (rows.n_rows == 0 || rows.n == 0) {
      return;
    }
    const auto& state = inputs[kFirstExtra];
    const auto& cot = inputs[kFirstExtra + 1];
    const mx::Shape& shape = inputs[0].shape();
    const mx::Strides out_strides = cpu::row_major_strides(shape);
    const int64_t gs = out_strides[spec.axis];
    T* g[3] = {nullptr, nullptr, nullptr};
    for (size_t k = 0; k < wrt.size(); ++k) {
      g[wrt[k]] = outputs[k].data<T>();
    }
    auto strides = rows.strides;
    const int i_state = static_cast<int>(strides.size());
    strides.push_back(cpu::drop_axis(state.strides(), static_cast<int>(state.ndim()) - 1));
    strides.push_back(cot.strides());
    strides.push_back(cpu::drop_axis(out_strides, spec.axis));
    const auto layout = cpu::make_layout(cpu::drop_axis(shape, spec.axis), strides);
    const A* st_base = state.data<A>();
    const int64_t st_col = state.strides().back();
    const A* cot_base = cot.data<A>();
    const A p = A(rows.prm.p);
    const bool contiguous = rows.contiguous && gs == 1;

    auto run = [&](int64_t, const Offsets& off, const Offsets& st, int64_t len) {
      // Where the gradients nobody asked for go.
      std::vector<T> scratch(wrt.size() < size_t(kVectors) ? rows.n : 0);
      auto out_row = [&](T* out, int64_t o) {
        return out ? OutRow{out + o, gs} : OutRow{scratch.data(), 1};
      };
      for (int64_t j = 0; j < len; ++j) {
        const A* sr = st_base + off[i_state] + j * st[i_state];
        const A c = cot_base[off[i_state + 1] + j * st[i_state + 1]];
        const A c0 = c * sr[0], c1 = c * sr[st_col], c2 = c * sr[2 * st_col];
        const int64_t o = off[i_state + 2] + j * st[i_state + 2];
        const OutRow gu = out_row(g[0], o), gv = out_row(g[1], o), gw = out_row(g[2], o);
        if (contiguous) {
          row_grads<true>(rows.template view<true>(off, st, j), rows.n, c0, c1, c2, p, gu, gv, gw);
        } else {
          row_grads<false>(rows.template view<false>(off, st, j), rows.n, c0, c1, c2, p, gu, gv,
                           gw);
        }
      }
    };
    cpu::parallel_for(rows.n_rows, rows.n_rows * rows.n,
                      [&](int64_t r0, int64_t r1) { cpu::for_each_run(layout, r0, r1, run); });
  }
};

// Calls fn.template operator()<K, N, T>() for the spec's kind and norm and the
// vectors' dtype.
template <typename Fn>
void dispatch(const RowDistanceSpec& spec, mx::Dtype dtype, Fn&& fn) {
  auto with_dtype = [&]<DistanceKind K, Norm N>() {
    switch (dtype) {
      case mx::float32:
        return fn.template operator()<K, N, float>();
      case mx::float16:
        return fn.template operator()<K, N, mx::float16_t>();
      case mx::bfloat16:
        return fn.template operator()<K, N, mx::bfloat16_t>();
      case mx::float64:
        return fn.template operator()<K, N, double>();
      default:
        throw std::invalid_argument("fused row-distance loss: unsupported dtype on the CPU");
    }
  };
  auto with_norm = [&]<DistanceKind K>() {
    if constexpr (loss_kernels::is_cosine(K)) {
      return with_dtype.template operator()<K, Norm::l2>();
    } else {
      switch (spec.norm()) {
        case Norm::l2:
          return with_dtype.template operator()<K, Norm::l2>();
        case Norm::l1:
          return with_dtype.template operator()<K, Norm::l1>();
        case Norm::lp:
          return with_dtype.template operator()<K, Norm::lp>();
      }
    }
  };
  switch (spec.kind) {
    case DistanceKind::cosine_similarity:
      return with_norm.template operator()<DistanceKind::cosine_similarity>();
    case DistanceKind::cosine_embedding:
      return with_norm.template operator()<DistanceKind::cosine_embedding>();
    case DistanceKind::triplet:
      return with_norm.template operator()<DistanceKind::triplet>();
    case DistanceKind::contrastive:
      return with_norm.template operator()<DistanceKind::contrastive>();
  }
}

} // namespace

void RowDistance::eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) {
  check_distance_inputs(spec_, inputs);
  auto& encoder = cpu::begin_eval(stream(), inputs, outputs);
  encoder.dispatch([inputs, outputs, spec = spec_]() mutable {
    dispatch(spec, inputs[0].dtype(), [&]<DistanceKind K, Norm N, typename T>() {
      DistanceKernels<K, N, T>::forward(inputs, outputs, spec);
    });
  });
}

void RowDistanceVJP::eval_cpu(const std::vector<mx::array>& inputs,
                              std::vector<mx::array>& outputs) {
  check_distance_inputs(spec_, inputs, true);
  auto& encoder = cpu::begin_eval(stream(), inputs, outputs);
  encoder.dispatch([inputs, outputs, spec = spec_, wrt = wrt_]() mutable {
    dispatch(spec, inputs[0].dtype(), [&]<DistanceKind K, Norm N, typename T>() {
      DistanceKernels<K, N, T>::backward(inputs, outputs, spec, wrt);
    });
  });
}

} // namespace mlx_fused_losses
