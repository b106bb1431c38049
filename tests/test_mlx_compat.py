"""The losses mlx.nn.losses has: same signatures, defaults, dtype promotion,
values and gradients as stock MLX, plus MLX's own test cases for them
(python/tests/test_losses.py of MLX 0.32, restated here)."""

import inspect
import os
import math

import mlx.core as mx
import mlx.nn.losses as stock
import numpy as np
import pytest

import mlx_fused_losses as mfl
from pointwise_cases import CASES, REDUCTIONS, to_mx, to_np

SHARED = [
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "log_cosh_loss", "hinge_loss",
    "margin_ranking_loss", "gaussian_nll_loss", "binary_cross_entropy",
]
# Each shared loss with parameter sets to compare (stock MLX takes the same keywords).
COMPARED = [
    ("mse_loss", {}), ("l1_loss", {}), ("huber_loss", {}), ("huber_loss", {"delta": 0.4}),
    ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.3}), ("smooth_l1_loss", {"beta": 0.0}),
    ("log_cosh_loss", {}), ("hinge_loss", {}), ("margin_ranking_loss", {}),
    ("margin_ranking_loss", {"margin": 0.5}), ("gaussian_nll_loss", {}),
    ("gaussian_nll_loss", {"full": True, "eps": 0.3}),
    ("binary_cross_entropy", {}), ("binary_cross_entropy", {"with_logits": False}),
]


def _cid(c):
    return c[0] + "".join(f"-{k}{v}" for k, v in c[1].items())


# The row-softmax losses mlx.nn.losses also has (tested in test_row_softmax_*.py).
SHARED_ROW_SOFTMAX = ["cross_entropy", "nll_loss", "kl_div_loss"]


# The row-distance losses mlx.nn.losses also has (tested in test_row_distance_*.py).
SHARED_ROW_DISTANCE = ["cosine_similarity_loss", "triplet_loss"]


def test_patchable_is_the_shared_list():
    assert sorted(mfl.PATCHABLE) == sorted(SHARED + SHARED_ROW_SOFTMAX + SHARED_ROW_DISTANCE)


@pytest.mark.parametrize("name", SHARED)
def test_signature_matches_mlx(name):
    ours = inspect.signature(getattr(mfl, name))
    theirs = inspect.signature(getattr(stock, name))
    params = list(ours.parameters.values())
    if name == "binary_cross_entropy":
        # One extra trailing keyword, defaulting to "no pos_weight".
        assert params[-1].name == "pos_weight" and params[-1].default is None
        params = params[:-1]
    assert [(p.name, p.default, p.kind) for p in params] == [
        (p.name, p.default, p.kind) for p in theirs.parameters.values()
    ]


def _sample(rng, name, params, shape):
    case = CASES[name] if name != "binary_cross_entropy" or params.get("with_logits", True) \
        else CASES["bce-probs"]
    return case.sample(rng, shape)


