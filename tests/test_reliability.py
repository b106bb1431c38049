"""Regression tests for defects found by adversarial testing: each failed before
its fix (a crash, a wrong result under shapeless compilation, a gradient at a
kink, a NaN, lost precision, an unhelpful error)."""

from __future__ import annotations

import re
import subprocess
import sys

import mlx.core as mx
import mlx.nn.losses as stock
import numpy as np
import pytest

import mlx_fused_losses as mfl
import row_softmax_reference as rref
from pointwise_cases import PER_FUNCTION, to_mx

# ------------------------------------------------- size-0 inputs (was SIGFPE)

EMPTY_CASES = [c for c in PER_FUNCTION if c.fn != "binary_cross_entropy" or c.id == "bce-probs"]


def _empty_operands(case, shape=(3, 0)):
    ops = case.sample(np.random.default_rng(0), shape)
    return [to_mx(o) for o in ops]


def _run_in_child(code: str) -> subprocess.CompletedProcess:
    # A crash (SIGFPE) would kill the test process; a child reports it instead.
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_size_zero_does_not_crash_the_process():
    code = (
        "import mlx.core as mx, mlx_fused_losses as m\n"
        "a = mx.zeros((3, 0))\n"
        "mx.eval(m.mse_loss(a, a, reduction='none'))\n"
        "mx.eval(mx.grad(lambda a: 0.5 * m.mse_loss(a, a, reduction='sum'))(a))\n"
        "print('ok')\n"
    )
    out = _run_in_child(code)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


@pytest.mark.parametrize("case", EMPTY_CASES, ids=lambda c: c.id)
def test_size_zero_values_and_gradients(case):
    ops = _empty_operands(case)
    none = case(*ops, reduction="none")
    assert none.shape == (3, 0)
    assert case(*ops, reduction="sum").item() == 0.0
    mean = case(*ops, reduction="mean").item()
    assert np.isnan(mean)
    argnums = list(range(case.full_operands))

    # A separate gradient pass (the cotangent is not mx.grad's 1).
    def scaled_sum(*a):
        return 0.5 * case(*a, reduction="sum")

    for g in mx.grad(scaled_sum, argnums=argnums)(*ops):
        assert g.shape == (3, 0)
    # vjp and jvp of "none".
    _, vjps = mx.vjp(lambda *a: case(*a, reduction="none"), ops, [mx.zeros((3, 0))])
    assert all(v.shape == (3, 0) for v in vjps[: case.full_operands])
    _, jvps = mx.jvp(lambda *a: case(*a, reduction="none"), ops, [mx.zeros_like(o) for o in ops])
    assert jvps[0].shape == (3, 0)


def test_rmse_value_and_grad_of_empty():
    a = mx.zeros((0,))
    value, grad = mx.value_and_grad(lambda p: mfl.rmse_loss(p, a))(a)
    assert np.isnan(value.item()) and grad.shape == (0,)


def test_row_losses_with_no_rows():
    logits = mx.zeros((0, 4))
    targets = mx.zeros((0,), dtype=mx.int32)
    assert mfl.cross_entropy(logits, targets).shape == (0,)
    assert mfl.cross_entropy(logits, targets, reduction="sum").item() == 0.0
    grad = mx.grad(lambda x: 2.0 * mfl.cross_entropy(x, targets, reduction="sum"))(logits)
    assert grad.shape == (0, 4)


# ------------------------------------------- shapeless compilation, new shapes


def _log_probs(shape, seed):
    return mx.log(mx.softmax(mx.random.normal(shape, key=mx.random.key(seed)), -1))


def test_kl_div_batchmean_under_shapeless_compile():
    f = mx.compile(lambda x, y: mfl.kl_div_loss(x, y, reduction="batchmean"), shapeless=True)
    for n in (4, 2, 7):
        x, y = _log_probs((n, 5), n), _log_probs((n, 5), 100 + n)
        expected = rref.kl_div(np.array(x, np.float64), np.array(y, np.float64), reduction="sum") / n
        assert f(x, y).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("probs", [False, True])
