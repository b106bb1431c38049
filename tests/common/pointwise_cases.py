"""The pointwise family's test cases: every function, with default and non-default
parameters and every optional operand, each tied to its float64 reference.

A ``Case`` calls the fused function with keyword operands and computes the
expected value from ``reference.py`` (never from the package's formulas).
Shared by the value, gradient, transform and NaN tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Optional, Sequence, Tuple

import mlx.core as mx
import numpy as np

import mlx_fused_losses as mfl
from reference import (
    POINTWISE,
    _normal,
    _signs,
    ref_bce_logits,
    ref_bce_probs,
    reduce,
)

REDUCTIONS = ("none", "mean", "sum")
# Parameters that select the reference (each variant has its own) rather than
# being passed to it.
CALL_ONLY = {"with_logits"}


@dataclass(frozen=True)
class Case:
    id: str
    fn: str  # the function's name in mlx_fused_losses
    operands: Tuple[str, ...]  # its array arguments (passed by keyword), in call order
    ref: Callable  # float64 per-element loss of the operands
    sample: Callable  # (rng, shape) -> float64 operands in the loss's domain
    params: Dict = field(default_factory=dict)
    post: Optional[Callable] = None  # applied after the reduction (rmse: sqrt)
    # Operands shaped like the loss (the others, e.g. pos_weight, broadcast).
    n_full: Optional[int] = None

    @property
    def full_operands(self) -> int:
        return len(self.operands) if self.n_full is None else self.n_full

    def __call__(self, *arrays, reduction: str, **overrides) -> mx.array:
        kwargs = dict(zip(self.operands, arrays))
        kwargs.update(self.params)
        kwargs.update(overrides)
        return getattr(mfl, self.fn)(reduction=reduction, **kwargs)

    def expected(self, *operands: np.ndarray, reduction: str) -> np.ndarray:
        """The float64 reference of ``self(*operands, reduction=reduction)``."""
        ops = [np.asarray(o, dtype=np.float64) for o in operands]
        with np.errstate(all="ignore"):
            params = {k: v for k, v in self.params.items() if k not in CALL_ONLY}
            out = reduce(self.ref(*ops, **params), reduction)
            return self.post(out) if self.post else out


def _bce_sampler(logits: bool, weights: bool = False, pos_weight: Optional[str] = None):
    def sample(r, s):
        x = _normal(r, s, 3.0) if logits else 0.02 + 0.96 * r.random(s)
        ops = [x, r.random(s)]
        if weights:
            ops.append(0.25 + 2.0 * r.random(s))
        if pos_weight == "class":
            ops.append(0.5 + 2.0 * r.random(s[-1:]))
        elif pos_weight == "scalar":
            ops.append(np.array(0.5 + 2.0 * r.random()))
        return tuple(ops)

    return sample


def _bce_case(name, logits, weights=False, pos_weight=None, **params):
    bce = ref_bce_logits if logits else ref_bce_probs
    operands = ["inputs", "targets"] + (["weights"] if weights else [])
    operands += ["pos_weight"] if pos_weight else []

    def ref(x, y, *rest):
        w = rest[0] if weights else 1.0
        pw = rest[-1] if pos_weight else 1.0
        return w * bce(x, y, pw)

    return Case(
        name, "binary_cross_entropy", tuple(operands), ref,
        _bce_sampler(logits, weights, pos_weight), {"with_logits": logits, **params},
        n_full=3 if weights else 2,
    )


def _positive_rates(r, s):
    return 0.1 + 3.0 * r.random(s), np.floor(r.random(s) * 5.0)


def _nonint_counts(r, s):
    # Counts away from the Stirling term's switch at 1, for gradients w.r.t. them.
    y = np.where(r.random(s) < 0.3, 0.2 + 0.6 * r.random(s), 1.5 + 3.0 * r.random(s))
    return y


def _clamped_vars(r, s):
    # Some variances below eps = 0.05 (clamped), the others well above it.
    v = np.where(r.random(s) < 0.3, 0.001 + 0.03 * r.random(s), 0.1 + 2.0 * r.random(s))
    return _normal(r, s), _normal(r, s), v


def _clamped_targets(r, s):
    # |targets| on both sides of eps = 0.3, away from it.
    mag = np.where(r.random(s) < 0.3, 0.05 + 0.15 * r.random(s), 0.5 + 2.0 * r.random(s))
    return _normal(r, s), _signs(r, s) * mag


def _build_cases() -> Dict[str, Case]:
    cases = {}
    for name, e in POINTWISE.items():
        post = np.sqrt if name == "rmse_loss" else None
        base = Case(name, name, tuple(e.operands), e.ref, e.sample, dict(e.params), post)
        cases[name] = base
        non_default = {k: v for k, v in e.params.items() if k != "with_logits"}
        if non_default:
            cases[name + "-defaults"] = replace(base, id=name + "-defaults", params={})

    def variant(base_name, suffix, params=None, sample=None, **kw):
        base = cases[base_name]
        cases[f"{base_name}-{suffix}"] = replace(
            base, id=f"{base_name}-{suffix}",
            params=base.params if params is None else params,
            sample=sample or base.sample, **kw,
        )

    variant("huber_loss", "delta2.5", {"delta": 2.5})
    variant("smooth_l1_loss", "beta0", {"beta": 0.0})
    variant("quantile_loss", "tau0.9", {"tau": 0.9})
    variant("quantile_loss", "tau0", {"tau": 0.0})
    variant("quantile_loss", "tau1", {"tau": 1.0})
    variant("mape_loss", "clamped", {"eps": 0.3}, _clamped_targets)
    variant("margin_ranking_loss", "negative-margin", {"margin": -0.3})
    variant("gaussian_nll_loss", "clamped", {"full": False, "eps": 0.05}, _clamped_vars)
    for log_input in (True, False):
        for full in (True, False):
            variant(
                "poisson_nll_loss", f"log{int(log_input)}-full{int(full)}",
                {"log_input": log_input, "full": full},
                None if log_input else _positive_rates,
            )
    variant("poisson_nll_loss", "eps0.5", {"log_input": False, "eps": 0.5}, _positive_rates)
    variant("sigmoid_focal_loss", "no-alpha", {"alpha": -1.0, "gamma": 1.5})
    variant("sigmoid_focal_loss", "gamma0", {"alpha": 0.75, "gamma": 0.0})
    variant(
        "sigmoid_focal_loss", "soft-targets", {"alpha": 0.4, "gamma": 2.5},
        lambda r, s: (_normal(r, s, 3.0), r.random(s)),
    )

    for c in (
        _bce_case("bce-probs", False),
        _bce_case("bce-probs-weights", False, weights=True),
        _bce_case("bce-logits-weights", True, weights=True),
        _bce_case("bce-logits-pos_weight", True, pos_weight="class"),
        _bce_case("bce-logits-pos_weight-scalar", True, pos_weight="scalar"),
        _bce_case("bce-logits-weights-pos_weight", True, weights=True, pos_weight="class"),
        _bce_case("bce-probs-weights-pos_weight", False, weights=True, pos_weight="class"),
    ):
        cases[c.id] = c
    return cases


CASES: Dict[str, Case] = _build_cases()
# One case per function (its standard parameters), for the costlier tests.
PER_FUNCTION = [c for c in CASES.values() if c.id == c.fn] + [
    CASES["bce-probs"], CASES["bce-logits-weights-pos_weight"],
]

# Samplers for gradients, where the value sampler sits on a kink of an operand
# (integer counts hit the Stirling term's switch at targets = 1).
GRAD_SAMPLE = {
    "poisson_nll_loss": lambda r, s: (_normal(r, s, 0.5), _nonint_counts(r, s)),
    "poisson_nll_loss-log1-full1": lambda r, s: (_normal(r, s, 0.5), _nonint_counts(r, s)),
    "poisson_nll_loss-log0-full1": lambda r, s: (0.1 + 3.0 * r.random(s), _nonint_counts(r, s)),
}


def grad_sample(case: Case) -> Callable:
    return GRAD_SAMPLE.get(case.id, case.sample)


# ---------------------------------------------------------------- conversions


def to_mx(a, dtype=mx.float32) -> mx.array:
    # Straight to ``dtype``: mx.array(float64 numpy) alone would round to float32.
    return mx.array(np.asarray(a, dtype=np.float64), dtype=dtype)


def to_np(a: mx.array) -> np.ndarray:
    """float64 numpy copy (numpy has no bfloat16)."""
    if a.dtype != mx.float64:
        a = a.astype(mx.float32)
    return np.array(a).astype(np.float64)


def rounded(operands, dtype=mx.float32):
    """float64 operands holding exactly the values ``dtype`` can represent."""
    return [to_np(to_mx(o, dtype)) for o in operands]


def as_dtype(operands, dtype):
    """The operands as mx arrays of ``dtype`` and the float64 values they hold."""
    arrays = [to_mx(o, dtype) for o in operands]
    return arrays, [to_np(a) for a in arrays]


# ---------------------------------------------------------------- tolerances

# (rtol, atol per unit of loss): low precision returns are rounded to the dtype.
TOL = {
    mx.float64: (1e-12, 1e-13),
    mx.float32: (2e-6, 2e-6),
    mx.float16: (1.5e-3, 1e-4),
    mx.bfloat16: (1e-2, 1e-3),
}


def assert_close(got: mx.array, expected, dtype, *, elements=None, reduction="none",
                 err_msg: str = ""):
    """``got`` equals the float64 ``expected`` to ``dtype``'s accuracy.

    The absolute tolerance scales with the loss's magnitude: for a reduction,
    with the mean (or sum) of the absolute per-element ``elements``, since
    sums of signed losses (e.g. negative log likelihoods) can cancel.
    """
    rtol, atol = TOL[dtype]
    expected = np.asarray(expected, dtype=np.float64)
    scale = 1.0
    if elements is not None and np.size(elements) and reduction != "none":
        mag = np.abs(np.asarray(elements, dtype=np.float64))
        scale = max(1.0, float(np.nanmean(mag) if reduction == "mean" else np.nansum(mag)))
    np.testing.assert_allclose(
        to_np(got), expected, rtol=rtol, atol=atol * scale, err_msg=err_msg
    )


def ids(cases: Sequence[Case]):
    return [c.id for c in cases]
