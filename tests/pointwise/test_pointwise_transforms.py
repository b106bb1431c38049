"""MLX function transforms through the fused primitives: mx.compile, mx.vmap
(mapped axes, unmapped arguments, nesting, of a gradient), mx.grad of a model's
loss, mx.jvp."""

import mlx.core as mx
import mlx.nn.losses as stock
import numpy as np
import pytest

import mlx_fused_losses as mfl
from pointwise_cases import CASES, PER_FUNCTION, REDUCTIONS, grad_sample, ids, to_mx, to_np
from reference import numeric_grad


@pytest.mark.parametrize("case", PER_FUNCTION, ids=ids(PER_FUNCTION))
def test_compile_values_and_grads(case, rng):
    arrays = [to_mx(v) for v in grad_sample(case)(rng, (5, 6))]
    argnums = list(range(len(arrays)))
    for reduction in REDUCTIONS:
        def f(*a):
            return mx.sum(case(*a, reduction=reduction) * 1.5)

        vg = mx.value_and_grad(f, argnums)
        (v0, g0), (v1, g1) = vg(*arrays), mx.compile(vg)(*arrays)
        np.testing.assert_allclose(to_np(v1), to_np(v0), rtol=1e-6)
        for a, b in zip(g1, g0):
            np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-6, atol=1e-7)
        # A second call of the compiled function reuses its graph.
        np.testing.assert_allclose(to_np(mx.compile(f)(*arrays)), to_np(v0), rtol=1e-6)


def _rows_expected(case, values, reduction, axis=0):
    """Loss of each slice along ``axis`` of the full operands, stacked."""
    n = case.full_operands
    out = []
    for k in range(values[0].shape[axis]):
        ops = [np.take(v, k, axis=axis) for v in values[:n]] + list(values[n:])
        out.append(case.expected(*ops, reduction=reduction))
    return np.stack(out)


@pytest.mark.parametrize("case", PER_FUNCTION, ids=ids(PER_FUNCTION))
def test_vmap_rows(case, rng):
    """vmap over the leading axis: each row's loss (a mean loss gives per-row means)."""
    values = list(case.sample(rng, (4, 3, 5)))
    arrays = [to_mx(v, mx.float64) for v in values]
    n = case.full_operands
    in_axes = tuple([0] * n + [None] * (len(values) - n))
    for reduction in REDUCTIONS:
        out = mx.vmap(lambda *a: case(*a, reduction=reduction), in_axes=in_axes)(*arrays)
        want = _rows_expected(case, values, reduction)
        assert out.shape == want.shape
        np.testing.assert_allclose(to_np(out), want, rtol=1e-12, atol=1e-13)


def test_vmap_axes_and_unmapped_arguments(rng):
    """Mapped axes other than 0, an unmapped (None) operand, out_axes."""
    case = CASES["gaussian_nll_loss"]
    x, y, v = case.sample(rng, (3, 7))
    xs = np.stack([x + k for k in range(4)], axis=1)  # (3, 4, 7): mapped along axis 1
    vs = np.stack([v * (k + 1) for k in range(4)], axis=-1)  # (3, 7, 4): mapped along -1
    for reduction in REDUCTIONS:
        f = lambda a, b, c: case(a, b, c, reduction=reduction)  # noqa: E731
        out = mx.vmap(f, in_axes=(1, None, 2))(to_mx(xs, mx.float64), to_mx(y, mx.float64),
                                               to_mx(vs, mx.float64))
        want = np.stack([case.expected(x + k, y, v * (k + 1), reduction=reduction)
                         for k in range(4)])
        np.testing.assert_allclose(to_np(out), want, rtol=1e-12, atol=1e-13)
        if reduction == "none":
            out = mx.vmap(f, in_axes=(1, None, 2), out_axes=1)(
                to_mx(xs, mx.float64), to_mx(y, mx.float64), to_mx(vs, mx.float64))
            np.testing.assert_allclose(to_np(out), np.moveaxis(want, 0, 1), rtol=1e-12)


def test_vmap_pos_weight_unmapped(rng):
    """Multi-label BCE per sample, one shared pos_weight per class."""
    case = CASES["bce-logits-pos_weight"]
    x, y, pw = case.sample(rng, (6, 4))
    for reduction in REDUCTIONS:
        out = mx.vmap(lambda a, b, c: case(a, b, c, reduction=reduction),
                      in_axes=(0, 0, None))(to_mx(x, mx.float64), to_mx(y, mx.float64),
                                            to_mx(pw, mx.float64))
        want = np.stack([case.expected(x[k], y[k], pw, reduction=reduction) for k in range(6)])
        np.testing.assert_allclose(to_np(out), want, rtol=1e-12, atol=1e-13)


