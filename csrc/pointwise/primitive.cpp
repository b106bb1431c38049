// The pointwise family's graph-level logic: names, shapes, vjp, jvp, vmap.
// The kernels are in csrc/pointwise/cpu.cpp and csrc/pointwise/metal.cpp.
#include "pointwise/primitive.h"

#include <algorithm>
#include <numeric>
#include <string_view>

#include "mlx/ops.h"

namespace mlx_fused_losses {

bool PointwiseSpec::operator==(const PointwiseSpec& o) const {
  return kind == o.kind && params.a == o.params.a && params.b == o.params.b &&
      params.c == o.params.c && params.flags == o.params.flags && reduction == o.reduction &&
      n_operands == o.n_operands && weighted == o.weighted && batch_ndim == o.batch_ndim;
}

const char* PointwiseSpec::loss_name() const {
  switch (kind) {
#define MFL_KIND_NAME(name, type, arity) \
  case loss_kernels::PointwiseKind::name:         \
    return #name;
    MFL_POINTWISE_LOSSES(MFL_KIND_NAME)
#undef MFL_KIND_NAME
  }
  return "unknown";
}

int64_t reduced_size(const mx::array& input, int batch_ndim) {
  int64_t n = 1;
  for (int ax = batch_ndim; ax < static_cast<int>(input.ndim()); ++ax) {
    n *= input.shape(ax);
  }
  return n;
}

namespace {

mx::Shape batch_shape(const mx::array& input, int batch_ndim) {
  return mx::Shape(input.shape().begin(), input.shape().begin() + batch_ndim);
}

// The axes a sum or mean reduces: batch_ndim and after.
std::vector<int> reduced_axes(const PointwiseSpec& spec, const mx::array& input) {
  std::vector<int> axes(input.ndim() - spec.batch_ndim);
  std::iota(axes.begin(), axes.end(), spec.batch_ndim);
  return axes;
}

// The shape of the forward's output.
mx::Shape loss_shape(const PointwiseSpec& spec, const mx::array& input) {
  return spec.reduction == Reduction::None ? input.shape() : batch_shape(input, spec.batch_ndim);
}

// Gradients of `wrt` (indices into inputs) scaled by `cotangent` (of the
// forward output's shape), from one PointwiseVJP primitive.
std::vector<mx::array> pointwise_grads(const mx::Stream& stream, const PointwiseSpec& spec,
                                       const std::vector<mx::array>& inputs,
                                       const mx::array& cotangent, const std::vector<int>& wrt) {
  const auto& shape = inputs[0].shape();
  mx::array cot = mx::astype(cotangent, inputs[0].dtype(), stream);
  if (spec.reduction != Reduction::None && cot.ndim() > 0 && cot.ndim() < shape.size()) {
    // (batch...) -> (batch..., 1, ..., 1) -> broadcast: stride 0, no copy.
    cot = mx::expand_dims(cot, reduced_axes(spec, inputs[0]), stream);
  }
  // (shaped from the inputs at evaluation time, for shapeless compilation)
  cot = mx::broadcast_arrays({cot, inputs[0]}, stream)[0];
  std::vector<mx::array> vjp_inputs(inputs);
  vjp_inputs.push_back(cot);
  std::vector<mx::Shape> shapes;
  std::vector<mx::Dtype> dtypes;
  for (int i : wrt) {
    shapes.push_back(shape);
    dtypes.push_back(inputs[i].dtype());
  }
  return mx::array::make_arrays(std::move(shapes), dtypes,
                                std::make_shared<PointwiseVJP>(stream, spec, wrt), vjp_inputs);
}

// Whether `cotangent` is the constant 1 that mx.grad and mx.value_and_grad
// seed (an evaluated float32 scalar, cast to the loss's dtype if that is
// another): then the gradients for a unit cotangent are the gradients.
// Anything else (e.g. the loss scaled before it is returned) is not looked
// into.
bool is_unit(const mx::array& cotangent) {
  const mx::array* seed = &cotangent;
  if (!seed->is_available() && seed->has_primitive() && seed->inputs().size() == 1 &&
      std::string_view(seed->primitive().name()) == "AsType") {
    seed = &seed->inputs()[0];
  }
  return seed->is_available() && seed->size() == 1 && seed->dtype() == mx::float32 &&
      seed->item<float>() == 1.0f;
}

} // namespace

void check_pointwise_inputs(const PointwiseSpec& spec, const std::vector<mx::array>& inputs) {
  for (const auto& in : inputs) {
    if (in.shape() != inputs[0].shape()) {
      throw std::invalid_argument(
          std::string("mlx_fused_losses: the inputs of a fused ") + spec.loss_name() +
          " loss have different shapes at evaluation (a shape changed under "
          "mx.compile(shapeless=True)?)");
    }
  }
}

std::vector<mx::array> pointwise_outputs(std::shared_ptr<Pointwise> prim,
                                         const std::vector<mx::array>& inputs) {
  auto shapes = prim->output_shapes(inputs);
  std::vector<mx::Dtype> dtypes(shapes.size(), inputs[0].dtype());
  return mx::array::make_arrays(std::move(shapes), dtypes, std::move(prim), inputs);
}

bool Pointwise::wanted(int i) const {
  return std::binary_search(wanted_.begin(), wanted_.end(), i);
}

std::vector<mx::Shape> Pointwise::output_shapes(const std::vector<mx::array>& inputs) {
  std::vector<mx::Shape> shapes{loss_shape(spec_, inputs[0])};
  shapes.resize(1 + grad_inputs_.size(), inputs[0].shape());
  return shapes;
}

const char* Pointwise::name() const {
  return "FusedPointwiseLoss";
}

bool Pointwise::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const Pointwise&>(other);
  return spec_ == o.spec_ && grad_inputs_ == o.grad_inputs_ && wanted_ == o.wanted_;
}

