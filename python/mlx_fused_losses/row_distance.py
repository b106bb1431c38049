"""The row-distance loss family: losses of pairs or triplets of vectors, fused.

Each loss reads its vectors once per row in the forward pass (their dot
products, norms or p-distances: float32 sums of 128-element blocks added in
float64 on the CPU, float32 on the GPU; float64 inputs in float64) and once more in the backward pass, which writes every input's gradient
from three saved numbers per row. The vector ``axis`` can be any axis (read in
place, without a transposed copy); the inputs broadcast against each other as
in ``mlx.core`` arithmetic. The loss has the inputs' promoted dtype (float32 for
integers), as ``mlx.nn.losses``.

Where the results differ from ``mlx.nn.losses``: float16/bfloat16 inputs are
summed in float32 (stock MLX sums in the input dtype, so a float16 norm
overflows past 256 elements of 16); and at a zero vector, stock
``cosine_similarity_loss``'s gradient is NaN (the gradient of ``sqrt`` at 0
times 0), where this one is the exact gradient of the clamped cosine,
``x2 / eps``.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx

from ._common import (
    Reduction,
    _ext,
    as_array,
    as_axis,
    as_flag,
    as_number,
    as_reduction,
    loss_function,
)

__all__ = [
    "cosine_similarity_loss",
    "triplet_loss",
    "contrastive_loss",
    "cosine_embedding_loss",
]


@loss_function(replaces="cosine_similarity_loss")
def cosine_similarity_loss(
    x1: mx.array,
    x2: mx.array,
    axis: int = 1,
    eps: float = 1e-8,
    reduction: Reduction = "none",
) -> mx.array:
    r"""The cosine similarity of two sets of vectors, as
    ``mlx.nn.losses.cosine_similarity_loss``:

    .. math::
        \frac{x_1 \cdot x_2}{\max(\|x_1\| \|x_2\|, \epsilon)}

    (a similarity: to pull vectors together, minimise its negative).

    Args:
        x1 (array): The first vectors.
        x2 (array): The second vectors; broadcast against ``x1``.
        axis (int, optional): The vector axis. Default: ``1``.
        eps (float, optional): The smallest denominator (``>= 0``). Default: ``1e-8``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'none'``.

    Returns:
        array: The similarities (the inputs' broadcast shape without ``axis``),
        or their mean or sum.
    """
    x1 = as_array("x1", x1)
    return _ext.cosine_similarity_loss(
        x1, as_array("x2", x2, x1), as_axis(axis), as_number("eps", eps), as_reduction(reduction)
    )


@loss_function(replaces="triplet_loss")
def triplet_loss(
    anchors: mx.array,
    positives: mx.array,
    negatives: mx.array,
    axis: int = -1,
    p: float = 2,
    margin: float = 1.0,
    eps: float = 1e-6,
    reduction: Reduction = "none",
    *,
    swap: bool = False,
) -> mx.array:
    r"""The triplet margin loss, as ``mlx.nn.losses.triplet_loss``, plus
    PyTorch's distance swap:

    .. math::
        \max\left(d(a, p) - d(a, n) + \alpha, 0\right), \qquad
        d(x, y) = \Big(\sum |x - y|^p + \epsilon\Big)^{1/p}.

    ``eps`` is added under the root as MLX does; PyTorch's
    ``triplet_margin_loss`` adds it to the difference instead
    (``\|x - y + \epsilon\|_p``), so the two differ by about ``eps``.

    Args:
        anchors (array): The anchor vectors.
        positives (array): The positive vectors (broadcast against the others).
        negatives (array): The negative vectors.
        axis (int, optional): The vector axis. Default: ``-1``.
        p (float, optional): The norm degree, any real ``p >= 1``. Default: ``2``.
        margin (float, optional): The margin ``alpha``. Default: ``1.0``.
        eps (float, optional): Added to the sum before the root (``>= 0``). Default: ``1e-6``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'none'``.
        swap (bool, optional): The distance swap of Balntas et al. (2016): the
            negative's distance is ``min(d(a, n), d(p, n))``. Default: ``False``.

    Returns:
        array: The losses (the broadcast shape without ``axis``), or their mean or sum.
    """
    anchors = as_array("anchors", anchors)
    return _ext.triplet_loss(
        anchors, as_array("positives", positives, anchors),
        as_array("negatives", negatives, anchors), as_axis(axis), as_number("p", p),
        as_number("margin", margin), as_number("eps", eps), as_reduction(reduction),
        as_flag("swap", swap),
    )


@loss_function()
def contrastive_loss(
    x1: mx.array,
    x2: mx.array,
    targets: Any,
    margin: float = 1.0,
    axis: int = -1,
    p: float = 2,
    eps: float = 1e-6,
    reduction: Reduction = "mean",
) -> mx.array:
    r"""The contrastive (pair) loss of Hadsell, Chopra & LeCun (2006):

    .. math::
        t\, d^2 + (1 - t) \max(0, m - d)^2, \qquad
        d = \Big(\sum |x_1 - x_2|^p + \epsilon\Big)^{1/p},

    with target ``t = 1`` for a similar pair and ``t = 0`` for a dissimilar one
    (values in between act as soft labels). Some texts swap the labels (0 for
    similar); the paper's factor 1/2 is not used. ``d`` is
    :func:`triplet_loss`'s distance.

    Args:
        x1 (array): The first vectors.
        x2 (array): The second vectors; broadcast against ``x1``.
        targets (array): 1 (similar) or 0 (dissimilar) per pair; broadcast to
            the loss's shape (the vectors' shape without ``axis``).
        margin (float, optional): The margin ``m``. Default: ``1.0``.
        axis (int, optional): The vector axis. Default: ``-1``.
        p (float, optional): The norm degree, any real ``p >= 1``. Default: ``2``.
        eps (float, optional): Added to the sum before the root (``>= 0``). Default: ``1e-6``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.

    Returns:
        array: The losses, or their mean or sum.
    """
    x1 = as_array("x1", x1)
    return _ext.contrastive_loss(
        x1, as_array("x2", x2, x1), as_array("targets", targets, x1), as_number("margin", margin),
        as_axis(axis), as_number("p", p), as_number("eps", eps), as_reduction(reduction),
    )


@loss_function()
def cosine_embedding_loss(
    x1: mx.array,
    x2: mx.array,
    targets: Any,
    margin: float = 0.0,
    axis: int = -1,
    eps: float = 1e-8,
    reduction: Reduction = "mean",
) -> mx.array:
    r"""The cosine embedding loss, as ``torch.nn.functional.cosine_embedding_loss``:

    .. math::
        \begin{cases} 1 - \cos(x_1, x_2) & t = 1 \\
        \max(0, \cos(x_1, x_2) - m) & t = -1 \end{cases}

    with :func:`cosine_similarity_loss`'s cosine (PyTorch adds 1e-12 to the
    squared norms instead of clamping their product at ``eps``: the two agree to
    about 1e-12 / |x|^2). A target that is neither 1 nor -1 gives a NaN loss
    (PyTorch gives 0, which hides 0/1 labels passed by mistake).

    Args:
        x1 (array): The first vectors.
        x2 (array): The second vectors; broadcast against ``x1``.
        targets (array): 1 or -1 per pair; broadcast to the loss's shape.
        margin (float, optional): The margin ``m`` for dissimilar pairs. Default: ``0.0``.
        axis (int, optional): The vector axis. Default: ``-1``.
        eps (float, optional): The smallest denominator (``>= 0``). Default: ``1e-8``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.

    Returns:
        array: The losses, or their mean or sum.
    """
    x1 = as_array("x1", x1)
    return _ext.cosine_embedding_loss(
        x1, as_array("x2", x2, x1), as_array("targets", targets, x1), as_number("margin", margin),
        as_axis(axis), as_number("eps", eps), as_reduction(reduction),
    )
