// CPU kernels of the pointwise family: the loss and its reduction in one pass
// (forward) and every requested gradient in one pass (backward), both over
// arbitrarily strided inputs, on all cores. Instantiated once per dtype in
// generated translation units (see cpu_dtype.cpp.in), so the many
// (loss x dtype) instantiations compile in parallel.
//
// Accuracy: values are computed in float (double for float64) and summed in
// float only over chunks of kChunk elements (vectorised); the chunk sums are
// added in double. The error of a mean over 32M elements is then ~1e-9
// relative, where a running float sum is off by percents.
#pragma once

#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "common/hot_loop.h"
#include "common/parallel.h"
#include "common/strided.h"
#include "pointwise/primitive.h"

namespace mlx_fused_losses::cpu {

namespace pointwise_detail {

constexpr int64_t kBlock = int64_t(1) << 16; // elements per parallel task
constexpr int64_t kChunk = 512; // elements summed in float before adding in double

template <typename T>
T from_double(double v) {
  if constexpr (std::is_same_v<T, double>) {
    return v;
  } else {
    return static_cast<T>(static_cast<float>(v));
  }
}

// Losses whose flags choose between formulas get one kernel per flag value: a
// vectorised loop would otherwise evaluate every formula and select.
template <class Loss>
constexpr int kFlagValues = 0;
template <>
constexpr int kFlagValues<loss_kernels::PoissonNll> = 4; // log_input x full
template <>
constexpr int kFlagValues<loss_kernels::SigmoidFocal> = loss_kernels::SigmoidFocal::kGammaKinds;

// The kernels of one loss for one dtype. NOps: operands read (a missing third
// operand reads as 1, e.g. binary_cross_entropy without pos_weight); Weighted:
// the input after the operands multiplies each element's loss; Flags: the
// params' flags as a compile-time constant, or -1 to read them at run time.
template <class Loss, int NOps, bool Weighted, typename T, int Flags>
struct Kernels {
  using A = acc_t<T>;
  using Params = loss_kernels::PointwiseParams<A>;

  // The params the hot loops use: with constant flags the compiler drops the
  // formulas the flags do not select. In place: GCC 12 kept a returned copy in
  // memory and then did not vectorise the focal loss's gradient loop.
  MFL_FN static void fix_flags(Params& p) {
    if constexpr (Flags >= 0) {
      p.flags = Flags;
    }
  }
  static constexpr int kInputs = NOps + (Weighted ? 1 : 0);
  using Ptrs = std::array<const T*, kMaxStrided>;
  using Offsets = std::array<int64_t, kMaxStrided>;

  MFL_FN static A z_at(const T* z, int64_t i) {
    if constexpr (NOps > 2) {
      return A(z[i]);
    } else {
      return A(1);
    }
  }
  MFL_FN static A weight_at(const T* w, int64_t i) {
    if constexpr (Weighted) {
      return A(w[i]);
    } else {
      return A(1);
    }
  }
  // The weighted loss of element i of unit-stride inputs.
  MFL_FN static A value(const Ptrs& p, int64_t i, const Params& prm) {
    return Loss::value(A(p[0][i]), A(p[1][i]), z_at(p[2], i), prm) * weight_at(p[NOps], i);
  }

  static bool unit_stride(const Offsets& st, int n) {
    for (int k = 0; k < n; ++k) {
      if (st[k] != 1) {
        return false;
      }
    }
    return true;
  }
  // Pointers to the run's first elements.
  static Ptrs at(const std::vector<const T*>& base, const Offsets& off, int n) {
    Ptrs p{};
    for (int k = 0; k < n; ++k) {
      p[k] = base[k] + off[k];
    }
    return p;
  }

  // Sum of the loss over a run of n elements.
  MFL_HOT_LOOP static double sum_run(const Ptrs& p, const Offsets& st, int64_t n, const Params& params) {
    Params prm = params;
    fix_flags(prm);
    double total = 0;
    if (unit_stride(st, kInputs)) {
      for (int64_t c = 0; c < n; c += kChunk) {
        const int64_t m = std::min(kChunk, n - c);
        Ptrs q = p;
        for (int k = 0; k < kInputs; ++k) {
          q[k] += c;
        }
        A acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < m; ++j) {
          acc += value(q, j, prm);
        }
        total += acc;
      }
    } else {
      for (int64_t j = 0; j < n; ++j) {
        A w = weight_at(p[NOps], j * st[NOps]);
        total += Loss::value(A(p[0][j * st[0]]), A(p[1][j * st[1]]), z_at(p[2], j * st[2]), prm) * w;
      }
    }
    return total;
  }

