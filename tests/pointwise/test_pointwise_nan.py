"""NaN and infinity propagate as in the float64 reference (numpy, whose
maximum/minimum propagate NaN as mlx.core's do): a NaN operand gives a NaN loss
in its element and a NaN reduction, and leaves the other elements alone."""

import mlx.core as mx
import mlx.nn.losses as stock
import numpy as np
import pytest

from pointwise_cases import CASES, REDUCTIONS, ids, rounded, to_mx, to_np

ALL = list(CASES.values())


@pytest.mark.parametrize("case", ALL, ids=ids(ALL))
def test_nan_operand_propagates(case, rng):
    for k, name in enumerate(case.operands):
        values = rounded(case.sample(rng, (3, 4)))
        flat = values[k].reshape(-1)
        flat[min(5, flat.size - 1)] = np.nan
        arrays = [to_mx(v) for v in values]
        want = case.expected(*values, reduction="none")
        assert np.isnan(want).sum() >= 1, "the reference propagates it"
        got = to_np(case(*arrays, reduction="none"))
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=2e-6, atol=2e-6, err_msg=name)
        for reduction in ("mean", "sum"):
            assert np.isnan(to_np(case(*arrays, reduction=reduction))), (name, reduction)


# (case, operands with infinities). Where the limit exists the loss is inf or
# 0; where the formula meets 0 * inf (e.g. an infinite logit with its correct
# label, as in stock MLX and numpy), NaN like the reference.
INFINITE = [
    ("mse_loss", ([np.inf, -np.inf, 1.0], [0.0, 0.0, np.inf])),
    ("l1_loss", ([np.inf, -np.inf, 1.0], [0.0, 0.0, np.inf])),
    ("huber_loss", ([np.inf, -np.inf, 1.0], [0.0, 0.0, -np.inf])),
    ("smooth_l1_loss", ([np.inf, -np.inf], [0.0, 0.0])),
    ("log_cosh_loss", ([np.inf, -np.inf, 1e30], [0.0, 0.0, 0.0])),
    ("charbonnier_loss", ([np.inf, -np.inf], [0.0, 0.0])),
    ("hinge_loss", ([np.inf, -np.inf], [1.0, 1.0])),
    ("squared_hinge_loss", ([np.inf, -np.inf], [1.0, 1.0])),
    ("gaussian_nll_loss", ([np.inf, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, np.inf, 1e-30])),
    ("poisson_nll_loss", ([np.inf, -np.inf], [1.0, 2.0])),
    ("binary_cross_entropy", ([np.inf, -np.inf, np.inf, -np.inf], [0.0, 1.0, 1.0, 0.0])),
    ("sigmoid_focal_loss", ([-np.inf, np.inf, np.inf], [1.0, 0.0, 1.0])),
]


@pytest.mark.parametrize("name,operands", INFINITE, ids=[c[0] for c in INFINITE])
def test_infinities(name, operands):
    case = CASES[name]
    values = rounded(operands)
    want = case.expected(*values, reduction="none")
    got = to_np(case(*[to_mx(v) for v in values], reduction="none"))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    ok = np.isfinite(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=2e-6)


def test_shared_losses_propagate_nan_like_stock_mlx():
    """The same NaN pattern as mlx.nn.losses, element by element."""
    nan = float("nan")
    x = mx.array([nan, 0.5, 2.0, -1.0])
    y = mx.array([1.0, nan, -1.0, 1.0])
    v = mx.array([1.0, 1.0, nan, 0.5])
    p = mx.array([nan, 0.3, 0.6, 0.9])
    import mlx_fused_losses as mfl

    calls = [
        ("mse_loss", (x, y)), ("l1_loss", (x, y)), ("huber_loss", (x, y)),
        ("smooth_l1_loss", (x, y)), ("log_cosh_loss", (x, y)), ("hinge_loss", (x, y)),
        ("margin_ranking_loss", (x, v, mx.array([1.0, -1.0, 1.0, -1.0]))),
        ("gaussian_nll_loss", (x, y, v)), ("binary_cross_entropy", (x, y)),
    ]
    for name, args in calls:
        for reduction in REDUCTIONS:
            a = to_np(getattr(mfl, name)(*args, reduction=reduction))
            b = to_np(getattr(stock, name)(*args, reduction=reduction))
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
    for reduction in REDUCTIONS:
        a = to_np(mfl.binary_cross_entropy(p, y, with_logits=False, reduction=reduction))
        b = to_np(stock.binary_cross_entropy(p, y, with_logits=False, reduction=reduction))
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
