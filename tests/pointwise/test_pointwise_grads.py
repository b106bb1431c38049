"""Gradients of every pointwise loss w.r.t. every operand (weights and
pos_weight included) against central finite differences of the float64
reference, for every reduction; then the same gradients through other dtypes,
layouts and argnums subsets (each a different backward code path)."""

import mlx.core as mx
import numpy as np
import pytest

from pointwise_cases import (
    CASES, PER_FUNCTION, REDUCTIONS, TOL, grad_sample, ids, to_mx, to_np,
)
from reference import numeric_grad

ALL = list(CASES.values())


def _fused_grads(case, arrays, reduction, cot):
    """Gradients w.r.t. all operands, via mx.vjp with cotangent ``cot``."""
    _, grads = mx.vjp(lambda *a: case(*a, reduction=reduction), arrays, [cot])
    return [to_np(g) for g in grads]


def _numeric_grads(case, values, reduction, cot):
    f = lambda *a: float(np.sum(cot * case.expected(*a, reduction=reduction)))  # noqa: E731
    return [numeric_grad(f, values, i) for i in range(len(values))]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ALL, ids=ids(ALL))
def test_grads_vs_finite_differences(case, reduction, rng):
    values = list(grad_sample(case)(rng, (3, 4)))
    arrays = [to_mx(v, mx.float64) for v in values]
    cot = rng.standard_normal((3, 4)) if reduction == "none" else np.array(rng.standard_normal())
    got = _fused_grads(case, arrays, reduction, to_mx(cot, mx.float64))
    want = _numeric_grads(case, values, reduction, cot)
    for name, g, w, v in zip(case.operands, got, want, values):
        assert g.shape == v.shape, name
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-8, err_msg=f"d/d{name}")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("case", ALL, ids=ids(ALL))
def test_grad_single_argnums(case, reduction, rng):
    """mx.grad of one operand at a time (the first one takes the kernel's fast
    path) equals that operand's entry of the all-operand gradient."""
    values = list(grad_sample(case)(rng, (4, 9)))
    arrays = [to_mx(v, mx.float64) for v in values]
    full = _fused_grads(case, arrays, reduction, mx.array(1.0, mx.float64))
    for i, name in enumerate(case.operands):
        g = mx.grad(lambda *a: case(*a, reduction=reduction), argnums=i)(*arrays)
        np.testing.assert_allclose(to_np(g), full[i], rtol=1e-13, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("dtype", [mx.float32, mx.float16, mx.bfloat16], ids=str)
@pytest.mark.parametrize("case", PER_FUNCTION, ids=ids(PER_FUNCTION))
def test_grad_dtypes(case, dtype, rng):
    """Gradients come back in the operands' dtype, close to the float64 ones
    computed from the same (rounded) values."""
    values = list(grad_sample(case)(rng, (5, 6)))
    arrays = [to_mx(v, dtype) for v in values]
    rounded = [to_mx(to_np(a), mx.float64) for a in arrays]
    rtol, _ = TOL[dtype]
    for reduction in REDUCTIONS:
        cot = mx.ones((5, 6)) if reduction == "none" else mx.array(1.0)
        got = mx.vjp(lambda *a: case(*a, reduction=reduction), arrays, [cot.astype(dtype)])[1]
        want = _fused_grads(case, rounded, reduction, cot.astype(mx.float64))
        for name, g, w, a in zip(case.operands, got, want, arrays):
            assert g.dtype == dtype and g.shape == a.shape, name
            scale = max(1e-3, float(np.max(np.abs(w))))
            np.testing.assert_allclose(to_np(g), w, rtol=4 * rtol, atol=4 * rtol * scale,
                                       err_msg=f"{reduction} d/d{name}")


def _views(values):
    """Transposed, sliced and row-broadcast views of float64 operand values."""
    t = [to_mx(np.ascontiguousarray(v.T), mx.float64).T for v in values]
    s = []
    for v in values:
        big = np.full((v.shape[0], 3 * v.shape[1]), np.nan)
        big[:, 1::3] = v
        s.append(to_mx(big, mx.float64)[:, 1::3])
    return {"transposed": t, "sliced": s}


@pytest.mark.parametrize("case", PER_FUNCTION, ids=ids(PER_FUNCTION))
def test_grads_of_views(case, rng):
    """Gradients through strided views equal those of contiguous copies;
    through a broadcast view they are summed over the broadcast axis."""
    n = case.full_operands
    values = list(grad_sample(case)(rng, (4, 5)))
    full, rest = values[:n], [to_mx(v, mx.float64) for v in values[n:]]
    contiguous = [to_mx(v, mx.float64) for v in full] + rest
    for reduction in REDUCTIONS:
        cot = to_mx(rng.standard_normal((4, 5)) if reduction == "none" else 0.7, mx.float64)
        want = _fused_grads(case, contiguous, reduction, cot)
        for name, views in _views(full).items():
            got = _fused_grads(case, [v.astype(mx.float64) for v in views] + rest, reduction, cot)
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15,
                                           err_msg=f"{name} {reduction}")

    # Every full operand broadcast from one row: numeric gradient of the row.
    rows = list(grad_sample(case)(rng, (1, 5)))
    cot = rng.standard_normal((4, 5))

    def f(*a):
        ops = [np.broadcast_to(x, (4, 5)) for x in a[:n]] + list(a[n:])
        return float(np.sum(cot * case.expected(*ops, reduction="none")))

    arrays = [to_mx(v, mx.float64) for v in rows]
    got = mx.vjp(
        lambda *a: case(*[mx.broadcast_to(x, (4, 5)) for x in a[:n]], *a[n:], reduction="none"),
        arrays, [to_mx(cot, mx.float64)],
    )[1]
    for i, g in enumerate(got):
        assert g.shape == rows[i].shape
        np.testing.assert_allclose(to_np(g), numeric_grad(f, rows, i), rtol=1e-6, atol=1e-8,
                                   err_msg=case.operands[i])


