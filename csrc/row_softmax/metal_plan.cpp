// Dispatch plans of the row-softmax Metal kernels (kernels/row_softmax/kernels.h).
#include "row_softmax/metal_plan.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "common/strided.h"
#include "kernels/row_softmax/args.h"

namespace mlx_fused_losses::metal {

namespace {

using loss_kernels::RowSoftmaxArgs;

static_assert(sizeof(RowSoftmaxArgs) == 112, "RowSoftmaxArgs must match the Metal layout");

constexpr int64_t kReads = 4; // classes per thread per step (kRowReads in the kernels)
constexpr int64_t kMaxThreads = 1024; // looped forward: threads per row
constexpr int64_t kMaxVjpThreads = 256; // looped VJP: threads per threadgroup ...
constexpr int64_t kMaxVjpGroups = 1024; // ... and threadgroups per row
constexpr int64_t kRowsPerGroup = 8; // simd variants: rows (simdgroups) per threadgroup
constexpr int kSimd = 32;

// Buffer slots shared by both passes (kernels/row_softmax/kernels.h).
enum Slot : int { kX = 0, kIdx = 1, kT = 2, kTf = 3, kW = 4 };

// A multiple of the simdgroup width, enough for n classes read kReads at a
// time, in [32, max_threads].
size_t threads_for(int64_t n, int64_t max_threads) {
  const int64_t want = (n + kReads - 1) / kReads;
  return static_cast<size_t>(std::clamp<int64_t>((want + kSimd - 1) / kSimd * kSimd, kSimd,
                                                  max_threads));
}

const char* const kUsage = "fused row-softmax loss (Metal): ";

// What both passes share: checked dtypes and strides, the constant arguments,
// the rows' collapsed shape and per-array row strides.
struct RowLayout {
  bool index;
  bool wide;
  int64_t n_rows;
  RowSoftmaxArgs args{};
  std::vector<int64_t> shape; // collapsed rows shape
  std::vector<int64_t> strides; // n_arrays runs of shape.size()
};

RowLayout row_layout(const RowSoftmaxSpec& spec, const std::string& dtype,
                     const std::string& targets_dtype, const mx::Shape& shape,
                     const std::vector<mx::Strides>& strides, bool vjp) {
  if (dtype != "float32" && dtype != "float16" && dtype != "bfloat16") {
    throw std::invalid_argument(std::string(kUsage) + "logits dtype " + dtype +
                                " is not supported on the GPU; expected float32, float16 or "
                                "bfloat16");
  }
  RowLayout l;
  l.index = spec.index_targets();
  if (l.index ? targets_dtype != "int64"
              : targets_dtype != dtype && targets_dtype != "float32") {
    throw std::invalid_argument(std::string(kUsage) + "targets dtype " + targets_dtype +
                                "; expected " +
                                (l.index ? std::string("int64 class indices")
                                         : dtype + " or float32"));
  }
  l.wide = !l.index && targets_dtype != dtype;
  const int ndim = static_cast<int>(shape.size());
  if (spec.axis < 0 || spec.axis >= ndim) {
    throw std::invalid_argument(std::string(kUsage) + "axis " + std::to_string(spec.axis) +
                                " of a shape of " + std::to_string(ndim) + " axes");
  }
  // Each input's number of axes.
  std::vector<int> ndims{ndim, l.index ? ndim - 1 : ndim};
  if (spec.class_weights) {
    ndims.push_back(1);
  }
  if (vjp) {
    ndims.push_back(ndim); // state: rows + (4,)
    ndims.push_back(ndim - 1); // cotangent: rows
  }
  if (strides.size() != ndims.size()) {
    throw std::invalid_argument(std::string(kUsage) + "got the strides of " +
                                std::to_string(strides.size()) + " inputs; expected " +
                                std::to_string(ndims.size()));
  }
  for (size_t k = 0; k < ndims.size(); ++k) {
    if (static_cast<int>(strides[k].size()) != ndims[k]) {
      throw std::invalid_argument(std::string(kUsage) + "input " + std::to_string(k) + " has " +
                                  std::to_string(strides[k].size()) + " strides; expected " +
                                  std::to_string(ndims[k]));
    }
  }

  const mx::Shape rows = cpu::drop_axis(shape, spec.axis);
  const int64_t n_classes = shape[spec.axis];
  l.n_rows = cpu::element_count(rows);
  std::vector<mx::Strides> row_strides{
      cpu::drop_axis(strides[0], spec.axis),
      l.index ? strides[1] : cpu::drop_axis(strides[1], spec.axis)};
  RowSoftmaxArgs& a = l.args;
  a.x_stride = strides[0][spec.axis];
  a.t_stride = l.index ? 0 : strides[1][spec.axis];
  a.w_stride = spec.class_weights ? strides[2][0] : 0;
  if (vjp) {
    const int n_primals = spec.class_weights ? 3 : 2;
    const auto& state = strides[n_primals];
    row_strides.push_back(cpu::drop_axis(state, ndim - 1));
    row_strides.push_back(strides[n_primals + 1]);
    // The gradients are row-major.
    mx::Strides grad(ndim, 1);
    for (int ax = ndim - 2; ax >= 0; --ax) {
      grad[ax] = grad[ax + 1] * shape[ax + 1];
    }
    a.state_stride = state[ndim - 1];
    a.grad_stride = grad[spec.axis];
    row_strides.push_back(cpu::drop_axis(grad, spec.axis));
  }
  const auto layout = cpu::make_layout(rows, row_strides);
  const int nd = static_cast<int>(layout.shape.size());
  l.shape.assign(layout.shape.begin(), layout.shape.end());
  l.strides.assign(row_strides.size() * nd, 0);
  for (size_t k = 0; k < row_strides.size(); ++k) {
    for (int ax = 0; ax < nd; ++ax) {
      l.strides[k * nd + ax] = layout.strides[ax][k];
    }
  }
  a.n_rows = l.n_rows;
  a.n_classes = n_classes;
  a.ignore_index = spec.has_ignore ? spec.ignore_index : 0;
  const auto params = spec.kernel_params(n_classes);
  a.a = static_cast<float>(params.a);
  a.b = static_cast<float>(params.b);
  a.c = static_cast<float>(params.c);
  a.flags = params.flags;
  a.ndim = nd;
  a.has_ignore = spec.has_ignore;
  a.class_weights = spec.class_weights;
  a.dot = spec.dot;
  a.wide_targets = l.wide;
  return l;
}

std::string kernel_name(const RowSoftmaxSpec& spec, const char* pass, bool simd,
                        const std::string& dtype) {
  return std::string("row_") + spec.loss_name() + "_" + pass + (simd ? "_simd_" : "_looped_") +
      dtype;
}

// Slots 0-4: logits, targets as indices / in T / in float, class weights.
void bind_primals(MetalDispatch& d, const RowLayout& l, bool class_weights) {
  auto input_if = [](bool bound, int index) {
    return bound ? MetalBinding{MetalBinding::Input, index}
                 : MetalBinding{MetalBinding::Placeholder};
  };
  d.buffers.push_back({MetalBinding::Input, 0});
  d.buffers.push_back(input_if(l.index, 1));
  d.buffers.push_back(input_if(!l.index && !l.wide, 1));
  d.buffers.push_back(input_if(!l.index && l.wide, 1));
  d.buffers.push_back(input_if(class_weights, 2));
}

void bind_layout(MetalDispatch& d, const RowLayout& l) {
  d.buffers.push_back(bytes_of(&l.args, 1));
  d.buffers.push_back(bytes_of(l.shape.data(), l.shape.size()));
  d.buffers.push_back(bytes_of(l.strides.data(), l.strides.size()));
}

// Simd variants: kRowsPerGroup rows per threadgroup (fewer if there are fewer).
size_t simd_threads(RowLayout& l) {
  const int64_t rows = std::min(kRowsPerGroup, l.n_rows);
  l.args.rows_per_group = static_cast<int>(rows);
  return static_cast<size_t>(rows * kSimd);
}

size_t row_groups(const RowLayout& l, int64_t rows_per_group) {
  const int64_t n = (l.n_rows + rows_per_group - 1) / rows_per_group;
  if (n > std::numeric_limits<uint32_t>::max()) {
    throw std::invalid_argument(std::string(kUsage) + std::to_string(l.n_rows) +
                                " rows are more than one dispatch can take");
  }
  return static_cast<size_t>(n);
}

} // namespace

MetalPlan row_softmax_forward_plan(const RowSoftmaxSpec& spec, const std::string& dtype,
                                   const std::string& targets_dtype, const mx::Shape& shape,
                                   const std::vector<mx::Strides>& strides) {
  RowLayout l = row_layout(spec, dtype, targets_dtype, shape, strides, false);
  MetalPlan plan;
  if (l.n_rows == 0) {
    return plan;
  }
  const bool simd = l.args.n_classes <= kRowSimdMaxClasses;
  size_t threads, groups;
  if (simd) {
    threads = simd_threads(l);
    groups = row_groups(l, l.args.rows_per_group);
  } else {
    threads = threads_for(l.args.n_classes, kMaxThreads);
    groups = row_groups(l, 1);
  }
  MetalDispatch d{kernel_name(spec, "forward", simd, dtype), {groups, 1, 1}, {threads, 1, 1}};
  bind_primals(d, l, spec.class_weights);
  for (int k = 0; k < 3; ++k) {
    d.buffers.push_back({MetalBinding::Output, k});
  }
  bind_layout(d, l);
  plan.dispatches.push_back(std::move(d));
  return plan;
}

MetalPlan row_softmax_vjp_plan(const RowSoftmaxSpec& spec, const std::vector<int>& wrt,
                               const std::string& dtype, const std::string& targets_dtype,
                               const mx::Shape& shape, const std::vector<mx::Strides>& strides) {
  RowLayout l = row_layout(spec, dtype, targets_dtype, shape, strides, true);
  int out_x = -1, out_t = -1;
  for (size_t k = 0; k < wrt.size(); ++k) {
    if (wrt[k] == 0 && out_x < 0) {
      out_x = static_cast<int>(k);
    } else if (wrt[k] == 1 && !l.index && out_t < 0) {
      out_t = static_cast<int>(k);
    } else {
      throw std::invalid_argument(std::string(kUsage) + "gradient of input " +
                                  std::to_string(wrt[k]) +
                                  " requested; expected the logits (0) and, for distribution "
                                  "targets, the targets (1), each once");
    }
  }
  l.args.grad_x = out_x >= 0;
  l.args.grad_t = out_t >= 0;
  MetalPlan plan;
  if (l.n_rows == 0 || l.args.n_classes == 0 || wrt.empty()) {
    return plan;
  }
  const bool simd = l.args.n_classes <= kRowSimdMaxClasses;
  size_t threads, groups, blocks = 1;
  if (simd) {
    threads = simd_threads(l);
    groups = row_groups(l, l.args.rows_per_group);
  } else {
    threads = threads_for(l.args.n_classes, kMaxVjpThreads);
    groups = row_groups(l, 1);
    const int64_t per_group = static_cast<int64_t>(threads) * kReads;
    blocks = static_cast<size_t>(
        std::clamp<int64_t>((l.args.n_classes + per_group - 1) / per_group, 1, kMaxVjpGroups));
  }
  MetalDispatch d{kernel_name(spec, "vjp", simd, dtype), {groups, blocks, 1}, {threads, 1, 1}};
  bind_primals(d, l, spec.class_weights);
  const int n_primals = spec.class_weights ? 3 : 2;
  d.buffers.push_back({MetalBinding::Input, n_primals}); // state
  d.buffers.push_back({MetalBinding::Input, n_primals + 1}); // cotangent
  auto output_if = [](int k) {
    return k >= 0 ? MetalBinding{MetalBinding::Output, k} : MetalBinding{MetalBinding::Placeholder};
  };
  d.buffers.push_back(output_if(out_x));
  d.buffers.push_back(output_if(l.wide ? -1 : out_t));
  d.buffers.push_back(output_if(l.wide ? out_t : -1));
  bind_layout(d, l);
  plan.dispatches.push_back(std::move(d));
  return plan;
}

} // namespace mlx_fused_losses::metal
