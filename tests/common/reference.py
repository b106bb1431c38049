"""Independent float64 numpy references for the pointwise losses.

Each entry is written from the loss's published definition (the docstrings
cite them), not from the package's kernels. Used by the CPU tests and by the
Metal emulator tests, so both backends are held to the same formulas.

``POINTWISE[name]`` describes one loss:
  - ``operands``: the names of the array arguments, in call order;
  - ``ref(*operands, **params)``: the per-element loss in float64;
  - ``sample(rng, shape)``: operands in the loss's domain (away from kinks);
  - ``params``: keyword parameters to test with;
  - ``kind``: the kernel's loss kind (``kernels/pointwise/losses.h``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Sequence

import numpy as np

LOG_2PI = np.log(2.0 * np.pi)


def softplus(x):
    return np.logaddexp(0.0, x)


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def ref_bce_logits(x, y, pos_weight=1.0):
    # PyTorch BCEWithLogitsLoss: -(pw * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x)))
    return -(pos_weight * y * -softplus(-x) + (1.0 - y) * -softplus(x))


def ref_bce_probs(p, y, pos_weight=1.0):
    with np.errstate(divide="ignore"):
        lp = np.maximum(np.log(p), -100.0)
        lq = np.maximum(np.log(1.0 - p), -100.0)
    return -(pos_weight * y * lp + (1.0 - y) * lq)


def ref_huber(x, y, delta=1.0):
    a = np.abs(x - y)
    return np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta))


def ref_smooth_l1(x, y, beta=1.0):
    a = np.abs(x - y)
    if beta == 0:
        return a
    return np.where(a < beta, 0.5 * a**2 / beta, a - 0.5 * beta)


def ref_gaussian_nll(mu, y, var, full=False, eps=1e-6):
    v = np.maximum(var, eps)
    out = 0.5 * (np.log(v) + (y - mu) ** 2 / v)
    return out + (0.5 * LOG_2PI if full else 0.0)


def ref_poisson_nll(x, y, log_input=True, full=False, eps=1e-8):
    out = np.exp(x) - y * x if log_input else x - y * np.log(x + eps)
    if full:
        with np.errstate(divide="ignore", invalid="ignore"):
            stirling = y * np.log(y) - y + 0.5 * np.log(2 * np.pi * y)
        out = out + np.where(y > 1, stirling, 0.0)
    return out


def ref_log_cosh(x, y):
    # log(cosh(a)) = log1p(cosh(a) - 1) = log1p(2 sinh(a/2)**2): no cancellation
    # for small |a| (np.log(np.cosh(a)) keeps only ~1e-16 absolute there); the
    # asymptotic form where sinh would overflow.
    a = np.abs(x - y)
    with np.errstate(over="ignore"):
        small = np.log1p(2.0 * np.sinh(0.5 * a) ** 2)
    return np.where(a < 20.0, small, a - np.log(2.0) + np.log1p(np.exp(-2.0 * a)))


def ref_sigmoid_focal(x, y, alpha=0.25, gamma=2.0):
    p = sigmoid(x)
    ce = ref_bce_logits(x, y)  # torchvision: F.binary_cross_entropy_with_logits
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def _normal(rng, shape, scale=1.0, offset=0.0):
    return rng.standard_normal(shape) * scale + offset


def _signs(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape)


@dataclass
class PointwiseLoss:
    kind: str
    operands: Sequence[str]
    ref: Callable
    sample: Callable
    params: Dict = field(default_factory=dict)
    # Default reduction of the Python function.
    reduction: str = "mean"


POINTWISE: Dict[str, PointwiseLoss] = {
    "mse_loss": PointwiseLoss(
        "mse", ("predictions", "targets"), lambda x, y: (x - y) ** 2,
        lambda r, s: (_normal(r, s), _normal(r, s)),
    ),
    "l1_loss": PointwiseLoss(
        "l1", ("predictions", "targets"), lambda x, y: np.abs(x - y),
        lambda r, s: (_normal(r, s), _normal(r, s)),
    ),
    "rmse_loss": PointwiseLoss(
        "mse", ("predictions", "targets"), lambda x, y: (x - y) ** 2,  # sqrt after reduction
        lambda r, s: (_normal(r, s), _normal(r, s)),
    ),
    "huber_loss": PointwiseLoss(
        "huber", ("inputs", "targets"), ref_huber,
        lambda r, s: (_normal(r, s, 2.0), _normal(r, s)), {"delta": 0.7}, "none",
    ),
    "smooth_l1_loss": PointwiseLoss(
        "smooth_l1", ("predictions", "targets"), ref_smooth_l1,
        lambda r, s: (_normal(r, s, 2.0), _normal(r, s)), {"beta": 0.6},
    ),
    "log_cosh_loss": PointwiseLoss(
        "log_cosh", ("inputs", "targets"), ref_log_cosh,
        lambda r, s: (_normal(r, s, 3.0), _normal(r, s)), {}, "none",
    ),
    "charbonnier_loss": PointwiseLoss(
        "charbonnier", ("predictions", "targets"),
        lambda x, y, eps=1e-3: np.sqrt((x - y) ** 2 + eps**2),
        lambda r, s: (_normal(r, s), _normal(r, s)), {"eps": 0.01},
    ),
    "quantile_loss": PointwiseLoss(
        "quantile", ("predictions", "targets"),
        lambda x, y, tau=0.5: np.maximum(tau * (y - x), (tau - 1) * (y - x)),
        lambda r, s: (_normal(r, s), _normal(r, s)), {"tau": 0.3},
    ),
    "mape_loss": PointwiseLoss(
        "mape", ("predictions", "targets"),
        lambda x, y, eps=1e-8: np.abs(x - y) / np.maximum(np.abs(y), eps),
        lambda r, s: (_normal(r, s), _signs(r, s) * (0.5 + r.random(s))), {"eps": 1e-3},
    ),
    "msle_loss": PointwiseLoss(
        "msle", ("predictions", "targets"),
        lambda x, y: (np.log1p(x) - np.log1p(y)) ** 2,
        lambda r, s: (r.random(s) * 3.0, r.random(s) * 3.0),
    ),
    "hinge_loss": PointwiseLoss(
        "hinge", ("inputs", "targets"), lambda x, y: np.maximum(1 - x * y, 0.0),
        lambda r, s: (_normal(r, s, 2.0), _signs(r, s)), {}, "none",
    ),
    "squared_hinge_loss": PointwiseLoss(
        "squared_hinge", ("inputs", "targets"), lambda x, y: np.maximum(1 - x * y, 0.0) ** 2,
        lambda r, s: (_normal(r, s, 2.0), _signs(r, s)), {}, "none",
    ),
    "margin_ranking_loss": PointwiseLoss(
        "margin_ranking", ("inputs1", "inputs2", "targets"),
        lambda a, b, y, margin=0.0: np.maximum(-y * (a - b) + margin, 0.0),
        lambda r, s: (_normal(r, s), _normal(r, s), _signs(r, s)), {"margin": 0.2}, "none",
    ),
    "gaussian_nll_loss": PointwiseLoss(
        "gaussian_nll", ("inputs", "targets", "vars"), ref_gaussian_nll,
        lambda r, s: (_normal(r, s), _normal(r, s), 0.1 + r.random(s) * 2.0),
        {"full": True, "eps": 1e-6},
    ),
    "poisson_nll_loss": PointwiseLoss(
        "poisson_nll", ("inputs", "targets"), ref_poisson_nll,
        lambda r, s: (_normal(r, s, 0.5), np.floor(r.random(s) * 5.0)),
        {"log_input": True, "full": True},
    ),
    "binary_cross_entropy": PointwiseLoss(
        "bce_logits", ("inputs", "targets"), ref_bce_logits,
        lambda r, s: (_normal(r, s, 3.0), r.random(s)), {"with_logits": True},
    ),
    "sigmoid_focal_loss": PointwiseLoss(
        "sigmoid_focal", ("inputs", "targets"), ref_sigmoid_focal,
        lambda r, s: (_normal(r, s, 3.0), (r.random(s) > 0.5).astype(np.float64)),
        {"alpha": 0.25, "gamma": 2.0}, "none",
    ),
}


def reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return np.mean(loss)
    if reduction == "sum":
        return np.sum(loss)
    return loss


def numeric_grad(f: Callable, args: Sequence[np.ndarray], i: int, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar ``f(*args)`` w.r.t. ``args[i]`` (float64)."""
    args = [np.array(a, dtype=np.float64) for a in args]
    x = args[i]
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + h
        fp = f(*args)
        x[idx] = old - h
        fm = f(*args)
        x[idx] = old
        g[idx] = (fp - fm) / (2 * h)
    return g
