// Dispatch plans of the row-distance Metal kernels (kernels/row_distance/kernels.h).
#include "row_distance/metal_plan.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "common/strided.h"
#include "kernels/row_distance/args.h"

namespace mlx_fused_losses::metal {

namespace {

using loss_kernels::DistanceKind;
using loss_kernels::Norm;
using loss_kernels::RowDistanceArgs;

static_assert(sizeof(RowDistanceArgs) == 96, "RowDistanceArgs must match the Metal layout");

constexpr int64_t kReads = 4; // elements per thread per step (kDistReads in the kernels)
constexpr int64_t kMaxThreads = 1024; // looped forward: threads per row
constexpr int64_t kMaxVjpThreads = 256; // looped VJP: threads per threadgroup ...
constexpr int64_t kMaxVjpGroups = 1024; // ... and threadgroups per row
constexpr int64_t kRowsPerGroup = 8; // simd variants: rows (simdgroups) per threadgroup
constexpr int kSimd = 32;

const char* const kUsage = "fused row-distance loss (Metal): ";

// A multiple of the simdgroup width, enough for n elements read kReads at a
// time, in [32, max_threads].
size_t threads_for(int64_t n, int64_t max_threads) {
  const int64_t want = (n + kReads - 1) / kReads;
  return static_cast<size_t>(std::clamp<int64_t>((want + kSimd - 1) / kSimd * kSimd, kSimd,
                                                  max_threads));
}

const char* norm_name(Norm n) {
  switch (n) {
    case Norm::l2:
      return "l2";
    case Norm::l1:
      return "l1";
    case Norm::lp:
      return "lp";
  }
  return "unknown";
}

// What both passes share: checked dtype and strides, the constant arguments,
// the rows' collapsed shape and per-array row strides (kernels/row_distance/args.h).
struct DistanceLayout {
  int64_t n_rows;
  RowDistanceArgs args{};
  std::vector<int64_t> shape; // collapsed rows shape
  std::vector<int64_t> strides; // one run of shape.size() per DistanceArray
};

DistanceLayout distance_layout(const RowDistanceSpec& spec, const std::string& dtype,
                               const mx::Shape& shape, const std::vector<mx::Strides>& strides,
                               bool vjp) {
  if (dtype != "float32" && dtype != "float16" && dtype != "bfloat16") {
    throw std::invalid_argument(std::string(kUsage) + "dtype " + dtype +
                                " is not supported on the GPU; expected float32, float16 or "
                                "bfloat16");
  }
  const int ndim = static_cast<int>(shape.size());
  if (spec.axis < 0 || spec.axis >= ndim) {
    throw std::invalid_argument(std::string(kUsage) + "axis " + std::to_string(spec.axis) +
                                " of a shape of " + std::to_string(ndim) + " axes");
  }
  const int n_vectors = spec.vectors();
  const int n_primals = n_vectors + (spec.targets() ? 1 : 0);
  // Each input's number of axes: the primals have the inputs' shape, the
  // state rows + (3,), the cotangent rows.
  std::vector<int> ndims(n_primals, ndim);
  if (vjp) {
    ndims.push_back(ndim);
    ndims.push_back(ndim - 1);
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
  const mx::Strides absent(rows.size(), 0);
  const bool triplet = n_vectors == 3;
  DistanceLayout l;
  l.n_rows = cpu::element_count(rows);
  RowDistanceArgs& a = l.args;
  // Arrays in DistanceArray order.
  std::vector<mx::Strides> row_strides{
      cpu::drop_axis(strides[0], spec.axis), cpu::drop_axis(strides[1], spec.axis),
      triplet ? cpu::drop_axis(strides[2], spec.axis) : absent};
  a.u_stride = strides[0][spec.axis];
  a.v_stride = strides[1][spec.axis];
  a.w_stride = triplet ? strides[2][spec.axis] : 0;
  if (!vjp) {
    row_strides.push_back(spec.targets() ? cpu::drop_axis(strides[n_vectors], spec.axis)
                                         : absent);
  } else {
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
  a.n = shape[spec.axis];
  a.margin = static_cast<float>(spec.params.margin);
  a.eps = static_cast<float>(spec.params.eps);
  a.p = static_cast<float>(spec.params.p);
  a.flags = spec.params.flags;
  a.ndim = nd;
  return l;
}

std::string kernel_name(const RowDistanceSpec& spec, const char* pass, bool simd,
                        const std::string& dtype) {
  return std::string("distance_") + distance_kind_name(spec.kind) + "_" + norm_name(spec.norm()) +
      "_" + pass + (simd ? "_simd_" : "_looped_") + dtype;
}

MetalBinding input_if(bool bound, int index) {
  return bound ? MetalBinding{MetalBinding::Input, index}
               : MetalBinding{MetalBinding::Placeholder};
}

// Slots 0-2: u, v, w (a placeholder for pairs).
void bind_vectors(MetalDispatch& d, const RowDistanceSpec& spec) {
  d.buffers.push_back({MetalBinding::Input, 0});
  d.buffers.push_back({MetalBinding::Input, 1});
  d.buffers.push_back(input_if(spec.vectors() == 3, 2));
}

void bind_layout(MetalDispatch& d, const DistanceLayout& l) {
  d.buffers.push_back(bytes_of(&l.args, 1));
  d.buffers.push_back(bytes_of(l.shape.data(), l.shape.size()));
  d.buffers.push_back(bytes_of(l.strides.data(), l.strides.size()));
}

// Simd variants: kRowsPerGroup rows per threadgroup (fewer if there are fewer).
size_t simd_threads(DistanceLayout& l) {
  const int64_t rows = std::min(kRowsPerGroup, l.n_rows);
  l.args.rows_per_group = static_cast<int>(rows);
  return static_cast<size_t>(rows * kSimd);
}

size_t row_groups(const DistanceLayout& l, int64_t rows_per_group) {
  const int64_t n = (l.n_rows + rows_per_group - 1) / rows_per_group;
  if (n > std::numeric_limits<uint32_t>::max()) {
    throw std::invalid_argument(std::string(kUsage) + std::to_string(l.n_rows) +
                                " rows are more than one dispatch can take");
  }
  return static_cast<size_t>(n);
}

} // namespace

const char* distance_kind_name(DistanceKind kind) {
  switch (kind) {
    case DistanceKind::cosine_similarity:
      return "cosine_similarity";
    case DistanceKind::cosine_embedding:
      return "cosine_embedding";
    case DistanceKind::triplet:
      return "triplet";
    case DistanceKind::contrastive:
      return "contrastive";
  }
  return "unknown";
}

MetalPlan row_distance_forward_plan(const RowDistanceSpec& spec, const std::string& dtype,
                                    const mx::Shape& shape,
                                    const std::vector<mx::Strides>& strides) {
  DistanceLayout l = distance_layout(spec, dtype, shape, strides, false);
  MetalPlan plan;
  if (l.n_rows == 0) {
    return plan;
  }
  // (An empty vector axis takes the simd kernels: every row is written, with
  // sums 0.)
  const bool simd = l.args.n <= kDistanceSimdMaxLength;
  size_t threads, groups;
  if (simd) {
    threads = simd_threads(l);
    groups = row_groups(l, l.args.rows_per_group);
  } else {
    threads = threads_for(l.args.n, kMaxThreads);
    groups = row_groups(l, 1);
  }
  MetalDispatch d{kernel_name(spec, "forward", simd, dtype), {groups, 1, 1}, {threads, 1, 1}};
  bind_vectors(d, spec);
  d.buffers.push_back(input_if(spec.targets(), spec.vectors()));
  for (int k = 0; k < 3; ++k) {
    d.buffers.push_back({MetalBinding::Output, k});
  }
  bind_layout(d, l);
  plan.dispatches.push_back(std::move(d));
  return plan;
}

MetalPlan row_distance_vjp_plan(const RowDistanceSpec& spec, const std::vector<int>& wrt,
                                const std::string& dtype, const mx::Shape& shape,
                                const std::vector<mx::Strides>& strides) {
  DistanceLayout l = distance_layout(spec, dtype, shape, strides, true);
  int out[3] = {-1, -1, -1}; // the output of each vector's gradient
  for (size_t k = 0; k < wrt.size(); ++k) {
    if (wrt[k] < 0 || wrt[k] >= spec.vectors() || out[wrt[k]] >= 0) {
      throw std::invalid_argument(std::string(kUsage) + "gradient of input " +
                                  std::to_string(wrt[k]) + " requested; expected vectors 0 to " +
                                  std::to_string(spec.vectors() - 1) + ", each once");
    }
    out[wrt[k]] = static_cast<int>(k);
  }
  l.args.grad_u = out[0] >= 0;
  l.args.grad_v = out[1] >= 0;
  l.args.grad_w = out[2] >= 0;
  MetalPlan plan;
  if (l.n_rows == 0 || l.args.n == 0 || wrt.empty()) {
    return plan;
  }
  const bool simd = l.args.n <= kDistanceSimdMaxLength;
  size_t threads, groups, blocks = 1;
  if (simd) {
    threads = simd_threads(l);
    groups = row_groups(l, l.args.rows_per_group);
  } else {
    threads = threads_for(l.args.n, kMaxVjpThreads);
    groups = row_groups(l, 1);
    const int64_t per_group = static_cast<int64_t>(threads) * kReads;
    blocks = static_cast<size_t>(
        std::clamp<int64_t>((l.args.n + per_group - 1) / per_group, 1, kMaxVjpGroups));
  }
  MetalDispatch d{kernel_name(spec, "vjp", simd, dtype), {groups, blocks, 1}, {threads, 1, 1}};
  bind_vectors(d, spec);
  const int n_primals = spec.vectors() + (spec.targets() ? 1 : 0);
  d.buffers.push_back({MetalBinding::Input, n_primals}); // state
  d.buffers.push_back({MetalBinding::Input, n_primals + 1}); // cotangent
  for (int k = 0; k < 3; ++k) {
    d.buffers.push_back(out[k] >= 0 ? MetalBinding{MetalBinding::Output, out[k]}
                                    : MetalBinding{MetalBinding::Placeholder});
  }
  bind_layout(d, l);
  plan.dispatches.push_back(std::move(d));
  return plan;
}

} // namespace mlx_fused_losses::metal
