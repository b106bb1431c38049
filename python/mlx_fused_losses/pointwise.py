"""The pointwise loss family: an elementwise loss, then a reduction, fused.

Each function is one fused primitive (loss and reduction in one pass; the
gradient in one more). Losses that ``mlx.nn.losses`` has keep its name,
signature, defaults and results; the others follow MLX conventions and the
reference cited in their docstring.
"""

from __future__ import annotations

from typing import Optional

import mlx.core as mx

from ._common import (
    Reduction,
    _ext,
    as_array,
    as_flag,
    as_number,
    as_optional_array,
    as_reduction,
    loss_function,
)

__all__ = [
    "mse_loss",
    "l1_loss",
    "rmse_loss",
    "huber_loss",
    "smooth_l1_loss",
    "log_cosh_loss",
    "charbonnier_loss",
    "quantile_loss",
    "mape_loss",
    "msle_loss",
    "hinge_loss",
    "squared_hinge_loss",
    "margin_ranking_loss",
    "gaussian_nll_loss",
    "poisson_nll_loss",
    "binary_cross_entropy",
    "sigmoid_focal_loss",
]


@loss_function(replaces="mse_loss")
def mse_loss(
    predictions: mx.array, targets: mx.array, reduction: Reduction = "mean"
) -> mx.array:
    """Mean squared error, ``(predictions - targets)**2``, as ``mlx.nn.losses.mse_loss``.

    Args:
        predictions (array): The predicted values.
        targets (array): The target values, of the shape of ``predictions``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.

    Returns:
        array: The loss, in the promoted dtype of the inputs (float32 for integers).
    """
    return _ext.mse_loss(
        as_array("predictions", predictions), as_array("targets", targets), as_reduction(reduction)
    )


@loss_function(replaces="l1_loss")
def l1_loss(
    predictions: mx.array, targets: mx.array, reduction: Reduction = "mean"
) -> mx.array:
    """L1 loss, ``|predictions - targets|``, as ``mlx.nn.losses.l1_loss``.

    Args:
        predictions (array): The predicted values.
        targets (array): The target values, of the shape of ``predictions``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.
    """
    return _ext.l1_loss(
        as_array("predictions", predictions), as_array("targets", targets), as_reduction(reduction)
    )


@loss_function()
def rmse_loss(
    predictions: mx.array, targets: mx.array, reduction: Reduction = "mean"
) -> mx.array:
    """Root mean squared error: ``sqrt(mse_loss(predictions, targets, reduction))``.

    With ``'mean'`` this is the usual RMSE (``torch.sqrt(F.mse_loss(...))``);
    ``'sum'`` gives the Euclidean norm of the error, ``'none'`` its magnitude
    per element.

    Args:
        predictions (array): The predicted values.
        targets (array): The target values, of the shape of ``predictions``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.
    """
    return _ext.rmse_loss(
        as_array("predictions", predictions), as_array("targets", targets), as_reduction(reduction)
    )


@loss_function(replaces="huber_loss")
def huber_loss(
    inputs: mx.array, targets: mx.array, delta: float = 1.0, reduction: Reduction = "none"
) -> mx.array:
    r"""Huber loss, as ``mlx.nn.losses.huber_loss``.

    .. math::
        l_{\delta}(a) = \tfrac12 a^2 \text{ for } |a| \le \delta, \quad
        \delta (|a| - \tfrac12 \delta) \text{ otherwise}, \qquad a = \text{inputs} - \text{targets}

    Args:
        inputs (array): The predicted values.
        targets (array): The target values (broadcast against ``inputs``).
        delta (float, optional): The threshold, ``> 0``. Default: ``1.0``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'none'``.
    """
    return _ext.huber_loss(
        as_array("inputs", inputs), as_array("targets", targets), as_number("delta", delta),
        as_reduction(reduction),
    )