  // The per-element loss of a run, written to out[0, n).
  MFL_HOT_LOOP static void value_run(const Ptrs& p, const Offsets& st, int64_t n, const Params& params, T* out) {
    Params prm = params;
    fix_flags(prm);
    if (unit_stride(st, kInputs)) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        out[j] = T(value(p, j, prm));
      }
    } else {
      for (int64_t j = 0; j < n; ++j) {
        A w = weight_at(p[NOps], j * st[NOps]);
        out[j] = T(Loss::value(A(p[0][j * st[0]]), A(p[1][j * st[1]]), z_at(p[2], j * st[2]), prm) * w);
      }
    }
  }

  // Gradients of a run. cot: the cotangent at stride cs (0 along reduced
  // axes); grads[k]: where input k's gradient goes (nullptr: not wanted).
  // Every input's gradient of a unit-stride run into out[k]; the cotangent is
  // unit-stride (CotUnit) or one value for the run.
  template <bool CotUnit>
  MFL_FN static void all_grads(const Ptrs& p, const T* cot, int64_t n, const Params& prm, A scale,
                               const std::array<T*, kMaxStrided>& out) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      A x = A(p[0][j]), y = A(p[1][j]), z = z_at(p[2], j);
      A c = A(cot[CotUnit ? j : 0]) * scale;
      if constexpr (Weighted) {
        out[NOps][j] = T(Loss::value(x, y, z, prm) * c);
        c *= A(p[NOps][j]);
      }
      auto g = Loss::grad(x, y, z, prm);
      out[0][j] = T(g.dx * c);
      out[1][j] = T(g.dy * c);
      if constexpr (NOps > 2) {
        out[2][j] = T(g.dz * c);
      }
    }
  }

  MFL_HOT_LOOP static void grad_run(const Ptrs& p, const Offsets& st, const T* cot, int64_t cs, int64_t n,
                       const Params& params, A scale, const std::array<T*, kMaxStrided>& grads) {
    Params prm = params;
    fix_flags(prm);
    auto element = [&](int64_t j, int64_t jx, int64_t jy, int64_t jz, int64_t jw, int64_t jc) {
      A x = A(p[0][jx]), y = A(p[1][jy]), z = z_at(p[2], jz);
      A c = A(cot[jc]) * scale;
      if constexpr (Weighted) {
        if (grads[NOps]) {
          grads[NOps][j] = T(Loss::value(x, y, z, prm) * c);
        }
        c *= A(p[NOps][jw]);
      }
      auto g = Loss::grad(x, y, z, prm);
      if (grads[0]) {
        grads[0][j] = T(g.dx * c);
      }
      if (grads[1]) {
        grads[1][j] = T(g.dy * c);
      }
      if (NOps > 2 && grads[2]) {
        grads[2][j] = T(g.dz * c);
      }
    };
    const bool only_first = grads[1] == nullptr && grads[2] == nullptr && grads[NOps] == nullptr;
    if (unit_stride(st, kInputs) && only_first && cs == 0) {
      // The common case (training): d loss / d predictions, scalar cotangent.
      const A c = A(cot[0]) * scale;
      T* gx = grads[0];
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        A x = A(p[0][j]), y = A(p[1][j]), z = z_at(p[2], j);
        gx[j] = T(Loss::grad(x, y, z, prm).dx * (c * weight_at(p[NOps], j)));
      }
    } else if (unit_stride(st, kInputs) && (cs == 0 || cs == 1)) {
      // Several gradients: all are computed and stored unconditionally, the
      // unwanted ones into a scratch on the stack (a heap one would be fresh,
      // page-faulted memory in every call's new threads), so the loop
      // vectorises. The run goes in pieces of the scratch's size.
      T scratch[kChunk];
      for (int64_t c = 0; c < n; c += kChunk) {
        Ptrs q = p;
        std::array<T*, kMaxStrided> out{};
        for (int k = 0; k < kInputs; ++k) {
          q[k] += c;
          out[k] = grads[k] ? grads[k] + c : scratch;
        }
        const int64_t m = std::min(kChunk, n - c);
        if (cs == 0) {
          all_grads<false>(q, cot, m, prm, scale, out);
        } else {
          all_grads<true>(q, cot + c, m, prm, scale, out);
        }
      }
    } else {
      for (int64_t j = 0; j < n; ++j) {
        element(j, j * st[0], j * st[1], j * st[2], j * st[NOps], j * cs);
      }
    }
  }

  // Sum of the loss over a run and, into grads[k] (where not null), the
  // gradients for a unit cotangent: in chunks small enough that the gradient
  // pass reads the inputs from L1, not memory, after the sum has.
  static double sum_and_grads_run(const Ptrs& p, const Offsets& st, int64_t n, const Params& prm,
                                  A scale, const std::array<T*, kMaxStrided>& grads) {
    static const T one = T(1); // the cotangent, at stride 0
    double total = 0;
    for (int64_t c = 0; c < n; c += kChunk) {
      const int64_t m = std::min(kChunk, n - c);
      Ptrs q = p;
      std::array<T*, kMaxStrided> out{};
      for (int k = 0; k < kInputs; ++k) {
        q[k] += c * st[k];
        out[k] = grads[k] ? grads[k] + c : nullptr;
      }
      total += sum_run(q, st, m, prm);
      grad_run(q, st, &one, 0, m, prm, scale, out);
    }
    return total;
  }

  static std::vector<const T*> data(const std::vector<mx::array>& inputs) {
    std::vector<const T*> base;
    for (const auto& a : inputs) {
      base.push_back(a.template data<T>());
    }
    return base;
  }

  // outputs: the loss, then the gradient (for a unit cotangent) of each input
  // in grads_of, written in the same pass (sum and mean only).
  static void forward(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs,
                      const PointwiseSpec& spec, const std::vector<int>& grads_of) {
    const Params prm{A(spec.params.a), A(spec.params.b), A(spec.params.c), spec.params.flags};
    const auto layout = cpu::make_layout(inputs);
    const auto base = data(inputs);
    const int64_t size = inputs[0].size();
    mx::array& out = outputs[0];
    T* dst = out.data<T>();
    std::array<T*, kMaxStrided> grad_base{};
    for (size_t k = 0; k < grads_of.size(); ++k) {
      grad_base[grads_of[k]] = outputs[1 + k].template data<T>();
    }

    if (spec.reduction == Reduction::None) {
      const int64_t n_blocks = (size + kBlock - 1) / kBlock;
      cpu::parallel_for(n_blocks, size, [&](int64_t b0, int64_t b1) {
        cpu::for_each_run(layout, b0 * kBlock, std::min(size, b1 * kBlock),
                          [&](int64_t i, const Offsets& off, const Offsets& st, int64_t len) {
                            value_run(at(base, off, kInputs), st, len, prm, dst + i);
                          });
      });
      return;
    }

    // Sum each batch entry's `inner` elements in tasks of kBlock elements;
    // per-task partial sums keep the result independent of the thread count.
    const int64_t inner = reduced_size(inputs[0], spec.batch_ndim);
    const int64_t batch = out.size();
    if (inner == 0) {
      const double empty = spec.reduction == Reduction::Mean ? std::nan("") : 0.0;
      for (int64_t b = 0; b < batch; ++b) {
        dst[b] = from_double<T>(empty);
      }
      return;
    }
    const int64_t blocks_per_row = (inner + kBlock - 1) / kBlock;
    const double scale = spec.reduction == Reduction::Mean ? 1.0 / double(inner) : 1.0;
    std::vector<double> partial(batch * blocks_per_row);
    cpu::parallel_for(batch * blocks_per_row, size, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t row = t / blocks_per_row;
        const int64_t begin = row * inner + (t % blocks_per_row) * kBlock;
        const int64_t end = std::min((row + 1) * inner, begin + kBlock);
        double s = 0;
        cpu::for_each_run(layout, begin, end,
                          [&](int64_t i, const Offsets& off, const Offsets& st, int64_t len) {
                            if (grads_of.empty()) {
                              s += sum_run(at(base, off, kInputs), st, len, prm);
                              return;
                            }
                            std::array<T*, kMaxStrided> grads{};
                            for (int k : grads_of) {
                              grads[k] = grad_base[k] + i;
                            }
                            s += sum_and_grads_run(at(base, off, kInputs), st, len, prm, A(scale),
                                                   grads);
                          });
        partial[t] = s;
      }
    });
    for (int64_t b = 0; b < batch; ++b) {
      double s = 0;
      for (int64_t k = 0; k < blocks_per_row; ++k) {
        s += partial[b * blocks_per_row + k];
      }
      dst[b] = from_double<T>(s * scale);
    }
  }

  static void backward(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs,
                       const PointwiseSpec& spec, const std::vector<int>& wrt) {
    const Params prm{A(spec.params.a), A(spec.params.b), A(spec.params.c), spec.params.flags};
    const auto layout = cpu::make_layout(inputs); // operands, weight, cotangent
    const auto base = data(inputs);
    const int cot_index = kInputs;
    const int64_t size = inputs[0].size();
    const A scale = spec.reduction == Reduction::Mean
        ? A(1.0 / double(std::max<int64_t>(1, reduced_size(inputs[0], spec.batch_ndim))))
        : A(1);
    const int64_t n_blocks = (size + kBlock - 1) / kBlock;
    cpu::parallel_for(n_blocks, size, [&](int64_t b0, int64_t b1) {
      cpu::for_each_run(
          layout, b0 * kBlock, std::min(size, b1 * kBlock),
          [&](int64_t i, const Offsets& off, const Offsets& st, int64_t len) {
            std::array<T*, kMaxStrided> grads{};
            for (size_t k = 0; k < wrt.size(); ++k) {
              grads[wrt[k]] = outputs[k].template data<T>() + i;
            }
            grad_run(at(base, off, kInputs), st, base[cot_index] + off[cot_index],
                     st[cot_index], len, prm, scale, grads);
          });
    });
  }
};