@pytest.mark.parametrize("dtype", [mx.float32, mx.float16], ids=str)
@pytest.mark.parametrize("case", COMPARED, ids=[_cid(c) for c in COMPARED])
def test_values_and_grads_match_mlx(case, dtype, rng):
    name, params = case
    arrays = [to_mx(v, dtype) for v in _sample(rng, name, params, (6, 7))]
    ours, theirs = getattr(mfl, name), getattr(stock, name)
    # Stock MLX computes half precision in half precision: compare loosely there.
    rtol, atol = (1e-5, 1e-6) if dtype == mx.float32 else (1e-2, 1e-2)
    for reduction in REDUCTIONS:
        a = ours(*arrays, **params, reduction=reduction)
        b = theirs(*arrays, **params, reduction=reduction)
        assert a.dtype == b.dtype and a.shape == b.shape, reduction
        np.testing.assert_allclose(to_np(a), to_np(b), rtol=rtol, atol=atol, err_msg=reduction)

        if params.get("beta") == 0.0:
            # Stock MLX's gradient is NaN there (0 * the unused branch's 1/beta);
            # the fused one is sign(inputs - targets), as PyTorch's L1 limit.
            g = mx.grad(lambda x: mx.sum(ours(x, arrays[1], beta=0.0, reduction=reduction)))(
                arrays[0])
            scale = 1.0 / arrays[0].size if reduction == "mean" else 1.0
            np.testing.assert_allclose(
                to_np(g), scale * np.sign(to_np(arrays[0]) - to_np(arrays[1])), rtol=rtol)
            continue
        argnums = list(range(len(arrays)))
        fo = lambda *x: mx.sum(ours(*x, **params, reduction=reduction))  # noqa: E731
        ft = lambda *x: mx.sum(theirs(*x, **params, reduction=reduction))  # noqa: E731
        (vo, go), (vt, gt) = (mx.value_and_grad(f, argnums)(*arrays) for f in (fo, ft))
        for i, (x, y) in enumerate(zip(go, gt)):
            assert x.dtype == y.dtype, i
            np.testing.assert_allclose(to_np(x), to_np(y), rtol=rtol, atol=atol,
                                       err_msg=f"{reduction} d/d operand {i}")


def test_bce_weights_match_mlx(rng):
    x, y = rng.standard_normal((4, 5)) * 3, rng.random((4, 5))
    w = rng.random((4, 5)) * 2
    p = 0.02 + 0.96 * rng.random((4, 5))
    for inputs, logits in ((x, True), (p, False)):
        args = [to_mx(inputs), to_mx(y)]
        for reduction in REDUCTIONS:
            f = lambda m, *a: m.binary_cross_entropy(  # noqa: E731
                *a, weights=to_mx(w), with_logits=logits, reduction=reduction)
            np.testing.assert_allclose(to_np(f(mfl, *args)), to_np(f(stock, *args)),
                                       rtol=1e-5, atol=1e-6)
            go = mx.grad(lambda *a: mx.sum(f(mfl, *a)), [0, 1])(*args)
            gt = mx.grad(lambda *a: mx.sum(f(stock, *a)), [0, 1])(*args)
            for a, b in zip(go, gt):
                np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-5, atol=1e-6)


# (Unsigned integers left out: stock MLX's uint8 differences wrap around, 0 - 1 =
# 255, where the fused losses compute in floating point.)
PROMOTION_DTYPES = [mx.float16, mx.bfloat16, mx.float32, mx.int32, mx.int16, mx.bool_]


def _operand(dtype, k):
    if mx.issubdtype(dtype, mx.floating):
        return mx.array([0.25, 0.5, 0.75][k:] + [0.25, 0.5, 0.75][:k], dtype)
    return mx.array([1, 0, 1][k:] + [1, 0, 1][:k]).astype(dtype)


PROMOTED = [(n, p) for n, p in COMPARED if not p or p == {"with_logits": False}]