@loss_function(replaces="smooth_l1_loss")
def smooth_l1_loss(
    predictions: mx.array, targets: mx.array, beta: float = 1.0, reduction: Reduction = "mean"
) -> mx.array:
    r"""Smooth L1 loss, as ``mlx.nn.losses.smooth_l1_loss`` (and PyTorch's).

    ``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``, with
    ``d = predictions - targets``; ``beta = 0`` is the L1 loss.

    Args:
        predictions (array): Predicted values.
        targets (array): Ground truth values, of the shape of ``predictions``.
        beta (float, optional): The threshold, ``>= 0``. Default: ``1.0``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.
    """
    return _ext.smooth_l1_loss(
        as_array("predictions", predictions), as_array("targets", targets), as_number("beta", beta),
        as_reduction(reduction),
    )


@loss_function(replaces="log_cosh_loss")
def log_cosh_loss(
    inputs: mx.array, targets: mx.array, reduction: Reduction = "none"
) -> mx.array:
    """Log-cosh loss, ``log(cosh(inputs - targets))``, as ``mlx.nn.losses.log_cosh_loss``.

    Computed as ``|d| + log1p(exp(-2|d|)) - log 2``, finite for any difference.

    Args:
        inputs (array): The predicted values.
        targets (array): The target values (broadcast against ``inputs``).
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'none'``.
    """
    return _ext.log_cosh_loss(
        as_array("inputs", inputs), as_array("targets", targets), as_reduction(reduction)
    )


@loss_function()
def charbonnier_loss(
    predictions: mx.array, targets: mx.array, eps: float = 1e-3, reduction: Reduction = "mean"
) -> mx.array:
    """Charbonnier loss, ``sqrt((predictions - targets)**2 + eps**2)``.

    A smooth L1 loss (Charbonnier et al., "Two deterministic half-quadratic
    regularization algorithms for computed imaging", ICIP 1994; used as in
    LapSRN, Lai et al. 2017).

    Args:
        predictions (array): The predicted values.
        targets (array): The target values, of the shape of ``predictions``.
        eps (float, optional): The smoothing constant, ``> 0``. Default: ``1e-3``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.
    """
    return _ext.charbonnier_loss(
        as_array("predictions", predictions), as_array("targets", targets), as_number("eps", eps),
        as_reduction(reduction),
    )


@loss_function()
def quantile_loss(
    predictions: mx.array, targets: mx.array, tau: float = 0.5, reduction: Reduction = "mean"
) -> mx.array:
    """Quantile (pinball) loss, ``max(tau * e, (tau - 1) * e)`` with ``e = targets - predictions``.

    Minimised by the ``tau``-quantile of the targets (Koenker & Bassett,
    "Regression Quantiles", Econometrica 1978); ``tau = 0.5`` is half the L1 loss.

    Args:
        predictions (array): The predicted quantiles.
        targets (array): The target values, of the shape of ``predictions``.
        tau (float, optional): The quantile, in ``[0, 1]``. Default: ``0.5``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.
    """
    return _ext.quantile_loss(
        as_array("predictions", predictions), as_array("targets", targets), as_number("tau", tau),
        as_reduction(reduction),
    )


@loss_function()
def mape_loss(
    predictions: mx.array, targets: mx.array, eps: float = 1e-8, reduction: Reduction = "mean"
) -> mx.array:
    """Mean absolute percentage error, ``|predictions - targets| / max(|targets|, eps)``.

    As scikit-learn's ``mean_absolute_percentage_error`` (a fraction, not a
    percentage).

    Args:
        predictions (array): The predicted values.
        targets (array): The target values, of the shape of ``predictions``.
        eps (float, optional): Lower bound of the denominator, ``> 0``. Default: ``1e-8``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.
    """
    return _ext.mape_loss(
        as_array("predictions", predictions), as_array("targets", targets), as_number("eps", eps),
        as_reduction(reduction),
    )


