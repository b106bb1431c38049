// eval_cpu of the pointwise primitives: allocate, then run the kernels of
// csrc/pointwise/cpu_kernels.h (instantiated per dtype) on the CPU stream.
#include <cstring>

#include "common/memory.h"
#include "pointwise/primitive.h"

namespace mlx_fused_losses {

namespace cpu {
template <typename T>
void pointwise_forward(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs,
                       const PointwiseSpec& spec, const std::vector<int>& grads_of);
template <typename T>
void pointwise_backward(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs,
                        const PointwiseSpec& spec, const std::vector<int>& wrt);
} // namespace cpu

namespace {

// Calls fn(T{}) with T the C++ type of `dtype`.
template <typename Fn>
void with_float_type(mx::Dtype dtype, Fn&& fn) {
  switch (dtype) {
    case mx::float32:
      return fn(float{});
    case mx::float16:
      return fn(mx::float16_t{});
    case mx::bfloat16:
      return fn(mx::bfloat16_t{});
    case mx::float64:
      return fn(double{});
    default:
      throw std::invalid_argument("fused pointwise loss: unsupported dtype on the CPU");
  }
}

// A zero of `out`'s shape in one element (stride 0 everywhere), for a
// gradient output nothing asked for.
void set_broadcast_zero(mx::array& out) {
  auto data = mx::allocator::malloc(out.itemsize());
  std::memset(data.buffer().raw_ptr(), 0, out.itemsize());
  mx::array::Flags flags{};
  flags.contiguous = out.size() <= 1;
  flags.row_contiguous = flags.col_contiguous = flags.contiguous;
  out.set_data(std::move(data), 1, mx::Strides(out.ndim(), 0), flags);
}

} // namespace

void Pointwise::eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) {
  check_pointwise_inputs(spec_, inputs);
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) {
    encoder.set_input_array(in);
  }
  // outputs[0] is the loss; outputs[1 + k] the gradient of input
  // grad_inputs_[k], written (as grads_of) only if vjp wanted it.
  std::vector<mx::array> written{outputs[0]};
  std::vector<int> grads_of;
  for (size_t k = 0; k < grad_inputs_.size(); ++k) {
    if (wanted(grad_inputs_[k])) {
      written.push_back(outputs[1 + k]);
      grads_of.push_back(grad_inputs_[k]);
    } else {
      set_broadcast_zero(outputs[1 + k]);
    }
  }
  for (auto& out : written) {
    out.set_data(cpu::malloc_output(out.nbytes()));
    encoder.set_output_array(out);
  }
  encoder.dispatch([inputs, written, spec = spec_, grads_of]() mutable {
    with_float_type(inputs[0].dtype(), [&]<typename T>(T) {
      cpu::pointwise_forward<T>(inputs, written, spec, grads_of);
    });
  });
}

void PointwiseVJP::eval_cpu(const std::vector<mx::array>& inputs,
                            std::vector<mx::array>& outputs) {
  check_pointwise_inputs(spec_, inputs);
  auto& encoder = cpu::begin_eval(stream(), inputs, outputs);
  encoder.dispatch([inputs, outputs, spec = spec_, wrt = wrt_]() mutable {
    with_float_type(inputs[0].dtype(), [&]<typename T>(T) {
      cpu::pointwise_backward<T>(inputs, outputs, spec, wrt);
    });
  });
}

} // namespace mlx_fused_losses
