// CPU kernels of the row-softmax family: per row, one pass over the logits for
// the loss (online logsumexp, kernels/row_softmax/losses.h) and one pass that
// writes the gradient from the saved state; rows in parallel on all cores.
//
// A row is read in chunks of kChunk classes: the chunk's max, then its sums
// relative to the new running max (vectorised, with the chunk still in L1),
// merged into the row's running sums in double. A strided class axis (any axis
// but a contiguous last one) needs no transposed copy: tiles of kTile
// neighbouring rows are walked chunk by chunk, each row's chunk gathered into a
// small buffer, so each cache line of the logits is fetched once per tile.
#include <cmath>
#include <limits>
#include <type_traits>

#include "common/hot_loop.h"
#include "common/memory.h"
#include "common/parallel.h"
#include "common/strided.h"
#include "row_softmax/primitive.h"

namespace mlx_fused_losses {

namespace {

using cpu::acc_t;
using Offsets = std::array<int64_t, cpu::kMaxStrided>;

constexpr int64_t kChunk = 1024; // classes per chunk
constexpr int kTile = 16; // rows walked together when the class axis is strided

// n elements of a strided line as a contiguous pointer: the line itself if it
// is unit-strided, else a copy in buf.
template <typename V>
const V* contiguous(const V* p, int64_t stride, int64_t n, V* buf) {
  if (stride == 1) {
    return p;
  }
  for (int64_t j = 0; j < n; ++j) {
    buf[j] = p[j * stride];
  }
  return buf;
}

// The kernels of one loss kind for logits of type T and targets of type U
// (int64_t class indices, or a distribution in T or in float/double).
// ClassW: (C,) class weights are an input; Dot: the kind's per-class term is
// accumulated (label smoothing, distribution targets).
template <class Kind, typename T, typename U, bool ClassW, bool Dot>
struct RowKernels {
  using A = acc_t<T>;
  using Params = loss_kernels::RowParams<A>;
  static constexpr bool kIndex = Kind::kIndex;
  static constexpr bool kScan = Kind::kLse || Dot; // the forward reads the whole row
  static constexpr bool kReadW = ClassW && Dot; // class weights enter the per-class terms
  static constexpr A kInf = std::numeric_limits<A>::infinity();

  MFL_FN static A target_at(const U* t, int64_t j) {
    if constexpr (kIndex) {
      return A(0);
    } else {
      return A(t[j]);
    }
  }
  MFL_FN static A weight_at(const A* w, int64_t j) {
    if constexpr (kReadW) {
      return w[j];
    } else {
      return A(1);
    }
  }

  // Folds n contiguous classes into the row's running sums.
  MFL_HOT_LOOP static void scan_chunk(loss_kernels::RowAcc<double>& acc, const T* x, const U* t,
                                      const A* w, int64_t n, const Params& prm) {
    A m = 0;
    A shift = 0;
    if constexpr (Kind::kLse) {
      A cm = -kInf;
#pragma omp simd reduction(max : cm)
      for (int64_t j = 0; j < n; ++j) {
        A v = A(x[j]);
        cm = cm > v ? cm : v;
      }
      m = std::max(A(acc.m), cm);
      shift = loss_kernels::row_shift(m);
    }
    A s = 0, d = 0, u = 0;
    if constexpr (Kind::kLse && Dot) {
#pragma omp simd reduction(+ : s, d, u)
      for (int64_t j = 0; j < n; ++j) {
        A xs = A(x[j]) - shift;
        A tj = target_at(t, j), wj = weight_at(w, j);
        s += loss_kernels::exp_(xs);
        d += Kind::term(xs, tj, wj, prm);
        u += Kind::weight(tj, wj, prm);
      }
    } else if constexpr (Kind::kLse) {
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < n; ++j) {
        s += loss_kernels::exp_(A(x[j]) - shift);
      }
    } else {
#pragma omp simd reduction(+ : d)
      for (int64_t j = 0; j < n; ++j) {
        d += Kind::term(A(x[j]), target_at(t, j), weight_at(w, j), prm);
      }
    }
    acc = loss_kernels::merge<double>(acc, {double(m), double(s), double(d), double(u)});
  }