def test_label_smoothing_under_shapeless_compile(probs):
    def loss(x, y):
        return mfl.cross_entropy(x, y, label_smoothing=0.2, reduction="mean")

    f = mx.compile(loss, shapeless=True)
    for c in (5, 9, 3):
        x = mx.random.normal((4, c), key=mx.random.key(c))
        y = mx.array([0, 1, 2, 1])
        if probs:
            y = mx.softmax(mx.random.normal((4, c), key=mx.random.key(50 + c)), -1)
        expected = stock.cross_entropy(x, y, label_smoothing=0.2, reduction="mean").item()
        assert f(x, y).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["info_nce_loss", "clip_loss", "nt_xent_loss"])
def test_contrastive_losses_under_shapeless_compile(name):
    fn = getattr(mfl, name)
    ref = {"info_nce_loss": rref.info_nce, "clip_loss": rref.clip, "nt_xent_loss": rref.nt_xent}[name]
    f = mx.compile(fn, shapeless=True)
    vg = mx.compile(mx.value_and_grad(fn), shapeless=True)
    for n in (3, 6, 2):
        q = mx.random.normal((n, 4), key=mx.random.key(n))
        k = mx.random.normal((n, 4), key=mx.random.key(10 + n))
        expected = ref(np.array(q, np.float64), np.array(k, np.float64))
        assert f(q, k).item() == pytest.approx(expected, rel=1e-5)
        if name == "nt_xent_loss":
            # Its views are concatenated; MLX cannot shape a concatenation's
            # gradient under shapeless compilation, and says so.
            with pytest.raises(ValueError, match="Slice cannot infer output shapes"):
                vg(q, k)
            continue
        value, grad = vg(q, k)
        assert value.item() == pytest.approx(expected, rel=1e-5)
        np.testing.assert_allclose(grad, mx.grad(fn)(q, k), rtol=1e-5, atol=1e-6)


def test_info_nce_with_negatives_under_shapeless_compile():
    f = mx.compile(lambda q, k, n: mfl.info_nce_loss(q, k, negative_keys=n), shapeless=True)
    for n in (3, 5):
        q, k, neg = (mx.random.normal((n, 4), key=mx.random.key(n + i)) for i in range(3))
        expected = rref.info_nce(*(np.array(a, np.float64) for a in (q, k)),
                                 negative_keys=np.array(neg, np.float64))
        assert f(q, k, neg).item() == pytest.approx(expected, rel=1e-5)


def test_pointwise_broadcast_under_shapeless_compile():
    # targets broadcast against inputs: the stride-0 view follows new shapes.
    f = mx.compile(lambda x, y: mfl.huber_loss(x, y, reduction="sum"), shapeless=True)
    g = mx.compile(mx.grad(lambda x, y: mfl.huber_loss(x, y, reduction="mean")), shapeless=True)
    for n in (3, 8):
        x = mx.random.normal((n, 4), key=mx.random.key(n))
        y = mx.random.normal((4,), key=mx.random.key(n + 1))
        expected = stock.huber_loss(x, y, reduction="sum").item()
        assert f(x, y).item() == pytest.approx(expected, rel=1e-5)
        np.testing.assert_allclose(
            g(x, y), mx.grad(lambda x, y: stock.huber_loss(x, y, reduction="mean"))(x, y),
            rtol=1e-5, atol=1e-7,
        )


def test_class_weights_that_no_longer_fit_raise():
    f = mx.compile(lambda x, y, w: mfl.cross_entropy(x, y, class_weights=w), shapeless=True)
    f(mx.zeros((2, 3)), mx.array([0, 1]), mx.ones(3))
    with pytest.raises(ValueError, match="cross_entropy: the targets or class weights do not fit"):
        mx.eval(f(mx.zeros((2, 5)), mx.array([0, 4]), mx.ones(3)))


# ------------------------------------------------------------------- kinks


def _grads(fn, args, argnums):
    grads = mx.grad(fn, argnums=argnums)(*args)
    return [np.array(g) for g in (grads if isinstance(grads, (list, tuple)) else [grads])]


def test_margin_ranking_gradient_at_a_tie():
    x = mx.array([0.5, 1.0, -2.0])
    t = mx.array([1.0, -1.0, 1.0])
    for fused, ref in [(mfl.margin_ranking_loss, stock.margin_ranking_loss)]:
        got = _grads(lambda a, b: fused(a, b, t, reduction="sum"), [x, x], [0, 1])
        want = _grads(lambda a, b: ref(a, b, t, reduction="sum"), [x, x], [0, 1])
        np.testing.assert_array_equal(got[0], [-1.0, 1.0, -1.0])
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    _, tangent = mx.jvp(lambda a: mfl.margin_ranking_loss(a, x, t, reduction="sum"), [x],
                        [mx.ones(3)])
    assert tangent[0].item() == -1.0


