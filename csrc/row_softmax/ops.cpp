// The row-softmax family's public functions: validate the arguments, promote
// dtypes, build the graph (one RowSoftmax primitive, then O(rows) graph ops for
// per-sample weights and the reduction over rows).
#include <cmath>
#include <sstream>

#include "mlx/ops.h"

#include "common/validate.h"
#include "pointwise/primitive.h" // sum_of_products: the reduction over rows
#include "row_softmax/primitive.h"

namespace mlx_fused_losses {

namespace {

std::string int_str(int64_t v) {
  return std::to_string(v);
}

// The class axis of `arg` for `axis` (negative counts from the end).
int class_axis(const char* fn, const Arg& arg, int axis) {
  const int ndim = static_cast<int>(arg.value.ndim());
  if (ndim == 0) {
    fail(fn, "`" + std::string(arg.name) +
                 "` is a scalar; expected an array with a class axis");
  }
  if (axis < -ndim || axis >= ndim) {
    fail(fn, "`axis` is " + int_str(axis) + "; expected an axis of `" + arg.name + "` (shape " +
                 shape_str(arg.value.shape()) + "), in [" + int_str(-ndim) + ", " +
                 int_str(ndim) + ")");
  }
  const int ax = axis < 0 ? axis + ndim : axis;
  if (arg.value.shape(ax) == 0) {
    fail(fn, "`" + std::string(arg.name) + "` has shape " + shape_str(arg.value.shape()) +
                 ", with no classes along axis " + int_str(axis) +
                 "; expected at least one class");
  }
  return ax;
}

mx::Shape drop_axis(mx::Shape shape, int axis) {
  shape.erase(shape.begin() + axis);
  return shape;
}

bool is_float(mx::Dtype d) {
  return mx::issubdtype(d, mx::floating);
}

// Logits keep a float dtype (float16/bfloat16 are read as they are and
// accumulated in float32); integers and bools become float32, everything
// float64 when `wide` (float64 anywhere among the inputs).
mx::array as_logits(const mx::array& logits, bool wide, mx::StreamOrDevice s) {
  if (wide) {
    return mx::astype(logits, mx::float64, s);
  }
  return is_float(logits.dtype()) ? logits : mx::astype(logits, mx::float32, s);
}

// A distribution of the logits' shape: kept in the logits' dtype if it has it,
// else read in the loss dtype.
mx::array as_distribution(const mx::array& targets, const mx::array& logits,
                          mx::StreamOrDevice s) {
  if (targets.dtype() == logits.dtype()) {
    return targets;
  }
  return mx::astype(targets, logits.dtype() == mx::float64 ? mx::float64 : mx::float32, s);
}

bool any_float64(const std::vector<const mx::array*>& arrays) {
  for (auto* a : arrays) {
    if (a && a->dtype() == mx::float64) {
      return true;
    }
  }
  return false;
}

// Class indices of the logits' shape without the class axis, as int64.
mx::array as_indices(const char* fn, const Arg& logits, const Arg& targets, int axis,
                     mx::StreamOrDevice s) {
  const mx::Shape rows = drop_axis(logits.value.shape(), axis);
  const auto dtype = targets.value.dtype();
  if (!mx::issubdtype(dtype, mx::integer)) {
    throw TypeError(std::string(fn) + ": `" + targets.name + "` has dtype " + dtype_str(dtype) +
                    " and shape " + shape_str(targets.value.shape()) +
                    "; expected class indices (an integer dtype) of shape " + shape_str(rows));
  }
  if (targets.value.shape() != rows) {
    fail(fn, "`" + std::string(targets.name) + "` has shape " +
                 shape_str(targets.value.shape()) + "; expected class indices of shape " +
                 shape_str(rows) + " (the shape of `" + logits.name + "`, " +
                 shape_str(logits.value.shape()) + ", without axis " + int_str(axis) + ")");
  }
  return mx::astype(targets.value, mx::int64, s);
}

// Class weights (or per-class alpha): one per class, in the loss dtype.
mx::array as_class_weights(const char* fn, const Arg& w, int64_t n_classes, mx::Dtype dtype,
                           mx::StreamOrDevice s) {
  check_real(fn, w);
  const mx::Shape want{static_cast<int>(n_classes)};
  if (w.value.shape() != want) {
    fail(fn, "`" + std::string(w.name) + "` has shape " + shape_str(w.value.shape()) +
                 "; expected one value per class, shape " + shape_str(want));
  }
  return mx::astype(w.value, dtype, s);
}

mx::Dtype row_dtype(const mx::array& logits) {
  return logits.dtype() == mx::float64 ? mx::float64 : mx::float32;
}

// Per-sample weights (as mlx.nn.losses: the loss's shape), then the reduction
// over rows, accumulated exactly (sum_of_products). `rows_weight`: PyTorch's
// mean denominator per row, if it applies; `batch_of`: the array whose first
// axis BatchMean divides by, its size read at evaluation time.
mx::array reduce_rows(const char* fn, const mx::array& loss,
                      const std::optional<mx::array>& weights,
                      const std::optional<mx::array>& rows_weight, Reduction reduction,
                      const std::optional<mx::array>& batch_of, mx::StreamOrDevice s) {
  if (weights) {
    Arg w{"weights", *weights};
    check_real(fn, w);
    if (weights->shape() != loss.shape()) {
      fail(fn, "`weights` has shape " + shape_str(weights->shape()) +
                   "; expected the shape of the loss, " + shape_str(loss.shape()));
    }
  }
  const mx::array w = weights ? *weights : mx::array(1.0, loss.dtype());
  switch (reduction) {
    case Reduction::None:
      return weights ? mx::multiply(loss, w, s) : loss;
    case Reduction::Sum:
      return sum_of_products(loss, w, Reduction::Sum, s);
    case Reduction::Mean:
      if (rows_weight) {
        return mx::divide(sum_of_products(loss, w, Reduction::Sum, s),
                          sum_of_products(*rows_weight, mx::array(1.0, loss.dtype()),
                                          Reduction::Sum, s),
                          s);
      }
      return sum_of_products(loss, w, Reduction::Mean, s);
    case Reduction::BatchMean: {
      auto sum = sum_of_products(loss, w, Reduction::Sum, s);
      return mx::multiply(sum, mx::number_of_elements(*batch_of, {0}, true, sum.dtype(), s), s);
    }
  }
  return loss;
}

RowSoftmaxSpec make_spec(loss_kernels::RowKind kind, int axis, double a = 0, double b = 0,
                         int flags = 0) {
  RowSoftmaxSpec spec{};
  spec.kind = kind;
  spec.params = {a, b, 0.0, flags};
  spec.axis = axis;
  return spec;
}

void set_ignore(RowSoftmaxSpec& spec, std::optional<int64_t> ignore_index) {
  spec.has_ignore = ignore_index.has_value();
  spec.ignore_index = ignore_index.value_or(0);
}

// A loss over class-index targets: cross_entropy and nll_loss.
mx::array index_loss(const char* fn, const char* logits_name, loss_kernels::RowKind kind,
                     const mx::array& logits, const mx::array& targets,
                     const std::optional<mx::array>& weights, int axis, double label_smoothing,
                     Reduction reduction, const std::optional<mx::array>& class_weights,
                     std::optional<int64_t> ignore_index, mx::StreamOrDevice s) {
  Arg l{logits_name, logits}, t{"targets", targets};
  const int ax = class_axis(fn, l, axis);
  const int64_t n_classes = logits.shape(ax);
  auto x = as_logits(logits, any_float64({&logits, class_weights ? &*class_weights : nullptr}), s);
  std::vector<mx::array> inputs{x, as_indices(fn, l, t, ax, s)};
  auto spec = make_spec(kind, ax, 1.0 - label_smoothing, label_smoothing);
  spec.dot = label_smoothing > 0;
  set_ignore(spec, ignore_index);
  if (class_weights) {
    spec.class_weights = true;
    inputs.push_back(
        as_class_weights(fn, {"class_weights", *class_weights}, n_classes, row_dtype(x), s));
  }
  auto out = row_softmax(spec, inputs, s);
  std::optional<mx::array> denominator;
  if (class_weights || ignore_index) {
    denominator = out[1];
  }
  return reduce_rows(fn, out[0], weights, denominator, reduction, std::nullopt, s);
}

mx::array normalized(const mx::array& x, bool normalize, mx::StreamOrDevice s) {
  if (!normalize) {
    return x;
  }
  // x / max(||x||, 1e-12), as torch.nn.functional.normalize.
  auto norm = mx::sqrt(mx::sum(mx::square(x, s), -1, true, s), s);
  return mx::divide(x, mx::maximum(norm, mx::array(1e-12f, x.dtype()), s), s);
}

// (N, D) embeddings of one floating dtype.
void check_embeddings(const char* fn, const Arg& a, const Arg& b, bool same_rows) {
  check_real(fn, a);
  check_real(fn, b);
  for (const Arg* e : {&a, &b}) {
    if (e->value.ndim() != 2) {
      fail(fn, "`" + std::string(e->name) + "` has shape " + shape_str(e->value.shape()) +
                   "; expected (N, D) embeddings");
    }
  }
  if (same_rows ? a.value.shape() != b.value.shape() : a.value.shape(1) != b.value.shape(1)) {
    fail(fn, "`" + std::string(b.name) + "` has shape " + shape_str(b.value.shape()) +
                 "; expected " + (same_rows ? "the shape of `" : "the embedding size of `") +
                 a.name + "`, " + shape_str(a.value.shape()));
  }
  if (a.value.shape(0) == 0) {
    fail(fn, "`" + std::string(a.name) + "` has shape " + shape_str(a.value.shape()) +
                 "; expected at least one embedding (N >= 1)");
  }
}

mx::array float_embeddings(const mx::array& e, mx::Dtype dtype, mx::StreamOrDevice s) {
  return mx::astype(e, dtype, s);
}

mx::Dtype embedding_dtype(const mx::array& a, const mx::array& b) {
  mx::Dtype d = mx::promote_types(a.dtype(), b.dtype());
  return is_float(d) ? d : mx::float32;
}

// A 0 (int32) for each row of (N, D) `x`, and 0, 1, ..., N - 1, from ops whose
// shapes follow x's at evaluation time (an arange's length is fixed when the
// graph is built, and a shapeless-compiled graph would then read past the
// targets' end).
mx::array row_zeros(const mx::array& x, mx::StreamOrDevice s) {
  return mx::sum(mx::zeros_like(x, mx::int32, s), -1, false, s);
}
mx::array row_positions(const mx::array& x, mx::StreamOrDevice s) {
  return mx::subtract(mx::cumsum(mx::add(row_zeros(x, s), mx::array(1), s), 0, false, true, s),
                      mx::array(1), s);
}

} // namespace

mx::array cross_entropy(const mx::array& logits, const mx::array& targets,
                        const std::optional<mx::array>& weights, int axis,
                        double label_smoothing, Reduction reduction,
                        const std::optional<mx::array>& class_weights,
                        std::optional<int64_t> ignore_index, mx::StreamOrDevice s) {
  const char* fn = "cross_entropy";
  check_reduction(fn, reduction);
  check_param(fn, "label_smoothing", label_smoothing, label_smoothing >= 0 && label_smoothing < 1,
              "a number in [0, 1)");
  Arg l{"logits", logits}, t{"targets", targets};
  check_real(fn, l);
  // As MLX: targets with the logits' rank are probabilities, else class indices.
  if (targets.ndim() != logits.ndim()) {
    return index_loss(fn, "logits", loss_kernels::RowKind::cross_entropy, logits, targets, weights,
                      axis,
                      label_smoothing, reduction, class_weights, ignore_index, s);
  }
  check_real(fn, t);
  check_same_shape(fn, l, t);
  if (ignore_index) {
    fail(fn, "`ignore_index` is " + int_str(*ignore_index) +
                 " with probability targets; expected None (it applies to class indices only)");
  }
  const int ax = class_axis(fn, l, axis);
  const int64_t n_classes = logits.shape(ax);
  auto x = as_logits(
      logits, any_float64({&logits, &targets, class_weights ? &*class_weights : nullptr}), s);
  // Without class weights MLX's loss (target mass taken as 1), with them PyTorch's.
  auto spec = make_spec(loss_kernels::RowKind::cross_entropy_probs, ax, 1.0 - label_smoothing,
                        label_smoothing, class_weights ? 0 : loss_kernels::kUnitMass);
  spec.dot = true;
  std::vector<mx::array> inputs{x, as_distribution(targets, x, s)};
  if (class_weights) {
    spec.class_weights = true;
    inputs.push_back(
        as_class_weights(fn, {"class_weights", *class_weights}, n_classes, row_dtype(x), s));
  }
  auto out = row_softmax(spec, inputs, s);
  return reduce_rows(fn, out[0], weights, std::nullopt, reduction, std::nullopt, s);
}

mx::array nll_loss(const mx::array& inputs, const mx::array& targets, int axis,
                   Reduction reduction, const std::optional<mx::array>& class_weights,
                   std::optional<int64_t> ignore_index, mx::StreamOrDevice s) {
  const char* fn = "nll_loss";
  check_reduction(fn, reduction);
  check_real(fn, {"inputs", inputs});
  return index_loss(fn, "inputs", loss_kernels::RowKind::nll, inputs, targets, std::nullopt, axis,
                    0.0,
                    reduction, class_weights, ignore_index, s);
}

mx::array kl_div_loss(const mx::array& inputs, const mx::array& targets, int axis,
                      Reduction reduction, bool log_target, mx::StreamOrDevice s) {
  const char* fn = "kl_div_loss";
  check_reduction(fn, reduction, true);
  Arg i{"inputs", inputs}, t{"targets", targets};
  check_real(fn, i);
  check_real(fn, t);
  // Broadcast as MLX's elementwise formula does (stride 0, no copy).
  broadcast_shape(fn, {i, t}); // the error names the arguments
  auto logits = as_logits(inputs, any_float64({&inputs, &targets}), s);
  auto both = mx::broadcast_arrays({logits, as_distribution(targets, logits, s)}, s);
  const auto& x = both[0];
  const auto& p = both[1];
  const int ax = class_axis(fn, {"inputs", x}, axis);
  auto spec =
      make_spec(loss_kernels::RowKind::kl_div, ax, 0, 0, log_target ? loss_kernels::kLogTarget : 0);
  spec.dot = true;
  auto out = row_softmax(spec, {x, p}, s);
  return reduce_rows(fn, out[0], std::nullopt, std::nullopt, reduction, inputs, s);
}

mx::array softmax_focal_loss(const mx::array& logits, const mx::array& targets,
                             const std::optional<mx::array>& alpha, double gamma, int axis,
                             Reduction reduction, mx::StreamOrDevice s) {
  const char* fn = "softmax_focal_loss";
  check_reduction(fn, reduction);
  check_param(fn, "gamma", gamma, gamma >= 0 && std::isfinite(gamma), "a finite number >= 0");
  Arg l{"logits", logits}, t{"targets", targets};
  check_real(fn, l);
  const int ax = class_axis(fn, l, axis);
  auto x = as_logits(logits, any_float64({&logits, alpha ? &*alpha : nullptr}), s);
  std::vector<mx::array> inputs{x, as_indices(fn, l, t, ax, s)};
  auto spec = make_spec(loss_kernels::RowKind::softmax_focal, ax, gamma);
  // A scalar alpha scales the loss; per-class alphas are the kind's class weights.
  const bool scalar_alpha = alpha && alpha->ndim() == 0;
  if (alpha && !scalar_alpha) {
    spec.class_weights = true;
    inputs.push_back(as_class_weights(fn, {"alpha", *alpha}, logits.shape(ax), row_dtype(x), s));
  }
  auto loss = row_softmax(spec, inputs, s)[0];
  if (scalar_alpha) {
    check_real(fn, {"alpha", *alpha});
    loss = mx::multiply(loss, mx::astype(*alpha, loss.dtype(), s), s);
  }
  return reduce_rows(fn, loss, std::nullopt, std::nullopt, reduction, std::nullopt, s);
}

mx::array info_nce_loss(const mx::array& query, const mx::array& keys, double temperature,
                        Reduction reduction, const std::optional<mx::array>& negative_keys,
                        bool normalize, mx::StreamOrDevice s) {
  const char* fn = "info_nce_loss";
  check_reduction(fn, reduction);
  check_param(fn, "temperature", temperature, temperature > 0 && std::isfinite(temperature),
              "a finite number > 0");
  Arg q{"query", query}, k{"keys", keys};
  check_embeddings(fn, q, k, true);
  mx::Dtype dtype = embedding_dtype(query, keys);
  if (negative_keys) {
    check_embeddings(fn, q, {"negative_keys", *negative_keys}, false);
    dtype = mx::promote_types(dtype, negative_keys->dtype());
  }
  auto qn = normalized(float_embeddings(query, dtype, s), normalize, s);
  auto kn = normalized(float_embeddings(keys, dtype, s), normalize, s);
  const auto scale = mx::array(1.0 / temperature, dtype);
  if (negative_keys) {
    // Each query's own positive in column 0, then the shared negatives. (The
    // concatenation's gradient is a slice: MLX cannot shape it under
    // shapeless compilation, and says so.)
    auto nk = normalized(float_embeddings(*negative_keys, dtype, s), normalize, s);
    auto pos = mx::sum(mx::multiply(qn, kn, s), -1, true, s);
    auto logits = mx::concatenate({pos, mx::matmul(qn, mx::transpose(nk, s), s)}, 1, s);
    return cross_entropy(mx::multiply(logits, scale, s), row_zeros(query, s), std::nullopt, -1, 0.0,
                         reduction, std::nullopt, std::nullopt, s);
  }
  auto logits = mx::multiply(mx::matmul(qn, mx::transpose(kn, s), s), scale, s);
  return cross_entropy(logits, row_positions(query, s), std::nullopt, -1, 0.0, reduction,
                       std::nullopt, std::nullopt, s);
}

mx::array nt_xent_loss(const mx::array& z1, const mx::array& z2, double temperature,
                       Reduction reduction, mx::StreamOrDevice s) {
  const char* fn = "nt_xent_loss";
  check_reduction(fn, reduction);
  check_param(fn, "temperature", temperature, temperature > 0 && std::isfinite(temperature),
              "a finite number > 0");
  check_embeddings(fn, {"z1", z1}, {"z2", z2}, true);
  const mx::Dtype dtype = embedding_dtype(z1, z2);
  // (Concatenated: its gradient is a slice, which MLX cannot shape under
  // shapeless compilation, and says so; the forward compiles shapelessly.)
  auto z = normalized(
      mx::concatenate({float_embeddings(z1, dtype, s), float_embeddings(z2, dtype, s)}, 0, s),
      true, s);
  auto sim = mx::multiply(mx::matmul(z, mx::transpose(z, s), s),
                          mx::array(1.0 / temperature, dtype), s);
  // View positions and N from the arrays at evaluation time (shapeless compilation).
  auto view = row_positions(z, s);
  auto n = mx::number_of_elements(z1, {0}, false, mx::int32, s);
  // A view is not its own negative: -inf on the diagonal (exp(-inf) = 0).
  auto self = mx::equal(mx::expand_dims(view, 1, s), mx::expand_dims(view, 0, s), s);
  sim = mx::where(self, mx::array(-std::numeric_limits<float>::infinity(), dtype), sim, s);
  // View i's positive is view i + N and vice versa.
  auto targets =
      mx::where(mx::less(view, n, s), mx::add(view, n, s), mx::subtract(view, n, s), s);
  return cross_entropy(sim, targets, std::nullopt, -1, 0.0, reduction, std::nullopt,
                       std::nullopt, s);
}

namespace {

// The CLIP loss of logits = similarities * inv_temperature, with
// inv_temperature(dtype) giving the scale in the embeddings' dtype.
template <typename Scale>
mx::array clip(const mx::array& image_embeds, const mx::array& text_embeds, Scale&& inv_temperature,
               Reduction reduction, bool normalize, mx::StreamOrDevice s) {
  const char* fn = "clip_loss";
  const mx::Dtype dtype = embedding_dtype(image_embeds, text_embeds);
  auto i = normalized(float_embeddings(image_embeds, dtype, s), normalize, s);
  auto t = normalized(float_embeddings(text_embeds, dtype, s), normalize, s);
  auto logits = mx::multiply(mx::matmul(i, mx::transpose(t, s), s), inv_temperature(dtype), s);
  auto targets = row_positions(image_embeds, s);
  // Image i's text is text i (rows) and text j's image is image j (columns:
  // axis 0, read in place without a transpose).
  auto per_image = cross_entropy(logits, targets, std::nullopt, -1, 0.0, Reduction::None,
                                 std::nullopt, std::nullopt, s);
  auto per_text = cross_entropy(logits, targets, std::nullopt, 0, 0.0, Reduction::None,
                                std::nullopt, std::nullopt, s);
  auto loss = mx::multiply(mx::add(per_image, per_text, s), mx::array(0.5f), s);
  return reduce_rows(fn, loss, std::nullopt, std::nullopt, reduction, std::nullopt, s);
}

void check_clip(const mx::array& image_embeds, const mx::array& text_embeds,
                Reduction reduction) {
  check_reduction("clip_loss", reduction);
  check_embeddings("clip_loss", {"image_embeds", image_embeds}, {"text_embeds", text_embeds},
                   true);
}

} // namespace

mx::array clip_loss(const mx::array& image_embeds, const mx::array& text_embeds,
                    double temperature, Reduction reduction, bool normalize,
                    mx::StreamOrDevice s) {
  check_clip(image_embeds, text_embeds, reduction);
  check_param("clip_loss", "temperature", temperature,
              temperature > 0 && std::isfinite(temperature), "a finite number > 0");
  auto scale = [&](mx::Dtype dtype) { return mx::array(1.0 / temperature, dtype); };
  return clip(image_embeds, text_embeds, scale, reduction, normalize, s);
}

mx::array clip_loss(const mx::array& image_embeds, const mx::array& text_embeds,
                    const mx::array& temperature, Reduction reduction, bool normalize,
                    mx::StreamOrDevice s) {
  check_clip(image_embeds, text_embeds, reduction);
  Arg tau{"temperature", temperature};
  check_real("clip_loss", tau);
  if (temperature.size() != 1) {
    fail("clip_loss", "`temperature` has shape " + shape_str(temperature.shape()) +
                          "; expected a scalar");
  }
  auto scale = [&](mx::Dtype dtype) {
    return mx::reciprocal(mx::astype(mx::reshape(temperature, {}, s), dtype, s), s);
  };
  return clip(image_embeds, text_embeds, scale, reduction, normalize, s);
}

} // namespace mlx_fused_losses