// Calls fn.template operator()<Loss, NOps, Weighted, Flags>() for the spec's
// loss, operand count, weighting and flags.
template <typename Fn>
void dispatch(const PointwiseSpec& spec, Fn&& fn) {
  auto with_weighting = [&]<class Loss, int NOps>() {
    auto with_flags = [&]<bool Weighted>() {
      if constexpr (kFlagValues<Loss> == 0) {
        fn.template operator()<Loss, NOps, Weighted, -1>();
      } else {
        const bool known = [&]<int... F>(std::integer_sequence<int, F...>) {
          return ((spec.params.flags == F && (fn.template operator()<Loss, NOps, Weighted, F>(), true)) || ...);
        }(std::make_integer_sequence<int, kFlagValues<Loss>>{});
        if (!known) {
          throw std::logic_error("fused pointwise loss: flags out of range for the loss");
        }
      }
    };
    if (spec.weighted) {
      with_flags.template operator()<true>();
    } else {
      with_flags.template operator()<false>();
    }
  };
  switch (spec.kind) {
#define MFL_DISPATCH_KIND(name, type, arity)                       \
  case loss_kernels::PointwiseKind::name:                                   \
    if constexpr (arity == 3) {                                    \
      if (spec.n_operands == 3) {                                  \
        return with_weighting.template operator()<loss_kernels::type, 3>(); \
      }                                                            \
    }                                                              \
    return with_weighting.template operator()<loss_kernels::type, 2>();
    MFL_POINTWISE_LOSSES(MFL_DISPATCH_KIND)
#undef MFL_DISPATCH_KIND
  }
}

} // namespace pointwise_detail

// Entry points, one explicit instantiation per dtype.
template <typename T>
void pointwise_forward(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs,
                       const PointwiseSpec& spec, const std::vector<int>& grads_of) {
  pointwise_detail::dispatch(spec, [&]<class Loss, int NOps, bool Weighted, int Flags>() {
    pointwise_detail::Kernels<Loss, NOps, Weighted, T, Flags>::forward(inputs, outputs, spec,
                                                                       grads_of);
  });
}

template <typename T>
void pointwise_backward(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs,
                        const PointwiseSpec& spec, const std::vector<int>& wrt) {
  pointwise_detail::dispatch(spec, [&]<class Loss, int NOps, bool Weighted, int Flags>() {
    pointwise_detail::Kernels<Loss, NOps, Weighted, T, Flags>::backward(inputs, outputs, spec, wrt);
  });
}

} // namespace mlx_fused_losses::cpu