@pytest.mark.parametrize("case", PROMOTED, ids=[_cid(c) for c in PROMOTED])
def test_dtype_promotion_matches_mlx(case):
    """Every combination of float, integer and bool operands promotes as stock
    MLX's arithmetic does (integers with a float -> that float, bfloat16 with
    float16 -> float32, an integer passed through log/maximum -> float32), with
    the same values."""
    import itertools

    name, params = case
    arity = 3 if name in ("margin_ranking_loss", "gaussian_nll_loss") else 2
    checked = 0
    targets = 2 if name == "margin_ranking_loss" else 1
    for dtypes in itertools.product(PROMOTION_DTYPES, repeat=arity):
        if any(d == mx.bool_ for k, d in enumerate(dtypes) if k != targets):
            continue  # bool is meaningful for targets only (MLX's bool - bool is odd)
        arrays = [_operand(d, k) for k, d in enumerate(dtypes)]
        for reduction in REDUCTIONS:
            try:
                b = getattr(stock, name)(*arrays, **params, reduction=reduction)
            except ValueError:
                continue  # e.g. stock MLX cannot negate bool targets
            a = getattr(mfl, name)(*arrays, **params, reduction=reduction)
            where = f"{dtypes} {reduction}"
            if mx.issubdtype(b.dtype, mx.floating):
                assert a.dtype == b.dtype, where
            else:
                # Only integer operands and 'none'/'sum': stock MLX keeps integers
                # (mse/l1/hinge), the fused loss returns float32 (documented).
                assert a.dtype == mx.float32, where
            # Stock MLX computes half-precision operands in half precision.
            tol = 1e-2 if set(dtypes) & {mx.float16, mx.bfloat16} else 1e-6
            np.testing.assert_allclose(to_np(a), to_np(b.astype(mx.float32)), rtol=tol,
                                       atol=tol, err_msg=where)
            if reduction != "none" and mx.issubdtype(arrays[0].dtype, mx.floating):
                ga, gb = (
                    mx.grad(lambda u: getattr(m, name)(u, *arrays[1:], **params,
                                                       reduction=reduction))(arrays[0])
                    for m in (mfl, stock)
                )
                assert ga.dtype == gb.dtype, where
                np.testing.assert_allclose(to_np(ga), to_np(gb), rtol=tol, atol=tol,
                                           err_msg="grad " + where)
            checked += 1
    assert checked >= 3 * (len(PROMOTION_DTYPES) - 1) ** 2


def test_broadcasting_losses_match_mlx(rng):
    """huber, log_cosh and hinge broadcast their operands, as in MLX."""
    x = to_mx(rng.standard_normal((4, 5)) * 2)
    t = to_mx(np.sign(rng.standard_normal((5,))))
    for name in ("huber_loss", "log_cosh_loss", "hinge_loss"):
        for reduction in REDUCTIONS:
            a = getattr(mfl, name)(x, t, reduction=reduction)
            b = getattr(stock, name)(x, t, reduction=reduction)
            assert a.shape == b.shape
            np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-5, atol=1e-6)
            ga = mx.grad(lambda u, v: mx.sum(getattr(mfl, name)(u, v, reduction=reduction)),
                         [0, 1])(x, t)
            gb = mx.grad(lambda u, v: mx.sum(getattr(stock, name)(u, v, reduction=reduction)),
                         [0, 1])(x, t)
            for u, v in zip(ga, gb):
                assert u.shape == v.shape
                np.testing.assert_allclose(to_np(u), to_np(v), rtol=1e-5, atol=1e-6)


def test_ties_and_kinks_match_mlx():
    """Subgradients where MLX's formulas pick one side: |e| == delta (huber),
    e == 0 (l1), 1 - x y == 0 (hinge), vars == eps (gaussian_nll)."""
    e = mx.array([0.0, 1.0, -1.0, 0.5, 2.0])
    z = mx.zeros(5)
    for name, kw in (("l1_loss", {}), ("huber_loss", {}), ("smooth_l1_loss", {}),
                     ("log_cosh_loss", {})):
        go = mx.grad(lambda u: getattr(mfl, name)(u, z, **kw, reduction="sum"))(e)
        gt = mx.grad(lambda u: getattr(stock, name)(u, z, **kw, reduction="sum"))(e)
        np.testing.assert_allclose(to_np(go), to_np(gt), atol=1e-6, err_msg=name)
    x, y = mx.array([1.0, -1.0, 0.5, 2.0]), mx.array([1.0, 1.0, 2.0, -1.0])
    go = mx.grad(lambda a, b: mfl.hinge_loss(a, b, reduction="sum"), [0, 1])(x, y)
    gt = mx.grad(lambda a, b: stock.hinge_loss(a, b, reduction="sum"), [0, 1])(x, y)
    for a, b in zip(go, gt):
        np.testing.assert_allclose(to_np(a), to_np(b), atol=1e-6)
    v = mx.array([1e-6, 1e-7, 0.5])
    args = (mx.zeros(3), mx.ones(3))
    go = mx.grad(lambda w: mfl.gaussian_nll_loss(*args, w, reduction="sum"))(v)
    gt = mx.grad(lambda w: stock.gaussian_nll_loss(*args, w, reduction="sum"))(v)
    np.testing.assert_allclose(to_np(go), to_np(gt), rtol=1e-6)


