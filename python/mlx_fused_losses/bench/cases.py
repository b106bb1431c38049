"""The benchmark's loss cases: data, so a new family adds entries, not code.

A :class:`Case` names a function of ``mlx_fused_losses`` and says how to build
inputs in its domain for ``n`` elements (a row-softmax case: ``n / row_length``
rows of ``row_length`` logits), which stock MLX computation it replaces
(``mlx.nn.losses`` itself, or, for losses MLX lacks, the usual formula written
with stock ``mx`` ops), the PyTorch function if PyTorch has the loss, any extra
MLX baselines (``mx.fast.cross_entropy``) and which inputs are differentiated.

Every callable takes the inputs positionally, then ``reduction=`` and the
case's ``params`` as keywords, so fused, stock and torch calls are uniform.
A case whose function the package does not (yet) have is skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import mlx.core as mx
import mlx.nn.losses as nn_losses

import mlx_fused_losses

from ..patch import _originals

POINTWISE, ROW_SOFTMAX, ROW_DISTANCE = "pointwise", "row-softmax", "row-distance"
FAMILIES = (POINTWISE, ROW_SOFTMAX, ROW_DISTANCE)
# Default row length of the row-softmax cases (a 32k LLM vocabulary, as in the
# 8192 x 32000 benchmark): logits are (n // row_length, row_length).
ROW_LENGTH = 32000
# Length of the row-distance cases' vectors: inputs are (n // VECTOR_SIZE, VECTOR_SIZE).
VECTOR_SIZE = 256
# Each family's headline size (`--sizes headline`), as the README's results.
HEADLINE_SIZES = {POINTWISE: 16 << 20, ROW_SOFTMAX: 8192 * ROW_LENGTH,
                  ROW_DISTANCE: 65536 * VECTOR_SIZE}


@dataclass(frozen=True)
class Case:
    name: str  # the function of mlx_fused_losses
    # (n, PRNG key) -> float32/int inputs; row-softmax: (n, key, row_length)
    make_inputs: Callable[..., List[mx.array]]
    stock: Callable  # stock MLX: mlx.nn.losses, or the formula in stock mx ops
    stock_label: str = "mlx.nn.losses"
    params: Dict = field(default_factory=dict)
    grad_argnums: Tuple[int, ...] = (0,)  # inputs a training step differentiates
    torch: Optional[Callable] = None  # (*tensors, reduction, **params), None: PyTorch lacks it
    torch_label: str = "torch.nn.functional"
    extra: Dict[str, Callable] = field(default_factory=dict)  # more MLX baselines, by label
    family: str = POINTWISE
    fused: Optional[Callable] = None  # default: getattr(mlx_fused_losses, name)
    gather: bool = False  # the fused kernel reads one element per row of input 0 (nll_loss)

    def inputs(self, n: int, key: mx.array, row_length: int = ROW_LENGTH) -> List[mx.array]:
        """The case's inputs with ``n`` elements in the first (the logits, for rows)."""
        if self.family == ROW_SOFTMAX:
            return self.make_inputs(n, key, row_length)
        return self.make_inputs(n, key)

    def available(self) -> bool:
        return self.fused is not None or hasattr(mlx_fused_losses, self.name)

    def fused_fn(self) -> Callable:
        return self.fused or getattr(mlx_fused_losses, self.name)


def stock_mlx(name: str) -> Callable:
    """``mlx.nn.losses.<name>``, MLX's own even while :func:`patch_mlx` is in effect."""
    return _originals.get(name) or getattr(nn_losses, name)


def _reduce(loss: mx.array, reduction: str) -> mx.array:
    if reduction == "mean":
        return mx.mean(loss)
    if reduction == "sum":
        return mx.sum(loss)
    return loss


# ------------------------------------------------------------ input builders
# Each returns float32 (or int32) arrays; the runner casts floats to the dtype.
def _keys(key, k):
    return mx.random.split(key, k)


def _normal(scale=1.0):
    return lambda n, key: scale * mx.random.normal((n,), key=key)


def _uniform(lo, hi):
    return lambda n, key: mx.random.uniform(lo, hi, (n,), key=key)


def _signs(n, key):
    return mx.where(mx.random.bernoulli(0.5, (n,), key=key), 1.0, -1.0)