  // The gradient of n contiguous classes: gx (and gt if not null) scaled by
  // the cotangent c, without the one-hot part.
  MFL_HOT_LOOP static void grad_chunk(const T* x, const U* t, const A* w, int64_t n, A m,
                                      A log_s, A coef, A c, const Params& prm, T* gx, U* gt) {
    if (gx) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        A xs = A(x[j]) - m;
        A prob = Kind::kLse ? loss_kernels::exp_(xs - log_s) : A(0);
        gx[j] = T(c * Kind::grad_x(xs, target_at(t, j), weight_at(w, j), prob, coef, prm));
      }
    }
    if constexpr (!kIndex) {
      if (gt) {
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) {
          A xs = A(x[j]) - m;
          gt[j] = U(c * Kind::grad_t(xs, A(t[j]), weight_at(w, j), log_s, prm));
        }
      }
    }
  }

  // What both passes need about the inputs.
  struct Rows {
    int64_t n_rows;
    int64_t n_classes;
    const T* x;
    const U* t;
    int64_t xcs; // class strides
    int64_t tcs;
    std::vector<A> cw; // class weights, contiguous
    Params prm;
    loss_kernels::RowParams<double> prm_d;
    bool has_ignore;
    int64_t ignore_index;

    Rows(const std::vector<mx::array>& inputs, const RowSoftmaxSpec& spec) {
      const auto& logits = inputs[0];
      const auto& targets = inputs[1];
      n_classes = logits.shape(spec.axis);
      n_rows = cpu::element_count(cpu::drop_axis(logits.shape(), spec.axis));
      x = logits.data<T>();
      t = targets.data<U>();
      xcs = logits.strides()[spec.axis];
      tcs = kIndex ? 0 : targets.strides()[spec.axis];
      if constexpr (ClassW) {
        const auto& w = inputs[2];
        cw.resize(n_classes);
        for (int64_t c = 0; c < n_classes; ++c) {
          cw[c] = w.data<A>()[c * w.strides()[0]];
        }
      }
      prm_d = spec.kernel_params(n_classes);
      prm = {A(prm_d.a), A(prm_d.b), A(prm_d.c), prm_d.flags};
      has_ignore = spec.has_ignore;
      ignore_index = spec.ignore_index;
    }

    // Row strides of the logits and targets (the first two layout arrays).
    std::vector<mx::Strides> strides(const std::vector<mx::array>& inputs, int axis) const {
      return {cpu::drop_axis(inputs[0].strides(), axis),
              kIndex ? inputs[1].strides() : cpu::drop_axis(inputs[1].strides(), axis)};
    }
    bool ignored(int64_t y) const {
      return has_ignore && y == ignore_index;
    }
    bool in_range(int64_t y) const {
      return y >= 0 && y < n_classes;
    }
    const A* w_at(int64_t c0) const {
      return kReadW ? cw.data() + c0 : nullptr;
    }
    A class_weight(int64_t y) const {
      if constexpr (ClassW) {
        return cw[y];
      } else {
        return A(1);
      }
    }
    // Rows walked together: one when every class axis read is contiguous.
    int tile() const {
      return xcs == 1 && (kIndex || tcs == 1) ? 1 : kTile;
    }
  };

  static void forward(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs,
                      const RowSoftmaxSpec& spec) {
    const Rows rows(inputs, spec);
    if (rows.n_rows == 0) {
      return;
    }
    const auto layout = cpu::make_layout(cpu::drop_axis(inputs[0].shape(), spec.axis),
                                         rows.strides(inputs, spec.axis));
    A* loss = outputs[0].data<A>();
    A* weight = outputs[1].data<A>();
    A* state = outputs[2].data<A>();
    const int tile = rows.tile();
    const A nan = std::numeric_limits<A>::quiet_NaN();

    auto run_rows = [&](int64_t first, const Offsets& off, const Offsets& st, int64_t len) {
      std::vector<T> xbuf(rows.xcs == 1 ? 0 : kChunk);
      std::vector<U> tbuf(kIndex || rows.tcs == 1 ? 0 : kChunk);
      for (int64_t j0 = 0; j0 < len; j0 += tile) {
        const int nr = static_cast<int>(std::min<int64_t>(tile, len - j0));
        const T* xr[kTile];
        const U* tr[kTile];
        int64_t y[kTile];
        bool live[kTile];
        loss_kernels::RowAcc<double> acc[kTile];
        for (int k = 0; k < nr; ++k) {
          xr[k] = rows.x + off[0] + (j0 + k) * st[0];
          tr[k] = rows.t + off[1] + (j0 + k) * st[1];
          y[k] = kIndex ? static_cast<int64_t>(*tr[k]) : 0;
          live[k] = !kIndex || (!rows.ignored(y[k]) && rows.in_range(y[k]));
          acc[k] = loss_kernels::row_acc_empty<double>();
        }
        if constexpr (kScan) {
          for (int64_t c0 = 0; c0 < rows.n_classes; c0 += kChunk) {
            const int64_t n = std::min(kChunk, rows.n_classes - c0);
            for (int k = 0; k < nr; ++k) {
              if (!live[k]) {
                continue;
              }
              const T* xp = contiguous(xr[k] + c0 * rows.xcs, rows.xcs, n, xbuf.data());
              const U* tp = kIndex ? nullptr : contiguous(tr[k] + c0 * rows.tcs, rows.tcs, n, tbuf.data());
              scan_chunk(acc[k], xp, tp, rows.w_at(c0), n, rows.prm);
            }
          }
        }
        for (int k = 0; k < nr; ++k) {
          const int64_t r = first + j0 + k;
          A* out_state = state + 4 * r;
          if (kIndex && !live[k]) {
            const bool skip = rows.ignored(y[k]);
            loss[r] = skip ? A(0) : nan;
            weight[r] = skip ? A(0) : nan;
            out_state[0] = out_state[1] = A(0);
            out_state[2] = out_state[3] = skip ? A(0) : nan;
            continue;
          }
          const double m = Kind::kLse ? acc[k].m : 0.0;
          const double log_s = Kind::kLse ? std::log(acc[k].s) : 0.0;
          double xt = 0, wt = 1;
          if constexpr (kIndex) {
            xt = double(A(xr[k][y[k] * rows.xcs])) - m;
            wt = rows.class_weight(y[k]);
          }
          auto res = Kind::template row<double>({log_s, acc[k].d, acc[k].u}, xt, wt, rows.prm_d);
          loss[r] = A(res.loss);
          weight[r] = A(wt);
          out_state[0] = A(m);
          out_state[1] = A(log_s);
          out_state[2] = A(res.coef);
          out_state[3] = A(res.hot);
        }
      }
    };
    // (a kind that does not scan its rows reads one element of each)
    const int64_t work = kScan ? rows.n_rows * rows.n_classes : rows.n_rows;
    cpu::parallel_for(rows.n_rows, work, [&](int64_t r0, int64_t r1) {
      cpu::for_each_run(layout, r0, r1, run_rows);
    });
  }

  // Inputs: logits, targets[, class weights], state, cotangent; outputs: the
  // gradients of wrt (0: logits, 1: targets), row-major.
  static void backward(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs,
                       const RowSoftmaxSpec& spec, const std::vector<int>& wrt) {
    const Rows rows(inputs, spec);
    if (rows.n_rows == 0) {
      return;
    }
    const int n_primals = ClassW ? 3 : 2;
    const auto& state = inputs[n_primals];
    const auto& cot = inputs[n_primals + 1];
    const mx::Shape& shape = inputs[0].shape();
    const mx::Strides out_strides = cpu::row_major_strides(shape);
    const int64_t gcs = out_strides[spec.axis];

    T* gx = nullptr;
    U* gt = nullptr;
    for (size_t k = 0; k < wrt.size(); ++k) {
      if (wrt[k] == 0) {
        gx = outputs[k].data<T>();
      } else if constexpr (!kIndex) {
        gt = outputs[k].data<U>();
      }
    }
    auto strides = rows.strides(inputs, spec.axis);
    strides.push_back(cpu::drop_axis(state.strides(), static_cast<int>(state.ndim()) - 1));
    strides.push_back(cot.strides());
    strides.push_back(cpu::drop_axis(out_strides, spec.axis));
    const auto layout = cpu::make_layout(cpu::drop_axis(shape, spec.axis), strides);
    const A* st_base = state.data<A>();
    const int64_t st_col = state.strides().back();
    const A* cot_base = cot.data<A>();
    const int tile = gcs == 1 ? rows.tile() : kTile;

    auto run_rows = [&](int64_t, const Offsets& off, const Offsets& st, int64_t len) {
      const bool strided = tile > 1;
      std::vector<T> xbuf(strided ? kChunk : 0), gxbuf(strided ? kChunk : 0);
      std::vector<U> tbuf(strided && !kIndex ? kChunk : 0), gtbuf(strided && !kIndex ? kChunk : 0);
      for (int64_t j0 = 0; j0 < len; j0 += tile) {
        const int nr = static_cast<int>(std::min<int64_t>(tile, len - j0));
        const T* xr[kTile];
        const U* tr[kTile];
        int64_t y[kTile];
        int64_t orow[kTile]; // the row's offset in the outputs
        A m[kTile], log_s[kTile], coef[kTile], hot[kTile], c[kTile];
        // Rows without a computed gradient: ignored (0, its smoothing term
        // included) or a class index out of range (NaN, like its loss).
        bool skip[kTile];
        A fill[kTile];
        for (int k = 0; k < nr; ++k) {
          const int64_t j = j0 + k;
          xr[k] = rows.x + off[0] + j * st[0];
          tr[k] = rows.t + off[1] + j * st[1];
          y[k] = kIndex ? static_cast<int64_t>(*tr[k]) : 0;
          const A* sr = st_base + off[2] + j * st[2];
          m[k] = sr[0];
          log_s[k] = sr[st_col];
          coef[k] = sr[2 * st_col];
          hot[k] = sr[3 * st_col];
          c[k] = cot_base[off[3] + j * st[3]];
          skip[k] = kIndex && (rows.ignored(y[k]) || !rows.in_range(y[k]));
          fill[k] = kIndex && rows.ignored(y[k]) ? A(0) : std::numeric_limits<A>::quiet_NaN();
          orow[k] = off[4] + j * st[4];
        }
        for (int64_t c0 = 0; c0 < rows.n_classes; c0 += kChunk) {
          const int64_t n = std::min(kChunk, rows.n_classes - c0);
          for (int k = 0; k < nr; ++k) {
            if (skip[k]) {
              for (int64_t q = 0; gx && q < n; ++q) {
                gx[orow[k] + (c0 + q) * gcs] = T(fill[k]);
              }
              continue;
            }
            const T* xp = contiguous(xr[k] + c0 * rows.xcs, rows.xcs, n, xbuf.data());
            const U* tp = kIndex ? nullptr : contiguous(tr[k] + c0 * rows.tcs, rows.tcs, n, tbuf.data());
            T* gxp = gx ? (gcs == 1 ? gx + orow[k] + c0 : gxbuf.data()) : nullptr;
            U* gtp = gt ? (gcs == 1 ? gt + orow[k] + c0 : gtbuf.data()) : nullptr;
            grad_chunk(xp, tp, rows.w_at(c0), n, m[k], log_s[k], coef[k], c[k], rows.prm, gxp, gtp);
            if (gcs != 1) {
              for (int64_t q = 0; gx && q < n; ++q) {
                gx[orow[k] + (c0 + q) * gcs] = gxbuf[q];
              }
              for (int64_t q = 0; gt && q < n; ++q) {
                gt[orow[k] + (c0 + q) * gcs] = gtbuf[q];
              }
            }
          }
        }
        if constexpr (kIndex) {
          // The one-hot part at the target class, written once from the full formula.
          for (int k = 0; gx && k < nr; ++k) {
            if (skip[k]) {
              continue;
            }
            const A xs = A(xr[k][y[k] * rows.xcs]) - m[k];
            const A prob = Kind::kLse ? loss_kernels::exp_(xs - log_s[k]) : A(0);
            const A g = Kind::grad_x(xs, A(0), weight_at(rows.w_at(y[k]), 0), prob, coef[k], rows.prm);
            gx[orow[k] + y[k] * gcs] = T(c[k] * (g - hot[k]));
          }
        }
      }
    };
    // Without a softmax the gradient is mostly stores of 0, about an eighth of
    // the work of an element with an exp: a second thread pays from larger rows.
    const int64_t elements = rows.n_rows * rows.n_classes;
    cpu::parallel_for(rows.n_rows, Kind::kLse ? elements : elements / 8,
                      [&](int64_t r0, int64_t r1) { cpu::for_each_run(layout, r0, r1, run_rows); });
  }
};

