// mlx-fused-losses (C++ API): the pointwise family, an elementwise loss and its reduction.
#pragma once

#include "mlx_fused_losses/common.h"

namespace mlx_fused_losses {

// Same as mlx.nn.losses (MLX 0.32.4).
mx::array mse_loss(const mx::array& predictions, const mx::array& targets,
                   Reduction reduction = Reduction::Mean, mx::StreamOrDevice s = {});
mx::array l1_loss(const mx::array& predictions, const mx::array& targets,
                  Reduction reduction = Reduction::Mean, mx::StreamOrDevice s = {});
mx::array huber_loss(const mx::array& inputs, const mx::array& targets, double delta = 1.0,
                     Reduction reduction = Reduction::None, mx::StreamOrDevice s = {});
mx::array smooth_l1_loss(const mx::array& predictions, const mx::array& targets,
                         double beta = 1.0, Reduction reduction = Reduction::Mean,
                         mx::StreamOrDevice s = {});
mx::array log_cosh_loss(const mx::array& inputs, const mx::array& targets,
                        Reduction reduction = Reduction::None, mx::StreamOrDevice s = {});
mx::array hinge_loss(const mx::array& inputs, const mx::array& targets,
                     Reduction reduction = Reduction::None, mx::StreamOrDevice s = {});
mx::array margin_ranking_loss(const mx::array& inputs1, const mx::array& inputs2,
                              const mx::array& targets, double margin = 0.0,
                              Reduction reduction = Reduction::None, mx::StreamOrDevice s = {});
mx::array gaussian_nll_loss(const mx::array& inputs, const mx::array& targets,
                            const mx::array& vars, bool full = false, double eps = 1e-6,
                            Reduction reduction = Reduction::Mean, mx::StreamOrDevice s = {});
// with_logits as MLX; pos_weight (broadcastable to targets) as PyTorch's.
mx::array binary_cross_entropy(const mx::array& inputs, const mx::array& targets,
                               const std::optional<mx::array>& weights = std::nullopt,
                               bool with_logits = true, Reduction reduction = Reduction::Mean,
                               const std::optional<mx::array>& pos_weight = std::nullopt,
                               mx::StreamOrDevice s = {});

// Beyond mlx.nn.losses (references in the Python docstrings and the README).
// sqrt of mse_loss(predictions, targets, reduction).
mx::array rmse_loss(const mx::array& predictions, const mx::array& targets,
                    Reduction reduction = Reduction::Mean, mx::StreamOrDevice s = {});
mx::array charbonnier_loss(const mx::array& predictions, const mx::array& targets,
                           double eps = 1e-3, Reduction reduction = Reduction::Mean,
                           mx::StreamOrDevice s = {});
mx::array quantile_loss(const mx::array& predictions, const mx::array& targets,
                        double tau = 0.5, Reduction reduction = Reduction::Mean,
                        mx::StreamOrDevice s = {});
mx::array mape_loss(const mx::array& predictions, const mx::array& targets,
                    double eps = 1e-8, Reduction reduction = Reduction::Mean,
                    mx::StreamOrDevice s = {});
mx::array msle_loss(const mx::array& predictions, const mx::array& targets,
                    Reduction reduction = Reduction::Mean, mx::StreamOrDevice s = {});
mx::array squared_hinge_loss(const mx::array& inputs, const mx::array& targets,
                             Reduction reduction = Reduction::None, mx::StreamOrDevice s = {});
mx::array poisson_nll_loss(const mx::array& inputs, const mx::array& targets,
                           bool log_input = true, bool full = false, double eps = 1e-8,
                           Reduction reduction = Reduction::Mean, mx::StreamOrDevice s = {});
mx::array sigmoid_focal_loss(const mx::array& inputs, const mx::array& targets,
                             double alpha = 0.25, double gamma = 2.0,
                             Reduction reduction = Reduction::None, mx::StreamOrDevice s = {});

} // namespace mlx_fused_losses
