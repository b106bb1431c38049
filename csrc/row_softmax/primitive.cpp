// The row-softmax family's graph-level logic: names, shapes, vjp, jvp, vmap.
// The kernels are in csrc/row_softmax/cpu.cpp and csrc/row_softmax/metal.cpp.
#include "row_softmax/primitive.h"

#include "mlx/ops.h"

#include "common/validate.h"

namespace mlx_fused_losses {

bool RowSoftmaxSpec::operator==(const RowSoftmaxSpec& o) const {
  return kind == o.kind && params.a == o.params.a && params.b == o.params.b &&
      params.c == o.params.c && params.flags == o.params.flags && axis == o.axis &&
      class_weights == o.class_weights && dot == o.dot && has_ignore == o.has_ignore &&
      (!has_ignore || ignore_index == o.ignore_index);
}

const char* RowSoftmaxSpec::loss_name() const {
  switch (kind) {
#define MFL_ROW_KIND_NAME(name, type) \
  case loss_kernels::RowKind::name:            \
    return #name;
    MFL_ROW_LOSSES(MFL_ROW_KIND_NAME)
#undef MFL_ROW_KIND_NAME
  }
  return "unknown";
}

const char* RowSoftmaxSpec::function_name() const {
  switch (kind) {
    case loss_kernels::RowKind::cross_entropy:
    case loss_kernels::RowKind::cross_entropy_probs:
      return "cross_entropy";
    case loss_kernels::RowKind::nll:
      return "nll_loss";
    case loss_kernels::RowKind::kl_div:
      return "kl_div_loss";
    case loss_kernels::RowKind::softmax_focal:
      return "softmax_focal_loss";
  }
  return "unknown";
}

loss_kernels::RowParams<double> RowSoftmaxSpec::kernel_params(int64_t n_classes) const {
  loss_kernels::RowParams<double> p = params;
  using loss_kernels::RowKind;
  if (kind == RowKind::cross_entropy || kind == RowKind::cross_entropy_probs) {
    p.b /= double(n_classes);
  }
  return p;
}

bool RowSoftmaxSpec::index_targets() const {
  switch (kind) {
#define MFL_ROW_KIND_INDEX(name, type) \
  case loss_kernels::RowKind::name:             \
    return loss_kernels::type::kIndex;
    MFL_ROW_LOSSES(MFL_ROW_KIND_INDEX)
#undef MFL_ROW_KIND_INDEX
  }
  return true;
}

namespace {

// float32, or float64 for float64 logits.
mx::Dtype loss_dtype(const mx::array& logits) {
  return logits.dtype() == mx::float64 ? mx::float64 : mx::float32;
}

// The logits' shape without the class axis.
mx::Shape rows_shape(const mx::array& logits, int axis) {
  mx::Shape shape = logits.shape();
  shape.erase(shape.begin() + axis);
  return shape;
}

constexpr int kClassWeightsInput = 2;

[[noreturn]] void no_class_weight_grad(const RowSoftmaxSpec& spec) {
  // (named as the user's argument: the focal loss's class weights are `alpha`)
  const char* arg = spec.kind == loss_kernels::RowKind::softmax_focal ? "alpha" : "class_weights";
  throw std::invalid_argument(std::string(spec.function_name()) +
                              ": gradients with respect to the class weights (`" + arg +
                              "`) are not implemented; pass them through mx.stop_gradient");
}

// The VJP's outputs for `wrt` (0: logits, 1: distribution targets), scaled by
// the cotangent of the forward's loss.
std::vector<mx::array> row_grads(const mx::Stream& stream, const RowSoftmaxSpec& spec,
                                 const std::vector<mx::array>& primals, const mx::array& state,
                                 const mx::array& cotangent, const std::vector<int>& wrt) {
  std::vector<mx::array> inputs(primals);
  inputs.push_back(state);
  inputs.push_back(mx::astype(cotangent, loss_dtype(primals[0]), stream));
  std::vector<mx::Shape> shapes;
  std::vector<mx::Dtype> dtypes;
  for (int i : wrt) {
    shapes.push_back(primals[i].shape());
    dtypes.push_back(primals[i].dtype());
  }
  return mx::array::make_arrays(std::move(shapes), dtypes,
                                std::make_shared<RowSoftmaxVJP>(stream, spec, wrt), inputs);
}

// Which gradients the VJP primitive computes for `argnums`: the logits and,
// for distribution kinds, the targets. Class weights are not differentiable.
std::vector<int> grad_inputs(const RowSoftmaxSpec& spec, const std::vector<int>& argnums) {
  std::vector<int> wrt;
  for (int a : argnums) {
    if (a == kClassWeightsInput) {
      no_class_weight_grad(spec);
    }
    if (a == 0 || !spec.index_targets()) {
      wrt.push_back(a);
    }
  }
  return wrt;
}

// batch_front for every input but the class weights, which must not be mapped.
std::vector<mx::array> batch_rows(const mx::Stream& stream, const RowSoftmaxSpec& spec,
                                  const std::vector<mx::array>& inputs,
                                  const std::vector<int>& axes) {
  std::vector<mx::array> mapped;
  std::vector<int> mapped_axes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (spec.class_weights && i == kClassWeightsInput) {
      if (axes[i] >= 0) {
        throw std::invalid_argument(std::string(spec.function_name()) +
                                    ": vmap over the class weights is not supported");
      }
      continue;
    }
    mapped.push_back(inputs[i]);
    mapped_axes.push_back(axes[i]);
  }
  auto batched = batch_front(stream, mapped, mapped_axes);
  if (spec.class_weights) {
    batched.insert(batched.begin() + kClassWeightsInput, inputs[kClassWeightsInput]);
  }
  return batched;
}

} // namespace