// Calls fn.template operator()<Kind, T, U, ClassW, Dot>() for the spec's kind,
// the logits' dtype, the targets' element type and the flags.
template <typename Fn>
void dispatch(const RowSoftmaxSpec& spec, mx::Dtype dtype, mx::Dtype targets_dtype, Fn&& fn) {
  auto with_flags = [&]<class Kind, typename T, typename U>() {
    // Distribution kinds always accumulate their term; kinds without one never.
    constexpr bool can_skip_dot = Kind::kIndex || !Kind::kTerm;
    constexpr bool can_dot = Kind::kTerm;
    auto with_weights = [&]<bool ClassW>() {
      if constexpr (can_dot) {
        if (spec.dot || !can_skip_dot) {
          return fn.template operator()<Kind, T, U, ClassW, true>();
        }
      }
      if constexpr (can_skip_dot) {
        return fn.template operator()<Kind, T, U, ClassW, false>();
      }
    };
    if (spec.class_weights) {
      return with_weights.template operator()<true>();
    }
    return with_weights.template operator()<false>();
  };
  auto with_targets = [&]<class Kind, typename T>() {
    if constexpr (Kind::kIndex) {
      return with_flags.template operator()<Kind, T, int64_t>();
    } else {
      if (targets_dtype == dtype) {
        return with_flags.template operator()<Kind, T, T>();
      }
      if constexpr (!std::is_same_v<T, acc_t<T>>) {
        if (targets_dtype == mx::float32) {
          return with_flags.template operator()<Kind, T, float>();
        }
      }
      throw std::invalid_argument("fused row-softmax loss: unsupported targets dtype on the CPU");
    }
  };
  auto with_dtype = [&]<class Kind>() {
    switch (dtype) {
      case mx::float32:
        return with_targets.template operator()<Kind, float>();
      case mx::float16:
        return with_targets.template operator()<Kind, mx::float16_t>();
      case mx::bfloat16:
        return with_targets.template operator()<Kind, mx::bfloat16_t>();
      case mx::float64:
        return with_targets.template operator()<Kind, double>();
      default:
        throw std::invalid_argument("fused row-softmax loss: unsupported dtype on the CPU");
    }
  };
  switch (spec.kind) {
#define MFL_ROW_DISPATCH(name, type) \
  case loss_kernels::RowKind::name:           \
    return with_dtype.template operator()<loss_kernels::type>();
    MFL_ROW_LOSSES(MFL_ROW_DISPATCH)
#undef MFL_ROW_DISPATCH
  }
}

} // namespace

void RowSoftmax::eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) {
  check_row_inputs(spec_, inputs);
  auto& encoder = cpu::begin_eval(stream(), inputs, outputs);
  encoder.dispatch([inputs, outputs, spec = spec_]() mutable {
    dispatch(spec, inputs[0].dtype(), inputs[1].dtype(),
             [&]<class Kind, typename T, typename U, bool ClassW, bool Dot>() {
               RowKernels<Kind, T, U, ClassW, Dot>::forward(inputs, outputs, spec);
             });
  });
}

void RowSoftmaxVJP::eval_cpu(const std::vector<mx::array>& inputs,
                             std::vector<mx::array>& outputs) {
  check_row_inputs(spec_, inputs, true);
  auto& encoder = cpu::begin_eval(stream(), inputs, outputs);
  encoder.dispatch([inputs, outputs, spec = spec_, wrt = wrt_]() mutable {
    dispatch(spec, inputs[0].dtype(), inputs[1].dtype(),
             [&]<class Kind, typename T, typename U, bool ClassW, bool Dot>() {
               RowKernels<Kind, T, U, ClassW, Dot>::backward(inputs, outputs, spec, wrt);
             });
  });
}

} // namespace mlx_fused_losses