# ----------------------------------------------------------------------------
# MLX's own test cases (python/tests/test_losses.py, MLX v0.32.1 = HEAD for this
# file), restated for the fused functions. The expected numbers are the ones
# MLX's tests use.


def test_mlx_case_bce_logits():
    logits = mx.array([0.105361, 0.223144, 1.20397, 0.916291])
    targets = mx.array([0, 0, 1, 1])
    per_element = [0.747215, 0.810930, 0.262365, 0.336472]
    for reduction, want in (("none", per_element), ("mean", np.mean(per_element)),
                            ("sum", np.sum(per_element))):
        got = mfl.binary_cross_entropy(logits, targets, reduction=reduction)
        np.testing.assert_allclose(to_np(got), want, rtol=1e-5, atol=1e-8)
    got = mfl.binary_cross_entropy(logits, targets, weights=mx.array([1.0, 2.0, 1.0, 2.0]),
                                   reduction="none")
    np.testing.assert_allclose(to_np(got), [0.747215, 1.62186, 0.262365, 0.672944],
                               rtol=1e-5, atol=1e-8)


def test_mlx_case_bce_probabilities():
    probs = mx.array([0.5, 0.6, 0.7, 0.8])
    targets = mx.array([0, 0, 1, 1])
    per_element = [0.693147, 0.916291, 0.356675, 0.223144]
    for reduction, want in (("none", per_element), ("mean", np.mean(per_element)),
                            ("sum", np.sum(per_element))):
        got = mfl.binary_cross_entropy(probs, targets, with_logits=False, reduction=reduction)
        np.testing.assert_allclose(to_np(got), want, rtol=1e-5, atol=1e-8)


def test_mlx_case_bce_saturated_probabilities():
    """Probabilities 0 and 1 (and 1e-59, which is 0 in float32): the clamped
    logs give a finite loss, 0 for correct predictions."""
    tiny = 1e-59
    probs = mx.array([0, tiny, 1 - tiny, 1])
    targets = mx.array([0, 0, 1, 1])
    for reduction in REDUCTIONS:
        got = mfl.binary_cross_entropy(probs, targets, with_logits=False, reduction=reduction)
        assert np.all(np.abs(to_np(got)) <= 1e-8)
    # A wrong saturated prediction costs the clamp, 100.
    got = mfl.binary_cross_entropy(mx.array([0.0, 1.0]), mx.array([1, 0]), with_logits=False,
                                   reduction="none")
    assert got.tolist() == [100.0, 100.0]


def test_mlx_case_l1_of_equal_operands_is_exactly_zero():
    p = mx.array([0.5, 0.2, 0.9, 0.0])
    assert mfl.l1_loss(p, p, reduction="none").tolist() == [0.0] * 4
    assert mfl.l1_loss(p, p, reduction="sum").item() == 0.0
    assert mfl.l1_loss(p, p, reduction="mean").item() == 0.0


def test_mlx_case_mse():
    p = mx.array([0.5, 0.2, 0.9, 0.0])
    t = mx.array([0.7, 0.1, 0.8, 0.2])
    want = np.array([0.04, 0.01, 0.01, 0.04])
    np.testing.assert_allclose(to_np(mfl.mse_loss(p, t, reduction="none")), want, rtol=1e-5)
    # MLX compares the reductions with assertEqual against mx.mean / mx.sum of its
    # float32 elements; the fused reduction is at least that accurate.
    elements = mx.square(p - t)
    for reduction, ref in (("mean", mx.mean(elements)), ("sum", mx.sum(elements))):
        got = mfl.mse_loss(p, t, reduction=reduction)
        assert got.item() == pytest.approx(ref.item(), rel=1e-7), reduction
        assert got.item() == pytest.approx(float(reduce_np(want, reduction)), rel=1e-6)


