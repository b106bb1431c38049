// Training loops in a C++ MLX app with the fused losses of mlx-fused-losses:
// linear regression with huber_loss and logistic regression with
// binary_cross_entropy (on logits), each a linear model trained by plain SGD
// through mx::value_and_grad. The data come from closed formulas (no RNG), so
// the same loop in Python gives the same numbers (tests/test_cpp_example.py).
//
// Output: the loss every 25 steps, then one line
//   final huber loss: <float> final bce loss: <float>
// holding each model's loss after training.
#include <cstdio>
#include <exception>
#include <functional>
#include <vector>

#include "mlx/mlx.h"
#include "mlx_fused_losses/losses.h"

namespace mx = mlx::core;
namespace mfl = mlx_fused_losses;

namespace {

constexpr int kSamples = 512;
constexpr int kFeatures = 4;
constexpr int kSteps = 200;
constexpr int kPrintEvery = 25;

struct Data {
  mx::array x;        // (kSamples, kFeatures)
  mx::array targets;  // (kSamples,) regression targets, with outliers
  mx::array labels;   // (kSamples,) 0/1 labels, some across the boundary
};

Data make_data() {
  auto x = mx::reshape(mx::sin(mx::arange(kSamples * kFeatures, mx::float32) * 0.37f + 0.1f),
                       {kSamples, kFeatures});
  auto i = mx::arange(kSamples, mx::float32);
  auto w = mx::array({1.5f, -2.0f, 0.5f, 3.0f});
  auto clean = mx::matmul(x, w) + 0.7f;
  // Every 50th target is an outlier (+8): what huber_loss is for.
  auto outliers = mx::where(mx::equal(mx::remainder(i, mx::array(50.0f)), mx::array(0.0f)),
                            mx::array(8.0f), mx::array(0.0f));
  auto targets = clean + 0.1f * mx::cos(1.7f * i) + outliers;
  auto labels = mx::astype(mx::greater(clean + 0.5f * mx::cos(2.3f * i), mx::array(0.0f)),
                           mx::float32);
  return {x, targets, labels};
}

using Loss = std::function<mx::array(const mx::array& outputs, const mx::array& targets)>;

// Fits outputs = x @ w + b by SGD from zeros; returns the loss after training.
float train(const char* name, const mx::array& x, const mx::array& targets, const Loss& loss,
            float lr) {
  std::function<mx::array(const std::vector<mx::array>&)> objective =
      [&](const std::vector<mx::array>& p) { return loss(mx::matmul(x, p[0]) + p[1], targets); };
  auto value_and_grad = mx::value_and_grad(objective, {0, 1});

  std::vector<mx::array> params = {mx::zeros({kFeatures}, mx::float32), mx::array(0.0f)};
  for (int step = 0; step < kSteps; ++step) {
    auto [value, grads] = value_and_grad(params);
    for (size_t j = 0; j < params.size(); ++j) {
      params[j] = params[j] - lr * grads[j];
    }
    mx::eval({value, params[0], params[1]});
    if (step % kPrintEvery == 0) {
      std::printf("%-5s step %3d  loss %.6f\n", name, step, value.item<float>());
    }
  }
  return objective(params).item<float>();
}

}  // namespace

int main() {
  try {
    auto data = make_data();
    float huber = train("huber", data.x, data.targets, [](const auto& out, const auto& y) {
      return mfl::huber_loss(out, y, /*delta=*/1.0, mfl::Reduction::Mean);
    }, /*lr=*/0.1f);
    float bce = train("bce", data.x, data.labels, [](const auto& logits, const auto& y) {
      return mfl::binary_cross_entropy(logits, y, /*weights=*/std::nullopt,
                                       /*with_logits=*/true, mfl::Reduction::Mean);
    }, /*lr=*/1.0f);
    std::printf("final huber loss: %.9g final bce loss: %.9g\n", huber, bce);
  } catch (const std::exception& e) {  // bad arguments: std::invalid_argument
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
