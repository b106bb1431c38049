// The row-distance family's public functions: validate the arguments, promote
// and broadcast the inputs, build the graph (one RowDistance primitive, then
// the reduction over rows).
#include <cmath>
#include <numeric>

#include "mlx/ops.h"

#include "common/validate.h"
#include "pointwise/primitive.h" // sum_of_products: the reduction over rows
#include "row_distance/primitive.h"

namespace mlx_fused_losses {

namespace {

using loss_kernels::DistanceKind;

struct Params {
  double margin = 0;
  double eps = 0;
  double p = 2;
  bool swap = false;
};

// The vector axis of inputs of broadcast rank `ndim`.
int vector_axis(const char* fn, const std::vector<Arg>& vectors, const mx::Shape& shape,
                int axis) {
  const int ndim = static_cast<int>(shape.size());
  if (ndim == 0) {
    fail(fn, "`" + std::string(vectors[0].name) + "` is a scalar; expected arrays with a vector axis");
  }
  if (axis < -ndim || axis >= ndim) {
    fail(fn, "`axis` is " + std::to_string(axis) + "; expected an axis of the inputs (shape " +
                 shape_str(shape) + "), in [" + std::to_string(-ndim) + ", " +
                 std::to_string(ndim) + ")");
  }
  return axis < 0 ? axis + ndim : axis;
}

// The loss of `vectors` (and per-row `targets`) along `axis`, reduced.
mx::array distance_loss(const char* fn, DistanceKind kind, std::vector<Arg> vectors,
                        const std::optional<Arg>& targets, int axis, const Params& prm,
                        Reduction reduction, mx::StreamOrDevice s) {
  for (const auto& v : vectors) {
    check_real(fn, v);
  }
  check_reduction(fn, reduction);
  check_param(fn, "eps", prm.eps, prm.eps >= 0 && std::isfinite(prm.eps), "a finite number >= 0");
  check_param(fn, "margin", prm.margin, std::isfinite(prm.margin), "a finite number");
  if (!loss_kernels::is_cosine(kind)) {
    check_param(fn, "p", prm.p, prm.p >= 1 && std::isfinite(prm.p), "a finite number >= 1");
  }
  const mx::Dtype dtype = loss_dtype(vectors);
  const mx::Shape shape = broadcast_shape(fn, vectors);
  const int ax = vector_axis(fn, vectors, shape, axis);
  const mx::Dtype acc = dtype == mx::float64 ? mx::float64 : mx::float32;
  if (targets && shape[ax] == 0) {
    // (the targets are read, and their gradient written, along the vectors)
    fail(fn, "the vectors have shape " + shape_str(shape) + ", of length 0 along axis " +
                 std::to_string(axis) + "; expected vectors of length >= 1");
  }

  std::vector<mx::array> inputs;
  for (const auto& v : vectors) {
    inputs.push_back(mx::astype(v.value, dtype, s));
  }
  if (targets) {
    check_real(fn, *targets);
    mx::Shape rows = shape;
    rows.erase(rows.begin() + ax);
    const auto& t = targets->value;
    bool fits = t.ndim() <= rows.size();
    try {
      fits = fits && mx::broadcast_shapes(rows, t.shape()) == rows;
    } catch (const std::invalid_argument&) {
      fits = false;
    }
    if (!fits) {
      fail(fn, "`" + std::string(targets->name) + "` has shape " + shape_str(t.shape()) +
                   "; expected a shape that broadcasts to the loss's, " + shape_str(rows));
    }
    // To the inputs' rank, then constant along the vector axis: broadcast with
    // the vectors (shaped at evaluation, for shapeless compilation).
    std::vector<int> leading(rows.size() - t.ndim());
    std::iota(leading.begin(), leading.end(), 0);
    auto expanded = leading.empty() ? t : mx::expand_dims(t, leading, s);
    inputs.push_back(mx::expand_dims(mx::astype(expanded, acc, s), ax, s));
  }
  inputs = mx::broadcast_arrays(inputs, s);

  RowDistanceSpec spec{};
  spec.kind = kind;
  spec.params = {prm.margin, prm.eps, prm.p, prm.swap ? loss_kernels::kSwap : 0};
  spec.axis = ax;
  auto loss = row_distance(spec, inputs, s)[0];
  if (reduction != Reduction::None) {
    loss = sum_of_products(loss, mx::array(1.0, loss.dtype()), reduction, s);
  }
  return mx::astype(loss, dtype, s);
}

} // namespace

mx::array cosine_similarity_loss(const mx::array& x1, const mx::array& x2, int axis, double eps,
                                 Reduction reduction, mx::StreamOrDevice s) {
  Params prm;
  prm.eps = eps;
  return distance_loss("cosine_similarity_loss", DistanceKind::cosine_similarity,
                       {{"x1", x1}, {"x2", x2}}, std::nullopt, axis, prm, reduction, s);
}

mx::array triplet_loss(const mx::array& anchors, const mx::array& positives,
                       const mx::array& negatives, int axis, double p, double margin, double eps,
                       Reduction reduction, bool swap, mx::StreamOrDevice s) {
  Params prm{margin, eps, p, swap};
  return distance_loss("triplet_loss", DistanceKind::triplet,
                       {{"anchors", anchors}, {"positives", positives}, {"negatives", negatives}},
                       std::nullopt, axis, prm, reduction, s);
}

mx::array contrastive_loss(const mx::array& x1, const mx::array& x2, const mx::array& targets,
                           double margin, int axis, double p, double eps, Reduction reduction,
                           mx::StreamOrDevice s) {
  Params prm{margin, eps, p, false};
  return distance_loss("contrastive_loss", DistanceKind::contrastive, {{"x1", x1}, {"x2", x2}},
                       Arg{"targets", targets}, axis, prm, reduction, s);
}

mx::array cosine_embedding_loss(const mx::array& x1, const mx::array& x2,
                                const mx::array& targets, double margin, int axis, double eps,
                                Reduction reduction, mx::StreamOrDevice s) {
  Params prm;
  prm.margin = margin;
  prm.eps = eps;
  return distance_loss("cosine_embedding_loss", DistanceKind::cosine_embedding,
                       {{"x1", x1}, {"x2", x2}}, Arg{"targets", targets}, axis, prm, reduction,
                       s);
}

} // namespace mlx_fused_losses