def test_large_grad_threaded(rng):
    """The backward pass above the single-thread threshold, every operand."""
    case = CASES["bce-logits-weights-pos_weight"]
    values = list(case.sample(rng, (513, 401)))
    arrays = [to_mx(v, mx.float64) for v in values]
    got = _fused_grads(case, arrays, "mean", mx.array(1.0, mx.float64))
    # Per-element derivatives of the BCE reference: d/dx = w ((1 - y) s(x) - pw y s(-x)).
    x, y, w, pw = values
    s = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    n = x.size
    np.testing.assert_allclose(got[0], w * ((1 - y) * s(x) - pw * y * s(-x)) / n,
                               rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(got[2], case.expected(x, y, w / w, pw, reduction="none") / n,
                               rtol=1e-12, atol=1e-18)
    # The same through float32.
    got32 = mx.grad(lambda a: case(a, *[to_mx(v) for v in values[1:]], reduction="sum"))(
        to_mx(x))
    np.testing.assert_allclose(to_np(got32), got[0] * n, rtol=2e-5, atol=1e-6)


def test_gaussian_nll_var_grad_is_zero_where_clamped():
    """MLX semantics: no gradient flows through the clamp max(vars, eps)."""
    f = lambda v: CASES["gaussian_nll_loss"](  # noqa: E731
        mx.zeros(3), mx.ones(3), v, reduction="sum", eps=0.1)
    g = mx.grad(f)(mx.array([0.01, 0.1, 1.0]))
    assert g.tolist()[0] == 0.0
    assert g.tolist()[1] == 0.0  # the clamp's boundary: max passes nothing at v == eps
    np.testing.assert_allclose(g.tolist()[2], 0.5 * (1.0 - 1.0), atol=1e-7)


@pytest.mark.parametrize("case", PER_FUNCTION, ids=ids(PER_FUNCTION))
def test_vjp_with_strided_cotangents(case, rng):
    """'none' losses pulled back through broadcast (stride 0 along one axis) and
    transposed cotangents, for the first operand only and for all of them."""
    values = list(grad_sample(case)(rng, (4, 6)))
    arrays = [to_mx(v, mx.float64) for v in values]
    col, row = rng.standard_normal((4, 1)), rng.standard_normal((1, 6))
    full = rng.standard_normal((6, 4))
    cotangents = {
        "column": (mx.broadcast_to(to_mx(col, mx.float64), (4, 6)), np.broadcast_to(col, (4, 6))),
        "row": (mx.broadcast_to(to_mx(row, mx.float64), (4, 6)), np.broadcast_to(row, (4, 6))),
        "transposed": (to_mx(full, mx.float64).T, full.T),
    }
    for name, (cot, cot_np) in cotangents.items():
        want = _fused_grads(case, arrays, "none", to_mx(np.ascontiguousarray(cot_np), mx.float64))
        got = _fused_grads(case, arrays, "none", cot)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-14, atol=1e-16, err_msg=name)
        first = mx.vjp(lambda a: case(a, *arrays[1:], reduction="none"), [arrays[0]], [cot])[1]
        np.testing.assert_allclose(to_np(first[0]), want[0], rtol=1e-14, atol=1e-16,
                                   err_msg=name)
