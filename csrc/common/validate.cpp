// Argument checks shared by every family's ops (see validate.h).
#include "common/validate.h"

#include <cmath>
#include <sstream>

#include "mlx/ops.h"

namespace mlx_fused_losses {

Reduction parse_reduction(const std::string& reduction) {
  if (reduction == "none") {
    return Reduction::None;
  }
  if (reduction == "mean") {
    return Reduction::Mean;
  }
  if (reduction == "sum") {
    return Reduction::Sum;
  }
  if (reduction == "batchmean") {
    return Reduction::BatchMean; // kl_div_loss only; the others reject it
  }
  throw std::invalid_argument("`reduction` is '" + reduction +
                              "'; expected one of 'none', 'mean', 'sum'");
}

std::string shape_str(const mx::Shape& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    os << (i ? ", " : "") << shape[i];
  }
  os << (shape.size() == 1 ? ",)" : ")");
  return os.str();
}

std::string dtype_str(mx::Dtype dtype) {
  std::ostringstream os;
  os << dtype; // "mlx.core.float32"
  auto s = os.str();
  auto dot = s.rfind('.');
  return dot == std::string::npos ? s : s.substr(dot + 1);
}

[[noreturn]] void fail(const char* fn, const std::string& message) {
  throw std::invalid_argument(std::string(fn) + ": " + message);
}

void check_real(const char* fn, const Arg& arg) {
  if (mx::issubdtype(arg.value.dtype(), mx::complexfloating)) {
    throw TypeError(std::string(fn) + ": `" + arg.name + "` has dtype " +
                    dtype_str(arg.value.dtype()) +
                    "; expected a real dtype (floating, integer or bool)");
  }
}

void check_same_shape(const char* fn, const Arg& a, const Arg& b) {
  if (a.value.shape() != b.value.shape()) {
    fail(fn, "`" + std::string(b.name) + "` has shape " + shape_str(b.value.shape()) +
                 "; expected the shape of `" + a.name + "`, " + shape_str(a.value.shape()));
  }
}

mx::Shape broadcast_shape(const char* fn, const std::vector<Arg>& args) {
  mx::Shape shape = args[0].value.shape();
  for (size_t i = 1; i < args.size(); ++i) {
    try {
      shape = mx::broadcast_shapes(shape, args[i].value.shape());
    } catch (const std::invalid_argument&) {
      std::string names, shapes;
      for (size_t j = 0; j <= i; ++j) {
        names += std::string(j ? ", `" : "`") + args[j].name + "`";
        shapes += (j ? ", " : "") + shape_str(args[j].value.shape());
      }
      fail(fn, "shapes of " + names + " are " + shapes + "; expected broadcastable shapes");
    }
  }
  return shape;
}

void check_param(const char* fn, const char* name, double value, bool ok, const char* expected) {
  if (!ok || std::isnan(value)) {
    std::ostringstream os;
    os << "`" << name << "` is " << value << "; expected " << expected;
    fail(fn, os.str());
  }
}

void check_reduction(const char* fn, Reduction reduction, bool batchmean_ok) {
  if (reduction == Reduction::BatchMean && !batchmean_ok) {
    fail(fn, "`reduction` is 'batchmean'; expected one of 'none', 'mean', 'sum'");
  }
}

mx::Dtype loss_dtype(const std::vector<Arg>& args) {
  mx::Dtype dtype = args[0].value.dtype();
  for (size_t i = 1; i < args.size(); ++i) {
    dtype = mx::promote_types(dtype, args[i].value.dtype());
  }
  return mx::issubdtype(dtype, mx::floating) ? dtype : mx::float32;
}

} // namespace mlx_fused_losses