def test_nested_vmap(rng):
    case = CASES["huber_loss"]
    x, y = case.sample(rng, (3, 4, 5))
    for reduction in REDUCTIONS:
        f = lambda a, b: case(a, b, reduction=reduction)  # noqa: E731
        inner = mx.vmap(f, in_axes=(0, 0))
        out = mx.vmap(inner, in_axes=(1, 1))(to_mx(x, mx.float64), to_mx(y, mx.float64))
        want = np.stack([np.stack([case.expected(x[i, j], y[i, j], reduction=reduction)
                                   for i in range(3)]) for j in range(4)])
        assert out.shape == want.shape
        np.testing.assert_allclose(to_np(out), want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("case", PER_FUNCTION, ids=ids(PER_FUNCTION))
def test_vmap_of_grad(case, rng):
    """Per-sample gradients: vmap of grad equals the gradient of each row's loss."""
    values = list(grad_sample(case)(rng, (3, 6)))
    arrays = [to_mx(v, mx.float64) for v in values]
    n = case.full_operands
    in_axes = tuple([0] * n + [None] * (len(values) - n))
    argnums = list(range(n))
    for reduction in ("mean", "sum"):
        g = mx.grad(lambda *a: case(*a, reduction=reduction), argnums)
        got = mx.vmap(g, in_axes=in_axes)(*arrays)
        for k in range(3):
            row = [a[k] for a in arrays[:n]] + arrays[n:]
            want = g(*row)
            for a, b in zip(got, want):
                np.testing.assert_allclose(to_np(a[k]), to_np(b), rtol=1e-12, atol=1e-15)


def test_vmap_of_large_rows(rng):
    """Rows longer than one kernel block (so each row sums several partials)."""
    case = CASES["mse_loss"]
    x, y = case.sample(rng, (3, 150001))
    out = mx.vmap(lambda a, b: case(a, b, reduction="mean"))(to_mx(x), to_mx(y))
    np.testing.assert_allclose(to_np(out), np.mean((x - y) ** 2, axis=1), rtol=1e-6)


def _mlp(params, x):
    w1, b1, w2, b2 = params
    return mx.tanh(x @ w1 + b1) @ w2 + b2


@pytest.mark.parametrize("name", ["mse_loss", "huber_loss", "smooth_l1_loss", "log_cosh_loss",
                                  "binary_cross_entropy"])
def test_grad_of_model_loss(name, rng):
    """The gradient of a small network's loss w.r.t. its parameters equals the
    one through stock MLX's loss."""
    x = to_mx(rng.standard_normal((16, 3)))
    y = to_mx(rng.random((16, 2)) if name == "binary_cross_entropy"
              else rng.standard_normal((16, 2)))
    params = [to_mx(rng.standard_normal(s) * 0.5) for s in ((3, 8), (8,), (8, 2), (2,))]
    reduction = "mean"

    def loss(module):
        return lambda p: getattr(module, name)(_mlp(p, x), y, reduction=reduction)

    vo, go = mx.value_and_grad(loss(mfl))(params)
    vt, gt = mx.value_and_grad(loss(stock))(params)
    np.testing.assert_allclose(vo.item(), vt.item(), rtol=1e-5)
    for a, b in zip(go, gt):
        np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("case", PER_FUNCTION, ids=ids(PER_FUNCTION))
def test_jvp(case, rng):
    """Forward-mode derivative = finite difference of the reference along the
    tangent, and = <cotangent, vjp> (the adjoint identity)."""
    values = list(grad_sample(case)(rng, (3, 4)))
    arrays = [to_mx(v, mx.float64) for v in values]
    tangents = [rng.standard_normal(v.shape) for v in values]
    for reduction in REDUCTIONS:
        f = lambda *a: case(*a, reduction=reduction)  # noqa: E731
        _, (jv,) = mx.jvp(f, arrays, [to_mx(t, mx.float64) for t in tangents])
        h = 1e-6

        def along(s):
            return case.expected(*[v + s * t for v, t in zip(values, tangents)],
                                 reduction=reduction)

        fd = (along(h) - along(-h)) / (2 * h)
        np.testing.assert_allclose(to_np(jv), fd, rtol=1e-6, atol=1e-8)

        cot = rng.standard_normal(np.shape(fd))
        _, vj = mx.vjp(f, arrays, [to_mx(cot, mx.float64)])
        adjoint = sum(float(np.sum(to_np(g) * t)) for g, t in zip(vj, tangents))
        np.testing.assert_allclose(float(np.sum(cot * to_np(jv))), adjoint, rtol=1e-10,
                                   atol=1e-12)


def test_jvp_single_operand(rng):
    """A tangent for one operand only (the others are constants)."""
    case = CASES["log_cosh_loss"]
    x, y = case.sample(rng, (4, 5))
    t = rng.standard_normal((4, 5))
    for reduction in REDUCTIONS:
        _, (jv,) = mx.jvp(lambda a: case(a, to_mx(y, mx.float64), reduction=reduction),
                          [to_mx(x, mx.float64)], [to_mx(t, mx.float64)])
        g = numeric_grad(lambda a: float(np.sum(case.expected(a, y, reduction=reduction))),
                         [x], 0)
        if reduction == "none":
            np.testing.assert_allclose(to_np(jv), g * t, rtol=1e-6, atol=1e-9)
        else:
            np.testing.assert_allclose(to_np(jv), np.sum(g * t), rtol=1e-6, atol=1e-9)