void check_row_inputs(const RowSoftmaxSpec& spec, const std::vector<mx::array>& inputs,
                      bool vjp) {
  const auto& logits = inputs[0];
  const mx::Shape rows = rows_shape(logits, spec.axis);
  bool ok = inputs[1].shape() == (spec.index_targets() ? rows : logits.shape());
  if (spec.class_weights) {
    ok = ok && inputs[kClassWeightsInput].shape() == mx::Shape{logits.shape(spec.axis)};
  }
  if (vjp) {
    const size_t n_primals = spec.class_weights ? 3 : 2;
    mx::Shape state = rows;
    state.push_back(4);
    ok = ok && inputs[n_primals].shape() == state && inputs[n_primals + 1].shape() == rows;
  }
  if (!ok) {
    throw std::invalid_argument(
        std::string(spec.function_name()) +
        ": the targets or class weights do not fit logits of shape " +
        shape_str(logits.shape()) + " (a shape changed under mx.compile(shapeless=True)?)");
  }
}

std::vector<mx::array> row_softmax(const RowSoftmaxSpec& spec, const std::vector<mx::array>& inputs,
                                   mx::StreamOrDevice s) {
  auto prim = std::make_shared<RowSoftmax>(mx::to_stream(s), spec);
  auto shapes = prim->output_shapes(inputs);
  mx::Dtype dtype = loss_dtype(inputs[0]);
  return mx::array::make_arrays(std::move(shapes), {dtype, dtype, dtype}, prim, inputs);
}

std::vector<mx::Shape> RowSoftmax::output_shapes(const std::vector<mx::array>& inputs) {
  mx::Shape rows = rows_shape(inputs[0], spec_.axis);
  mx::Shape state = rows;
  state.push_back(4);
  return {rows, rows, state};
}

const char* RowSoftmax::name() const {
  return "FusedRowSoftmaxLoss";
}

bool RowSoftmax::is_equivalent(const mx::Primitive& other) const {
  return spec_ == static_cast<const RowSoftmax&>(other).spec_;
}

