"""Gradients of the row-softmax losses: finite differences in float64, mlx.nn.losses,
mx.compile, mx.vmap and mx.jvp."""

import mlx.core as mx
import mlx.nn.losses as nn_losses
import numpy as np
import pytest

import mlx_fused_losses as fl
import row_softmax_reference as ref

RNG = np.random.default_rng(1)


def _f64(a):
    return mx.array(np.asarray(a, np.float64), dtype=mx.float64)


def _probs(shape, axis=-1):
    p = RNG.random(shape) + 0.05
    return p / p.sum(axis=axis, keepdims=True)


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar f(x) (numpy float64 in, float out)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f(x)
        x[idx] = old - h
        fm = f(x)
        x[idx] = old
        g[idx] = (fp - fm) / (2 * h)
    return g


def check_grad(loss, x, atol=1e-7):
    """d loss(x) / dx by the VJP primitive against central differences, float64."""
    x = np.asarray(x, np.float64)
    got = np.array(mx.grad(loss)(_f64(x)))
    want = numeric_grad(lambda v: loss(_f64(v)).item(), x.copy())
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=atol)


# Each case: a scalar function of float64 logits of shape (5, 7) (or its
# transpose for axis 0), covering every kind, option and reduction.
Y = RNG.integers(0, 7, size=5)
Y_IGN = Y.copy()
Y_IGN[1] = -100
CW = RNG.random(7) + 0.2
W = RNG.random(5)
T = _probs((5, 7))
T_RAW = RNG.random((5, 7))  # unnormalised targets
COT = RNG.standard_normal(5)  # a non-uniform cotangent for reduction 'none'


def _weighted(f):
    return lambda x: mx.sum(f(x) * _f64(COT))