@loss_function()
def msle_loss(
    predictions: mx.array, targets: mx.array, reduction: Reduction = "mean"
) -> mx.array:
    """Mean squared logarithmic error, ``(log1p(predictions) - log1p(targets))**2``.

    As scikit-learn's ``mean_squared_log_error`` and Keras' ``MSLE``. As
    ``log1p``, a value below ``-1`` (``-inf`` included) gives NaN and ``-1``
    itself an infinite loss.

    Args:
        predictions (array): The predicted values (``> -1``).
        targets (array): The target values (``> -1``), of the shape of ``predictions``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.
    """
    return _ext.msle_loss(
        as_array("predictions", predictions), as_array("targets", targets), as_reduction(reduction)
    )


@loss_function(replaces="hinge_loss")
def hinge_loss(
    inputs: mx.array, targets: mx.array, reduction: Reduction = "none"
) -> mx.array:
    """Hinge loss, ``max(0, 1 - inputs * targets)``, as ``mlx.nn.losses.hinge_loss``.

    Args:
        inputs (array): The predicted values.
        targets (array): The target values, ``-1`` or ``1`` (broadcast against ``inputs``).
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'none'``.
    """
    return _ext.hinge_loss(
        as_array("inputs", inputs), as_array("targets", targets), as_reduction(reduction)
    )


@loss_function()
def squared_hinge_loss(
    inputs: mx.array, targets: mx.array, reduction: Reduction = "none"
) -> mx.array:
    """Squared hinge loss, ``max(0, 1 - inputs * targets)**2`` (Keras' ``squared_hinge``).

    Args:
        inputs (array): The predicted values.
        targets (array): The target values, ``-1`` or ``1`` (broadcast against ``inputs``).
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'none'``.
    """
    return _ext.squared_hinge_loss(
        as_array("inputs", inputs), as_array("targets", targets), as_reduction(reduction)
    )


@loss_function(replaces="margin_ranking_loss")
def margin_ranking_loss(
    inputs1: mx.array,
    inputs2: mx.array,
    targets: mx.array,
    margin: float = 0.0,
    reduction: Reduction = "none",
) -> mx.array:
    """Margin ranking loss, ``max(0, -targets * (inputs1 - inputs2) + margin)``.

    As ``mlx.nn.losses.margin_ranking_loss``.

    Args:
        inputs1 (array): Scores for the first input.
        inputs2 (array): Scores for the second input, of the same shape.
        targets (array): ``1`` where ``inputs1`` should rank higher, ``-1`` otherwise.
        margin (float, optional): The margin. Default: ``0.0``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'none'``.
    """
    return _ext.margin_ranking_loss(
        as_array("inputs1", inputs1), as_array("inputs2", inputs2), as_array("targets", targets),
        as_number("margin", margin), as_reduction(reduction),
    )


@loss_function(replaces="gaussian_nll_loss")
def gaussian_nll_loss(
    inputs: mx.array,
    targets: mx.array,
    vars: mx.array,
    full: bool = False,
    eps: float = 1e-6,
    reduction: Reduction = "mean",
) -> mx.array:
    """Gaussian negative log likelihood, as ``mlx.nn.losses.gaussian_nll_loss``.

    ``0.5 * (log(max(vars, eps)) + (targets - inputs)**2 / max(vars, eps))``,
    plus ``0.5 * log(2 pi)`` when ``full``. As in MLX, the clamp passes no
    gradient to ``vars`` where ``vars <= eps`` (PyTorch passes it through).

    Args:
        inputs (array): The predicted means.
        targets (array): The target values (samples), of the shape of ``inputs``.
        vars (array): The predicted variances, of the shape of ``inputs``.
        full (bool, optional): Include the constant term. Default: ``False``.
        eps (float, optional): Lower bound of the variance, ``> 0``. Default: ``1e-6``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.
    """
    return _ext.gaussian_nll_loss(
        as_array("inputs", inputs), as_array("targets", targets), as_array("vars", vars),
        as_flag("full", full), as_number("eps", eps), as_reduction(reduction),
    )


