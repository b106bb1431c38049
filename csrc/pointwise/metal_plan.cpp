// Dispatch plans of the pointwise Metal kernels (kernels/pointwise/kernels.h).
#include "pointwise/metal_plan.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "common/strided.h"
#include "kernels/pointwise/args.h"

namespace mlx_fused_losses::metal {

namespace {

using loss_kernels::PointwiseArgs;

static_assert(sizeof(PointwiseArgs) == 80, "PointwiseArgs must match the Metal layout");

constexpr int64_t kMaxThreads = 256; // threads per threadgroup
constexpr int64_t kWork = 4; // elements per thread before the grid wraps around
constexpr int64_t kMaxPartials = 1024; // threadgroups per batch entry of a reduction
constexpr int64_t kMaxGroups = int64_t(1) << 20; // threadgroups along x otherwise
constexpr int kForwardSlots = 4; // x, y, z, weight
constexpr int kVjpSlots = 5; // ... and the cotangent

// Which input is bound at each array slot of the kernels (-1: absent).
std::array<int, kVjpSlots> slot_inputs(const PointwiseSpec& spec, bool with_cotangent) {
  std::array<int, kVjpSlots> slots{0, 1, -1, -1, -1};
  if (spec.n_operands == 3) {
    slots[loss_kernels::kSlotZ] = 2;
  }
  if (spec.weighted) {
    slots[loss_kernels::kSlotW] = spec.n_operands;
  }
  if (with_cotangent) {
    slots[loss_kernels::kSlotCot] = spec.n_inputs();
  }
  return slots;
}

int64_t product(const mx::Shape& shape, int begin, int end) {
  int64_t n = 1;
  for (int ax = begin; ax < end; ++ax) {
    n *= shape[ax];
  }
  return n;
}

// The stride s with which axes [begin, end) address their elements in
// row-major order (offset = s * linear index), if there is one.
bool single_stride(const mx::Shape& shape, const mx::Strides& strides, int begin, int end,
                   int64_t& s) {
  s = 0;
  int64_t span = 1;
  bool first = true;
  for (int ax = end - 1; ax >= begin; --ax) {
    if (shape[ax] == 1) {
      continue;
    }
    if (first) {
      s = strides[ax];
      first = false;
    } else if (strides[ax] != s * span) {
      return false;
    }
    span *= shape[ax];
  }
  return true;
}

bool row_contiguous(const mx::Shape& shape, const mx::Strides& strides) {
  int64_t s;
  return single_stride(shape, strides, 0, static_cast<int>(shape.size()), s) &&
      (s == 1 || product(shape, 0, static_cast<int>(shape.size())) <= 1);
}

// A multiple of the simdgroup width, enough for n elements, at most kMaxThreads.
size_t threads_for(int64_t n) {
  return static_cast<size_t>(std::clamp<int64_t>((n + 31) / 32 * 32, 32, kMaxThreads));
}

int64_t groups_for(int64_t n, size_t threads, int64_t max_groups) {
  const int64_t per_group = static_cast<int64_t>(threads) * kWork;
  return std::clamp<int64_t>((n + per_group - 1) / per_group, 1, max_groups);
}

std::string kernel_name(const PointwiseSpec& spec, const char* variant, bool strided,
                        const std::string& dtype) {
  return std::string("pointwise_") + spec.loss_name() + "_" + variant +
      (strided ? "_strided_" : "_") + dtype;
}

void check_arguments(const std::string& dtype, const mx::Shape& shape,
                     const std::vector<mx::Strides>& strides, size_t n_inputs) {
  if (dtype != "float32" && dtype != "float16" && dtype != "bfloat16") {
    throw std::invalid_argument("fused pointwise loss: dtype " + dtype +
                                " is not supported on the GPU; expected float32, float16 or "
                                "bfloat16");
  }
  if (strides.size() != n_inputs) {
    throw std::invalid_argument("fused pointwise loss: got the strides of " +
                                std::to_string(strides.size()) + " inputs; expected " +
                                std::to_string(n_inputs));
  }
  for (const auto& s : strides) {
    if (s.size() != shape.size()) {
      throw std::invalid_argument("fused pointwise loss: strides of " +
                                  std::to_string(s.size()) + " axes for a shape of " +
                                  std::to_string(shape.size()));
    }
  }
}

PointwiseArgs base_args(const PointwiseSpec& spec, const std::array<int, kVjpSlots>& slots) {
  PointwiseArgs args{};
  args.a = static_cast<float>(spec.params.a);
  args.b = static_cast<float>(spec.params.b);
  args.c = static_cast<float>(spec.params.c);
  args.flags = spec.params.flags;
  args.scale = 1.0f;
  args.has_z = slots[loss_kernels::kSlotZ] >= 0;
  args.has_w = slots[loss_kernels::kSlotW] >= 0;
  std::fill(std::begin(args.wrt), std::end(args.wrt), -1);
  return args;
}

// The array slots [0, n_slots) of a dispatch: each bound input, or a placeholder.
void bind_arrays(MetalDispatch& d, const std::array<int, kVjpSlots>& slots, int n_slots) {
  for (int k = 0; k < n_slots; ++k) {
    d.buffers.push_back(slots[k] >= 0 ? MetalBinding{MetalBinding::Input, slots[k]}
                                      : MetalBinding{MetalBinding::Placeholder});
  }
}

// Binds args, then the shape and per-slot strides of the strided variants
// (collapsed; absent slots have stride 0), or one unused zero each otherwise.
void bind_args_and_layout(MetalDispatch& d, PointwiseArgs args, bool strided,
                          const mx::Shape& shape, const std::vector<mx::Strides>& strides,
                          const std::array<int, kVjpSlots>& slots, int n_slots) {
  std::vector<int64_t> dims{0}, steps{0};
  if (strided) {
    std::vector<mx::Strides> slot_strides;
    for (int k = 0; k < n_slots; ++k) {
      slot_strides.push_back(slots[k] >= 0 ? strides[slots[k]] : mx::Strides(shape.size(), 0));
    }
    auto layout = cpu::make_layout(shape, slot_strides);
    const int ndim = static_cast<int>(layout.shape.size());
    dims.assign(layout.shape.begin(), layout.shape.end());
    steps.assign(size_t(n_slots) * ndim, 0);
    for (int k = 0; k < n_slots; ++k) {
      for (int ax = 0; ax < ndim; ++ax) {
        steps[k * ndim + ax] = layout.strides[ax][k];
      }
    }
    args.ndim = ndim;
  }
  d.buffers.push_back(bytes_of(&args, 1));
  d.buffers.push_back(bytes_of(dims.data(), dims.size()));
  d.buffers.push_back(bytes_of(steps.data(), steps.size()));
}

} // namespace

MetalPlan pointwise_forward_plan(const PointwiseSpec& spec, const std::string& dtype,
                                 const mx::Shape& shape, const std::vector<mx::Strides>& strides) {
  check_arguments(dtype, shape, strides, spec.n_inputs());
  const int ndim = static_cast<int>(shape.size());
  const auto slots = slot_inputs(spec, false);
  const bool reduce = spec.reduction != Reduction::None;
  const int split = reduce ? spec.batch_ndim : 0;
  const int64_t batch = product(shape, 0, split);
  const int64_t inner = product(shape, split, ndim);
  bool strided = false;
  for (int k = 0; k < kForwardSlots; ++k) {
    strided |= slots[k] >= 0 && !row_contiguous(shape, strides[slots[k]]);
  }
  PointwiseArgs args = base_args(spec, slots);
  args.inner = inner;

  MetalPlan plan;
  const size_t threads = threads_for(inner);
  if (!reduce) {
    if (inner == 0) {
      return plan;
    }
    MetalDispatch d{kernel_name(spec, "none", strided, dtype),
                    {size_t(groups_for(inner, threads, kMaxGroups)), 1, 1},
                    {threads, 1, 1}};
    bind_arrays(d, slots, kForwardSlots);
    d.buffers.push_back({MetalBinding::Output, 0});
    bind_args_and_layout(d, args, strided, shape, strides, slots, kForwardSlots);
    plan.dispatches.push_back(std::move(d));
    return plan;
  }

  if (batch == 0) {
    return plan;
  }
  // Stage 1: `partials` threadgroups per batch entry (none if it is empty).
  const int64_t partials = inner == 0 ? 0 : groups_for(inner, threads, kMaxPartials);
  args.partials = static_cast<int>(partials);
  args.scale = spec.reduction == Reduction::Sum ? 1.0f
      : inner == 0                              ? std::numeric_limits<float>::quiet_NaN()
                                                : static_cast<float>(1.0 / double(inner));
  plan.partials = std::max<int64_t>(1, batch * partials);
  if (partials > 0) {
    MetalDispatch d{kernel_name(spec, "partial", strided, dtype),
                    {size_t(partials), size_t(batch), 1},
                    {threads, 1, 1}};
    bind_arrays(d, slots, kForwardSlots);
    d.buffers.push_back({MetalBinding::PartialsOut});
    bind_args_and_layout(d, args, strided, shape, strides, slots, kForwardSlots);
    plan.dispatches.push_back(std::move(d));
  }
  // Stage 2: one threadgroup per batch entry.
  MetalDispatch d{"pointwise_finish_" + dtype, {size_t(batch), 1, 1}, {threads_for(partials), 1, 1}};
  d.buffers.push_back({MetalBinding::PartialsIn});
  d.buffers.push_back({MetalBinding::Output, 0});
  d.buffers.push_back(bytes_of(&args, 1));
  plan.dispatches.push_back(std::move(d));
  return plan;
}

MetalPlan pointwise_vjp_plan(const PointwiseSpec& spec, const std::vector<int>& wrt,
                             const std::string& dtype, const mx::Shape& shape,
                             const std::vector<mx::Strides>& strides) {
  check_arguments(dtype, shape, strides, spec.n_inputs() + 1);
  const int ndim = static_cast<int>(shape.size());
  const auto slots = slot_inputs(spec, true);
  PointwiseArgs args = base_args(spec, slots);
  if (wrt.empty() || wrt.size() > 4) {
    throw std::invalid_argument("fused pointwise loss VJP: expected 1 to 4 gradients, got " +
                                std::to_string(wrt.size()));
  }
  args.n_grads = static_cast<int>(wrt.size());
  for (size_t k = 0; k < wrt.size(); ++k) {
    if (wrt[k] < 0 || wrt[k] >= spec.n_inputs()) {
      throw std::invalid_argument("fused pointwise loss VJP: gradient of input " +
                                  std::to_string(wrt[k]) + " requested; the loss has " +
                                  std::to_string(spec.n_inputs()) + " inputs");
    }
    args.wrt[k] = wrt[k] < spec.n_operands ? wrt[k] : int(loss_kernels::kSlotW);
  }

  // Reductions: one cotangent per batch entry; the grid's y walks the entries.
  const bool reduce = spec.reduction != Reduction::None;
  const int split = reduce ? spec.batch_ndim : 0;
  const int64_t batch = product(shape, 0, split);
  const int64_t inner = product(shape, split, ndim);
  args.inner = inner;
  if (spec.reduction == Reduction::Mean) {
    args.scale = static_cast<float>(1.0 / double(std::max<int64_t>(1, inner)));
  }
  const auto& cot = strides[slots[loss_kernels::kSlotCot]];
  bool strided = !single_stride(shape, cot, 0, split, args.cot_batch_stride) ||
      !single_stride(shape, cot, split, ndim, args.cot_inner_stride);
  for (int k = 0; k < kForwardSlots; ++k) {
    strided |= slots[k] >= 0 && !row_contiguous(shape, strides[slots[k]]);
  }

  MetalPlan plan;
  if (batch * inner == 0) {
    return plan;
  }
  const size_t threads = threads_for(inner);
  MetalDispatch d{kernel_name(spec, "vjp", strided, dtype),
                  {size_t(groups_for(inner, threads, kMaxGroups)), size_t(batch), 1},
                  {threads, 1, 1}};
  bind_arrays(d, slots, kVjpSlots);
  for (int k = 0; k < 4; ++k) {
    d.buffers.push_back(k < args.n_grads ? MetalBinding{MetalBinding::Output, k}
                                         : MetalBinding{MetalBinding::Placeholder});
  }
  bind_args_and_layout(d, args, strided, shape, strides, slots, kVjpSlots);
  plan.dispatches.push_back(std::move(d));
  return plan;
}

} // namespace mlx_fused_losses::metal
