"""The row-softmax family against issue #4's checklist, where the other
test_row_softmax_*.py files leave gaps: index dtypes, out-of-range targets and
their gradients, infinities and offsets, axes and strided inputs (values and
gradients), mx.compile / mx.vmap of every function, a 256k vocabulary's
gradient, error messages, and the C++ header."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import mlx.nn.losses as nn_losses
import numpy as np
import pytest

import mlx_fused_losses as fl
import row_softmax_reference as ref

RNG = np.random.default_rng(4)


def _f64(a):
    # (mx.array alone would make float64 numpy arrays float32)
    return mx.array(np.asarray(a, np.float64), dtype=mx.float64)


def _np(a):
    return np.array(a.astype(mx.float64) if a.dtype != mx.float64 else a)


def _probs(shape, axis=-1):
    p = RNG.random(shape) + 0.05
    return p / p.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    return x - mx.logsumexp(x, axis=axis, keepdims=True)


# --------------------------------------------------------------- index dtypes
INDEX_DTYPES = [mx.int8, mx.int16, mx.int32, mx.int64, mx.uint8, mx.uint16, mx.uint32, mx.uint64]


@pytest.mark.parametrize("dtype", INDEX_DTYPES, ids=str)
def test_every_integer_index_dtype(dtype):
    x = RNG.standard_normal((6, 5))
    y = np.array([0, 4, 2, 3, 1, 0])
    xm = mx.array(x.astype(np.float32))
    want = ref.cross_entropy(np.array(xm), y)
    for f, r in ((fl.cross_entropy, ref.cross_entropy), (fl.nll_loss, ref.nll_loss)):
        got = f(xm, mx.array(y).astype(dtype))
        np.testing.assert_allclose(_np(got), r(np.array(xm), y), rtol=1e-6, atol=1e-6)
    got = fl.softmax_focal_loss(xm, mx.array(y).astype(dtype), gamma=0.0)
    np.testing.assert_allclose(_np(got), want, rtol=1e-6, atol=1e-6)


def test_bool_and_float_indices_are_rejected():
    x = mx.zeros((3, 4))
    for bad, dtype in ((mx.array([True, False, True]), "bool"), (mx.zeros((3,)), "float32")):
        for f in (fl.cross_entropy, fl.nll_loss, fl.softmax_focal_loss):
            with pytest.raises(TypeError, match=rf"`targets` has dtype {dtype}.*expected class "
                                                rf"indices \(an integer dtype\) of shape \(3,\)"):
                f(x, bad)


# -------------------------------------------------------- out-of-range targets
@pytest.mark.parametrize("dtype", [mx.int32, mx.int64, mx.uint32, mx.uint8], ids=str)
def test_out_of_range_indices_give_nan_loss_and_gradient_rows(dtype):
    C = 5
    if dtype == mx.uint8:
        y = np.array([0, C, 255, 3, 200, 1])
    elif dtype == mx.uint32:
        y = np.array([0, C, 2**32 - 1, 3, 2**31, 1])
    else:
        y = np.array([0, C, -1, 3, -(2**31) if dtype == mx.int32 else -(2**62), 1])
    if dtype in (mx.int32, mx.int64):
        y = np.append(y, 2**31 - 1)
    y_m = mx.array(y).astype(dtype)
    bad = (y < 0) | (y >= C)
    x = _f64(RNG.standard_normal((len(y), C)))
    x_np = np.array(x)
    cases = [
        ("ce", lambda a, **k: fl.cross_entropy(a, y_m, **k), lambda: ref.cross_entropy(x_np, y)),
        ("ce_smooth_cw", lambda a, **k: fl.cross_entropy(a, y_m, label_smoothing=0.1,
                                                         class_weights=_f64(np.arange(1, C + 1)), **k),
         lambda: ref.cross_entropy(x_np, y, label_smoothing=0.1, class_weights=np.arange(1, C + 1))),
        ("nll", lambda a, **k: fl.nll_loss(a, y_m, **k), lambda: ref.nll_loss(x_np, y)),
        ("nll_ignore", lambda a, **k: fl.nll_loss(a, y_m, ignore_index=3, **k),
         lambda: ref.nll_loss(x_np, y, ignore_index=3)),
        ("focal", lambda a, **k: fl.softmax_focal_loss(a, y_m, gamma=2.0, **k),
         lambda: ref.softmax_focal(x_np, y, gamma=2.0)),
    ]
    for name, f, want in cases:
        loss = np.array(f(x))
        assert np.isnan(loss[bad]).all(), name
        np.testing.assert_allclose(loss[~bad], want()[~bad], rtol=1e-12, atol=1e-14, err_msg=name)
        assert np.isnan(f(x, reduction="mean").item()) and np.isnan(f(x, reduction="sum").item())
        # The gradient: NaN over the rows of a bad index, the others untouched.
        g = np.array(mx.grad(lambda a: mx.sum(f(a) * _f64(np.where(bad, 1.0, 0.5))))(x))
        assert np.isnan(g[bad]).all(), name
        good = np.array(mx.grad(lambda a: mx.sum(f(a)[mx.array(np.flatnonzero(~bad))] * 0.5))(x))
        np.testing.assert_allclose(g[~bad], good[~bad], rtol=1e-14, err_msg=name)


def test_out_of_range_index_on_a_strided_class_axis():
    # The class axis strided (axis 0): the index is still checked before any read.
    x = mx.array(RNG.standard_normal((4, 6)).astype(np.float32))
    y = mx.array([0, 2**31 - 1, -(2**31), 3, 4, 1], mx.int32)
    loss = np.array(fl.cross_entropy(x, y, axis=0, label_smoothing=0.2))
    assert np.isnan(loss[[1, 2, 4]]).all()
    np.testing.assert_allclose(loss[[0, 3, 5]],
                               ref.cross_entropy(np.array(x), np.array([0, 0, 0, 3, 0, 1]), axis=0,
                                                 label_smoothing=0.2)[[0, 3, 5]], rtol=1e-6)
    g = np.array(mx.grad(lambda a: fl.cross_entropy(a, y, axis=0, reduction="sum"))(x))
    assert np.isnan(g[:, [1, 2, 4]]).all() and np.isfinite(g[:, [0, 3, 5]]).all()


# ------------------------------------------------------ infinities and offsets
def test_infinite_logits_follow_mlx():
    inf = float("inf")
    x = mx.array([[0.0, -inf, 1.0], [-inf, -inf, -inf], [-inf, 2.0, -inf], [3.0, 1.0, -inf]])
    y = mx.array([1, 0, 1, 0])  # a target at a -inf logit, an all -inf row, finite ones
    ours, stock = np.array(fl.cross_entropy(x, y)), np.array(nn_losses.cross_entropy(x, y))
    assert np.isposinf(ours[0]) and np.isposinf(stock[0])
    assert np.isnan(ours[1]) and np.isnan(stock[1])
    assert ours[2] == 0.0
    np.testing.assert_allclose(ours[2:], stock[2:], rtol=1e-6)
    np.testing.assert_allclose(ours[3], np.log1p(np.exp(-2.0)), rtol=1e-6)
    go = np.array(mx.grad(lambda a: fl.cross_entropy(a, y, reduction="sum"))(x))
    gs = np.array(mx.grad(lambda a: nn_losses.cross_entropy(a, y, reduction="sum"))(x))
    np.testing.assert_allclose(go, gs, rtol=1e-6, atol=1e-7)  # incl. the NaN row
    assert np.isnan(go[1]).all() and np.all(go[2] == 0)
    # nll_loss of -inf log-probabilities: +inf, as MLX
    assert np.array(fl.nll_loss(x, y)).tolist()[0] == inf


@pytest.mark.parametrize("offset", [1e4, 1e8, 1e20])
def test_large_shared_offsets(offset):
    # float32: the loss is that of the logits as float32 holds them (exactly the
    # un-offset loss where the offset leaves the gaps representable: 1e4 here;
    # 1e8 and 1e20 round every logit to the same value, log C, as MLX).
    base = np.array([[2.0, -1.0, 0.5, 0.25], [0.0, 3.0, -2.5, 1.0]])
    y = mx.array([0, 1])
    x32 = mx.array(base.astype(np.float32)) + offset
    got = np.array(fl.cross_entropy(x32, y))
    held = np.array(x32).astype(np.float64)
    np.testing.assert_allclose(got, ref.cross_entropy(held - held.max(-1, keepdims=True), [0, 1]),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got, np.array(nn_losses.cross_entropy(x32, y)), rtol=1e-5, atol=1e-5)
    if offset == 1e4:
        np.testing.assert_allclose(got, ref.cross_entropy(base, [0, 1]), rtol=1e-6)
    # float64 holds a 1e8 offset's gaps: the un-offset loss and gradient
    if offset <= 1e8:
        x64 = _f64(base) + offset
        for kw in ({}, {"label_smoothing": 0.3}):
            np.testing.assert_allclose(np.array(fl.cross_entropy(x64, y, **kw)),
                                       ref.cross_entropy(base, [0, 1], **kw), rtol=1e-9)
            g = mx.grad(lambda a: fl.cross_entropy(a, y, reduction="sum", **kw))
            np.testing.assert_allclose(np.array(g(x64)), np.array(g(_f64(base))), atol=1e-9)


# ------------------------------------------------------ axes and strided inputs
def _moved(a, axis):
    """a with its class axis last, as a contiguous array."""
    return mx.contiguous(mx.moveaxis(a, axis, -1))


AXIS_LOSSES = {
    "ce_index": lambda x, t, axis: fl.cross_entropy(x, t, axis=axis, label_smoothing=0.1),
    "ce_probs": lambda x, t, axis: fl.cross_entropy(x, t, axis=axis, label_smoothing=0.1),
    "ce_probs_cw": lambda x, t, axis: fl.cross_entropy(x, t, axis=axis,
                                                       class_weights=mx.arange(1, 6) / 5),
    "nll": lambda x, t, axis: fl.nll_loss(x, t, axis=axis, class_weights=mx.arange(1, 6) / 5),
    "kl": lambda x, t, axis: fl.kl_div_loss(x, t, axis=axis),
    "kl_prob": lambda x, t, axis: fl.kl_div_loss(x, t, axis=axis, log_target=False),
    "focal": lambda x, t, axis: fl.softmax_focal_loss(x, t, alpha=mx.arange(1, 6) / 5,
                                                      gamma=1.5, axis=axis),
}


def _axis_inputs(name, shape, axis):
    """Strided logits and targets of `shape` with 5 classes along `axis`."""
    # logits: a step-2 slice of a transposed array (non-contiguous both ways)
    big = mx.array(RNG.standard_normal(tuple(2 * n for n in shape[::-1])).astype(np.float32))
    x = mx.transpose(big)[tuple(slice(None, None, 2) for _ in shape)]
    assert x.shape == shape
    if name in ("kl", "nll"):
        x = _log_softmax(x, axis)
    rows = list(shape)
    rows.pop(axis)
    if name in ("ce_index", "nll", "focal"):
        t = mx.array(RNG.integers(0, 5, size=rows[::-1]).T)  # a transposed view
    else:
        p = mx.array(_probs(shape[::-1], len(shape) - 1 - (axis % len(shape))).T.astype(np.float32))
        t = mx.log(p) if name == "kl" else p
        t = mx.transpose(mx.transpose(t))
    return x, t


@pytest.mark.parametrize("name", list(AXIS_LOSSES))
@pytest.mark.parametrize("shape,axis", [((5, 4, 3), 0), ((4, 5, 3), 1), ((4, 3, 5), -1),
                                        ((4, 5, 3), -2), ((5, 4, 3), -3), ((5, 3), -2)])
def test_any_axis_and_strided_inputs_equal_contiguous(name, shape, axis):
    f = AXIS_LOSSES[name]
    x, t = _axis_inputs(name, shape, axis)
    t_moved = t if t.ndim < x.ndim else _moved(t, axis)
    argnums = [0] if t.ndim < x.ndim else [0, 1]
    rows = list(shape)
    rows.pop(axis)
    cot = mx.array(RNG.random(rows).astype(np.float32))  # a non-uniform cotangent
    got = f(x, t, axis)
    want = f(_moved(x, axis), t_moved, -1)
    assert got.shape == want.shape
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-6, atol=1e-7)
    g_got = mx.grad(lambda a, b: mx.sum(f(a, b, axis) * cot), argnums)(x, t)
    g_want = mx.grad(lambda a, b: mx.sum(f(a, b, -1) * cot), argnums)(_moved(x, axis), t_moved)
    if len(argnums) == 1:
        g_got, g_want = [g_got], [g_want]
    for a, b in zip(g_got, g_want):
        np.testing.assert_allclose(np.array(mx.moveaxis(a, axis, -1)), np.array(b), rtol=1e-5, atol=1e-7)


# ------------------------------------------------------- mx.compile and mx.vmap
# Every function as f(x, t) of float32 logits (B, 5) and its targets; the
# bool says whether the targets are differentiable (distributions).
FUNCS = {
    "cross_entropy": (lambda x, t: fl.cross_entropy(x, t, label_smoothing=0.1,
                                                    class_weights=mx.arange(1, 6) / 5, ignore_index=2),
                      "index", False),
    "cross_entropy_probs": (lambda x, t: fl.cross_entropy(x, t, label_smoothing=0.1), "probs", True),
    "cross_entropy_probs_cw": (lambda x, t: fl.cross_entropy(x, t, class_weights=mx.arange(1, 6) / 5),
                               "probs", True),
    "nll_loss": (lambda x, t: fl.nll_loss(x, t, ignore_index=2), "index", False),
    "kl_div_loss": (lambda x, t: fl.kl_div_loss(x, t), "logprobs", True),
    "kl_div_loss_probs": (lambda x, t: fl.kl_div_loss(x, t, log_target=False), "probs", True),
    "softmax_focal_loss": (lambda x, t: fl.softmax_focal_loss(x, t, alpha=mx.arange(1, 6) / 5, gamma=2.0),
                           "index", False),
    "info_nce_loss": (lambda x, t: fl.info_nce_loss(x, t, reduction="none"), "embeds", True),
    "nt_xent_loss": (lambda x, t: fl.nt_xent_loss(x, t, reduction="none"), "embeds", True),
    "clip_loss": (lambda x, t: fl.clip_loss(x, t, 0.1, reduction="none"), "embeds", True),
}


def _func_inputs(kind, lead=()):
    shape = (*lead, 6, 5)
    x = mx.array(RNG.standard_normal(shape).astype(np.float32))
    if kind == "index":
        return x, mx.array(RNG.integers(0, 5, size=shape[:-1]))
    if kind == "embeds":
        return x, mx.array(RNG.standard_normal(shape).astype(np.float32))
    p = mx.array(_probs(shape).astype(np.float32))
    return x, (mx.log(p) if kind == "logprobs" else p)


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-7):
    a = a if isinstance(a, (list, tuple)) else [a]
    b = b if isinstance(b, (list, tuple)) else [b]
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.shape == v.shape
        np.testing.assert_allclose(np.array(u), np.array(v), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(FUNCS))
def test_compile_and_grad_through_compile(name):
    f, kind, diff_t = FUNCS[name]
    x, t = _func_inputs(kind)
    argnums = [0, 1] if diff_t else [0]
    loss = lambda a, b: mx.mean(f(a, b))  # noqa: E731
    _assert_trees_close(mx.compile(f)(x, t), f(x, t), rtol=1e-6)
    want = mx.value_and_grad(loss, argnums)(x, t)
    _assert_trees_close(mx.compile(mx.value_and_grad(loss, argnums))(x, t)[1], want[1])
    _assert_trees_close(mx.grad(mx.compile(loss), argnums)(x, t), want[1])
    np.testing.assert_allclose(mx.compile(loss)(x, t).item(), want[0].item(), rtol=1e-6)


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize("mapped", ["front", "class_side", "back"])
def test_vmap_values_and_gradients(name, mapped):
    """The batch of 3 mapped from axis 0, from the axis just before the class
    axis, or from the last axis (after the class axis)."""
    f, kind, diff_t = FUNCS[name]
    x, t = _func_inputs(kind, lead=(3,))  # (3, 6, 5)
    x_axis = {"front": 0, "class_side": 1, "back": 2}[mapped]
    t_axis = min(x_axis, t.ndim - 1)  # (class indices (3, 6) have no class axis)
    xv, tv = mx.moveaxis(x, 0, x_axis), mx.moveaxis(t, 0, t_axis)
    argnums = [0, 1] if diff_t else [0]
    per = [(x[b], t[b]) for b in range(3)]
    got = mx.vmap(f, in_axes=(x_axis, t_axis))(xv, tv)
    _assert_trees_close(got, mx.stack([f(*p) for p in per]), rtol=1e-6)
    loss = lambda a, b: mx.sum(f(a, b) * mx.linspace(0.5, 1.5, f(a, b).size).reshape(f(a, b).shape))  # noqa
    grad = mx.grad(lambda *a: loss(*a), argnums)
    listed = (lambda g: g if len(argnums) > 1 else [g])  # noqa: E731
    g = listed(mx.vmap(grad, in_axes=(x_axis, t_axis))(xv, tv))
    want = [listed(grad(*p)) for p in per]
    for k in range(len(argnums)):
        _assert_trees_close(g[k], mx.stack([w[k] for w in want]))
    # unmapped logits with mapped targets
    got = mx.vmap(f, in_axes=(None, t_axis))(x[0], tv)
    _assert_trees_close(got, mx.stack([f(x[0], t[b]) for b in range(3)]), rtol=1e-6)


def test_vmap_of_class_weights_is_rejected_clearly():
    x, y = _func_inputs("index")
    with pytest.raises(ValueError, match="vmap over the class weights"):
        mx.vmap(lambda w: fl.cross_entropy(x, y, class_weights=w), in_axes=0)(mx.ones((3, 5)))


def test_alpha_gradient_is_rejected_naming_alpha():
    # alpha is a constant, as torchvision's and kornia's focal losses take it.
    x, y = _func_inputs("index")
    with pytest.raises(ValueError, match="`alpha`.*stop_gradient"):
        mx.grad(lambda a: fl.softmax_focal_loss(x, y, alpha=a, reduction="sum"))(mx.ones((5,)))
    with pytest.raises(ValueError, match="`class_weights`.*stop_gradient"):
        mx.grad(lambda w: fl.nll_loss(x, y, class_weights=w, reduction="sum"))(mx.ones((5,)))


# ------------------------------------------------------------ dtypes of losses
@pytest.mark.parametrize("dtype", [mx.float16, mx.bfloat16, mx.float32, mx.float64], ids=str)
def test_loss_and_gradient_dtypes(dtype):
    want = mx.float64 if dtype == mx.float64 else mx.float32
    x = mx.array(RNG.standard_normal((4, 7))).astype(dtype)
    y = mx.array([0, 6, 3, 1])
    p = mx.softmax(mx.array(RNG.standard_normal((4, 7))), axis=-1).astype(dtype)
    lp = _log_softmax(x)
    for loss, args in ((fl.cross_entropy, (x, y)), (fl.cross_entropy, (x, p)), (fl.nll_loss, (lp, y)),
                       (fl.kl_div_loss, (lp, mx.log(p))), (fl.softmax_focal_loss, (x, y)),
                       (fl.info_nce_loss, (x, x[::-1])), (fl.nt_xent_loss, (x, x[::-1])),
                       (fl.clip_loss, (x, x[::-1]))):
        for reduction in ("none", "mean", "sum"):
            out = loss(*args, reduction=reduction)
            assert out.dtype == want, (loss.__name__, reduction)
        g = mx.grad(lambda a: loss(a, *args[1:], reduction="sum"))(args[0])
        assert g.dtype == dtype, loss.__name__


# ------------------------------------------------------- a 256k vocabulary's grad
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.1, "class_weights": True}])
def test_vocabulary_of_256k_gradient(kw):
    V = 262_144
    x = mx.array(RNG.standard_normal((4, V)).astype(np.float32) * 4)
    y = np.array([0, 70_000, 131_072, V - 1])
    if kw.get("class_weights"):
        cw = (RNG.random(V) + 0.5).astype(np.float32)
        kw = {"label_smoothing": 0.1, "class_weights": mx.array(cw)}
        ref_kw = {"label_smoothing": 0.1, "class_weights": cw}
    else:
        cw, ref_kw = np.ones(V), {}
    loss, g = mx.value_and_grad(lambda a: fl.cross_entropy(a, mx.array(y), reduction="mean", **kw))(x)
    xn = np.array(x).astype(np.float64)
    np.testing.assert_allclose(loss.item(), ref.cross_entropy(xn, y, reduction="mean", **ref_kw), rtol=1e-6)
    # d/dx of the (weighted) mean: (sum_c w_c t'_c softmax - w t') / denominator per row
    eps = ref_kw.get("label_smoothing", 0.0)
    ts = np.full((4, V), eps / V)
    ts[np.arange(4), y] += 1 - eps
    wts = cw * ts
    want = wts.sum(-1, keepdims=True) * np.exp(ref.log_softmax(xn)) - wts
    want /= (cw[y].sum() if kw else 4)
    np.testing.assert_allclose(np.array(g), want, rtol=1e-5, atol=1e-11)


# ------------------------------------------------------------------ bad inputs
def _zeros(*shape, dtype=mx.float32):
    return mx.zeros(shape, dtype)


I3 = _zeros(3, dtype=mx.int32)
X = _zeros(3, 4)
E = _zeros(3, 2)
# (call, error, fragments the message must contain: the argument, what it got, what was expected)
BAD = [
    (lambda: fl.cross_entropy(X, _zeros(4, dtype=mx.int32)), ValueError,
     ["`targets`", "(4,)", "(3,)"]),
    (lambda: fl.cross_entropy(X, _zeros(3, 5)), ValueError, ["`targets`", "(3, 5)", "(3, 4)"]),
    (lambda: fl.cross_entropy(X, _zeros(3, 4, dtype=mx.complex64)), TypeError,
     ["`targets`", "complex64", "real dtype"]),
    (lambda: fl.cross_entropy(X, I3, weights=_zeros(3, 1)), ValueError, ["`weights`", "(3, 1)", "(3,)"]),
    (lambda: fl.cross_entropy(X, I3, weights=_zeros(3, dtype=mx.complex64)), TypeError,
     ["`weights`", "complex64"]),
    (lambda: fl.cross_entropy(X, I3, class_weights=_zeros(4, 1)), ValueError,
     ["`class_weights`", "(4, 1)", "(4,)"]),
    (lambda: fl.cross_entropy(X, _zeros(3, 4), class_weights=_zeros(3)), ValueError,
     ["`class_weights`", "(3,)", "(4,)"]),
    (lambda: fl.cross_entropy(X, I3, class_weights=_zeros(4, dtype=mx.complex64)), TypeError,
     ["`class_weights`", "complex64"]),
    (lambda: fl.cross_entropy(X, I3, label_smoothing=-0.1), ValueError,
     ["`label_smoothing`", "-0.1", "[0, 1)"]),
    (lambda: fl.cross_entropy(X, I3, label_smoothing=float("nan")), ValueError, ["`label_smoothing`", "nan"]),
    (lambda: fl.cross_entropy(X, I3, label_smoothing="0.1"), TypeError, ["`label_smoothing`", "str"]),
    (lambda: fl.cross_entropy(X, I3, axis=-3), ValueError, ["`axis`", "-3", "[-2, 2)"]),
    (lambda: fl.cross_entropy(X, I3, axis=1.0), TypeError, ["`axis`", "float", "int"]),
    (lambda: fl.cross_entropy(X, I3, reduction="avg"), ValueError, ["`reduction`", "avg", "'none'"]),
    (lambda: fl.cross_entropy(X, I3, reduction=None), TypeError, ["`reduction`", "NoneType"]),
    (lambda: fl.cross_entropy(X, _zeros(3, 4), ignore_index=-100), ValueError,
     ["`ignore_index`", "-100", "class indices"]),
    (lambda: fl.cross_entropy(X, I3, ignore_index=True), TypeError, ["`ignore_index`", "bool"]),
    (lambda: fl.nll_loss(X, _zeros(3, dtype=mx.float32)), TypeError, ["`targets`", "float32", "integer"]),
    (lambda: fl.nll_loss(X, I3, axis=2), ValueError, ["`axis`", "2", "`inputs`"]),
    (lambda: fl.nll_loss(X, I3, class_weights=_zeros(5)), ValueError, ["`class_weights`", "(5,)", "(4,)"]),
    (lambda: fl.nll_loss(X, I3, reduction="batchmean"), ValueError, ["`reduction`", "batchmean"]),
    (lambda: fl.nll_loss(_zeros(3, 4, dtype=mx.complex64), I3), TypeError, ["`inputs`", "complex64"]),
    (lambda: fl.kl_div_loss(X, _zeros(2, 4)), ValueError, ["`inputs`", "`targets`", "(3, 4)", "(2, 4)"]),
    (lambda: fl.kl_div_loss(X, X, axis=5), ValueError, ["`axis`", "5"]),
    (lambda: fl.kl_div_loss(X, _zeros(3, 4, dtype=mx.complex64)), TypeError, ["`targets`", "complex64"]),
    (lambda: fl.kl_div_loss(X, X, reduction="avg"), ValueError, ["`reduction`", "avg"]),
    (lambda: fl.softmax_focal_loss(X, I3, gamma=-0.5), ValueError, ["`gamma`", "-0.5", ">= 0"]),
    (lambda: fl.softmax_focal_loss(X, I3, gamma=float("inf")), ValueError, ["`gamma`", "inf"]),
    (lambda: fl.softmax_focal_loss(X, I3, alpha=_zeros(2, 2)), ValueError, ["`alpha`", "(2, 2)", "(4,)"]),
    (lambda: fl.softmax_focal_loss(X, I3, alpha=_zeros(4, dtype=mx.complex64)), TypeError,
     ["`alpha`", "complex64"]),
    (lambda: fl.softmax_focal_loss(X, _zeros(4, dtype=mx.int32)), ValueError, ["`targets`", "(4,)", "(3,)"]),
    (lambda: fl.softmax_focal_loss(X, I3, axis=-3), ValueError, ["`axis`", "-3"]),
    (lambda: fl.info_nce_loss(E, E, temperature=0.0), ValueError, ["`temperature`", "0", "> 0"]),
    (lambda: fl.info_nce_loss(E, E, temperature=-1), ValueError, ["`temperature`", "-1", "> 0"]),
    (lambda: fl.info_nce_loss(E, _zeros(4, 2)), ValueError, ["`keys`", "(4, 2)", "(3, 2)"]),
    (lambda: fl.info_nce_loss(E, E, negative_keys=_zeros(5, 3)), ValueError,
     ["`negative_keys`", "(5, 3)", "embedding size"]),
    (lambda: fl.info_nce_loss(_zeros(3, 2, 1), _zeros(3, 2, 1)), ValueError,
     ["`query`", "(3, 2, 1)", "(N, D)"]),
    (lambda: fl.info_nce_loss(E, E, reduction="batchmean"), ValueError, ["`reduction`", "batchmean"]),
    (lambda: fl.nt_xent_loss(E, E, temperature=0.0), ValueError, ["`temperature`", "0", "> 0"]),
    (lambda: fl.nt_xent_loss(E, _zeros(3, 3)), ValueError, ["`z2`", "(3, 3)", "(3, 2)"]),
    (lambda: fl.nt_xent_loss(E, E.astype(mx.complex64)), TypeError, ["`z2`", "complex64"]),
    (lambda: fl.clip_loss(E, E, temperature=0.0), ValueError, ["`temperature`", "0", "> 0"]),
    (lambda: fl.clip_loss(E, _zeros(2, 2)), ValueError, ["`text_embeds`", "(2, 2)", "(3, 2)"]),
    (lambda: fl.clip_loss(E, E, temperature=mx.ones((2,))), ValueError, ["`temperature`", "(2,)", "scalar"]),
    (lambda: fl.clip_loss(E, E, temperature="hot"), TypeError, ["`temperature`", "str"]),
]


@pytest.mark.parametrize("call,error,fragments", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input_messages(call, error, fragments):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# ------------------------------------------------------------- the C++ header
ROW_LOSSES_TU = r"""
#include <cstdio>
#include "mlx/mlx.h"
#include "mlx_fused_losses/losses.h"