@loss_function()
def poisson_nll_loss(
    inputs: mx.array,
    targets: mx.array,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: Reduction = "mean",
) -> mx.array:
    """Poisson negative log likelihood, as PyTorch's ``F.poisson_nll_loss``.

    ``exp(inputs) - targets * inputs`` when ``log_input``, else
    ``inputs - targets * log(inputs + eps)``; ``full`` adds Stirling's
    approximation ``targets * log(targets) - targets + 0.5 * log(2 pi targets)``
    where ``targets > 1``.

    Args:
        inputs (array): The predicted rates (their logs when ``log_input``).
        targets (array): The observed counts, of the shape of ``inputs``.
        log_input (bool, optional): Whether ``inputs`` are log-rates. Default: ``True``.
        full (bool, optional): Add the Stirling term. Default: ``False``.
        eps (float, optional): Added inside the log when not ``log_input``, ``> 0``.
            Default: ``1e-8``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.
    """
    return _ext.poisson_nll_loss(
        as_array("inputs", inputs), as_array("targets", targets),
        as_flag("log_input", log_input), as_flag("full", full),
        as_number("eps", eps), as_reduction(reduction),
    )


@loss_function(replaces="binary_cross_entropy")
def binary_cross_entropy(
    inputs: mx.array,
    targets: mx.array,
    weights: Optional[mx.array] = None,
    with_logits: bool = True,
    reduction: Reduction = "mean",
    pos_weight: Optional[mx.array] = None,
) -> mx.array:
    """Binary cross-entropy, as ``mlx.nn.losses.binary_cross_entropy``, plus ``pos_weight``.

    With logits: ``(1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)``, which is
    ``softplus(x) - x y`` without ``pos_weight``; with probabilities:
    ``-(pos_weight y log(x) + (1 - y) log(1 - x))`` with each log clamped at
    ``-100`` (as MLX and PyTorch).

    Args:
        inputs (array): Logits if ``with_logits``, else probabilities.
        targets (array): Binary targets in ``[0, 1]``, of the shape of ``inputs``.
        weights (array, optional): Per-element weights, of the shape of ``inputs``.
        with_logits (bool, optional): Whether ``inputs`` are logits. Default: ``True``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``.
        pos_weight (array, optional): Weight of the positive class, broadcast
            against ``targets`` (e.g. one per class), as PyTorch's
            ``BCEWithLogitsLoss(pos_weight=...)``. Default: ``None`` (1).
    """
    inputs = as_array("inputs", inputs)
    return _ext.binary_cross_entropy(
        inputs, as_array("targets", targets), as_optional_array("weights", weights, inputs),
        as_flag("with_logits", with_logits), as_reduction(reduction),
        as_optional_array("pos_weight", pos_weight, inputs),
    )


@loss_function()
def sigmoid_focal_loss(
    inputs: mx.array,
    targets: mx.array,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: Reduction = "none",
) -> mx.array:
    """Sigmoid focal loss, as ``torchvision.ops.sigmoid_focal_loss``.

    ``alpha_t * bce_with_logits(inputs, targets) * (1 - p_t)**gamma`` with
    ``p = sigmoid(inputs)``, ``p_t = p y + (1 - p)(1 - y)`` and
    ``alpha_t = alpha y + (1 - alpha)(1 - y)`` (Lin et al., "Focal Loss for
    Dense Object Detection", ICCV 2017).

    Args:
        inputs (array): Logits.
        targets (array): Binary targets in ``[0, 1]``, of the shape of ``inputs``.
        alpha (float, optional): Weight of the positive class in ``[0, 1]``;
            negative disables the weighting. Default: ``0.25``.
        gamma (float, optional): Focusing exponent, ``>= 0``. Default: ``2.0``.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'none'``.
    """
    return _ext.sigmoid_focal_loss(
        as_array("inputs", inputs), as_array("targets", targets), as_number("alpha", alpha),
        as_number("gamma", gamma), as_reduction(reduction),
    )
