"""Values of every pointwise loss against its float64 numpy reference: every
parameter set, reduction, dtype and memory layout, plus 0-d, empty and large
(multi-threaded) inputs."""

import mlx.core as mx
import numpy as np
import pytest

from pointwise_cases import (
    CASES, PER_FUNCTION, REDUCTIONS, TOL, as_dtype, assert_close, ids, rounded, to_mx, to_np,
)

ALL = list(CASES.values())
DTYPES = [mx.float32, mx.float16, mx.bfloat16, mx.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", ALL, ids=ids(ALL))
def test_values(case, dtype, rng):
    """All reductions in one dtype: computed from the dtype's values, accumulated
    in float32 (float64 for float64) and returned in the dtype."""
    arrays, values = as_dtype(case.sample(rng, (5, 7)), dtype)
    for reduction in REDUCTIONS:
        out = case(*arrays, reduction=reduction)
        expected = case.expected(*values, reduction=reduction)
        assert out.dtype == dtype, reduction
        assert out.shape == expected.shape, reduction
        elements = case.expected(*values, reduction="none")
        assert_close(out, expected, dtype, elements=elements, reduction=reduction,
                     err_msg=f"{case.id} {reduction}")


def _layouts(rng, case, a=6, b=5):
    """(name, mx operands, their float64 values) for views of the same (a, b) loss."""
    n = case.full_operands

    def split(ops):
        return list(ops[:n]), list(ops[n:])

    full, rest = split(rounded(case.sample(rng, (a, b))))
    rest_mx = [to_mx(o) for o in rest]

    def transposed(o):
        return to_mx(np.ascontiguousarray(o.T)).T

    def sliced(o):
        # Every other column and every third row of a NaN-filled array: reading a
        # wrong element shows up as NaN.
        big = np.full((3 * a + 1, 2 * b), np.nan)
        big[1::3, ::2] = o
        return to_mx(big)[1::3, ::2]

    yield "contiguous", [to_mx(o) for o in full] + rest_mx, full + rest
    yield "transposed", [transposed(o) for o in full] + rest_mx, full + rest
    yield "sliced", [sliced(o) for o in full] + rest_mx, full + rest

    rows, rest_r = split(rounded(case.sample(rng, (1, b))))
    yield (
        "broadcast-rows",
        [mx.broadcast_to(to_mx(o), (a, b)) for o in rows] + [to_mx(o) for o in rest_r],
        [np.broadcast_to(o, (a, b)) for o in rows] + rest_r,
    )
    cols, rest_c = split(rounded(case.sample(rng, (a, 1))))
    yield (
        "broadcast-columns",
        [mx.broadcast_to(to_mx(o), (a, b)) for o in cols] + [to_mx(o) for o in rest_c],
        [np.broadcast_to(o, (a, b)) for o in cols] + rest_c,
    )
    # A different layout per operand.
    mixed = [transposed, sliced, lambda o: mx.broadcast_to(to_mx(o[:1]), (a, b))]
    values = list(full)
    values[2 % n] = np.broadcast_to(full[2 % n][:1], (a, b)) if n > 2 else values[2 % n]
    yield "mixed", [mixed[k](o) for k, o in enumerate(full)] + rest_mx, values + rest


@pytest.mark.parametrize("case", ALL, ids=ids(ALL))
def test_layouts(case, rng):
    """Transposed, sliced (step > 1) and broadcast (stride 0) views give the
    loss of the values they show."""
    for name, arrays, values in _layouts(rng, case):
        assert arrays[0].shape == (6, 5), name
        for reduction in REDUCTIONS:
            out = case(*arrays, reduction=reduction)
            elements = case.expected(*values, reduction="none")
            assert_close(out, case.expected(*values, reduction=reduction), mx.float32,
                         elements=elements, reduction=reduction,
                         err_msg=f"{case.id} {name} {reduction}")


def test_layout_3d_permuted(rng):
    """A 3-d permutation (no two axes mergeable) of some operands."""
    case = CASES["gaussian_nll_loss"]
    ops = rounded(case.sample(rng, (3, 4, 5)))
    arrays = [
        to_mx(np.ascontiguousarray(ops[0].transpose(2, 0, 1))).transpose(1, 2, 0),
        to_mx(ops[1]),
        to_mx(np.ascontiguousarray(ops[2].transpose(1, 2, 0))).transpose(2, 0, 1),
    ]
    for reduction in REDUCTIONS:
        assert_close(case(*arrays, reduction=reduction),
                     case.expected(*ops, reduction=reduction), mx.float32,
                     elements=case.expected(*ops, reduction="none"), reduction=reduction)


@pytest.mark.parametrize("case", PER_FUNCTION, ids=ids(PER_FUNCTION))
def test_zero_dim(case, rng):
    arrays, values = as_dtype(case.sample(rng, ()), mx.float32)
    for reduction in REDUCTIONS:
        out = case(*arrays, reduction=reduction)
        assert out.shape == ()
        assert_close(out, case.expected(*values, reduction=reduction), mx.float32)


@pytest.mark.parametrize("dtype", [mx.float32, mx.float16], ids=str)
@pytest.mark.parametrize("case", PER_FUNCTION, ids=ids(PER_FUNCTION))
def test_empty(case, dtype, rng):
    """As stock MLX: the sum of nothing is 0, its mean NaN, 'none' keeps the shape."""
    arrays, _ = as_dtype(case.sample(rng, (0, 3)), dtype)
    none = case(*arrays, reduction="none")
    assert none.shape == (0, 3) and none.dtype == dtype
    total = case(*arrays, reduction="sum")
    assert total.shape == () and total.dtype == dtype
    assert to_np(total) == 0.0
    mean = case(*arrays, reduction="mean")
    assert mean.shape == () and mean.dtype == dtype
    # rmse: sqrt(0) = 0 and sqrt(NaN) = NaN, the same.
    assert np.isnan(to_np(mean))


LARGE = [CASES[k] for k in ("mse_loss", "log_cosh_loss", "gaussian_nll_loss",
                            "bce-logits-weights-pos_weight", "sigmoid_focal_loss")]


@pytest.mark.parametrize("case", LARGE, ids=ids(LARGE))
def test_large_threaded(case, rng):
    """Above the single-thread threshold, across many blocks and chunks (odd
    sizes, so no block is full), contiguous and transposed."""
    shape = (601, 523)
    ops = rounded(case.sample(rng, shape))
    n = case.full_operands
    for name, arrays in (
        ("contiguous", [to_mx(o) for o in ops]),
        ("transposed",
         [to_mx(np.ascontiguousarray(o.T)).T for o in ops[:n]] + [to_mx(o) for o in ops[n:]]),
    ):
        elements = case.expected(*ops, reduction="none")
        for reduction in REDUCTIONS:
            assert_close(case(*arrays, reduction=reduction),
                         case.expected(*ops, reduction=reduction), mx.float32,
                         elements=elements, reduction=reduction,
                         err_msg=f"{name} {reduction}")


def test_float64_is_tight_near_zero():
    """float64 keeps float64 accuracy where formulas are delicate: log_cosh of
    small differences (a float Taylor series is not enough there), BCE of
    confident predictions, charbonnier with a tiny eps."""
    e = np.concatenate([np.geomspace(1e-9, 5.0, 60), -np.geomspace(1e-9, 5.0, 60)])
    zero = np.zeros_like(e)
    out = to_np(CASES["log_cosh_loss"](to_mx(e, mx.float64), to_mx(zero, mx.float64),
                                       reduction="none"))
    np.testing.assert_allclose(out, CASES["log_cosh_loss"].expected(e, zero, reduction="none"),
                               rtol=1e-14, atol=0)
    x = np.linspace(-30, 30, 121)
    for y in (0.0, 1.0):
        t = np.full_like(x, y)
        out = to_np(CASES["binary_cross_entropy"](to_mx(x, mx.float64), to_mx(t, mx.float64),
                                                  reduction="none"))
        np.testing.assert_allclose(
            out, CASES["binary_cross_entropy"].expected(x, t, reduction="none"),
            rtol=1e-14, atol=0)


def test_float32_relative_accuracy_of_tiny_losses():
    """Small losses keep their relative accuracy in float32 (no cancellation):
    log_cosh of small differences and BCE of confident logits."""
    e = np.concatenate([np.geomspace(1e-6, 5.0, 50), -np.geomspace(1e-6, 5.0, 50)])
    e32 = to_np(to_mx(e))
    zero = np.zeros_like(e)
    out = to_np(CASES["log_cosh_loss"](to_mx(e32), to_mx(zero), reduction="none"))
    np.testing.assert_allclose(
        out, CASES["log_cosh_loss"].expected(e32, zero, reduction="none"), rtol=2e-6, atol=0)
    x = to_np(to_mx(np.linspace(-15, 15, 61)))
    for y in (0.0, 1.0):
        t = np.full_like(x, y)
        out = to_np(CASES["binary_cross_entropy"](to_mx(x), to_mx(t), reduction="none"))
        np.testing.assert_allclose(
            out, CASES["binary_cross_entropy"].expected(x, t, reduction="none"),
            rtol=2e-6, atol=0)


@pytest.mark.parametrize("case", ALL, ids=ids(ALL))
def test_defaults_match_reference_defaults(case, rng):
    """A call without ``reduction`` uses the documented default reduction."""
    from reference import POINTWISE

    arrays, values = as_dtype(case.sample(rng, (3, 4)), mx.float64)
    default = POINTWISE[case.fn].reduction
    kwargs = dict(zip(case.operands, arrays), **case.params)
    import mlx_fused_losses as mfl

    out = getattr(mfl, case.fn)(**kwargs)
    np.testing.assert_allclose(to_np(out), case.expected(*values, reduction=default),
                               rtol=TOL[mx.float64][0], atol=1e-13)