KINKS = [
    # (fused, stock, inputs, targets): every element on the loss's kink
    (lambda a, b: mfl.hinge_loss(a, b, reduction="sum"),
     lambda a, b: stock.hinge_loss(a, b, reduction="sum"), [1.0, -1.0, 0.5], [1.0, -1.0, 2.0]),
    (lambda a, b: mfl.huber_loss(a, b, reduction="sum"),
     lambda a, b: stock.huber_loss(a, b, reduction="sum"), [1.0, -1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 1.0]),
    (lambda a, b: mfl.smooth_l1_loss(a, b, reduction="sum"),
     lambda a, b: stock.smooth_l1_loss(a, b, reduction="sum"), [1.0, -1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 1.0]),
    (lambda a, b: mfl.l1_loss(a, b, reduction="sum"),
     lambda a, b: stock.l1_loss(a, b, reduction="sum"), [1.0, -1.0, 0.0], [1.0, -1.0, 0.0]),
]


@pytest.mark.parametrize("fused,ref,x,y", KINKS, ids=["hinge", "huber", "smooth_l1", "l1"])
def test_kink_subgradients_match_stock(fused, ref, x, y):
    args = [mx.array(x), mx.array(y)]
    for g, w in zip(_grads(fused, args, [0, 1]), _grads(ref, args, [0, 1])):
        np.testing.assert_array_equal(g, w)


def test_kink_subgradients_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.array([1.0, -1.0, 0.0, 2.0])
    y = np.array([0.0, 0.0, 0.0, 1.0])
    for fused, ref in [
        (mfl.huber_loss, F.huber_loss), (mfl.smooth_l1_loss, F.smooth_l1_loss),
        (mfl.l1_loss, F.l1_loss),
    ]:
        xt = torch.tensor(x, requires_grad=True)
        ref(xt, torch.tensor(y), reduction="sum").backward()
        got = _grads(lambda a: fused(a, mx.array(y), reduction="sum"), [mx.array(x)], [0])[0]
        np.testing.assert_array_equal(got, xt.grad.numpy())
    a = torch.tensor([0.5, 1.0, -2.0], requires_grad=True)
    F.margin_ranking_loss(a, a.detach(), torch.tensor([1.0, -1.0, 1.0]), reduction="sum").backward()
    got = _grads(lambda p: mfl.margin_ranking_loss(p, mx.array([0.5, 1.0, -2.0]),
                                                   mx.array([1.0, -1.0, 1.0]), reduction="sum"),
                 [mx.array([0.5, 1.0, -2.0])], [0])[0]
    np.testing.assert_array_equal(got, a.grad.numpy())


# ------------------------------------------------------- batchmean broadcast


def test_kl_div_batchmean_divides_by_the_inputs_first_axis():
    inputs = mx.log(mx.array([[0.3, 0.7]]))
    targets = mx.log(mx.array([[0.5, 0.5], [0.1, 0.9], [0.2, 0.8], [0.6, 0.4]]))
    got = mfl.kl_div_loss(inputs, targets, reduction="batchmean").item()
    expected = rref.kl_div(np.broadcast_to(np.array(inputs, np.float64), (4, 2)),
                           np.array(targets, np.float64), reduction="sum") / 1
    assert got == pytest.approx(expected, rel=1e-5)  # not expected / 4


# ---------------------------------------------- BCE on subnormal probabilities


def test_bce_probs_gradient_at_a_subnormal_probability():
    p = mx.array([1e-39, 0.25])
    g = mx.grad(lambda p: mfl.binary_cross_entropy(p, mx.zeros(2), with_logits=False,
                                                   reduction="sum"))(p)
    np.testing.assert_allclose(np.array(g), [1.0, 4.0 / 3.0], rtol=1e-6)
    # ...and with a positive target the gradient is a finite -1/p or -inf, never NaN.
    g1 = mx.grad(lambda p: mfl.binary_cross_entropy(p, mx.ones(2), with_logits=False,
                                                    reduction="sum"))(p)
    assert not np.isnan(np.array(g1)).any()


# ------------------------------------------------ accurate row reductions