def _binary(n, key):
    return mx.random.bernoulli(0.5, (n,), key=key).astype(mx.float32)


def _counts(n, key):
    return mx.floor(mx.random.uniform(0.0, 5.0, (n,), key=key))


def _away_from_zero(n, key):  # |t| in [0.5, 1.5]: MAPE's denominator
    k1, k2 = _keys(key, 2)
    return _signs(n, k1) * mx.random.uniform(0.5, 1.5, (n,), key=k2)


def _apart(targets=None) -> Callable:
    """(predictions, targets) at least 0.25 apart, even rounded to bfloat16.

    The inputs stay off the kinks (l1, quantile, mape, rmse's sqrt(d**2) at
    d = 0), where the fused kernels and stock MLX may pick different
    subgradients: the guard checks the math, the tests check the conventions.
    """
    targets = targets or _normal()

    def make(n, key):
        k1, k2, k3 = _keys(key, 3)
        t = targets(n, k1)
        return [t + _signs(n, k2) * (0.25 + mx.abs(mx.random.normal((n,), key=k3))), t]

    return make


def _off_hinge(n, key):  # 2 N(0, 1) without |x| in [0.9, 1.1]: hinge's kink is x y = 1
    x = 2.0 * mx.random.normal((n,), key=key)
    return mx.where(mx.abs(mx.abs(x) - 1.0) < 0.1, 1.25 * x, x)


def _ranked(n, key):  # inputs1, inputs2 apart (margin 0), and the signs
    k1, k2 = _keys(key, 2)
    return _apart()(n, k1) + [_signs(n, k2)]


def elementwise(*samplers) -> Callable:
    """Inputs of n elements each, one per sampler ``(n, key) -> array``."""

    def make(n, key):
        return [s(n, k) for s, k in zip(samplers, _keys(key, len(samplers)))]

    return make