CASES = {
    "ce_index_none": _weighted(lambda x: fl.cross_entropy(x, mx.array(Y))),
    "ce_index_mean_smooth": lambda x: fl.cross_entropy(x, mx.array(Y), label_smoothing=0.3, reduction="mean"),
    "ce_index_weights": lambda x: fl.cross_entropy(x, mx.array(Y), weights=_f64(W), reduction="sum"),
    "ce_index_cw_ignore_mean": lambda x: fl.cross_entropy(
        x, mx.array(Y_IGN), class_weights=_f64(CW), ignore_index=-100, label_smoothing=0.2, reduction="mean"),
    "ce_index_axis0": lambda x: fl.cross_entropy(x.T, mx.array(Y), axis=0, label_smoothing=0.1, reduction="mean"),
    # (MLX's loss for targets not summing to 1 moves with the row max, which MLX
    # differentiates as a constant: test_unnormalised_targets_follow_mlx)
    "ce_probs_mlx": _weighted(lambda x: fl.cross_entropy(x, _f64(T), label_smoothing=0.2)),
    "ce_probs_cw": lambda x: fl.cross_entropy(x, _f64(T_RAW), class_weights=_f64(CW), reduction="mean"),
    "nll_cw_ignore": lambda x: fl.nll_loss(x, mx.array(Y_IGN), class_weights=_f64(CW), ignore_index=-100,
                                           reduction="mean"),
    "kl_log": _weighted(lambda x: fl.kl_div_loss(x, _f64(np.log(T)))),
    "kl_prob": lambda x: fl.kl_div_loss(x, _f64(T), log_target=False, reduction="batchmean"),
    "focal_g2": _weighted(lambda x: fl.softmax_focal_loss(x, mx.array(Y), gamma=2.0)),
    "focal_g05_alpha": lambda x: fl.softmax_focal_loss(x, mx.array(Y), alpha=_f64(CW), gamma=0.5,
                                                       reduction="mean"),
    "ce_index_ignore_in_range_cw": lambda x: fl.cross_entropy(
        x, mx.array(Y), class_weights=_f64(CW), ignore_index=int(Y[0]), label_smoothing=0.1, reduction="mean"),
    "ce_probs_cw_smooth_axis0": lambda x: fl.cross_entropy(
        x.T, _f64(T_RAW.T), class_weights=_f64(CW), label_smoothing=0.3, axis=0, reduction="sum"),
    "nll_plain": _weighted(lambda x: fl.nll_loss(x, mx.array(Y))),
    "nll_ignore_sum": lambda x: fl.nll_loss(x, mx.array(Y), ignore_index=int(Y[2]), reduction="sum"),
    "kl_log_batchmean_axis0": lambda x: fl.kl_div_loss(x.T, _f64(np.log(T).T), axis=0, reduction="batchmean"),
    "focal_g0_alpha_scalar": _weighted(lambda x: fl.softmax_focal_loss(x, mx.array(Y), alpha=0.25, gamma=0.0)),
    "focal_g2_alpha_sum": lambda x: fl.softmax_focal_loss(x, mx.array(Y), alpha=_f64(CW), gamma=2.0,
                                                          reduction="sum"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_logits_gradient_by_finite_differences(name):
    check_grad(CASES[name], RNG.standard_normal((5, 7)) * 2)


@pytest.mark.parametrize("form", ["mlx", "mlx_mean", "pytorch", "pytorch_smooth", "kl_log", "kl_prob"])
def test_target_gradient_by_finite_differences(form):
    x = _f64(RNG.standard_normal((5, 7)))
    loss = {
        "mlx": lambda t: mx.sum(fl.cross_entropy(x, t, label_smoothing=0.2) * _f64(COT)),
        "mlx_mean": lambda t: fl.cross_entropy(x, t, weights=_f64(W), reduction="mean"),
        "pytorch": lambda t: fl.cross_entropy(x, t, class_weights=_f64(CW), reduction="sum"),
        "pytorch_smooth": lambda t: fl.cross_entropy(x, t, class_weights=_f64(CW), label_smoothing=0.3,
                                                     reduction="mean"),
        "kl_log": lambda t: fl.kl_div_loss(x, t, reduction="mean"),
        "kl_prob": lambda t: fl.kl_div_loss(x, t, log_target=False, reduction="sum"),
    }[form]
    t = np.log(T) if form == "kl_log" else T
    check_grad(loss, t)


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("targets", ["index", "probs"])
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.2}, {"weights": True}])
def test_gradients_match_mlx(axis, targets, kw):
    shape = (6, 9, 5)
    x = mx.array(RNG.standard_normal(shape).astype(np.float32))
    rows = list(shape)
    n_classes = rows.pop(axis)
    if targets == "index":
        t = mx.array(RNG.integers(0, n_classes, size=rows))
    else:
        t = mx.array(_probs(shape, axis).astype(np.float32))
    if kw.get("weights"):
        kw = {"weights": mx.array(RNG.random(rows).astype(np.float32))}
    argnums = [0] if targets == "index" else [0, 1]

    def f(loss_fn):
        return mx.value_and_grad(lambda a, b: loss_fn(a, b, axis=axis, reduction="mean", **kw), argnums)(x, t)

    (v1, g1), (v2, g2) = f(fl.cross_entropy), f(nn_losses.cross_entropy)
    np.testing.assert_allclose(v1.item(), v2.item(), rtol=1e-5)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-7)


def test_unnormalised_targets_follow_mlx():
    # MLX's gradient treats the row max as a constant (stop_gradient); so do we.
    x = mx.array(RNG.standard_normal((5, 7)).astype(np.float32))
    t = mx.array(T_RAW.astype(np.float32))
    g1 = mx.grad(lambda a, b: mx.sum(fl.cross_entropy(a, b, label_smoothing=0.2)), [0, 1])(x, t)
    g2 = mx.grad(lambda a, b: mx.sum(nn_losses.cross_entropy(a, b, label_smoothing=0.2)), [0, 1])(x, t)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)


def log_softmax(x, axis=-1):
    return x - mx.logsumexp(x, axis=axis, keepdims=True)


def test_per_sample_weight_gradient_matches_mlx():
    x = mx.array(RNG.standard_normal((8, 5)).astype(np.float32))
    y = mx.array(RNG.integers(0, 5, size=8))
    w = mx.array(RNG.random(8).astype(np.float32))
    g1 = mx.grad(lambda w: fl.cross_entropy(x, y, weights=w, reduction="mean"))(w)
    g2 = mx.grad(lambda w: nn_losses.cross_entropy(x, y, weights=w, reduction="mean"))(w)
    np.testing.assert_allclose(np.array(g1), np.array(g2), rtol=1e-5)