@pytest.mark.parametrize("rows", [2**20, 2**22])
def test_cross_entropy_mean_over_many_rows(rows):
    x = mx.zeros((rows, 3))
    y = mx.zeros((rows,), dtype=mx.int32)
    assert mfl.cross_entropy(x, y, reduction="mean").item() == pytest.approx(np.log(3), rel=1e-6)
    assert mfl.cross_entropy(x, y, reduction="sum").item() == pytest.approx(rows * np.log(3), rel=1e-6)
    logp = mx.full((rows, 3), -1.0986123)
    assert mfl.nll_loss(logp, y, reduction="mean").item() == pytest.approx(1.0986123, rel=1e-6)
    w = mx.full((rows,), 0.1)
    expected = 0.1 * np.log(3) * rows
    assert mfl.cross_entropy(x, y, weights=w, reduction="sum").item() == pytest.approx(expected, rel=1e-6)
    cw = mx.array([0.3, 1.0, 2.0])
    assert mfl.cross_entropy(x, y, class_weights=cw, reduction="mean").item() == pytest.approx(
        np.log(3), rel=1e-6)


def test_row_reduction_gradients_are_unchanged():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 5))
    y = rng.integers(0, 5, 37)
    w = rng.random(37)
    for reduction in ("mean", "sum"):
        g = mx.grad(lambda a, b: mfl.cross_entropy(a, mx.array(y), weights=b, reduction=reduction),
                    argnums=[0, 1])(mx.array(x), mx.array(w))
        s = mx.grad(lambda a, b: stock.cross_entropy(a, mx.array(y), weights=b, reduction=reduction),
                    argnums=[0, 1])(mx.array(x), mx.array(w))
        for a, b in zip(g, s):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------- MSLE


def test_msle_across_two_to_the_64():
    x, y = 1.8446836e19, 1.8446651e19
    xf, yf = float(np.float32(x)), float(np.float32(y))
    expected = (np.log1p(xf) - np.log1p(yf)) ** 2
    got = mfl.msle_loss(mx.array([x]), mx.array([y])).item()
    assert got == pytest.approx(expected, rel=1e-5)
    # A relative difference of 1e-6 across 2^64 is not rounded to 0.
    a, b = np.float32(2.0**64 * (1 + 1e-6)), np.float32(2.0**64 * (1 - 1e-6))
    expected = (np.log1p(float(a)) - np.log1p(float(b))) ** 2
    got = mfl.msle_loss(mx.array([float(a)]), mx.array([float(b)])).item()
    assert got == pytest.approx(expected, rel=1e-4)


SPECIAL = [-np.inf, -2.0, -1.0, -0.5, 0.0, 3.0, 2.0**70, np.inf, np.nan]


@pytest.mark.parametrize("dtype", [mx.float32, mx.float64])
def test_msle_special_values_follow_the_formula(dtype):
    x, y = (np.array(v, np.float64).ravel() for v in np.meshgrid(SPECIAL, SPECIAL))
    with np.errstate(all="ignore"):
        expected = (np.log1p(x) - np.log1p(y)) ** 2
    got = np.array(mfl.msle_loss(mx.array(x, dtype=dtype), mx.array(y, dtype=dtype),
                                 reduction="none").astype(mx.float64))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(expected)],
                                  expected[~finite & ~np.isnan(expected)])
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-5)


# -------------------------------------------------- float64 parameters


