"""The row-softmax loss family: losses of a distribution along one axis, fused.

Each loss reads the logits once per row in the forward pass (an online
logsumexp accumulated in float32, float64 for float64 inputs) and once more in
the backward pass, which writes ``softmax - target distribution`` directly from
the saved per-row state: no intermediate of the logits' size is materialised.
float16/bfloat16/float32 inputs give float32 losses (a bfloat16 loss of ~20
cannot be closer than 0.06), float64 inputs give float64. Any ``axis`` works
without a transposed copy.

A class index outside ``[0, C)`` that is not ``ignore_index`` gives a NaN loss
and a NaN gradient for its row; the row is never read out of bounds.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

import mlx.core as mx

from ._common import (
    Reduction,
    _ext,
    as_array,
    as_axis,
    as_flag,
    as_number,
    as_optional_array,
    as_optional_index,
    as_reduction,
    loss_function,
)

__all__ = [
    "cross_entropy",
    "nll_loss",
    "kl_div_loss",
    "softmax_focal_loss",
    "info_nce_loss",
    "nt_xent_loss",
    "clip_loss",
]


@loss_function(replaces="cross_entropy")
def cross_entropy(
    logits: mx.array,
    targets: mx.array,
    weights: Optional[mx.array] = None,
    axis: int = -1,
    label_smoothing: float = 0.0,
    reduction: Reduction = "none",
    *,
    class_weights: Optional[mx.array] = None,
    ignore_index: Optional[int] = None,
) -> mx.array:
    r"""Cross-entropy loss, as ``mlx.nn.losses.cross_entropy``, plus PyTorch's
    ``weight`` (``class_weights``) and ``ignore_index``.

    With class indices ``y``, label smoothing ``eps`` over ``C`` classes and class
    weights ``w`` (1 when not given), the loss of a row is PyTorch's

    .. math::
        (1 - \epsilon)\, w_y (\mathrm{lse}(x) - x_y)
        + \frac{\epsilon}{C} \sum_c w_c (\mathrm{lse}(x) - x_c),

    which without class weights is MLX's
    ``lse(x) - (1 - eps) x_y - eps mean(x)``. With probability targets ``t``
    (smoothed to ``t' = (1 - eps) t + eps / C``) it is MLX's
    ``lse(x) - sum(t' x)`` without class weights, and PyTorch's
    ``-sum(w t' log_softmax(x))`` with them (the two agree when ``t`` sums to 1).

    Args:
        logits (array): The unnormalised logits; float16/bfloat16/float32/float64
            (integers are read as float32).
        targets (array): Class indices (an integer array of the logits' shape
            without ``axis``) or probabilities (of the logits' shape).
        weights (array, optional): Per-sample weights, of the loss's shape
            (the logits' shape without ``axis``), as MLX. Default: ``None``.
        axis (int, optional): The class axis. Default: ``-1``.
        label_smoothing (float, optional): In ``[0, 1)``. Default: ``0``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'none'``.
        class_weights (array, optional): One weight per class, as PyTorch's
            ``weight``. Not differentiable. Default: ``None``.
        ignore_index (int, optional): Class-index targets equal to it contribute
            nothing (loss and gradient 0), as PyTorch's ``ignore_index`` (whose
            default, -100, is not applied: pass it explicitly). With probability
            targets it raises a ``ValueError``. Default: ``None``.

    Returns:
        array: The loss: float32 (float64 for float64 inputs). ``'mean'`` divides
        the sum of the (weighted) row losses by the number of rows, or, with
        class-index targets and ``class_weights`` or ``ignore_index``, by the sum
        of the class weights of the non-ignored targets (PyTorch's denominator).
        A class index outside ``[0, C)`` that is not ``ignore_index`` gives NaN
        (its row's loss and gradient; hence a NaN ``'mean'`` or ``'sum'``).
    """
    logits = as_array("logits", logits)
    return _ext.cross_entropy(
        logits, as_array("targets", targets, logits),
        as_optional_array("weights", weights, logits), as_axis(axis),
        as_number("label_smoothing", label_smoothing), as_reduction(reduction),
        as_optional_array("class_weights", class_weights, logits),
        as_optional_index("ignore_index", ignore_index),
    )


@loss_function(replaces="nll_loss")
def nll_loss(
    inputs: mx.array,
    targets: mx.array,
    axis: int = -1,
    reduction: Reduction = "none",
    *,
    class_weights: Optional[mx.array] = None,
    ignore_index: Optional[int] = None,
) -> mx.array:
    """Negative log likelihood ``-w_y inputs[y]``, as ``mlx.nn.losses.nll_loss``, plus
    PyTorch's ``weight`` (``class_weights``) and ``ignore_index``.

    Args:
        inputs (array): Log-probabilities.
        targets (array): Class indices, of the shape of ``inputs`` without ``axis``.
        axis (int, optional): The class axis. Default: ``-1``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'none'``.
        class_weights (array, optional): One weight per class. Default: ``None``.
        ignore_index (int, optional): Targets to skip. Default: ``None``.

    Returns:
        array: The loss (float32, float64 for float64 inputs), with PyTorch's
        ``'mean'`` denominator as in :func:`cross_entropy`.
    """
    inputs = as_array("inputs", inputs)
    return _ext.nll_loss(
        inputs, as_array("targets", targets), as_axis(axis),
        as_reduction(reduction), as_optional_array("class_weights", class_weights, inputs),
        as_optional_index("ignore_index", ignore_index),
    )


@loss_function(replaces="kl_div_loss")
def kl_div_loss(
    inputs: mx.array,
    targets: mx.array,
    axis: int = -1,
    reduction: Union[Reduction, Literal["batchmean"]] = "none",
    *,
    log_target: bool = True,
) -> mx.array:
    """Kullback-Leibler divergence ``sum(p * (log p - inputs), axis)``, as
    ``mlx.nn.losses.kl_div_loss``.

    ``inputs`` are log-probabilities; ``targets`` are log-probabilities ``log p``
    (``log_target=True``, MLX) or probabilities ``p`` (``log_target=False``, as
    PyTorch's default, with ``0 log 0 = 0``).

    Args:
        inputs (array): Log-probabilities of the predicted distribution.
        targets (array): The target distribution (see ``log_target``); broadcast
            against ``inputs``.
        axis (int, optional): The distribution axis. Default: ``-1``.
        reduction (str, optional): ``'none'`` (one value per distribution, as MLX)
            | ``'mean'`` (over distributions, as MLX) | ``'sum'`` | ``'batchmean'``
            (the sum divided by ``inputs.shape[0]``, PyTorch's). Note that
            PyTorch's ``'none'`` and ``'mean'`` are elementwise; its
            ``'batchmean'`` and ``'sum'`` match these. Default: ``'none'``.
        log_target (bool, optional): Whether ``targets`` are log-probabilities.
            Default: ``True``.
    """
    inputs = as_array("inputs", inputs)
    return _ext.kl_div_loss(
        inputs, as_array("targets", targets, inputs), as_axis(axis),
        as_reduction(reduction, ("none", "mean", "sum", "batchmean")),
        as_flag("log_target", log_target),
    )


@loss_function()
def softmax_focal_loss(
    logits: mx.array,
    targets: mx.array,
    alpha: Optional[Union[float, mx.array]] = None,
    gamma: float = 2.0,
    axis: int = -1,
    reduction: Reduction = "none",
) -> mx.array:
    """Multi-class focal loss ``-alpha_y (1 - p_y)**gamma log p_y``, ``p = softmax(logits)``.

    Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, in its
    softmax form (as ``kornia.losses.focal_loss``); ``gamma = 0`` is the
    cross-entropy scaled by ``alpha``.

    Args:
        logits (array): The unnormalised logits.
        targets (array): Class indices, of the logits' shape without ``axis``.
        alpha (float or array, optional): A scale, or one weight per class
            (``alpha_y``). Not differentiable. Default: ``None`` (1).
        gamma (float, optional): The focusing exponent, ``>= 0``. Default: ``2.0``.
        axis (int, optional): The class axis. Default: ``-1``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'none'``.
    """
    logits = as_array("logits", logits)
    return _ext.softmax_focal_loss(
        logits, as_array("targets", targets),
        as_optional_array("alpha", alpha, logits), as_number("gamma", gamma), as_axis(axis),
        as_reduction(reduction),
    )


@loss_function()
def info_nce_loss(
    query: mx.array,
    keys: mx.array,
    temperature: float = 0.1,
    reduction: Reduction = "mean",
    *,
    negative_keys: Optional[mx.array] = None,
    normalize: bool = True,
) -> mx.array:
    """InfoNCE loss (van den Oord et al., "Representation Learning with
    Contrastive Predictive Coding", 2018), with in-batch negatives.

    The logits are ``query @ keys.T / temperature`` and query ``i``'s positive
    is ``keys[i]``: the cross-entropy of each row against its diagonal. With
    ``negative_keys``, each query's logits are its positive ``<query[i], keys[i]>``
    followed by ``query[i] @ negative_keys.T`` (as the ``info-nce-pytorch``
    package's ``negative_mode='unpaired'``).

    Args:
        query (array): ``(N, D)`` query embeddings.
        keys (array): ``(N, D)`` positive keys (and in-batch negatives).
        temperature (float, optional): ``> 0``. Default: ``0.1``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.
        negative_keys (array, optional): ``(M, D)`` negatives shared by all
            queries. Default: ``None``.
        normalize (bool, optional): L2-normalise the embeddings first (cosine
            similarities). Default: ``True``.
    """
    return _ext.info_nce_loss(
        as_array("query", query), as_array("keys", keys),
        as_number("temperature", temperature), as_reduction(reduction),
        as_optional_array("negative_keys", negative_keys), as_flag("normalize", normalize),
    )


@loss_function()
def nt_xent_loss(
    z1: mx.array, z2: mx.array, temperature: float = 0.5, reduction: Reduction = "mean"
) -> mx.array:
    """NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et
    al., "A Simple Framework for Contrastive Learning of Visual Representations",
    ICML 2020).

    The ``2N`` views ``concat(z1, z2)`` are L2-normalised; view ``k``'s logits are
    its cosine similarities to the other ``2N - 1`` views divided by
    ``temperature``, and its positive is the other view of the same sample.

    Args:
        z1 (array): ``(N, D)`` embeddings of the first views.
        z2 (array): ``(N, D)`` embeddings of the second views.
        temperature (float, optional): ``> 0``. Default: ``0.5``.
        reduction (str, optional): ``'none'`` (``(2N,)`` losses) | ``'mean'`` |
            ``'sum'``. Default: ``'mean'``.
    """
    return _ext.nt_xent_loss(
        as_array("z1", z1), as_array("z2", z2), as_number("temperature", temperature),
        as_reduction(reduction),
    )


@loss_function()
def clip_loss(
    image_embeds: mx.array,
    text_embeds: mx.array,
    temperature: Union[float, mx.array] = 0.07,
    reduction: Reduction = "mean",
    *,
    normalize: bool = True,
) -> mx.array:
    """The symmetric contrastive loss of CLIP (Radford et al., "Learning
    Transferable Visual Models From Natural Language Supervision", ICML 2021).

    ``logits = image_embeds @ text_embeds.T / temperature``; the loss of pair
    ``i`` is the mean of the image-to-text cross-entropy of row ``i`` and the
    text-to-image cross-entropy of column ``i`` (read in place, no transpose).

    Args:
        image_embeds (array): ``(N, D)`` image embeddings.
        text_embeds (array): ``(N, D)`` text embeddings; pair ``i`` matches.
        temperature (float or array, optional): ``> 0``; a scalar array may be a
            learned parameter (gradients flow to it). Default: ``0.07``.
        reduction (str, optional): ``'none'`` (``(N,)``) | ``'mean'`` | ``'sum'``.
            Default: ``'mean'``.
        normalize (bool, optional): L2-normalise the embeddings first.
            Default: ``True``.
    """
    if not isinstance(temperature, mx.array):
        temperature = as_number("temperature", temperature)
    return _ext.clip_loss(
        as_array("image_embeds", image_embeds), as_array("text_embeds", text_embeds),
        temperature, as_reduction(reduction), as_flag("normalize", normalize),
    )