def test_nll_and_kl_gradients_match_mlx():
    x = mx.array(np.log(_probs((6, 4))).astype(np.float32))
    y = mx.array(RNG.integers(0, 4, size=6))
    t = mx.array(np.log(_probs((6, 4))).astype(np.float32))
    for fused, stock, args in ((fl.nll_loss, nn_losses.nll_loss, (y,)), (fl.kl_div_loss, nn_losses.kl_div_loss, (t,))):
        g1 = mx.grad(lambda a: fused(a, *args, reduction="mean"))(x)
        g2 = mx.grad(lambda a: stock(a, *args, reduction="mean"))(x)
        np.testing.assert_allclose(np.array(g1), np.array(g2), rtol=1e-5, atol=1e-8)
    g1 = mx.grad(lambda b: fl.kl_div_loss(x, b, reduction="sum"))(t)
    g2 = mx.grad(lambda b: nn_losses.kl_div_loss(x, b, reduction="sum"))(t)
    np.testing.assert_allclose(np.array(g1), np.array(g2), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [mx.float16, mx.bfloat16, mx.float32])
@pytest.mark.parametrize("axis", [-1, 0])
def test_half_precision_gradient(dtype, axis):
    # d mean / d x = (softmax - onehot) / N, rounded once to the logits' dtype.
    x = mx.array(RNG.standard_normal((33, 2100)).astype(np.float32) * 3).astype(dtype)
    if axis == 0:
        x = x.T
    y = RNG.integers(0, 2100, size=33)
    g = mx.grad(lambda a: fl.cross_entropy(a, mx.array(y), axis=axis, reduction="sum"))(x)
    assert g.dtype == dtype and g.shape == x.shape
    xn = np.moveaxis(np.array(x.astype(mx.float64)), axis, -1)
    want = np.exp(ref.log_softmax(xn))
    want[np.arange(33), y] -= 1
    got = np.moveaxis(np.array(g.astype(mx.float64)), axis, -1)
    # one rounding to the dtype; for float32 also that of the saved log-sum (~1e-6)
    eps = {mx.float16: 2**-11, mx.bfloat16: 2**-8, mx.float32: 2**-20}[dtype]
    np.testing.assert_allclose(got, want, rtol=2 * eps, atol=1e-7 if dtype != mx.float16 else 6e-8)


def test_large_offsets_keep_the_gradient():
    # The saved state is (max, log-sum), not a rounded logsumexp: exact under offsets.
    base = RNG.standard_normal((4, 6)).astype(np.float32)
    y = mx.array([0, 1, 2, 3])
    for offset in [1e4, 1e6]:
        x = mx.array(base) + offset
        shifted = np.array(x) - offset  # the logits' values as float32 can hold them
        want = np.exp(ref.log_softmax(shifted.astype(np.float64)))
        want[np.arange(4), [0, 1, 2, 3]] -= 1
        g = np.array(mx.grad(lambda a: fl.cross_entropy(a, y, reduction="sum"))(x))
        np.testing.assert_allclose(g, want, atol=1e-6)
    g = np.array(mx.grad(lambda a: fl.cross_entropy(a, mx.array([0]), reduction="sum"))(mx.array([[1e20, 1e20]])))
    np.testing.assert_allclose(g, [[-0.5, 0.5]])


def test_ignored_and_out_of_range_rows():
    x = mx.array(RNG.standard_normal((4, 5)).astype(np.float32) * 50)
    y = mx.array([1, -100, 7, 2])
    g = np.array(mx.grad(lambda a: fl.cross_entropy(a, y, ignore_index=-100, label_smoothing=0.1,
                                                    reduction="sum"))(x))
    assert np.all(g[1] == 0)  # ignored: no gradient, smoothing included
    assert np.isnan(g[2]).all()  # out of range: NaN, like its loss
    assert np.isfinite(g[[0, 3]]).all()