def reduce_np(v, reduction):
    return np.mean(v) if reduction == "mean" else np.sum(v)


def test_mlx_case_smooth_l1_exact():
    p = mx.array([1.5, 2.5, 0.5, 3.5])
    t = mx.array([1.0, 2.0, 0.5, 2.5])
    want = [0.125, 0.125, 0.0, 0.5]
    assert mfl.smooth_l1_loss(p, t, 1.0, reduction="none").tolist() == want
    assert mfl.smooth_l1_loss(p, t, 1.0, reduction="sum").item() == sum(want)
    assert mfl.smooth_l1_loss(p, t, 1.0, reduction="mean").item() == sum(want) / 4


def test_mlx_case_gaussian_nll():
    inputs = mx.array([[0.1, 0.2], [0.3, 0.4]])
    targets = mx.array([[0.2, 0.1], [0.1, 0.2]])
    vars = mx.array([[0.1, 0.2], [0.3, 0.4]])
    partial = np.array([[-1.101293, -0.779719], [-0.535320, -0.408145]])
    full = np.array([[-0.182354, 0.139220], [0.383619, 0.510793]])
    for is_full, want in ((False, partial), (True, full)):
        for reduction in REDUCTIONS:
            got = mfl.gaussian_nll_loss(inputs, targets, vars, full=is_full, reduction=reduction)
            np.testing.assert_allclose(to_np(got), reduce_np(want, reduction)
                                       if reduction != "none" else want, rtol=1e-5, atol=1e-6)
    default = mfl.gaussian_nll_loss(inputs, targets, vars)
    assert default.ndim == 0
    np.testing.assert_allclose(default.item(), partial.mean(), rtol=1e-5)


def test_mlx_case_hinge_huber_log_cosh_of_ones_and_zeros():
    ones, zeros = mx.ones((2, 4)), mx.zeros((2, 4))
    assert mfl.hinge_loss(ones, zeros, reduction="mean").item() == 1.0
    assert mfl.huber_loss(ones, zeros, reduction="mean").item() == 0.5
    assert mfl.log_cosh_loss(ones, zeros, reduction="mean").item() == pytest.approx(
        math.log(math.cosh(1.0)), abs=5e-7)


def test_mlx_case_margin_ranking():
    inputs1 = mx.array([-0.573409, -0.765166, -0.0638])
    inputs2 = mx.array([0.75596, 0.225763, 0.256995])
    targets = mx.array([1, 1, -1])
    got = mfl.margin_ranking_loss(inputs1, inputs2, targets, reduction="none")
    np.testing.assert_allclose(to_np(got), [1.329369, 0.990929, 0.0], rtol=1e-5, atol=1e-8)
    got = mfl.margin_ranking_loss(inputs1, inputs2, targets, margin=0.5, reduction="none")
    np.testing.assert_allclose(to_np(got), [1.829369, 1.490929, 0.179205], rtol=1e-5,
                               atol=1e-8)


# ----------------------------------------------------------------------------
# The row-softmax losses MLX has: signatures and MLX's own test cases for them.
# (Values, gradients and dtypes against stock MLX: test_row_softmax_values.py
# and test_row_softmax_grads.py.)

# Our keyword-only extras (PyTorch's), each defaulting to MLX's behaviour.
ROW_SOFTMAX_EXTRAS = {
    "cross_entropy": [("class_weights", None), ("ignore_index", None)],
    "nll_loss": [("class_weights", None), ("ignore_index", None)],
    "kl_div_loss": [("log_target", True)],
}


