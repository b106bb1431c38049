// mlx-fused-losses (C++ API): the row-distance family, losses of pairs or
// triplets of vectors along one axis.
#pragma once

#include "mlx_fused_losses/common.h"

namespace mlx_fused_losses {

// Losses of two or three vectors along `axis` (a "row" of each input): one pass
// over each row for its dot products, norms or distances and its loss (float32
// sums of 128-element blocks added in float64 on the CPU, float32 on the GPU;
// float64 inputs in float64), one pass for every gradient.
// The inputs broadcast against each other as mlx.core's arithmetic does; the
// loss has their broadcast shape without `axis` (Reduction::None) and their
// promoted dtype (float32 for integers, as mlx.nn.losses). `eps` must be >= 0,
// `p` >= 1.
//
// As mlx.nn.losses.cosine_similarity_loss: sum x1 x2 / max(|x1| |x2|, eps).
mx::array cosine_similarity_loss(const mx::array& x1, const mx::array& x2, int axis = 1,
                                 double eps = 1e-8, Reduction reduction = Reduction::None,
                                 mx::StreamOrDevice s = {});
// As mlx.nn.losses.triplet_loss: max(d(a, p) - d(a, n) + margin, 0) with
// d(x, y) = (sum |x - y|^p + eps)^(1/p), for any real p >= 1; `swap` is
// PyTorch's distance swap (the negative's distance is min(d(a, n), d(p, n))).
mx::array triplet_loss(const mx::array& anchors, const mx::array& positives,
                       const mx::array& negatives, int axis = -1, double p = 2.0,
                       double margin = 1.0, double eps = 1e-6,
                       Reduction reduction = Reduction::None, bool swap = false,
                       mx::StreamOrDevice s = {});
// Hadsell, Chopra & LeCun (2006), without the 1/2: t d^2 + (1 - t) max(0, margin - d)^2,
// targets t 1 for a similar pair and 0 for a dissimilar one (any real t is
// read as a soft label), d as triplet_loss's. `targets` broadcast to the loss's shape.
mx::array contrastive_loss(const mx::array& x1, const mx::array& x2, const mx::array& targets,
                           double margin = 1.0, int axis = -1, double p = 2.0,
                           double eps = 1e-6, Reduction reduction = Reduction::Mean,
                           mx::StreamOrDevice s = {});
// As torch.nn.functional.cosine_embedding_loss: 1 - cos for target 1,
// max(0, cos - margin) for target -1 (a NaN loss for any other target), cos as
// cosine_similarity_loss's.
mx::array cosine_embedding_loss(const mx::array& x1, const mx::array& x2,
                                const mx::array& targets, double margin = 0.0, int axis = -1,
                                double eps = 1e-8, Reduction reduction = Reduction::Mean,
                                mx::StreamOrDevice s = {});

} // namespace mlx_fused_losses
