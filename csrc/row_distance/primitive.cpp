// The row-distance family's graph-level logic: names, shapes, vjp, jvp, vmap.
// The kernels are in csrc/row_distance/cpu.cpp and csrc/row_distance/metal.cpp.
#include "row_distance/primitive.h"

#include "mlx/ops.h"

#include "common/validate.h"

namespace mlx_fused_losses {

using loss_kernels::DistanceKind;

bool RowDistanceSpec::operator==(const RowDistanceSpec& o) const {
  return kind == o.kind && params.margin == o.params.margin && params.eps == o.params.eps &&
      params.p == o.params.p && params.flags == o.params.flags && axis == o.axis;
}

const char* RowDistanceSpec::function_name() const {
  switch (kind) {
    case DistanceKind::cosine_similarity:
      return "cosine_similarity_loss";
    case DistanceKind::cosine_embedding:
      return "cosine_embedding_loss";
    case DistanceKind::triplet:
      return "triplet_loss";
    case DistanceKind::contrastive:
      return "contrastive_loss";
  }
  return "unknown";
}

int RowDistanceSpec::vectors() const {
  return loss_kernels::vector_count(kind);
}

bool RowDistanceSpec::targets() const {
  return loss_kernels::has_targets(kind);
}

loss_kernels::Norm RowDistanceSpec::norm() const {
  if (loss_kernels::is_cosine(kind) || params.p == 2.0) {
    return loss_kernels::Norm::l2;
  }
  return params.p == 1.0 ? loss_kernels::Norm::l1 : loss_kernels::Norm::lp;
}

namespace {

mx::Dtype loss_dtype(const mx::array& vector) {
  return vector.dtype() == mx::float64 ? mx::float64 : mx::float32;
}

mx::Shape rows_shape(const mx::array& vector, int axis) {
  mx::Shape shape = vector.shape();
  shape.erase(shape.begin() + axis);
  return shape;
}

constexpr int kStateWidth = 3; // c0, c1, c2

// 1 at the first element along `axis`, 0 elsewhere (shaped at evaluation):
// where the targets' gradient goes, the targets being read there.
mx::array first_along(const mx::array& a, int axis, const mx::Stream& s) {
  auto ones = mx::ones_like(a, s);
  return mx::astype(mx::equal(mx::cumsum(ones, axis, false, true, s), ones, s), a.dtype(), s);
}

// The VJP's outputs for the vector inputs `wrt`, scaled by the cotangent.
std::vector<mx::array> vector_grads(const mx::Stream& stream, const RowDistanceSpec& spec,
                                    const std::vector<mx::array>& primals,
                                    const mx::array& state, const mx::array& cotangent,
                                    const std::vector<int>& wrt) {
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
                                std::make_shared<RowDistanceVJP>(stream, spec, wrt), inputs);
}

std::vector<int> vector_args(const RowDistanceSpec& spec, const std::vector<int>& argnums) {
  std::vector<int> wrt;
  for (int a : argnums) {
    if (a < spec.vectors()) {
      wrt.push_back(a);
    }
  }
  return wrt;
}

} // namespace

void check_distance_inputs(const RowDistanceSpec& spec, const std::vector<mx::array>& inputs,
                           bool vjp) {
  const size_t n_primals = spec.vectors() + (spec.targets() ? 1 : 0);
  bool ok = inputs.size() == n_primals + (vjp ? 2 : 0);
  const auto& shape = inputs[0].shape();
  for (size_t i = 1; ok && i < n_primals; ++i) {
    ok = inputs[i].shape() == shape;
  }
  if (ok && vjp) {
    mx::Shape rows = rows_shape(inputs[0], spec.axis);
    mx::Shape state = rows;
    state.push_back(kStateWidth);
    ok = inputs[n_primals].shape() == state && inputs[n_primals + 1].shape() == rows;
  }
  // (the kinds with targets refuse vectors of length 0: see distance_loss)
  ok = ok && !(spec.targets() && shape[spec.axis] == 0);
  if (!ok) {
    throw std::invalid_argument(std::string(spec.function_name()) +
                                ": the inputs do not fit together (shape " + shape_str(shape) +
                                "; a shape changed under mx.compile(shapeless=True)?)");
  }
}

std::vector<mx::array> row_distance(const RowDistanceSpec& spec,
                                    const std::vector<mx::array>& inputs, mx::StreamOrDevice s) {
  auto prim = std::make_shared<RowDistance>(mx::to_stream(s), spec);
  auto shapes = prim->output_shapes(inputs);
  mx::Dtype dtype = loss_dtype(inputs[0]);
  return mx::array::make_arrays(std::move(shapes), {dtype, dtype, dtype}, prim, inputs);
}

// Outputs: loss, d loss / d target (0 for kinds without targets), state.
std::vector<mx::Shape> RowDistance::output_shapes(const std::vector<mx::array>& inputs) {
  mx::Shape rows = rows_shape(inputs[0], spec_.axis);
  mx::Shape state = rows;
  state.push_back(kStateWidth);
  return {rows, rows, state};
}