@pytest.mark.parametrize("name", SHARED_ROW_SOFTMAX)
def test_row_softmax_signature_matches_mlx(name):
    ours = list(inspect.signature(getattr(mfl, name)).parameters.values())
    theirs = list(inspect.signature(getattr(stock, name)).parameters.values())
    extras = ROW_SOFTMAX_EXTRAS[name]
    assert [(p.name, p.default, p.kind) for p in ours[: len(theirs)]] == [
        (p.name, p.default, p.kind) for p in theirs
    ]
    assert [(p.name, p.default, p.kind) for p in ours[len(theirs):]] == [
        (n, d, inspect.Parameter.KEYWORD_ONLY) for n, d in extras
    ]


def test_mlx_case_cross_entropy():
    inf = float("inf")
    logits = mx.array([[0.0, -inf], [-inf, 0.0]])
    indices = mx.array([0, 1])
    assert mx.allclose(mfl.cross_entropy(logits, indices, reduction="none"), mx.array([0.0, 0.0]))
    # a large shared offset does not change the loss; equal logits give log(n)
    base, index = mx.array([[2.0, -1.0]]), mx.array([0])
    expected = mfl.cross_entropy(base, index, reduction="none")
    for offset in [1e4, 1e6]:
        assert mx.allclose(mfl.cross_entropy(base + offset, index, reduction="none"), expected,
                           atol=1e-5)
    for v in [1e0, 1e4, 1e8, 1e20]:
        loss = mfl.cross_entropy(mx.array([[v, v]]), index, reduction="none")
        assert mx.allclose(loss, mx.array([0.6931472]), atol=1e-5)
    probs = mx.array([[1.0, 0.0], [0.0, 1.0]])
    assert mx.isnan(mfl.cross_entropy(logits, probs, reduction="none")).all()

    logits = mx.array([[2.0, -1.0], [-1.0, 2.0]])
    weights = mx.array([1.0, 2.0])
    for targets in (indices, probs):
        loss = mfl.cross_entropy(logits, targets, weights=weights, reduction="none")
        assert mx.allclose(loss, mx.array([0.04858735, 0.0971747]))
        loss = mfl.cross_entropy(logits, targets, label_smoothing=0.3, reduction="none")
        assert mx.allclose(loss, mx.array([0.498587, 0.498587]))
    loss = mfl.cross_entropy(logits, indices, weights=weights, label_smoothing=0.3,
                             reduction="none")
    assert mx.allclose(loss, mx.array([0.49858734, 0.9971747]))

    logits = mx.random.normal((4, 8), key=mx.random.key(0))
    targets = mx.array([1, 2, 3, 0])
    assert mx.allclose(mfl.cross_entropy(logits.T, targets, axis=0),
                       mfl.cross_entropy(logits, targets, axis=-1))


def test_mlx_case_nll_loss():
    inf = float("inf")
    logits = mx.array([[0.0, -inf], [-inf, 0.0]])
    targets = mx.array([0, 1])
    none = mfl.nll_loss(logits, targets, reduction="none")
    assert mx.array_equal(none, mx.array([0.0, 0.0]))
    assert mfl.nll_loss(logits, targets, reduction="mean").item() == mx.mean(none).item()
    assert mfl.nll_loss(logits, targets, reduction="sum").item() == mx.sum(none).item()

    logits = mx.log(mx.softmax(mx.random.normal((4, 8), key=mx.random.key(1)), axis=-1))
    targets = mx.array([1, 2, 3, 0])
    assert mx.allclose(mfl.nll_loss(logits.T, targets, axis=0),
                       mfl.nll_loss(logits, targets, axis=-1))
    logits = mx.log(mx.softmax(mx.random.normal((2, 5, 3), key=mx.random.key(2)), axis=1))
    targets = mx.array([[1, 4, 0], [2, 3, 1]])
    loss = mfl.nll_loss(logits, targets, axis=1)
    lp, t = np.array(logits), np.array(targets)
    expected = np.array([[-lp[b, t[b, k], k] for k in range(3)] for b in range(2)])
    assert loss.shape == (2, 3)
    assert np.allclose(np.array(loss), expected)


