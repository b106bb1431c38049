// The custom MLX primitives. Each family has a forward primitive (the loss and
// its reduction in one pass) and a VJP primitive (every requested gradient in
// one pass). Backends: csrc/cpu/<family>.cpp and csrc/metal/<family>.cpp;
// graph-level logic (vjp, jvp, vmap, shapes) in csrc/<family>.cpp.
#pragma once

#include <vector>

#include "mlx/primitives.h"

#include "kernels/pointwise_losses.h"
#include "mlx_fused_losses/losses.h"

namespace mlx_fused_losses {

// What a pointwise primitive computes. Inputs: `n_operands` operands (the
// loss's x, y[, z]), then the per-element weight if `weighted`; all of one
// shape and one floating dtype. The loss is summed over every axis from
// `batch_ndim` on (vmap folds its axis into these leading batch axes).
struct PointwiseSpec {
  mfl::PointwiseKind kind;
  mfl::PointwiseParams<double> params;
  Reduction reduction;
  int n_operands;
  bool weighted;
  int batch_ndim = 0;

  bool operator==(const PointwiseSpec& o) const;
  int n_inputs() const {
    return n_operands + (weighted ? 1 : 0);
  }
  const char* loss_name() const;
};

// Forward: one output, the per-element loss (reduction None) or its per-batch
// sum or mean (a scalar unless vmapped), in the inputs' dtype.
class Pointwise : public mx::Primitive {
 public:
  Pointwise(mx::Stream stream, PointwiseSpec spec) : mx::Primitive(stream), spec_(spec) {}

  void eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  void eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  std::vector<mx::array> jvp(const std::vector<mx::array>& primals,
                             const std::vector<mx::array>& tangents,
                             const std::vector<int>& argnums) override;
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals,
                             const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums,
                             const std::vector<mx::array>& outputs) override;
  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array>& inputs,
                                                           const std::vector<int>& axes) override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;
  const char* name() const override;
  bool is_equivalent(const mx::Primitive& other) const override;
  const PointwiseSpec& spec() const {
    return spec_;
  }

 private:
  PointwiseSpec spec_;
};

// Backward: inputs are the forward's inputs, then the cotangent broadcast to
// their shape (stride 0 along reduced axes). One output per entry of `wrt`
// (indices into the forward's inputs): d loss / d input * cotangent, divided by
// the number of reduced elements for Mean.
class PointwiseVJP : public mx::Primitive {
 public:
  PointwiseVJP(mx::Stream stream, PointwiseSpec spec, std::vector<int> wrt)
      : mx::Primitive(stream), spec_(spec), wrt_(std::move(wrt)) {}

  void eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  void eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array>& inputs,
                                                           const std::vector<int>& axes) override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;
  const char* name() const override;
  bool is_equivalent(const mx::Primitive& other) const override;
  const PointwiseSpec& spec() const {
    return spec_;
  }
  const std::vector<int>& wrt() const {
    return wrt_;
  }

 private:
  PointwiseSpec spec_;
  std::vector<int> wrt_;
};

// Number of elements each batch entry reduces over (the product of the axes
// from batch_ndim on).
int64_t reduced_size(const mx::array& input, int batch_ndim);

} // namespace mlx_fused_losses