const char* RowDistance::name() const {
  return "FusedRowDistanceLoss";
}

bool RowDistance::is_equivalent(const mx::Primitive& other) const {
  return spec_ == static_cast<const RowDistance&>(other).spec_;
}

std::vector<mx::array> RowDistance::vjp(const std::vector<mx::array>& primals,
                                        const std::vector<mx::array>& cotangents,
                                        const std::vector<int>& argnums,
                                        const std::vector<mx::array>& outputs) {
  std::vector<int> wrt = vector_args(spec_, argnums);
  std::vector<mx::array> grads;
  if (!wrt.empty()) {
    grads = vector_grads(stream(), spec_, primals, outputs[2], cotangents[0], wrt);
  }
  std::vector<mx::array> out;
  size_t next = 0;
  for (int a : argnums) {
    if (next < wrt.size() && wrt[next] == a) {
      out.push_back(grads[next++]);
      continue;
    }
    // The targets: read once per row (at its first element), d loss / d t
    // saved by the forward (zero for the cosine embedding's labels).
    const auto& t = primals[a];
    auto per_row = mx::multiply(outputs[1], mx::astype(cotangents[0], t.dtype(), stream()),
                                stream());
    out.push_back(mx::multiply(first_along(t, spec_.axis, stream()),
                               mx::expand_dims(per_row, spec_.axis, stream()), stream()));
  }
  return out;
}

std::vector<mx::array> RowDistance::jvp(const std::vector<mx::array>& primals,
                                        const std::vector<mx::array>& tangents,
                                        const std::vector<int>& argnums) {
  // d loss = sum over the row of (d loss / d input) * tangent, from the VJP
  // with a unit cotangent (two passes; jvp is rarely the hot path).
  std::vector<int> wrt = vector_args(spec_, argnums);
  mx::Dtype dtype = loss_dtype(primals[0]);
  auto outs = row_distance(spec_, primals, stream());
  mx::array total = mx::zeros_like(outs[0], stream());
  std::vector<mx::array> grads;
  if (!wrt.empty()) {
    grads = vector_grads(stream(), spec_, primals, outs[2], mx::ones_like(outs[0], stream()), wrt);
  }
  for (size_t k = 0; k < argnums.size(); ++k) {
    auto tangent = mx::astype(tangents[k], dtype, stream());
    if (argnums[k] < spec_.vectors()) {
      size_t g = std::find(wrt.begin(), wrt.end(), argnums[k]) - wrt.begin();
      auto prod = mx::multiply(mx::astype(grads[g], dtype, stream()), tangent, stream());
      total = mx::add(total, mx::sum(prod, spec_.axis, false, stream()), stream());
    } else {
      auto at_first = mx::multiply(first_along(tangent, spec_.axis, stream()), tangent, stream());
      total = mx::add(total,
                      mx::multiply(outs[1], mx::sum(at_first, spec_.axis, false, stream()),
                                   stream()),
                      stream());
    }
  }
  return {total};
}

std::pair<std::vector<mx::array>, std::vector<int>> RowDistance::vmap(
    const std::vector<mx::array>& inputs, const std::vector<int>& axes) {
  // The mapped axis becomes one more leading row axis of the same primitive.
  auto batched = batch_front(stream(), inputs, axes);
  RowDistanceSpec spec = spec_;
  spec.axis += 1;
  return {row_distance(spec, batched, stream()), {0, 0, 0}};
}

std::vector<mx::Shape> RowDistanceVJP::output_shapes(const std::vector<mx::array>& inputs) {
  std::vector<mx::Shape> shapes;
  for (int i : wrt_) {
    shapes.push_back(inputs[i].shape());
  }
  return shapes;
}

const char* RowDistanceVJP::name() const {
  return "FusedRowDistanceLossVJP";
}

bool RowDistanceVJP::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const RowDistanceVJP&>(other);
  return spec_ == o.spec_ && wrt_ == o.wrt_;
}

std::pair<std::vector<mx::array>, std::vector<int>> RowDistanceVJP::vmap(
    const std::vector<mx::array>& inputs, const std::vector<int>& axes) {
  auto batched = batch_front(stream(), inputs, axes);
  RowDistanceSpec spec = spec_;
  spec.axis += 1;
  std::vector<mx::Shape> shapes;
  std::vector<mx::Dtype> dtypes;
  for (int i : wrt_) {
    shapes.push_back(batched[i].shape());
    dtypes.push_back(batched[i].dtype());
  }
  auto outs = mx::array::make_arrays(std::move(shapes), dtypes,
                                     std::make_shared<RowDistanceVJP>(stream(), spec, wrt_),
                                     batched);
  return {outs, std::vector<int>(outs.size(), 0)};
}

} // namespace mlx_fused_losses
