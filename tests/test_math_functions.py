"""kernels/common/math.h called directly (through the private _ext._math_probe), in float
as the CPU kernels use it and in double: NaN, +-inf, +-0, subnormals and the ends of
each function's range, against float64 numpy."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_fused_losses import _ext

NAN, INF = np.nan, np.inf
TINY = float(np.finfo(np.float32).tiny)  # smallest normal float
SUB = 1.401298464324817e-45  # smallest subnormal float
FMAX = float(np.finfo(np.float32).max)


def probe(name, x, y=(), single=True):
    return np.array(_ext._math_probe(name, [float(v) for v in x], [float(v) for v in y], single))


def as_float32(x):
    return np.asarray(x, np.float64).astype(np.float32).astype(np.float64)


def assert_same(got, expected, ulps=2.0, single=True):
    """NaN where expected is NaN, the same infinities and zeros (with their sign), and
    finite values within `ulps` of the float32 (or float64) rounding of expected."""
    expected = np.asarray(expected, np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    exact = ~np.isfinite(expected) | (expected == 0)
    exact &= ~np.isnan(expected)
    np.testing.assert_array_equal(got[exact], expected[exact])
    np.testing.assert_array_equal(np.signbit(got[exact]), np.signbit(expected[exact]))
    rest = np.isfinite(expected) & (expected != 0)
    dtype = np.float32 if single else np.float64
    spacing = np.spacing(np.abs(expected[rest]).astype(dtype)).astype(np.float64)
    assert np.all(np.abs(got[rest] - expected[rest]) <= ulps * spacing), (
        got[rest], expected[rest])


@pytest.mark.parametrize("single", [True, False])
def test_exp(single):
    x = np.array([NAN, INF, -INF, 0.0, -0.0, SUB, -SUB, 1.0, -1.0, 20.0, -20.0, 88.7, 88.73,
                  -87.3, -103.9, -104.0, -150.0, 1e4, -1e4])
    x = as_float32(x) if single else x
    with np.errstate(over="ignore"):
        expected = np.exp(x)
    if single:  # overflow and underflow where float32 does
        expected = np.where(expected > FMAX, INF, expected)
        expected = np.where(expected < SUB / 2, 0.0, expected)
    assert_same(probe("exp", x, single=single), expected, single=single)


@pytest.mark.parametrize("single", [True, False])
def test_exp_nonpositive(single):
    x = np.array([NAN, -INF, 0.0, -0.0, -SUB, -1.0, -20.0, -87.3, -103.9, -104.0, -150.0, -1e4])
    x = as_float32(x) if single else x
    expected = np.exp(x)
    if single:
        expected = np.where(expected < SUB / 2, 0.0, expected)
    assert_same(probe("exp_nonpositive", x, single=single), expected, single=single)
    np.testing.assert_array_equal(probe("exp_nonpositive", x, single=single),
                                  probe("exp", x, single=single))


@pytest.mark.parametrize("single", [True, False])
def test_log(single):
    x = np.array([NAN, INF, -INF, 0.0, -0.0, SUB, 1e-40, TINY, 0.5, 1.0, 2.0, -1.0, -SUB, FMAX])
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.log(as_float32(x) if single else x)
    assert_same(probe("log", x, single=single), expected, single=single)


@pytest.mark.parametrize("single", [True, False])
def test_log1p(single):
    x = np.array([NAN, INF, -INF, 0.0, -0.0, SUB, -SUB, 1e-30, -1e-30, 1e-7, 0.5, 1.0, -0.5,
                  -1.0, -2.0, 1e30, FMAX])
    x = as_float32(x) if single else x
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.log1p(x)
    assert_same(probe("log1p", x, single=single), expected, ulps=3.0, single=single)


@pytest.mark.parametrize("single", [True, False])
def test_log1p_on_the_unit_interval(single):
    # Its domain: [0, 1] (softplus's log1p(exp(-|x|))) and NaN.
    t = np.concatenate([[NAN, 0.0, -0.0, SUB, 1e-30, 1.0], np.linspace(0, 1, 1001)])
    t = as_float32(t) if single else t
    assert_same(probe("log1p_unit", t, single=single), np.log1p(t), ulps=1.2 if single else 2.0,
                single=single)


@pytest.mark.parametrize("single", [True, False])
def test_expm1(single):
    x = np.array([NAN, INF, -INF, 0.0, -0.0, SUB, -SUB, 1e-30, 1e-5, -1e-5, 0.5, -0.5, 10.0,
                  -10.0, -100.0])
    x = as_float32(x) if single else x
    assert_same(probe("expm1", x, single=single), np.expm1(x), ulps=3.0, single=single)


@pytest.mark.parametrize("single", [True, False])
def test_tanh(single):
    x = np.array([NAN, INF, -INF, 0.0, -0.0, SUB, -SUB, 1e-30, 0.3, 0.624, 0.626, -0.626, 5.0,
                  9.0, 10.0, -20.0, FMAX])
    x = as_float32(x) if single else x
    assert_same(probe("tanh", x, single=single), np.tanh(x), ulps=2.0, single=single)


@pytest.mark.parametrize("single", [True, False])
def test_pow(single):
    # Its domain: x >= 0 (or NaN), y > 0 (the focal losses' gamma); x < 0 gives NaN.
    x = np.array([NAN, 0.0, 0.0, 1.0, 2.0, INF, 0.5, SUB, 1e-7, 3.0, 1e-20, -2.0, 2.0])
    y = np.array([2.0, 2.0, 0.5, 7.3, 0.5, 2.0, NAN, 0.5, 1.5, 80.0, 3.0, 1.5, 200.0])
    if single:
        x, y = as_float32(x), as_float32(y)
    with np.errstate(invalid="ignore", over="ignore"):
        expected = np.power(x, y)
    if single:  # overflow and underflow where float32 does
        expected = np.where(expected > FMAX, INF, expected)
        expected = np.where(expected < SUB / 2, 0.0, expected)
    # (within 3 ulp for results up to ~1e30; 3^80, near the float range's end, is 5 ulp off)
    assert_same(probe("pow", x, y, single=single), expected, ulps=5.0, single=single)


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="unknown function 'sin'"):
        probe("sin", [1.0])