namespace mx = mlx::core;
namespace fl = mlx_fused_losses;

int main() {
  auto x = mx::array({2.0f, -1.0f, 0.5f, 0.0f, 1.0f, 3.0f}, {2, 3});
  auto y = mx::array({0, 2});
  auto p = mx::softmax(x, -1);
  auto lp = mx::log(p);
  auto e = mx::array({1.0f, 0.0f, 0.5f, 0.5f, -1.0f, 2.0f}, {3, 2});
  std::vector<mx::array> out = {
      fl::cross_entropy(x, y),
      fl::cross_entropy(x, y, mx::array({1.0f, 2.0f}), -1, 0.1, fl::Reduction::Mean,
                        mx::array({1.0f, 2.0f, 3.0f}), 2),
      fl::cross_entropy(x, p, std::nullopt, -1, 0.0, fl::Reduction::Sum),
      fl::nll_loss(lp, y),
      fl::nll_loss(lp, y, -1, fl::Reduction::Mean, mx::array({1.0f, 2.0f, 3.0f}), 0),
      fl::kl_div_loss(lp, lp, -1, fl::Reduction::BatchMean),
      fl::kl_div_loss(lp, p, -1, fl::Reduction::Sum, false),
      fl::softmax_focal_loss(x, y),
      fl::softmax_focal_loss(x, y, mx::array(0.25f), 0.5, -1, fl::Reduction::Mean),
      fl::info_nce_loss(e, e),
      fl::info_nce_loss(e, e, 0.2, fl::Reduction::Sum, e, false),
      fl::nt_xent_loss(e, e),
      fl::clip_loss(e, e),
      fl::clip_loss(e, e, mx::array(0.1f), fl::Reduction::None, true),
  };
  auto g = mx::grad([&](const mx::array& a) { return fl::cross_entropy(a, y, std::nullopt, -1, 0.0,
                                                                       fl::Reduction::Sum); })(x);
  out.push_back(g);
  for (auto& a : out) {
    a = mx::astype(mx::flatten(a), mx::float32);
    mx::eval(a);
    for (int i = 0; i < a.size(); ++i) {
      std::printf("%.7g ", a.data<float>()[i]);
    }
    std::printf("\n");
  }
  try {
    fl::softmax_focal_loss(x, y, std::nullopt, -1.0);
  } catch (const std::invalid_argument& err) {
    std::printf("error: %s\n", err.what());
  }
  return 0;
}
"""


def _python_results():
    x = mx.array([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]])
    y = mx.array([0, 2])
    p = mx.softmax(x, -1)
    lp = mx.log(p)
    e = mx.array([[1.0, 0.0], [0.5, 0.5], [-1.0, 2.0]])
    out = [
        fl.cross_entropy(x, y),
        fl.cross_entropy(x, y, mx.array([1.0, 2.0]), -1, 0.1, "mean", class_weights=mx.array([1.0, 2.0, 3.0]),
                         ignore_index=2),
        fl.cross_entropy(x, p, reduction="sum"),
        fl.nll_loss(lp, y),
        fl.nll_loss(lp, y, -1, "mean", class_weights=mx.array([1.0, 2.0, 3.0]), ignore_index=0),
        fl.kl_div_loss(lp, lp, -1, "batchmean"),
        fl.kl_div_loss(lp, p, -1, "sum", log_target=False),
        fl.softmax_focal_loss(x, y),
        fl.softmax_focal_loss(x, y, mx.array(0.25), 0.5, -1, "mean"),
        fl.info_nce_loss(e, e),
        fl.info_nce_loss(e, e, 0.2, "sum", negative_keys=e, normalize=False),
        fl.nt_xent_loss(e, e),
        fl.clip_loss(e, e),
        fl.clip_loss(e, e, mx.array(0.1), "none"),
        mx.grad(lambda a: fl.cross_entropy(a, y, reduction="sum"))(x),
    ]
    return [np.array(mx.flatten(a)) for a in out]


def test_cpp_header_declares_every_row_loss(tmp_path):
    """A small C++ program calling every row loss of the public header, linked
    against the library, gives the Python API's results."""
    cxx = next((shutil.which(c) for c in (os.environ.get("CXX"), "c++", "g++", "clang++")
                if c and shutil.which(c)), None)
    if cxx is None:
        pytest.skip("no C++ compiler")
    prefix = Path(subprocess.run([sys.executable, "-m", "mlx_fused_losses", "--cmake-dir"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    lib = next(prefix.glob("libmlx_fused_losses.*"), None)
    if lib is None or not (prefix / "include" / "mlx_fused_losses" / "losses.h").is_file():
        pytest.skip(f"no built library/header under {prefix}")
    mlx_dir = Path(mx.__file__).parent
    mlx_lib = mlx_dir / "lib"
    build = tmp_path
    (build / "tu.cpp").write_text(ROW_LOSSES_TU)
    cmd = [cxx, "-std=c++20", "-O0", str(build / "tu.cpp"), "-o", str(build / "tu"),
           f"-I{prefix / 'include'}", f"-I{mlx_dir / 'include'}", f"-L{lib.parent}", f"-L{mlx_lib}",
           "-lmlx_fused_losses", "-lmlx", f"-Wl,-rpath,{lib.parent}", f"-Wl,-rpath,{mlx_lib}"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    run = subprocess.run([str(build / "tu")], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[-1].startswith("error: softmax_focal_loss: `gamma` is -1; expected")
    got = [np.array([float(v) for v in line.split()]) for line in lines[:-1]]
    want = _python_results()
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=f"result {k}")


def test_numpy_integer_arguments():
    x = mx.array(RNG.standard_normal((5, 4)).astype(np.float32))
    y = mx.array([0, 2, 1, 2, 3])
    want = fl.cross_entropy(x, y, axis=1, ignore_index=2, reduction="mean")
    got = fl.cross_entropy(x, y, axis=np.int64(1), ignore_index=np.int32(2), reduction="mean")
    np.testing.assert_array_equal(np.array(got), np.array(want))
    assert fl.nll_loss(x, y[:4], axis=np.int8(0), ignore_index=np.uint8(2)).shape == (4,)


def test_vmap_with_the_class_axis_first():
    # Inside vmap the function reads the classes along axis 0; the mapped axis
    # is after it, between or before the rows.
    x = mx.array(RNG.standard_normal((5, 3, 4)).astype(np.float32))  # classes 5, batch 3, rows 4
    y = mx.array(RNG.integers(0, 5, size=(3, 4)))
    f = lambda a, b: fl.cross_entropy(a, b, axis=0, label_smoothing=0.2)  # noqa: E731
    got = mx.vmap(f, in_axes=(1, 0))(x, y)
    want = mx.stack([f(x[:, b], y[b]) for b in range(3)])
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-6)
    g = mx.vmap(mx.grad(lambda a, b: mx.sum(f(a, b) * mx.arange(1, 5))), in_axes=(1, 0), out_axes=1)(x, y)
    want = mx.stack([mx.grad(lambda a: mx.sum(f(a, y[b]) * mx.arange(1, 5)))(x[:, b]) for b in range(3)], 1)
    np.testing.assert_allclose(np.array(g), np.array(want), rtol=1e-5, atol=1e-7)


def _sum_to(g, shape):
    """g summed over the axes broadcasting added to `shape`."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(k for k, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)


@pytest.mark.parametrize("log_target", [True, False])
def test_kl_div_broadcast_operands_gradients(log_target):
    # Either operand broadcast against the other: values and gradients (summed
    # over the broadcast rows), against the elementwise formula in numpy.
    # (Not against MLX's float64 ops: its float64 exp is float32-accurate on the CPU.)
    lp = np.log(_probs((6, 5)))
    p = _probs((5,))
    t = p if not log_target else np.log(p)
    for a, b in ((lp, t), (lp[0], np.broadcast_to(t, (6, 5)).copy()), (lp[:, None, :], t[None, None])):
        u, v = np.broadcast_arrays(a, b)
        cot = np.linspace(0.5, 1.5, u[..., 0].size).reshape(u.shape[:-1])
        if log_target:
            value = np.exp(v) * (v - u)
            du, dv = -np.exp(v), np.exp(v) * (v - u + 1)
        else:
            value = v * (np.log(v) - u)
            du, dv = -v, np.log(v) + 1 - u
        f = lambda x, y: mx.sum(fl.kl_div_loss(x, y, log_target=log_target) * _f64(cot))  # noqa: E731
        got, (ga, gb) = mx.value_and_grad(f, [0, 1])(_f64(a), _f64(b))
        np.testing.assert_allclose(got.item(), np.sum(value.sum(-1) * cot), rtol=1e-13)
        np.testing.assert_allclose(np.array(ga), _sum_to(du * cot[..., None], a.shape), rtol=1e-12)
        np.testing.assert_allclose(np.array(gb), _sum_to(dv * cot[..., None], b.shape), rtol=1e-12)