std::vector<mx::array> RowSoftmax::vjp(const std::vector<mx::array>& primals,
                                       const std::vector<mx::array>& cotangents,
                                       const std::vector<int>& argnums,
                                       const std::vector<mx::array>& outputs) {
  // Only the loss output is differentiable: the weight output is piecewise
  // constant and the state is internal.
  std::vector<int> wrt = grad_inputs(spec_, argnums);
  std::vector<mx::array> grads;
  if (!wrt.empty()) {
    grads = row_grads(stream(), spec_, primals, outputs[2], cotangents[0], wrt);
  }
  std::vector<mx::array> out;
  size_t next = 0;
  for (int a : argnums) {
    if (next < wrt.size() && wrt[next] == a) {
      out.push_back(grads[next++]);
    } else {
      out.push_back(mx::zeros_like(primals[a], stream())); // class indices
    }
  }
  return out;
}

std::vector<mx::array> RowSoftmax::jvp(const std::vector<mx::array>& primals,
                                       const std::vector<mx::array>& tangents,
                                       const std::vector<int>& argnums) {
  // d loss = sum over the row of (d loss / d input) * tangent, from the VJP
  // with a unit cotangent (two passes; jvp is rarely the hot path).
  // (zeros_like / ones_like: shaped at evaluation time, for shapeless compilation)
  std::vector<int> wrt = grad_inputs(spec_, argnums);
  mx::Dtype dtype = loss_dtype(primals[0]);
  auto outs = row_softmax(spec_, primals, stream());
  mx::array total = mx::zeros_like(outs[0], stream());
  if (wrt.empty()) {
    return {total};
  }
  auto unit = mx::ones_like(outs[0], stream());
  auto grads = row_grads(stream(), spec_, primals, outs[2], unit, wrt);
  for (size_t k = 0; k < wrt.size(); ++k) {
    size_t t = std::find(argnums.begin(), argnums.end(), wrt[k]) - argnums.begin();
    auto prod = mx::multiply(mx::astype(grads[k], dtype, stream()),
                             mx::astype(tangents[t], dtype, stream()), stream());
    total = mx::add(total, mx::sum(prod, spec_.axis, false, stream()), stream());
  }
  return {total};
}

std::pair<std::vector<mx::array>, std::vector<int>> RowSoftmax::vmap(
    const std::vector<mx::array>& inputs, const std::vector<int>& axes) {
  // The mapped axis becomes one more leading row axis of the same primitive.
  auto batched = batch_rows(stream(), spec_, inputs, axes);
  RowSoftmaxSpec spec = spec_;
  spec.axis += 1;
  return {row_softmax(spec, batched, stream()), {0, 0, 0}};
}

std::vector<mx::Shape> RowSoftmaxVJP::output_shapes(const std::vector<mx::array>& inputs) {
  std::vector<mx::Shape> shapes;
  for (int i : wrt_) {
    shapes.push_back(inputs[i].shape());
  }
  return shapes;
}

const char* RowSoftmaxVJP::name() const {
  return "FusedRowSoftmaxLossVJP";
}

bool RowSoftmaxVJP::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const RowSoftmaxVJP&>(other);
  return spec_ == o.spec_ && wrt_ == o.wrt_;
}

std::pair<std::vector<mx::array>, std::vector<int>> RowSoftmaxVJP::vmap(
    const std::vector<mx::array>& inputs, const std::vector<int>& axes) {
  auto batched = batch_rows(stream(), spec_, inputs, axes);
  RowSoftmaxSpec spec = spec_;
  spec.axis += 1;
  std::vector<mx::Shape> shapes;
  std::vector<mx::Dtype> dtypes;
  for (int i : wrt_) {
    shapes.push_back(batched[i].shape());
    dtypes.push_back(batched[i].dtype());
  }
  auto outs = mx::array::make_arrays(std::move(shapes), dtypes,
                                     std::make_shared<RowSoftmaxVJP>(stream(), spec, wrt_),
                                     batched);
  return {outs, std::vector<int>(outs.size(), 0)};
}

} // namespace mlx_fused_losses
