// The custom MLX primitives. Each family has a forward primitive (the loss and
// its reduction in one pass) and a VJP primitive (every requested gradient in
// one pass). Backends: csrc/cpu/<family>.cpp and csrc/metal/<family>.cpp;
// graph-level logic (vjp, jvp, vmap, shapes) in csrc/<family>.cpp.
#pragma once

#include <vector>

#include "mlx/primitives.h"

#include "kernels/pointwise_losses.h"
#include "kernels/row_softmax_losses.h"
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

// vmap helper shared by the families: moves each mapped axis to the front and
// broadcasts unmapped inputs along it (stride 0, no copy), so the batched
// primitive sees one more leading axis.
std::vector<mx::array> batch_front(const mx::Stream& stream, const std::vector<mx::array>& inputs,
                                   const std::vector<int>& axes);

// --------------------------------------------------------------- row softmax
// What a row-softmax primitive computes (kernels/row_softmax_losses.h). A row
// is a 1-D slice of the logits along `axis` (any axis, any strides; C classes).
// Inputs: the logits (one floating dtype), the targets -- int64 class indices of
// the logits' shape without `axis` for class-index kinds, else a distribution of
// the logits' shape in their dtype or in float32/float64 -- then, if
// `class_weights`, the (C,) class weights in the loss dtype.
struct RowSoftmaxSpec {
  mfl::RowKind kind;
  mfl::RowParams<double> params;
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
  mfl::RowParams<double> kernel_params(int64_t n_classes) const;
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