def test_mlx_case_kl_div_loss():
    p_logits = mx.log(mx.array([[0.5, 0.5], [0.8, 0.2]]))
    q_logits = mx.log(mx.array([[0.5, 0.5], [0.2, 0.8]]))
    none = mfl.kl_div_loss(p_logits, q_logits, reduction="none")
    assert mx.allclose(none, mx.array([0.0, 0.831777]))
    documented = (mx.exp(q_logits) * (q_logits - p_logits)).sum(axis=-1)
    assert mx.allclose(none, documented)
    assert mx.allclose(mfl.kl_div_loss(p_logits, q_logits, reduction="mean"), mx.mean(none))
    assert mx.allclose(mfl.kl_div_loss(p_logits, q_logits, reduction="sum"), mx.sum(none))


def test_mlx_losses_own_row_softmax_tests_pass_patched():
    """MLX's own test_losses.py methods for these losses, run against
    mlx.nn.losses patched with ours, when a git repository of MLX's source is
    available ($MLX_SOURCE_REPO, or the development machine's mirror)."""
    import subprocess

    repo = os.environ.get("MLX_SOURCE_REPO", "/work/.mirror/ml-explore+mlx/repo")
    try:
        source = subprocess.run(["git", "-C", repo, "show", "HEAD:python/tests/test_losses.py"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("MLX's source tree is not available")
    import sys
    import types
    import unittest

    # test_losses.py imports mlx_tests (MLX's TestCase base): a minimal stand-in.
    helper = types.ModuleType("mlx_tests")
    helper.MLXTestCase = unittest.TestCase
    sys.modules.setdefault("mlx_tests", helper)
    namespace = {"__name__": "mlx_test_losses"}
    exec(compile(source, "test_losses.py", "exec"), namespace)
    case = namespace["TestLosses"]
    with mfl.patched_mlx():
        suite = unittest.TestSuite(
            case(m) for m in ("test_cross_entropy", "test_nll_loss", "test_kl_div_loss"))
        result = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(suite)
    assert result.testsRun == 3
    assert result.wasSuccessful(), result.failures + result.errors


# ----------------------------------------------------------------------------
# The row-distance losses MLX has: signatures and MLX's own test cases for them.
# (Values, gradients and dtypes against stock MLX: test_row_distance_values.py
# and test_row_distance_grads.py.)

# Our keyword-only extras (PyTorch's), each defaulting to MLX's behaviour.
ROW_DISTANCE_EXTRAS = {"cosine_similarity_loss": [], "triplet_loss": [("swap", False)]}


@pytest.mark.parametrize("name", SHARED_ROW_DISTANCE)
def test_row_distance_signature_matches_mlx(name):
    ours = list(inspect.signature(getattr(mfl, name)).parameters.values())
    theirs = list(inspect.signature(getattr(stock, name)).parameters.values())
    assert [(p.name, p.default, p.kind) for p in ours[: len(theirs)]] == [
        (p.name, p.default, p.kind) for p in theirs
    ]
    assert [(p.name, p.default, p.kind) for p in ours[len(theirs):]] == [
        (n, d, inspect.Parameter.KEYWORD_ONLY) for n, d in ROW_DISTANCE_EXTRAS[name]
    ]


def test_mlx_case_cosine_similarity_loss():
    embeddings1 = mx.array([[0.5, 0.5, 0.2, 0.9], [0.1, 0.3, 0.5, 0.5]])
    embeddings2 = mx.array([[0.6, 0.4, 0.3, 0.8], [0.2, 0.5, 0.6, 0.4]])
    expected = mx.array([0.985344, 0.961074])
    none = mfl.cosine_similarity_loss(embeddings1, embeddings2, reduction="none")
    assert mx.allclose(none, expected)
    assert mx.allclose(mfl.cosine_similarity_loss(embeddings1, embeddings2, reduction="mean"), mx.mean(expected))
    assert mx.allclose(mfl.cosine_similarity_loss(embeddings1, embeddings2, reduction="sum"), mx.sum(expected))


def test_mlx_case_triplet_loss():
    anchors = mx.array([[1, 2, 3], [1, 2, 3]])
    positives = mx.array([[4, 5, 6], [0, -1, 2]])
    negatives = mx.array([[7, 8, 9], [3, 2, 3]])
    expected = mx.array([0, 2.31662])
    assert mx.allclose(mfl.triplet_loss(anchors, positives, negatives, reduction="none"), expected)
    assert mx.allclose(mfl.triplet_loss(anchors, positives, negatives, reduction="mean"), mx.mean(expected))
    assert mx.allclose(mfl.triplet_loss(anchors, positives, negatives, reduction="sum"), mx.sum(expected))
    anchors, positives, negatives = mx.array([[0.0, 0.0]]), mx.array([[2.0, 0.0]]), mx.array([[0.0, 3.0]])
    assert mx.allclose(mfl.triplet_loss(anchors, positives, negatives, p=1, reduction="none"), mx.array([0.0]))
    # MLX expects 0 within allclose's 1e-8 for p = 3; the exact value is
    # (8 + 1e-6)^(1/3) - (27 + 1e-6)^(1/3) + 1 = 4.6e-8, and a float32 result
    # is within a unit in the last place of the distances (2, 3) of it.
    got = mfl.triplet_loss(anchors, positives, negatives, p=3, reduction="none").item()
    exact = (8 + 1e-6) ** (1 / 3) - (27 + 1e-6) ** (1 / 3) + 1
    assert exact == pytest.approx(4.6296e-8, rel=1e-3)
    assert abs(got - exact) <= 2**-23 * 2


def _mlx_test_losses_case():
    """MLX's TestLosses (python/tests/test_losses.py of a git repository of
    MLX's source: $MLX_SOURCE_REPO, or the development machine's mirror), or a
    skip."""
    import subprocess
    import sys
    import types
    import unittest

    repo = os.environ.get("MLX_SOURCE_REPO", "/work/.mirror/ml-explore+mlx/repo")
    try:
        source = subprocess.run(["git", "-C", repo, "show", "HEAD:python/tests/test_losses.py"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("MLX's source tree is not available")
    helper = types.ModuleType("mlx_tests")
    helper.MLXTestCase = unittest.TestCase
    sys.modules.setdefault("mlx_tests", helper)
    namespace = {"__name__": "mlx_test_losses"}
    exec(compile(source, "test_losses.py", "exec"), namespace)
    return namespace["TestLosses"]


@pytest.mark.parametrize("method", ["test_cosine_similarity_loss", "test_triplet_loss"])
def test_mlx_losses_own_row_distance_tests_pass_patched(method):
    """MLX's own test_losses.py methods for these losses, run against
    mlx.nn.losses patched with ours."""
    import unittest

    case = _mlx_test_losses_case()
    assert hasattr(case, method)
    with mfl.patched_mlx():
        result = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(unittest.TestSuite([case(method)]))
    assert result.testsRun == 1
    assert result.wasSuccessful(), result.failures + result.errors


def test_mlx_own_tests_cover_every_patched_loss():
    """Each function patch_mlx() replaces has its MLX test method (run patched
    here or in test_mlx_losses_own_row_softmax_tests_pass_patched, or restated
    as test_mlx_case_*)."""
    case = _mlx_test_losses_case()
    methods = {m for m in dir(case) if m.startswith("test_")}
    for name in mfl.PATCHABLE:
        assert f"test_{name}" in methods, name