def rows_of_logits(n, key, row_length):
    """Logits (n // row_length, row_length), and class indices, one per row.

    Fewer than ``row_length`` elements make one row of ``n``.
    """
    classes = min(row_length, n)
    rows = max(1, n // classes)
    k1, k2 = _keys(key, 2)
    return [
        2.0 * mx.random.normal((rows, classes), key=k1),
        mx.random.randint(0, classes, (rows,), key=k2).astype(mx.int32),
    ]


def _log_probabilities(n, key, row_length):  # nll_loss's inputs: log-softmax, indices
    logits, targets = rows_of_logits(n, key, row_length)
    return [logits - mx.logsumexp(logits, axis=-1, keepdims=True), targets]


def _two_log_distributions(n, key, row_length):  # kl_div_loss's (MLX: both log-probabilities)
    return [_log_probabilities(n, k, row_length)[0] for k in _keys(key, 2)]


# ------------------------------------------- stock-op formulas MLX lacks
# The usual way to write each loss with stock MLX ops (the fused kernels'
# docstrings cite the definitions).
def rmse_stock(predictions, targets, reduction="mean"):
    return mx.sqrt(stock_mlx("mse_loss")(predictions, targets, reduction=reduction))


def charbonnier_stock(predictions, targets, eps=1e-3, reduction="mean"):
    return _reduce(mx.sqrt(mx.square(predictions - targets) + eps * eps), reduction)


def quantile_stock(predictions, targets, tau=0.5, reduction="mean"):
    e = targets - predictions
    return _reduce(mx.maximum(tau * e, (tau - 1) * e), reduction)


def mape_stock(predictions, targets, eps=1e-8, reduction="mean"):
    return _reduce(mx.abs(predictions - targets) / mx.maximum(mx.abs(targets), eps), reduction)


def msle_stock(predictions, targets, reduction="mean"):
    return _reduce(mx.square(mx.log1p(predictions) - mx.log1p(targets)), reduction)


def squared_hinge_stock(inputs, targets, reduction="none"):
    return _reduce(mx.square(mx.maximum(1 - inputs * targets, 0)), reduction)


def poisson_nll_stock(inputs, targets, log_input=True, full=False, eps=1e-8, reduction="mean"):
    if log_input:
        loss = mx.exp(inputs) - targets * inputs
    else:
        loss = inputs - targets * mx.log(inputs + eps)
    if full:
        stirling = targets * mx.log(targets) - targets + 0.5 * mx.log(2 * math.pi * targets)
        loss = loss + mx.where(targets > 1, stirling, 0)
    return _reduce(loss, reduction)


def sigmoid_focal_stock(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    # torchvision.ops.sigmoid_focal_loss, in stock MLX ops.
    p = mx.sigmoid(inputs)
    ce = stock_mlx("binary_cross_entropy")(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce(loss, reduction)


def softmax_focal_stock(logits, targets, alpha=None, gamma=2.0, reduction="none"):
    # -alpha (1 - p_y)^gamma log p_y (Lin et al. 2017, softmax form), in stock MLX ops.
    log_p = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    log_p_y = mx.take_along_axis(log_p, targets[..., None], axis=-1).squeeze(-1)
    loss = -((1 - mx.exp(log_p_y)) ** gamma) * log_p_y
    return _reduce(loss if alpha is None else alpha * loss, reduction)


def fast_cross_entropy(logits, targets, reduction="none"):
    # mx.fast.cross_entropy takes class indices and returns the per-row loss.
    return _reduce(mx.fast.cross_entropy(logits, targets), reduction)


# ------------------------------------------------------------- row-distance
def vectors(count: int, targets: Optional[Callable] = None) -> Callable:
    """``count`` batches of (n // VECTOR_SIZE, VECTOR_SIZE) vectors (one row of n
    if n is smaller), then, if given, the per-row ``targets(rows, key)``."""

    def make(n, key):
        size = min(VECTOR_SIZE, n)
        rows = max(1, n // size)
        keys = _keys(key, count + 1)
        out = [mx.random.normal((rows, size), key=k) for k in keys[:count]]
        return out + ([targets(rows, keys[count])] if targets else [])

    return make


def _cosine(x1, x2, eps):
    norms = mx.sqrt(mx.sum(x1 * x1, axis=-1)) * mx.sqrt(mx.sum(x2 * x2, axis=-1))
    return mx.sum(x1 * x2, axis=-1) / mx.maximum(norms, eps)


def contrastive_stock(x1, x2, targets, margin=1.0, p=2, eps=1e-6, reduction="mean"):
    d = mx.power(mx.sum(mx.power(mx.abs(x1 - x2), p), axis=-1) + eps, 1.0 / p)
    hinge = mx.maximum(margin - d, 0)
    return _reduce(targets * d * d + (1 - targets) * hinge * hinge, reduction)


def cosine_embedding_stock(x1, x2, targets, margin=0.0, eps=1e-8, reduction="mean"):
    cos = _cosine(x1, x2, eps)
    loss = mx.where(targets == 1, 1 - cos, mx.maximum(cos - margin, 0))
    return _reduce(loss, reduction)


def _torch_reduce(loss, reduction):
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _torch_cosine_similarity(x1, x2, eps=1e-8, reduction="none"):
    return _torch_reduce(_F().cosine_similarity(x1, x2, dim=-1, eps=eps), reduction)


def _torch_triplet(a, p_, n, p=2, margin=1.0, eps=1e-6, reduction="none"):
    return _F().triplet_margin_loss(a, p_, n, margin=margin, p=p, eps=eps, reduction=reduction)


def _torch_contrastive(x1, x2, targets, margin=1.0, p=2, eps=1e-6, reduction="mean"):
    d = ((x1 - x2).abs().pow(p).sum(-1) + eps).pow(1.0 / p)
    hinge = (margin - d).clamp_min(0)
    return _torch_reduce(targets * d * d + (1 - targets) * hinge * hinge, reduction)


def _torch_cosine_embedding(x1, x2, targets, margin=0.0, eps=1e-8, reduction="mean"):
    return _F().cosine_embedding_loss(x1, x2, targets, margin=margin, reduction=reduction)


# ------------------------------------------------------------ PyTorch calls
# Imported lazily: PyTorch is optional.
def _F():
    import torch.nn.functional as F

    return F


# ---------------------------------------------------------- contrastive losses
EMBEDDING_SIZE = 128


def _embedding_pairs(n, key, row_length):
    """Two (N, 128) embedding batches whose N x N similarity matrix has about
    ``n`` elements (N from 2 to 4096: the matmul grows as N^2)."""
    n_rows = max(2, min(4096, math.isqrt(n)))
    k1, k2 = _keys(key, 2)
    shape = (n_rows, EMBEDDING_SIZE)
    return [mx.random.normal(shape, key=k1), mx.random.normal(shape, key=k2)]


def _unit_rows(x):
    return x / mx.maximum(mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True)), 1e-12)


def info_nce_stock(query, keys, temperature=0.1, reduction="mean"):
    logits = _unit_rows(query) @ _unit_rows(keys).T / temperature
    return stock_mlx("cross_entropy")(logits, mx.arange(query.shape[0]), reduction=reduction)


def clip_stock(image_embeds, text_embeds, temperature=0.07, reduction="mean"):
    logits = _unit_rows(image_embeds) @ _unit_rows(text_embeds).T / temperature
    labels = mx.arange(image_embeds.shape[0])
    ce = stock_mlx("cross_entropy")
    return _reduce(0.5 * (ce(logits, labels) + ce(logits.T, labels)), reduction)


def nt_xent_stock(z1, z2, temperature=0.5, reduction="mean"):
    n = z1.shape[0]
    z = _unit_rows(mx.concatenate([z1, z2]))
    sim = mx.where(mx.eye(2 * n, dtype=mx.bool_), -math.inf, z @ z.T / temperature)
    labels = mx.concatenate([mx.arange(n, 2 * n), mx.arange(n)])
    return stock_mlx("cross_entropy")(sim, labels, reduction=reduction)


def _torch_unit_rows(x):
    return _F().normalize(x, dim=-1)


def _torch_info_nce(query, keys, temperature=0.1, reduction="mean"):
    import torch

    logits = _torch_unit_rows(query) @ _torch_unit_rows(keys).T / temperature
    return _F().cross_entropy(logits, torch.arange(query.shape[0]), reduction=reduction)


def _torch_clip(image_embeds, text_embeds, temperature=0.07, reduction="mean"):
    import torch

    logits = _torch_unit_rows(image_embeds) @ _torch_unit_rows(text_embeds).T / temperature
    labels = torch.arange(image_embeds.shape[0])
    loss = 0.5 * (_F().cross_entropy(logits, labels, reduction="none")
                  + _F().cross_entropy(logits.T, labels, reduction="none"))
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _torch_nt_xent(z1, z2, temperature=0.5, reduction="mean"):
    import torch

    n = z1.shape[0]
    z = _torch_unit_rows(torch.cat([z1, z2]))
    sim = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), -math.inf)
    labels = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return _F().cross_entropy(sim, labels, reduction=reduction)


