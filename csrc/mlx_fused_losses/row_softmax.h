// mlx-fused-losses (C++ API): the row-softmax family, a loss of a distribution along one axis.
#pragma once

#include "mlx_fused_losses/common.h"

namespace mlx_fused_losses {

// Losses of a distribution along `axis` of the logits ("rows"): one pass per
// row with an online logsumexp in float32 (float64 for float64 inputs), one
// pass for the gradient. float16/bfloat16/float32 inputs give float32 losses,
// float64 inputs float64. A class index outside [0, C) that is not
// `ignore_index` gives a NaN loss and a NaN gradient for its row (the row is
// never read out of bounds). Gradients with respect to `class_weights` (and the
// focal loss's `alpha`) are not implemented: they throw.
//
// As mlx.nn.losses.cross_entropy, plus PyTorch's `class_weights` (its `weight`)
// and `ignore_index`. Class-index targets have the logits' shape without
// `axis`, probability targets the logits' shape. Mean: the sum of the
// (per-sample weighted) losses divided by the number of rows, or, with class
// weights or ignore_index and class-index targets, by the sum of the class
// weights of the non-ignored targets (PyTorch).
mx::array cross_entropy(const mx::array& logits, const mx::array& targets,
                        const std::optional<mx::array>& weights = std::nullopt, int axis = -1,
                        double label_smoothing = 0.0, Reduction reduction = Reduction::None,
                        const std::optional<mx::array>& class_weights = std::nullopt,
                        std::optional<int64_t> ignore_index = std::nullopt,
                        mx::StreamOrDevice s = {});
// As mlx.nn.losses.nll_loss (inputs are log-probabilities), plus class_weights
// and ignore_index as cross_entropy.
mx::array nll_loss(const mx::array& inputs, const mx::array& targets, int axis = -1,
                   Reduction reduction = Reduction::None,
                   const std::optional<mx::array>& class_weights = std::nullopt,
                   std::optional<int64_t> ignore_index = std::nullopt, mx::StreamOrDevice s = {});
// As mlx.nn.losses.kl_div_loss: sum over `axis` of p (log p - inputs), inputs
// log-probabilities, targets log p (log_target, MLX) or p (PyTorch's default);
// plus Reduction::BatchMean (the sum over all rows divided by the size of axis 0).
mx::array kl_div_loss(const mx::array& inputs, const mx::array& targets, int axis = -1,
                      Reduction reduction = Reduction::None, bool log_target = true,
                      mx::StreamOrDevice s = {});
// Multi-class focal loss (Lin et al., 2017): -alpha_y (1 - p_y)^gamma log p_y,
// p = softmax(logits) along axis, class-index targets; alpha a scalar or (C,)
// per-class array (none: 1).
mx::array softmax_focal_loss(const mx::array& logits, const mx::array& targets,
                             const std::optional<mx::array>& alpha = std::nullopt,
                             double gamma = 2.0, int axis = -1,
                             Reduction reduction = Reduction::None, mx::StreamOrDevice s = {});

// Contrastive losses: a similarity matmul (MLX's), then the fused
// cross-entropy over its rows. Embeddings are (N, D); `normalize` L2-normalises
// them first (cosine similarities).
// InfoNCE (van den Oord et al., 2018): query i's positive is keys[i]; the
// negatives are the other keys, or, if given, the (M, D) negative_keys.
mx::array info_nce_loss(const mx::array& query, const mx::array& keys, double temperature = 0.1,
                        Reduction reduction = Reduction::Mean,
                        const std::optional<mx::array>& negative_keys = std::nullopt,
                        bool normalize = true, mx::StreamOrDevice s = {});
// NT-Xent (SimCLR, Chen et al., 2020): the 2N views' cosine similarities, each
// view's positive its counterpart, itself excluded; (2N,) losses for None.
mx::array nt_xent_loss(const mx::array& z1, const mx::array& z2, double temperature = 0.5,
                       Reduction reduction = Reduction::Mean, mx::StreamOrDevice s = {});
// CLIP (Radford et al., 2021): the mean of the image->text and text->image
// cross-entropies of logits = image_embeds text_embeds^T / temperature;
// (N,) losses for None. The temperature may be a scalar array (learned).
mx::array clip_loss(const mx::array& image_embeds, const mx::array& text_embeds,
                    double temperature = 0.07, Reduction reduction = Reduction::Mean,
                    bool normalize = true, mx::StreamOrDevice s = {});
mx::array clip_loss(const mx::array& image_embeds, const mx::array& text_embeds,
                    const mx::array& temperature, Reduction reduction = Reduction::Mean,
                    bool normalize = true, mx::StreamOrDevice s = {});

} // namespace mlx_fused_losses
