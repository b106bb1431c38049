"""mx.grad / mx.value_and_grad of a pointwise sum or mean on the CPU write the
gradients in the forward's pass over the inputs (no VJP primitive re-reading
them): the graph has no FusedPointwiseLossVJP node, and every value and
gradient equals, bit for bit, the two-pass path that any other cotangent
takes (the same per-element formulas and the same summation order)."""

import io

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

import mlx_fused_losses as mfl
from pointwise_cases import CASES, PER_FUNCTION, grad_sample, ids, to_mx, to_np

ALL = list(CASES.values())
VJP_NODE = "FusedPointwiseLossVJP"


def _nodes(*arrays) -> str:
    buf = io.StringIO()
    mx.export_to_dot(buf, *arrays)
    return buf.getvalue()


def _one_pass(case, arrays, reduction, argnums):
    f = mx.value_and_grad(lambda *a: case(*a, reduction=reduction), argnums=argnums)
    value, grads = f(*arrays)
    return value, [grads] if isinstance(grads, mx.array) else grads  # one argnum: no tuple


def _two_pass(case, arrays, reduction, argnums):
    """The same gradients through the VJP primitive: a cotangent of 1 that is
    not mx.grad's evaluated seed (an unevaluated sum) takes that path."""
    def wanted(*a):
        full = list(arrays)
        for i, v in zip(argnums, a):
            full[i] = v
        return case(*full, reduction=reduction)

    value = case(*arrays, reduction=reduction)
    one = mx.zeros(value.shape, value.dtype) + 1
    _, grads = mx.vjp(wanted, [arrays[i] for i in argnums], [one])
    return value, grads


def _assert_same(got, want, what):
    assert got.dtype == want.dtype and got.shape == want.shape, what
    np.testing.assert_array_equal(to_np(got), to_np(want), err_msg=what)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("case", ALL, ids=ids(ALL))
def test_value_and_grad_in_one_pass_equals_two_passes(case, reduction, rng):
    values = grad_sample(case)(rng, (37, 29))  # odd sizes: partial vector tails
    arrays = [to_mx(v) for v in values]
    argnums = tuple(range(len(arrays)))
    value, grads = _one_pass(case, arrays, reduction, argnums)
    graph = _nodes(value, *grads)
    if case.post is None:  # rmse's sqrt scales the cotangent: two passes
        assert VJP_NODE not in graph
    want_value, want_grads = _two_pass(case, arrays, reduction, argnums)
    assert VJP_NODE in _nodes(*want_grads)
    _assert_same(value, want_value, "value")
    for name, g, w in zip(case.operands, grads, want_grads):
        _assert_same(g, w, f"d/d{name}")


@pytest.mark.parametrize("dtype", [mx.float32, mx.bfloat16, mx.float16, mx.float64], ids=str)
@pytest.mark.parametrize("case", PER_FUNCTION, ids=ids(PER_FUNCTION))
def test_one_pass_dtypes_and_argnums(case, dtype, rng):
    """Each operand alone and all of them, in every dtype (the seed is cast to
    the loss's dtype): still one pass, still the two-pass result."""
    arrays = [to_mx(v, dtype) for v in grad_sample(case)(rng, (5, 67))]
    subsets = [(i,) for i in range(len(arrays))] + [tuple(range(len(arrays)))]
    for argnums in subsets:
        value, grads = _one_pass(case, arrays, "mean", argnums)
        if case.post is None:
            assert VJP_NODE not in _nodes(value, *grads), argnums
        want_value, want_grads = _two_pass(case, arrays, "mean", argnums)
        _assert_same(value, want_value, f"value {argnums}")
        for i, g, w in zip(argnums, grads, want_grads):
            _assert_same(g, w, f"d/d{case.operands[i]} of {argnums}")


def test_one_pass_over_views_and_large_inputs(rng):
    """Transposed, sliced and broadcast operands (the strided loops), and a
    size over many threads' blocks."""
    x = mx.array(rng.standard_normal((300, 700)).astype(np.float32))
    t = mx.array(rng.standard_normal((700, 300)).astype(np.float32))
    w = mx.array(rng.random(700).astype(np.float32))
    cases = {
        "transposed": (lambda a: mfl.huber_loss(a, t.T, reduction="mean"), x),
        "sliced": (lambda a: mfl.mse_loss(a[:, ::2], t.T[:, 1::2], reduction="sum"), x),
        "broadcast": (lambda a: mfl.binary_cross_entropy(
            a, t.T > 0, weights=mx.broadcast_to(w, a.shape)), x),
        "large": (lambda a: mfl.log_cosh_loss(a, t.reshape(-1) * 2, reduction="mean"),
                  mx.array(rng.standard_normal(210_000).astype(np.float32))),
    }
    for name, (f, a) in cases.items():
        value, grad = mx.value_and_grad(f)(a)
        assert VJP_NODE not in _nodes(value, grad), name
        _, (want,) = mx.vjp(f, [a], [mx.zeros(()) + 1])
        np.testing.assert_array_equal(np.array(grad), np.array(want), err_msg=name)