def test_class_weights_are_not_differentiable():
    x = mx.array(RNG.standard_normal((4, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="class weights"):
        mx.grad(lambda w: fl.cross_entropy(x, mx.array([0, 1, 2, 0]), class_weights=w, reduction="sum"))(
            mx.ones((3,)))
    # ... but may be computed from differentiated values under stop_gradient
    g = mx.grad(lambda w: fl.cross_entropy(x * w[0], mx.array([0, 1, 2, 0]), class_weights=mx.stop_gradient(w),
                                           reduction="sum"))(mx.ones((3,)))
    assert np.isfinite(np.array(g)).all()


def test_compile():
    x = mx.array(RNG.standard_normal((16, 40)).astype(np.float32))
    y = mx.array(RNG.integers(0, 40, size=16))
    t = mx.array(_probs((16, 40)).astype(np.float32))

    def f(x, y, t):
        return (fl.cross_entropy(x, y, label_smoothing=0.1, reduction="mean")
                + fl.kl_div_loss(log_softmax(x), mx.log(t), reduction="batchmean")
                + fl.softmax_focal_loss(x, y, reduction="sum"))

    vg = mx.value_and_grad(f)
    v1, g1 = vg(x, y, t)
    v2, g2 = mx.compile(vg)(x, y, t)
    np.testing.assert_allclose(v1.item(), v2.item(), rtol=1e-6)
    np.testing.assert_allclose(np.array(g1), np.array(g2), rtol=1e-5, atol=1e-8)


def test_vmap_folds_the_mapped_axis_into_rows():
    x = mx.array(RNG.standard_normal((7, 3, 5)).astype(np.float32))  # mapped axis 1
    y = mx.array(RNG.integers(0, 5, size=(3, 7)))  # mapped axis 0
    cw = mx.array((RNG.random(5) + 0.5).astype(np.float32))

    def f(x, y):
        return fl.cross_entropy(x, y, class_weights=cw, label_smoothing=0.1, reduction="mean")

    got = mx.vmap(f, in_axes=(1, 0))(x, y)
    want = mx.stack([f(x[:, b], y[b]) for b in range(3)])
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-6)
    # unmapped logits, mapped targets; and the gradient under vmap
    got = mx.vmap(f, in_axes=(None, 0))(x[:, 0], y)
    want = mx.stack([f(x[:, 0], y[b]) for b in range(3)])
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-6)
    g = mx.vmap(mx.grad(f), in_axes=(1, 0))(x, y)
    want = mx.stack([mx.grad(f)(x[:, b], y[b]) for b in range(3)])
    np.testing.assert_allclose(np.array(g), np.array(want), rtol=1e-5, atol=1e-8)
    # distribution targets with a mapped axis on the class side
    t = mx.array(_probs((5, 7, 3), 0).astype(np.float32))
    got = mx.vmap(lambda a, b: fl.kl_div_loss(log_softmax(a), mx.log(b).T, reduction="sum"),
                  in_axes=(1, 2))(x, t)
    want = mx.stack([fl.kl_div_loss(log_softmax(x[:, b]), mx.log(t[:, :, b].T), reduction="sum")
                     for b in range(3)])
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-5)


def test_jvp():
    x = _f64(RNG.standard_normal((4, 6)))
    t = _f64(_probs((4, 6)))
    y = mx.array(RNG.integers(0, 6, size=4))
    tx = _f64(RNG.standard_normal((4, 6)))
    tt = _f64(RNG.standard_normal((4, 6)))
    for f, primals, tangents in (
        (lambda a: fl.cross_entropy(a, y, label_smoothing=0.1), [x], [tx]),
        (lambda a, b: fl.cross_entropy(a, b), [x, t], [tx, tt]),
        (lambda a, b: fl.kl_div_loss(a, b, log_target=False), [x, t], [tx, tt]),
    ):
        _, (jv,) = mx.jvp(f, primals, tangents)
        h = 1e-6
        plus = f(*[p + h * d for p, d in zip(primals, tangents)])
        minus = f(*[p - h * d for p, d in zip(primals, tangents)])
        np.testing.assert_allclose(np.array(jv), np.array((plus - minus) / (2 * h)), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("targets", ["index", "probs"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_per_sample_weight_gradient_by_finite_differences(targets, reduction):
    x = _f64(RNG.standard_normal((5, 7)))
    t = mx.array(Y) if targets == "index" else _f64(T)
    cot = _f64(COT) if reduction == "none" else _f64(1.0)
    check_grad(lambda w: mx.sum(fl.cross_entropy(x, t, weights=w, label_smoothing=0.1,
                                                 reduction=reduction) * cot), W)
