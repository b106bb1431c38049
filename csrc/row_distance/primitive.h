// The row-distance family's primitives: losses of two or three vectors along one axis.
#pragma once

#include "common/primitive.h"
#include "kernels/row_distance/losses.h"

namespace mlx_fused_losses {

// What a row-distance primitive computes (kernels/row_distance/losses.h). Its
// inputs all have one shape (broadcast, strides 0 where they repeat): the
// kind's 2 or 3 vectors in one floating dtype, then, for kinds with targets,
// the targets in the loss dtype, constant along `axis` (one read per row).
struct RowDistanceSpec {
  loss_kernels::DistanceKind kind;
  loss_kernels::DistanceParams<double> params; // margin, eps, p, flags (kSwap)
  int axis; // non-negative

  bool operator==(const RowDistanceSpec& o) const;
  const char* function_name() const; // the public function, for error messages
  int vectors() const; // inputs that are vectors: 2 or 3
  bool targets() const; // a targets input follows the vectors
  loss_kernels::Norm norm() const; // of the distance kinds, from p
};

// Forward, one pass over each row. Outputs, in float32 (float64 for float64
// vectors), of the inputs' shape without `axis` ("rows"):
//   loss    the row's loss;
//   dt      d loss / d target (0 for kinds without targets);
//   state   (rows..., 3): the gradient coefficients c0, c1, c2.
// Only `loss` is differentiable.
class RowDistance : public mx::Primitive {
 public:
  RowDistance(mx::Stream stream, RowDistanceSpec spec) : mx::Primitive(stream), spec_(spec) {}

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
  const RowDistanceSpec& spec() const {
    return spec_;
  }

 private:
  RowDistanceSpec spec_;
};

// Backward, one pass over each row: inputs are the forward's inputs, its state
// and the cotangent of its loss (rows, loss dtype). One output per entry of
// `wrt` (vector indices), of the inputs' shape and dtype, row-major.
class RowDistanceVJP : public mx::Primitive {
 public:
  RowDistanceVJP(mx::Stream stream, RowDistanceSpec spec, std::vector<int> wrt)
      : mx::Primitive(stream), spec_(spec), wrt_(std::move(wrt)) {}

  void eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  void eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array>& inputs,
                                                           const std::vector<int>& axes) override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;
  const char* name() const override;
  bool is_equivalent(const mx::Primitive& other) const override;
  const RowDistanceSpec& spec() const {
    return spec_;
  }
  const std::vector<int>& wrt() const {
    return wrt_;
  }

 private:
  RowDistanceSpec spec_;
  std::vector<int> wrt_;
};

// Throws unless the inputs (and for the VJP, the state and the cotangent) fit
// together; every eval checks, as check_row_inputs.
void check_distance_inputs(const RowDistanceSpec& spec, const std::vector<mx::array>& inputs,
                           bool vjp = false);

// The forward's outputs {loss, state} for `inputs` as described at RowDistanceSpec.
std::vector<mx::array> row_distance(const RowDistanceSpec& spec,
                                    const std::vector<mx::array>& inputs, mx::StreamOrDevice s);

} // namespace mlx_fused_losses