def test_python_float_parameters_stay_float64():
    rng = np.random.default_rng(1)
    x = mx.array(rng.standard_normal((6, 3)), dtype=mx.float64)
    y = mx.array(rng.integers(0, 3, 6))
    alpha = 0.6449768677786435
    got = mfl.softmax_focal_loss(x, y, alpha=alpha, reduction="sum").item()
    expected = rref.softmax_focal(np.array(x), np.array(y), alpha=alpha, reduction="sum")
    assert got == pytest.approx(expected, rel=1e-14)
    cw = [0.1234567891234567, 0.7, 1.3]
    got = mfl.cross_entropy(x, y, class_weights=cw, reduction="sum").item()
    expected = rref.cross_entropy(np.array(x), np.array(y), class_weights=np.array(cw), reduction="sum")
    assert got == pytest.approx(expected, rel=1e-14)
    p = mx.array(rng.standard_normal((6, 3)), dtype=mx.float64)
    t = mx.array(rng.random((6, 3)), dtype=mx.float64)
    pw = [1.2345678912345678, 0.5, 2.0]
    got = mfl.binary_cross_entropy(p, t, pos_weight=pw, reduction="sum").item()
    from reference import ref_bce_logits

    expected = ref_bce_logits(np.array(p), np.array(t), np.array(pw)).sum()
    assert got == pytest.approx(expected, rel=1e-14)


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize("fn,kwargs,name", [
    (mfl.huber_loss, {"delta": "2.0"}, "delta"),
    (mfl.huber_loss, {"delta": True}, "delta"),
    (mfl.smooth_l1_loss, {"beta": "1"}, "beta"),
    (mfl.charbonnier_loss, {"eps": "1e-3"}, "eps"),
    (mfl.quantile_loss, {"tau": "0.5"}, "tau"),
    (mfl.sigmoid_focal_loss, {"gamma": "2"}, "gamma"),
    (mfl.sigmoid_focal_loss, {"alpha": None}, "alpha"),
    (mfl.poisson_nll_loss, {"log_input": "yes"}, "log_input"),
    (mfl.binary_cross_entropy, {"with_logits": "False"}, "with_logits"),
])
def test_scalar_parameters_refuse_strings_and_bools(fn, kwargs, name):
    a = mx.ones(3)
    with pytest.raises(TypeError, match=rf"^{fn.__name__}: `{name}` is "):
        fn(a, a, **kwargs)


def test_margin_refuses_strings():
    a = mx.ones(3)
    with pytest.raises(TypeError, match=r"^margin_ranking_loss: `margin` is '1'"):
        mfl.margin_ranking_loss(a, a, a, margin="1")


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 2**63, 2**70])
def test_out_of_range_axis(value):
    with pytest.raises(ValueError, match=rf"^cross_entropy: `axis` is {value}; expected an int"):
        mfl.cross_entropy(mx.zeros((2, 3)), mx.array([0, 1]), axis=value)


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**70])
def test_out_of_range_ignore_index(value):
    with pytest.raises(ValueError, match=rf"^nll_loss: `ignore_index` is {value}; expected an int"):
        mfl.nll_loss(mx.zeros((2, 3)), mx.array([0, 1]), ignore_index=value)


@pytest.mark.parametrize("name,args", [
    ("info_nce_loss", ("query", "keys")), ("nt_xent_loss", ("z1", "z2")),
    ("clip_loss", ("image_embeds", "text_embeds")),
])
def test_empty_contrastive_batches_name_the_function(name, args):
    with pytest.raises(ValueError, match=rf"^{name}: `{args[0]}` has shape \(0, 3\); expected at least one"):
        getattr(mfl, name)(mx.zeros((0, 3)), mx.zeros((0, 3)))


@pytest.mark.parametrize("fn,kw,arg", [
    (mfl.nll_loss, "class_weights", "class_weights"),
    (mfl.cross_entropy, "class_weights", "class_weights"),
    (mfl.softmax_focal_loss, "alpha", "alpha"),
])
def test_class_weight_gradient_errors_name_the_public_function(fn, kw, arg):
    def loss(w):
        return fn(mx.zeros((2, 3)), mx.array([0, 1]), reduction="sum", **{kw: w})

    with pytest.raises(ValueError, match=rf"^{fn.__name__}: gradients with respect to the class weights \(`{arg}`\)"):
        mx.grad(loss)(mx.ones(3))


def test_every_python_argument_error_names_the_function():
    import inspect

    a = mx.ones((2, 3))
    calls = []
    for name in mfl.__all__:
        fn = getattr(mfl, name)
        if not callable(fn) or name in ("patch_mlx", "unpatch_mlx", "patched_mlx", "is_patched"):
            continue
        required = [p for p in inspect.signature(fn).parameters.values()
                    if p.default is inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD]
        args = [a] * len(required)
        calls.append((name, lambda fn=fn, args=args: fn(*args, reduction="Mean")))
        calls.append((name, lambda fn=fn, args=args: fn(*args, reduction=3)))
        calls.append((name, lambda fn=fn, args=args: fn("x", *args[1:])))
    assert len(calls) == 3 * 28
    for name, call in calls:
        with pytest.raises((TypeError, ValueError)) as info:
            call()
        assert re.match(rf"{name}: `\w+` ", str(info.value)), (name, str(info.value))