std::vector<mx::array> Pointwise::vjp(const std::vector<mx::array>& primals,
                                      const std::vector<mx::array>& cotangents,
                                      const std::vector<int>& argnums,
                                      const std::vector<mx::array>& outputs) {
  // Once vjp has handed out the gradient outputs, a second vjp of this
  // forward differentiates through them (mx.grad of mx.grad): refuse rather
  // than ignore their cotangents.
  if (!wanted_.empty()) {
    throw std::invalid_argument(
        "mlx_fused_losses: the gradient of a pointwise loss's gradient (second "
        "derivatives) is not supported");
  }
  // The forward's own gradient outputs, if it has them for every argnum, has
  // not run, and the cotangent is 1; else the VJP primitive (a second pass).
  std::vector<mx::array> stored;
  if (outputs[0].status() == mx::array::Status::unscheduled && is_unit(cotangents[0])) {
    for (int i : argnums) {
      auto at = std::find(grad_inputs_.begin(), grad_inputs_.end(), i);
      if (at == grad_inputs_.end()) {
        break;
      }
      stored.push_back(outputs[1 + (at - grad_inputs_.begin())]);
    }
  }
  if (stored.size() != argnums.size()) {
    return pointwise_grads(stream(), spec_, primals, cotangents[0], argnums);
  }
  for (int i : argnums) {
    if (!wanted(i)) {
      wanted_.insert(std::upper_bound(wanted_.begin(), wanted_.end(), i), i);
    }
  }
  return stored;
}

std::vector<mx::array> Pointwise::jvp(const std::vector<mx::array>& primals,
                                      const std::vector<mx::array>& tangents,
                                      const std::vector<int>& argnums) {
  // The gradient outputs' tangents would be second derivatives. Before vjp
  // has handed them out nothing can use them (zeros); after, refuse.
  if (!wanted_.empty()) {
    throw std::invalid_argument(
        "mlx_fused_losses: forward-mode derivatives of a pointwise loss's gradient "
        "(second derivatives) are not supported");
  }
  std::vector<mx::array> out{jvp_of_loss(primals, tangents, argnums)};
  for (size_t k = 0; k < grad_inputs_.size(); ++k) {
    out.push_back(mx::zeros_like(primals[0], stream()));
  }
  return out;
}

mx::array Pointwise::jvp_of_loss(const std::vector<mx::array>& primals,
                                 const std::vector<mx::array>& tangents,
                                 const std::vector<int>& argnums) {
  // d loss = sum over inputs of (d loss / d input) * tangent, reduced like the loss.
  // A unit cotangent of the inputs' shape (pointwise_grads broadcasts it).
  auto unit = mx::array(1.0, primals[0].dtype());
  auto grads = pointwise_grads(stream(), spec_, primals, unit, argnums);
  mx::array total = mx::multiply(grads[0], tangents[0], stream());
  for (size_t i = 1; i < grads.size(); ++i) {
    total = mx::add(total, mx::multiply(grads[i], tangents[i], stream()), stream());
  }
  if (spec_.reduction == Reduction::None) {
    return total;
  }
  return mx::sum(total, reduced_axes(spec_, primals[0]), false, stream());
}

std::pair<std::vector<mx::array>, std::vector<int>> Pointwise::vmap(
    const std::vector<mx::array>& inputs, const std::vector<int>& axes) {
  auto batched = batch_front(stream(), inputs, axes);
  PointwiseSpec spec = spec_;
  spec.batch_ndim += 1;
  auto outs = pointwise_outputs(
      std::make_shared<Pointwise>(stream(), spec, grad_inputs_, wanted_), batched);
  return {outs, std::vector<int>(outs.size(), 0)};
}

std::vector<mx::Shape> PointwiseVJP::output_shapes(const std::vector<mx::array>& inputs) {
  return std::vector<mx::Shape>(wrt_.size(), inputs[0].shape());
}

const char* PointwiseVJP::name() const {
  return "FusedPointwiseLossVJP";
}

bool PointwiseVJP::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const PointwiseVJP&>(other);
  return spec_ == o.spec_ && wrt_ == o.wrt_;
}

std::pair<std::vector<mx::array>, std::vector<int>> PointwiseVJP::vmap(
    const std::vector<mx::array>& inputs, const std::vector<int>& axes) {
  auto batched = batch_front(stream(), inputs, axes);
  PointwiseSpec spec = spec_;
  spec.batch_ndim += 1;
  std::vector<mx::Shape> shapes(wrt_.size(), batched[0].shape());
  std::vector<mx::Dtype> dtypes;
  for (int i : wrt_) {
    dtypes.push_back(batched[i].dtype());
  }
  auto outs = mx::array::make_arrays(std::move(shapes), dtypes,
                                     std::make_shared<PointwiseVJP>(stream(), spec, wrt_), batched);
  return {outs, std::vector<int>(outs.size(), 0)};
}

} // namespace mlx_fused_losses
