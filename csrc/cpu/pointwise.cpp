// eval_cpu of the pointwise primitives: allocate, then run the kernels of
// csrc/cpu/pointwise_kernels.h (instantiated per dtype) on the CPU stream.
#include "mlx/backend/cpu/encoder.h"

#include "cpu/memory.h"
#include "primitives.h"

namespace mlx_fused_losses {

namespace cpu {
template <typename T>
void pointwise_forward(const std::vector<mx::array>& inputs, mx::array& out,
                       const PointwiseSpec& spec);
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

} // namespace

void Pointwise::eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) {
  auto& out = outputs[0];
  out.set_data(cpu::malloc_output(out.nbytes()));
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) {
    encoder.set_input_array(in);
  }
  encoder.set_output_array(out);
  encoder.dispatch([inputs, out, spec = spec_]() mutable {
    with_float_type(inputs[0].dtype(), [&]<typename T>(T) {
      cpu::pointwise_forward<T>(inputs, out, spec);
    });
  });
}

void PointwiseVJP::eval_cpu(const std::vector<mx::array>& inputs,
                            std::vector<mx::array>& outputs) {
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) {
    encoder.set_input_array(in);
  }
  for (auto& out : outputs) {
    out.set_data(cpu::malloc_output(out.nbytes()));
    encoder.set_output_array(out);
  }
  encoder.dispatch([inputs, outputs, spec = spec_, wrt = wrt_]() mutable {
    with_float_type(inputs[0].dtype(), [&]<typename T>(T) {
      cpu::pointwise_backward<T>(inputs, outputs, spec, wrt);
    });
  });
}

} // namespace mlx_fused_losses
