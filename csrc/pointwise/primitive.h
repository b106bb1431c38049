// The pointwise family's primitives: an elementwise loss and its reduction.
#pragma once

#include "common/primitive.h"
#include "kernels/pointwise/losses.h"

namespace mlx_fused_losses {

// What a pointwise primitive computes. Inputs: `n_operands` operands (the
// loss's x, y[, z]), then the per-element weight if `weighted`; all of one
// shape and one floating dtype. The loss is summed over every axis from
// `batch_ndim` on (vmap folds its axis into these leading batch axes).
struct PointwiseSpec {
  loss_kernels::PointwiseKind kind;
  loss_kernels::PointwiseParams<double> params;
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

// Forward: the per-element loss (reduction None) or its per-batch sum or mean
// (a scalar unless vmapped), in the inputs' dtype.
//
// A CPU sum or mean built on tracers (under mx.grad, and also vmap or
// compile) also has one output per input in `grad_inputs` (the tracers):
// that input's gradient for a unit cotangent. vjp hands these out when the
// cotangent is the constant 1 of mx.grad / mx.value_and_grad and the forward
// has not run yet, and marks them wanted; the forward then writes the wanted
// gradients in the same pass over the inputs (one read of them instead of
// two), and leaves the others a broadcast zero (nothing else can reach them).
class Pointwise : public mx::Primitive {
 public:
  Pointwise(mx::Stream stream, PointwiseSpec spec, std::vector<int> grad_inputs = {},
            std::vector<int> wanted = {})
      : mx::Primitive(stream), spec_(spec), grad_inputs_(std::move(grad_inputs)),
        wanted_(std::move(wanted)) {}

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
  const std::vector<int>& grad_inputs() const {
    return grad_inputs_;
  }
  // Whether the gradient of input `i` (one of grad_inputs) is to be written.
  bool wanted(int i) const;

 private:
  mx::array jvp_of_loss(const std::vector<mx::array>& primals,
                        const std::vector<mx::array>& tangents, const std::vector<int>& argnums);

  PointwiseSpec spec_;
  std::vector<int> grad_inputs_;
  std::vector<int> wanted_; // sorted subset of grad_inputs_, set by vjp
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

// Throws unless every input has the first one's shape (every eval checks: a
// shapeless-compiled graph may be run with other shapes than it was built
// with, and the kernels walk every input with the first one's shape).
void check_pointwise_inputs(const PointwiseSpec& spec, const std::vector<mx::array>& inputs);

// The outputs of a Pointwise forward over `inputs` (one floating dtype): the
// loss, then its gradient outputs.
std::vector<mx::array> pointwise_outputs(std::shared_ptr<Pointwise> prim,
                                         const std::vector<mx::array>& inputs);

// sum(a * b) (Sum) or its mean (Mean), accumulated like the pointwise losses
// (exact for long sums, where a float running sum is off by percents); a and b
// broadcast, a floating dtype. The reduction over rows of the row families.
mx::array sum_of_products(const mx::array& a, const mx::array& b, Reduction reduction,
                          mx::StreamOrDevice s);

// Number of elements each batch entry reduces over (the product of the axes
// from batch_ndim on).
int64_t reduced_size(const mx::array& input, int batch_ndim);

} // namespace mlx_fused_losses
