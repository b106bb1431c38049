"""Reductions over 32M float32 elements stay within 1e-6 relative of the float64
reference (numpy's pairwise float64 sum), where a float32 running sum (stock
MLX's reduction on the CPU) is off by percents. One array per loss, reused for
'mean' and 'sum'."""

import mlx.core as mx
import mlx.nn.losses as stock
import numpy as np
import pytest

import mlx_fused_losses as mfl
from reference import POINTWISE, ref_sigmoid_focal

N = 32 * 1024 * 1024


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(1234)
    x = rng.standard_normal(N, dtype=np.float32)
    y = rng.standard_normal(N, dtype=np.float32)
    return x, y


def _check(name, ours, theirs, ref_elements):
    total = float(np.sum(ref_elements))
    for reduction, ref in (("sum", total), ("mean", total / N)):
        got = ours(reduction).item()
        assert abs(got - ref) <= 1e-6 * abs(ref), (name, reduction, got, ref)
    # The test can tell: stock MLX misses the same 1e-6 by orders of magnitude.
    off = abs(theirs("sum").item() - total) / abs(total)
    assert off > 1e-4, (name, off)


def test_mse_over_32m(big):
    x, y = big
    a, b = mx.array(x), mx.array(y)
    ref = (x.astype(np.float64) - y.astype(np.float64)) ** 2
    _check("mse", lambda r: mfl.mse_loss(a, b, reduction=r),
           lambda r: stock.mse_loss(a, b, reduction=r), ref)


def test_bce_with_logits_over_32m(big):
    x, y = big
    logits = 3.0 * x
    labels = (y > 0.5).astype(np.float32)
    # With 0/1 labels the loss is softplus of the signed logit, -log sigmoid((2y - 1) x):
    # one float64 logaddexp per element (ref_bce_logits would take two).
    ref = np.logaddexp(0.0, (1.0 - 2.0 * labels.astype(np.float64)) * logits.astype(np.float64))
    a, b = mx.array(logits), mx.array(labels)
    _check("bce", lambda r: mfl.binary_cross_entropy(a, b, reduction=r),
           lambda r: stock.binary_cross_entropy(a, b, reduction=r), ref)


def test_sigmoid_focal_keeps_digits_for_confident_predictions():
    """1 - p_t = p (1 - y) + (1 - p) y from both sigmoids: per element within
    1e-5 of float64 (values and gradients) for p_t near 1, where torchvision's
    float32 1 - (p y + (1 - p)(1 - y)) is off by ~1e-3."""
    x = np.concatenate([np.linspace(4.0, 16.0, 2001), -np.linspace(4.0, 16.0, 2001)])
    y = np.concatenate([np.ones(2001), np.zeros(2001)])
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    xd, yd = x32.astype(np.float64), y32.astype(np.float64)
    want = ref_sigmoid_focal(xd, yd)
    torch_like = ref_sigmoid_focal(x32, y32)  # torchvision's formula, in float32
    assert torch_like.dtype == np.float32
    assert np.max(np.abs(torch_like / want - 1)) > 1e-4  # the test can tell
    got = mfl.sigmoid_focal_loss(mx.array(x32), mx.array(y32))
    np.testing.assert_allclose(np.array(got), want, rtol=1e-5)
    # d/dx = alpha_t m^2 ((p - y) + 2 ce (1 - 2y) p (1 - p) / m), by the same float64 formulas.
    p = 1 / (1 + np.exp(-xd))
    m = p * (1 - yd) + (1 - p) * yd
    ce = np.logaddexp(0, xd) - xd * yd
    want_dx = (0.25 * yd + 0.75 * (1 - yd)) * ((p - yd) * m * m + ce * 2 * m * (1 - 2 * yd) * p * (1 - p))
    dx = mx.grad(lambda a: mfl.sigmoid_focal_loss(a, mx.array(y32), reduction="sum"))(mx.array(x32))
    np.testing.assert_allclose(np.array(dx), want_dx, rtol=1e-5)


def test_msle_keeps_digits_when_predictions_are_close():
    """log1p(x) - log1p(y) as one log of (1 + x) / (1 + y) with the roundings
    added back: per element within 1e-5 of float64 (values and gradients) for
    relative differences down to 1e-6, where the difference of two float32
    log1p's is off by ~15%; also at the ends of the range (1 + x near 0,
    operands past 2^64, infinities)."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0.0, 3.0, 30_000).astype(np.float32)
    y = (x * (1 + 1e-6 * rng.standard_normal(x.size))).astype(np.float32)
    ends = np.array([[-1 + 2**-24, 3e38], [1e30, -1 + 2**-24], [1e38, -0.5], [2e19, 1e19],
                     [3e38, 3.3e38], [-1, 0], [5, -1], [np.inf, 0], [0, np.inf]], np.float32)
    x, y = np.concatenate([x, ends[:, 0]]), np.concatenate([y, ends[:, 1]])
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    msle = POINTWISE["msle_loss"].ref
    with np.errstate(all="ignore"):
        want, want_dx = msle(xd, yd), 2 * (np.log1p(xd) - np.log1p(yd)) / (1 + xd)
    close = slice(0, 30_000)
    two_logs = msle(x[close], y[close])  # the textbook way, in float32
    assert two_logs.dtype == np.float32
    with np.errstate(all="ignore"):
        assert np.nanmax(np.abs(two_logs / want[close] - 1)) > 0.1  # the test can tell
    got = np.array(mfl.msle_loss(mx.array(x), mx.array(y), reduction="none"))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    dx = mx.grad(lambda a: mfl.msle_loss(a, mx.array(y), reduction="sum"))(mx.array(x))
    finite = np.isfinite(want_dx)
    np.testing.assert_allclose(np.array(dx)[finite], want_dx[finite], rtol=1e-5, atol=1e-30)
    assert np.isneginf(np.array(dx)[x == -1]).all()