def _twice(loss):
    return loss + loss


def test_scaled_or_reused_loss_takes_two_passes(rng):
    """Any cotangent but the seed (a scaled loss, one loss used twice) goes
    through the VJP primitive; a sum of two losses is two one-pass losses.
    The gradients are right either way."""
    x = mx.array(rng.standard_normal(1000).astype(np.float32))
    t = mx.array(rng.standard_normal(1000).astype(np.float32))
    base = mx.grad(lambda a: mfl.mse_loss(a, t))(x)
    for name, f, factor, two_pass in [
        ("scaled", lambda a: 3.0 * mfl.mse_loss(a, t), 3.0, True),
        ("reused", lambda a: _twice(mfl.mse_loss(a, t)), 2.0, True),
        ("sum of two", lambda a: mfl.mse_loss(a, t) + mfl.mse_loss(a, t), 2.0, False),
    ]:
        value, grad = mx.value_and_grad(f)(x)
        assert (VJP_NODE in _nodes(value, grad)) == two_pass, name
        np.testing.assert_allclose(np.array(grad), factor * np.array(base), rtol=1e-6,
                                   err_msg=name)


def test_one_pass_under_compile_and_vmap(rng):
    x = mx.array(rng.standard_normal((6, 50)).astype(np.float32))
    t = mx.array(rng.standard_normal((6, 50)).astype(np.float32))
    vag = mx.value_and_grad(lambda a, b: mfl.smooth_l1_loss(a, b, beta=0.5), argnums=(0, 1))
    value, grads = vag(x, t)
    for name, f in [("compile", mx.compile(vag)), ("compile twice", mx.compile(vag))]:
        for _ in range(2):  # the traced graph, then its replay
            v, g = f(x, t)
            _assert_same(v, value, name)
            for got, want in zip(g, grads):
                _assert_same(got, want, name)
    # Per-row losses and gradients: vmap of value_and_grad.
    rows_v, rows_g = mx.vmap(mx.value_and_grad(lambda a, b: mfl.smooth_l1_loss(a, b, beta=0.5)))(x, t)
    for r in range(6):
        v, g = mx.value_and_grad(lambda a: mfl.smooth_l1_loss(a, t[r], beta=0.5))(x[r])
        np.testing.assert_allclose(rows_v[r].item(), v.item(), rtol=1e-6)
        np.testing.assert_allclose(np.array(rows_g[r]), np.array(g), rtol=1e-6, atol=1e-9)


def test_model_training_step_in_one_pass(rng):
    """nn.value_and_grad passes the targets as primals too (tracers whose
    gradient nobody asks for): the model's gradients still come from one pass
    and match the two-pass ones."""
    model = nn.Linear(8, 1)
    x = mx.array(rng.standard_normal((64, 8)).astype(np.float32))
    y = mx.array(rng.standard_normal((64, 1)).astype(np.float32))
    loss, grads = nn.value_and_grad(model, lambda m, a, b: mfl.mse_loss(m(a), b))(model, x, y)
    flat = dict(nn.utils.tree_flatten(grads))
    assert VJP_NODE not in _nodes(loss, *flat.values())
    scaled = nn.value_and_grad(model, lambda m, a, b: 2.0 * mfl.mse_loss(m(a), b))(model, x, y)[1]
    for k, g in nn.utils.tree_flatten(scaled):
        np.testing.assert_allclose(2.0 * np.array(flat[k]), np.array(g), rtol=1e-6, err_msg=k)


def test_second_derivatives_through_one_pass_are_refused(rng):
    """Not silently wrong: the gradient outputs have no derivatives of their own."""
    x = mx.array(rng.standard_normal(10).astype(np.float32))
    grad = mx.grad(lambda a: mfl.mse_loss(a, mx.zeros(10)))
    with pytest.raises(ValueError, match="second derivatives"):
        mx.jvp(grad, [x], [mx.ones(10)])
    with pytest.raises(ValueError, match="second derivatives"):
        mx.grad(lambda a: mx.sum(grad(a)))(x)
