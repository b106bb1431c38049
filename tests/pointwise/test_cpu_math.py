"""Per-element accuracy of the CPU's vectorised float32 math (kernels/common/math.h),
in ulps of the correctly rounded float32 result, seen through losses that are
one function each: binary_cross_entropy with logits and targets 0 is
softplus(x) (exp and the log1p polynomial for [0, 1]); its gradient with
reduction="sum" is sigmoid(x); sigmoid_focal_loss with alpha off and gamma 1.5
multiplies softplus by a power of a probability (pow); log_cosh_loss against
targets 0 is log(cosh(x)) (two fitted polynomials, the second of exp(-2|x|))."""

import mlx.core as mx
import numpy as np

import mlx_fused_losses as mfl
from reference import ref_log_cosh


def _ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|got - exact| in units of the float32 spacing at exact (float64)."""
    rounded = exact.astype(np.float32)
    spacing = np.spacing(np.abs(rounded)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


def _grid() -> np.ndarray:
    # Dense around 0, out to where exp(-|x|) is subnormal (and past it).
    x = np.concatenate([np.linspace(-110, 110, 200_001), np.geomspace(1e-30, 20, 50_000),
                        -np.geomspace(1e-30, 20, 50_000)])
    return x.astype(np.float32)


def test_softplus_within_1_9_ulp():
    # Checked over every float |x| < 110 when fitted: within 1.86 ulp (1.69 for x < 0);
    # the log1p polynomial alone within 1.13, one exp within ~1.
    x = _grid()
    got = np.array(mfl.binary_cross_entropy(mx.array(x), mx.zeros(x.shape), reduction="none"))
    exact = np.logaddexp(0.0, x.astype(np.float64))
    tiny = exact < np.finfo(np.float32).tiny  # subnormal results: absolute spacing
    assert np.max(np.abs(got[tiny] - exact[tiny])) <= 1.6 * 2.0**-149  # exp alone: log1p(t) = t
    assert np.max(_ulps(got[~tiny], exact[~tiny])) <= 1.9


def test_sigmoid_within_3_ulp():
    x = _grid()
    grad = mx.grad(lambda a: mfl.binary_cross_entropy(a, mx.zeros(x.shape), reduction="sum"))
    got = np.array(grad(mx.array(x)))
    exact = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    normal = exact >= np.finfo(np.float32).tiny
    assert np.max(_ulps(got[normal], exact[normal])) <= 3.0  # exp, 1 + e, division, product
    assert np.max(np.abs(got[~normal] - exact[~normal])) <= 2 * 2.0**-149


def test_power_within_8_ulp():
    # Targets 0: the focal loss is softplus(x) * sigmoid(x)^1.5 (alpha off). pow
    # as a rounded exp(gamma log m) alone is off by up to 28 ulp here (sigmoid
    # ~1e-7); three factors within ~2-3 ulp each, and a product, stay within 8.
    x = np.linspace(-15, 15, 100_001).astype(np.float32)
    got = np.array(mfl.sigmoid_focal_loss(mx.array(x), mx.zeros(x.shape), alpha=-1.0,
                                          gamma=1.5))
    x64 = x.astype(np.float64)
    exact = np.logaddexp(0.0, x64) * (1.0 / (1.0 + np.exp(-x64))) ** 1.5
    assert np.max(_ulps(got, exact)) <= 8.0


def test_log_cosh_within_1_5_ulp():
    # Dense across the switch between the two forms (|x| = 0.9) and far out
    # (within 1.2 ulp as fitted at c94e74e; squaring a rounded sinh(x / 2) was
    # off by up to 4.7 ulp below the switch).
    x = np.concatenate([np.linspace(-25, 25, 500_001), np.geomspace(1e-30, 2, 100_000),
                        np.linspace(0.8, 1.0, 100_001)]).astype(np.float32)
    got = np.array(mfl.log_cosh_loss(mx.array(x), mx.zeros(x.shape), reduction="none"))
    exact = ref_log_cosh(x.astype(np.float64), 0.0)
    assert np.max(_ulps(got[x != 0], exact[x != 0])) <= 1.5
    assert np.all(got[x == 0] == 0.0)