def _torch_sigmoid_focal(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    # torchvision.ops.sigmoid_focal_loss (torchvision 0.2x), in torch ops.
    import torch

    p = torch.sigmoid(inputs)
    ce = _F().binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _torch_softmax_focal(logits, targets, alpha=None, gamma=2.0, reduction="none"):
    # The same formula in torch ops (PyTorch has no multi-class focal loss).
    log_p_y = _F().log_softmax(logits, dim=-1).gather(-1, targets[..., None]).squeeze(-1)
    loss = -((1 - log_p_y.exp()) ** gamma) * log_p_y
    loss = loss if alpha is None else alpha * loss
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _torch_kl_div(inputs, targets, reduction="none"):
    # mlx.nn.losses.kl_div_loss sums over the class axis, then reduces the rows.
    if reduction == "mean":
        return _F().kl_div(inputs, targets, reduction="batchmean", log_target=True)
    if reduction == "sum":
        return _F().kl_div(inputs, targets, reduction="sum", log_target=True)
    return _F().kl_div(inputs, targets, reduction="none", log_target=True).sum(-1)


TORCH = {
    "mse_loss": lambda p, t, reduction: _F().mse_loss(p, t, reduction=reduction),
    "l1_loss": lambda p, t, reduction: _F().l1_loss(p, t, reduction=reduction),
    "rmse_loss": lambda p, t, reduction: _F().mse_loss(p, t, reduction=reduction).sqrt(),
    "huber_loss": lambda x, t, reduction, delta: _F().huber_loss(
        x, t, reduction=reduction, delta=delta),
    "smooth_l1_loss": lambda p, t, reduction, beta: _F().smooth_l1_loss(
        p, t, reduction=reduction, beta=beta),
    "margin_ranking_loss": lambda a, b, y, reduction, margin: _F().margin_ranking_loss(
        a, b, y, margin=margin, reduction=reduction),
    "gaussian_nll_loss": lambda x, t, v, reduction, full, eps: _F().gaussian_nll_loss(
        x, t, v, full=full, eps=eps, reduction=reduction),
    "poisson_nll_loss": lambda x, t, reduction, log_input, full, eps: _F().poisson_nll_loss(
        x, t, log_input=log_input, full=full, eps=eps, reduction=reduction),
    "binary_cross_entropy": lambda x, t, reduction, with_logits: (
        _F().binary_cross_entropy_with_logits(x, t, reduction=reduction)
        if with_logits else _F().binary_cross_entropy(x, t, reduction=reduction)),
    "cross_entropy": lambda x, t, reduction: _F().cross_entropy(x, t, reduction=reduction),
    "nll_loss": lambda x, t, reduction: _F().nll_loss(x, t, reduction=reduction),
}

_pair = elementwise(_normal(), _normal())

CASES: List[Case] = [
    # ------------------------------------------------------------- pointwise
    Case("mse_loss", _pair, stock_mlx("mse_loss"), torch=TORCH["mse_loss"]),
    Case("l1_loss", _apart(), stock_mlx("l1_loss"), torch=TORCH["l1_loss"]),
    Case("rmse_loss", _apart(), rmse_stock, "stock ops", torch=TORCH["rmse_loss"],
         torch_label="sqrt(F.mse_loss)"),
    Case("huber_loss", elementwise(_normal(2.0), _normal()), stock_mlx("huber_loss"),
         params={"delta": 1.0}, torch=TORCH["huber_loss"]),
    Case("smooth_l1_loss", elementwise(_normal(2.0), _normal()), stock_mlx("smooth_l1_loss"),
         params={"beta": 1.0}, torch=TORCH["smooth_l1_loss"]),
    Case("log_cosh_loss", elementwise(_normal(3.0), _normal()), stock_mlx("log_cosh_loss")),
    Case("charbonnier_loss", _pair, charbonnier_stock, "stock ops", params={"eps": 1e-3}),
    Case("quantile_loss", _apart(), quantile_stock, "stock ops", params={"tau": 0.3}),
    Case("mape_loss", _apart(_away_from_zero), mape_stock, "stock ops",
         params={"eps": 1e-8}),
    Case("msle_loss", elementwise(_uniform(0.0, 3.0), _uniform(0.0, 3.0)), msle_stock,
         "stock ops"),
    Case("hinge_loss", elementwise(_off_hinge, _signs), stock_mlx("hinge_loss")),
    Case("squared_hinge_loss", elementwise(_off_hinge, _signs), squared_hinge_stock,
         "stock ops"),
    Case("margin_ranking_loss", _ranked,
         stock_mlx("margin_ranking_loss"), params={"margin": 0.0}, grad_argnums=(0, 1),
         torch=TORCH["margin_ranking_loss"]),
    Case("gaussian_nll_loss", elementwise(_normal(), _normal(), _uniform(0.1, 2.1)),
         stock_mlx("gaussian_nll_loss"), params={"full": False, "eps": 1e-6},
         grad_argnums=(0, 2), torch=TORCH["gaussian_nll_loss"]),
    Case("poisson_nll_loss", elementwise(_normal(0.5), _counts), poisson_nll_stock, "stock ops",
         params={"log_input": True, "full": False, "eps": 1e-8},
         torch=TORCH["poisson_nll_loss"]),
    Case("binary_cross_entropy", elementwise(_normal(3.0), _uniform(0.0, 1.0)),
         stock_mlx("binary_cross_entropy"), params={"with_logits": True},
         torch=TORCH["binary_cross_entropy"], torch_label="F.binary_cross_entropy_with_logits"),
    Case("sigmoid_focal_loss", elementwise(_normal(3.0), _binary), sigmoid_focal_stock,
         "stock ops (torchvision formula)", params={"alpha": 0.25, "gamma": 2.0},
         torch=_torch_sigmoid_focal, torch_label="torchvision formula in torch ops"),
    # ------------------------------------- row-softmax (logits (rows, row_length))
    Case("cross_entropy", rows_of_logits, stock_mlx("cross_entropy"), family=ROW_SOFTMAX,
         torch=TORCH["cross_entropy"], extra={"mx.fast.cross_entropy": fast_cross_entropy}),
    Case("nll_loss", _log_probabilities, stock_mlx("nll_loss"), family=ROW_SOFTMAX,
         torch=TORCH["nll_loss"], gather=True),
    Case("kl_div_loss", _two_log_distributions, stock_mlx("kl_div_loss"), family=ROW_SOFTMAX,
         torch=_torch_kl_div, torch_label="F.kl_div(log_target=True)"),
    Case("softmax_focal_loss", rows_of_logits, softmax_focal_stock, "stock ops",
         params={"gamma": 2.0}, family=ROW_SOFTMAX, torch=_torch_softmax_focal,
         torch_label="the formula in torch ops"),
    # ------------ contrastive (two (N, 128) embedding batches, N x N similarities)
    Case("info_nce_loss", _embedding_pairs, info_nce_stock, "stock ops", family=ROW_SOFTMAX,
         grad_argnums=(0, 1), torch=_torch_info_nce, torch_label="the formula in torch ops"),
    Case("nt_xent_loss", _embedding_pairs, nt_xent_stock, "stock ops", family=ROW_SOFTMAX,
         grad_argnums=(0, 1), torch=_torch_nt_xent, torch_label="the formula in torch ops"),
    Case("clip_loss", _embedding_pairs, clip_stock, "stock ops", family=ROW_SOFTMAX,
         grad_argnums=(0, 1), torch=_torch_clip, torch_label="the formula in torch ops"),
    # ------------------- row-distance ((n / 256, 256) vectors, per-row targets)
    Case("cosine_similarity_loss", vectors(2), stock_mlx("cosine_similarity_loss"),
         params={"eps": 1e-8}, grad_argnums=(0, 1), family=ROW_DISTANCE,
         torch=_torch_cosine_similarity, torch_label="F.cosine_similarity"),
    Case("triplet_loss", vectors(3), stock_mlx("triplet_loss"),
         params={"p": 2, "margin": 1.0, "eps": 1e-6}, grad_argnums=(0, 1, 2),
         family=ROW_DISTANCE, torch=_torch_triplet, torch_label="F.triplet_margin_loss"),
    Case("contrastive_loss", vectors(2, lambda rows, key: _binary(rows, key)),
         contrastive_stock, "stock ops", params={"margin": 1.0, "p": 2, "eps": 1e-6},
         grad_argnums=(0, 1), family=ROW_DISTANCE, torch=_torch_contrastive,
         torch_label="the formula in torch ops"),
    Case("cosine_embedding_loss", vectors(2, lambda rows, key: _signs(rows, key)),
         cosine_embedding_stock, "stock ops", params={"margin": 0.0, "eps": 1e-8},
         grad_argnums=(0, 1), family=ROW_DISTANCE, torch=_torch_cosine_embedding,
         torch_label="F.cosine_embedding_loss"),
]


def case_names() -> List[str]:
    return [c.name for c in CASES]


def bytes_moved(inputs, output, grads, gather: bool = False) -> Dict[str, int]:
    """The bytes a fused kernel must move at least, per mode.

    Model: the forward reads every input once and writes its output;
    ``value_and_grad`` also writes one gradient per differentiated input, and
    reads the inputs once, the least any implementation can (the pointwise CPU
    gradients do; a separate gradient pass reads them twice, and shows as a
    lower share of this roofline). With ``gather``, only one element per row
    of the first input is read.
    """
    read = sum(a.nbytes for a in inputs)
    if gather:
        read -= inputs[0].nbytes - inputs[0].nbytes // inputs[0].shape[-1]
    out = output.nbytes
    written_grads = sum(g.nbytes for g in grads)
    return {
        "forward_read": read,
        "forward_written": out,
        "value_and_grad_read": read,
        "value_and_grad_written": out + written_grads,
    }
