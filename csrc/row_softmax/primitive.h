// The row-softmax family's primitives: a loss of a distribution along one axis.
#pragma once

#include "common/primitive.h"
#include "kernels/row_softmax/losses.h"

namespace mlx_fused_losses {

// What a row-softmax primitive computes (kernels/row_softmax/losses.h). A row
// is a 1-D slice of the logits along `axis` (any axis, any strides; C classes).
// Inputs: the logits (one floating dtype), the targets -- int64 class indices of
// the logits' shape without `axis` for class-index kinds, else a distribution of
// the logits' shape in their dtype or in float32/float64 -- then, if
// `class_weights`, the (C,) class weights in the loss dtype.
struct RowSoftmaxSpec {
  loss_kernels::RowKind kind;
  loss_kernels::RowParams<double> params;
  int axis; // non-negative
  bool class_weights = false;
  bool dot = false; // accumulate the kind's per-class term (label smoothing, distributions)
  bool has_ignore = false; // rows whose target is ignore_index: loss 0, weight 0, gradient 0
  int64_t ignore_index = 0;

  bool operator==(const RowSoftmaxSpec& o) const;
  const char* loss_name() const;
  const char* function_name() const; // the public function, for error messages
  bool index_targets() const; // class indices, else a distribution
  // The kinds' parameters for rows of n_classes: the cross-entropies' label
  // smoothing is stored as eps and read by the kernels as eps / C, so a
  // shapeless-compiled graph with another class count stays right.
  loss_kernels::RowParams<double> kernel_params(int64_t n_classes) const;
};

// Forward, one pass over each row. Outputs, in float32 (float64 for float64
// logits), of the logits' shape without `axis` ("rows"):
//   loss    the row's loss (class weights applied; per-sample weights and the
//           reduction over rows are cheap graph ops on it);
//   weight  the row's share of PyTorch's mean denominator: the target's class
//           weight, 0 for an ignored row, NaN for an out-of-range target;
//   state   (rows..., 4), saved for the VJP: the row max m, log sum exp(x - m)
//           and the gradient coefficients (coef, hot) of RowResult.
// Only `loss` is differentiable (w.r.t. the logits and distribution targets).
// A class index outside [0, C) that is not ignore_index gives a NaN loss (the
// row is not read).
class RowSoftmax : public mx::Primitive {
 public:
  RowSoftmax(mx::Stream stream, RowSoftmaxSpec spec) : mx::Primitive(stream), spec_(spec) {}

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
  const RowSoftmaxSpec& spec() const {
    return spec_;
  }

 private:
  RowSoftmaxSpec spec_;
};

// Backward, one pass over each row, no reduction: inputs are the forward's
// inputs, its `state` output and the cotangent of its loss (rows, loss dtype).
// One output per entry of `wrt` (0: the logits, 1: distribution targets), of
// that input's shape and dtype, row-major:
//   d loss / d x_c = cot (grad_x - hot [c == target]), softmax_c = exp(x_c - m - log s).
class RowSoftmaxVJP : public mx::Primitive {
 public:
  RowSoftmaxVJP(mx::Stream stream, RowSoftmaxSpec spec, std::vector<int> wrt)
      : mx::Primitive(stream), spec_(spec), wrt_(std::move(wrt)) {}

  void eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  void eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array>& inputs,
                                                           const std::vector<int>& axes) override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;
  const char* name() const override;
  bool is_equivalent(const mx::Primitive& other) const override;
  const RowSoftmaxSpec& spec() const {
    return spec_;
  }
  const std::vector<int>& wrt() const {
    return wrt_;
  }

 private:
  RowSoftmaxSpec spec_;
  std::vector<int> wrt_;
};

// Throws unless the targets and class weights (and for the VJP, the state and
// the cotangent) fit the logits; every eval checks, as check_pointwise_inputs.
void check_row_inputs(const RowSoftmaxSpec& spec, const std::vector<mx::array>& inputs,
                      bool vjp = false);

// The forward's outputs {loss, weight, state} for `inputs` (logits, targets[,
// class weights]) as described at RowSoftmaxSpec.
std::vector<mx::array> row_softmax(const RowSoftmaxSpec& spec, const std::vector<mx::array>& inputs,
                                   mx::StreamOrDevice s);

} // namespace mlx_fused_losses
