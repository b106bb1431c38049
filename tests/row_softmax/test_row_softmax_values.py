"""Forward values of the row-softmax losses against float64 numpy and mlx.nn.losses."""

import mlx.core as mx
import mlx.nn.losses as nn_losses
import numpy as np
import pytest

import mlx_fused_losses as fl
import row_softmax_reference as ref

RNG = np.random.default_rng(0)

# (logits shape, class axis): last axis, middle axes, first axis, one class,
# several chunks of the CPU kernel (1024 classes), odd sizes.
SHAPES = [
    ((7, 10), -1),
    ((3, 7, 5), 1),
    ((6, 4), 0),
    ((2, 3, 4, 5), 2),
    ((5, 1), -1),
    ((3, 2500), -1),
    ((2500, 3), 0),
    ((13,), 0),
]
DTYPES = [mx.float32, mx.float16, mx.bfloat16, mx.float64]


def _logits(shape, scale=3.0, dtype=mx.float32):
    x = mx.array(RNG.standard_normal(shape) * scale).astype(dtype)
    return x, np.array(x.astype(mx.float64) if dtype != mx.float64 else x)


def _indices(shape, axis, n_classes):
    rows = list(shape)
    rows.pop(axis)
    return RNG.integers(0, n_classes, size=rows)


def _probs(shape, axis):
    p = RNG.random(shape) + 0.05
    return p / p.sum(axis=axis, keepdims=True)


def _np(a):
    return np.array(a.astype(mx.float64) if a.dtype != mx.float64 else a)


def _close(got, want, rtol, atol):
    np.testing.assert_allclose(_np(got), want, rtol=rtol, atol=atol)


TOL = {mx.float32: (2e-6, 2e-6), mx.float16: (1e-5, 1e-5), mx.bfloat16: (1e-5, 1e-5),
       mx.float64: (1e-12, 1e-12)}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_indices(shape, axis, dtype, smoothing):
    x, xn = _logits(shape, dtype=dtype)
    y = _indices(shape, axis, shape[axis])
    got = fl.cross_entropy(x, mx.array(y), axis=axis, label_smoothing=smoothing)
    assert got.dtype == (mx.float64 if dtype == mx.float64 else mx.float32)
    # The reference sees the same (rounded) logits: only accumulation is tested.
    _close(got, ref.cross_entropy(xn, y, axis=axis, label_smoothing=smoothing), *TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probabilities(shape, axis, dtype, smoothing):
    x, xn = _logits(shape, dtype=dtype)
    t = mx.array(_probs(shape, axis))  # float32
    got = fl.cross_entropy(x, t, axis=axis, label_smoothing=smoothing)
    want = ref.cross_entropy(xn, _np(t), axis=axis, label_smoothing=smoothing)
    _close(got, want, *TOL[dtype])


@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_matches_mlx(shape, axis, reduction):
    x, _ = _logits(shape)
    y = mx.array(_indices(shape, axis, shape[axis]))
    rows = y.shape
    w = mx.array(RNG.random(rows))
    for targets in (y, mx.array(_probs(shape, axis).astype(np.float32))):
        for kw in ({}, {"weights": w}, {"label_smoothing": 0.25}):
            got = fl.cross_entropy(x, targets, axis=axis, reduction=reduction, **kw)
            want = nn_losses.cross_entropy(x, targets, axis=axis, reduction=reduction, **kw)
            assert got.shape == want.shape
            _close(got, np.array(want), 2e-5, 2e-5)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_class_weights_and_ignore_index(reduction):
    x, xn = _logits((40, 9))
    y = RNG.integers(0, 9, size=40)
    y[::5] = -100
    cw = RNG.random(9) + 0.1
    w = RNG.random(40)
    for kw in ({"class_weights": cw}, {"ignore_index": -100}, {"class_weights": cw, "ignore_index": -100},
               {"class_weights": cw, "ignore_index": -100, "label_smoothing": 0.1, "weights": w}):
        y_used = y if "ignore_index" in kw else np.where(y < 0, 3, y)
        got = fl.cross_entropy(x, mx.array(y_used), reduction=reduction,
                               **{k: mx.array(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()})
        want = ref.cross_entropy(xn, y_used, reduction=reduction, **kw)
        _close(got, want, 1e-5, 1e-6)


def test_ignore_index_inside_the_class_range():
    x, xn = _logits((30, 5))
    y = RNG.integers(0, 5, size=30)
    got = fl.cross_entropy(x, mx.array(y), ignore_index=2, reduction="none")
    want = ref.cross_entropy(xn, y, ignore_index=2)
    _close(got, want, 1e-6, 1e-6)
    assert np.all(np.array(got)[y == 2] == 0)


def test_probabilities_with_class_weights_follow_pytorch():
    # Unnormalised targets: MLX's loss (mass taken as 1) without class weights,
    # PyTorch's -sum(w t log_softmax) with them.
    x, xn = _logits((6, 5))
    t = RNG.random((6, 5))
    cw = RNG.random(5) + 0.5
    _close(fl.cross_entropy(x, mx.array(t)), np.array(nn_losses.cross_entropy(x, mx.array(t))), 1e-5, 1e-5)
    got = fl.cross_entropy(x, mx.array(t), class_weights=mx.array(cw), label_smoothing=0.2)
    want = -np.sum(cw * (0.8 * t + 0.2 / 5) * ref.log_softmax(xn), -1)
    _close(got, want, 1e-5, 1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_vocabulary_of_256k(dtype):
    x, xn = _logits((3, 262_147), dtype=dtype)
    y = np.array([0, 131_072, 262_146])
    got = fl.cross_entropy(x, mx.array(y), label_smoothing=0.1)
    _close(got, ref.cross_entropy(xn, y, label_smoothing=0.1), *TOL[dtype])


def test_bfloat16_accuracy_on_a_vocabulary():
    # The bar: 256 x 32000 bfloat16 logits of scale 4, per-row loss within
    # 1e-4 of float64 on the same values (stock MLX on the CPU: ~1e-1).
    x, xn = _logits((256, 32000), scale=4.0, dtype=mx.bfloat16)
    y = RNG.integers(0, 32000, size=256)
    err = np.max(np.abs(_np(fl.cross_entropy(x, mx.array(y))) - ref.cross_entropy(xn, y)))
    assert err <= 1e-4, err


def test_shared_offsets_and_infinities():
    # What MLX's own tests require of cross_entropy.
    base = mx.array([[2.0, -1.0]])
    expected = np.array(fl.cross_entropy(base, mx.array([0])))
    for offset in [1e4, 1e6]:
        _close(fl.cross_entropy(base + offset, mx.array([0])), expected, 0, 1e-5)
    for v in [1e0, 1e4, 1e8, 1e20]:
        _close(fl.cross_entropy(mx.array([[v, v]]), mx.array([0])), [np.log(2)], 0, 1e-6)
    inf = float("inf")
    x = mx.array([[0.0, -inf], [-inf, 0.0]])
    assert np.all(np.array(fl.cross_entropy(x, mx.array([0, 1]))) == 0)
    # probability targets with -inf logits: 0 * -inf is NaN, like MLX and PyTorch
    assert np.all(np.isnan(np.array(fl.cross_entropy(x, mx.array([[1.0, 0.0], [0.0, 1.0]])))))
    # label smoothing over a -inf logit: +inf (the smoothed target puts mass there)
    assert np.isposinf(np.array(fl.cross_entropy(x, mx.array([0, 1]), label_smoothing=0.1))).all()
    # a -inf chunk before the finite part of a long row
    row = np.full((1, 3000), -np.inf)
    row[0, 2500:] = RNG.standard_normal(500)
    got = fl.cross_entropy(mx.array(row.astype(np.float32)), mx.array([2600]))
    _close(got, ref.cross_entropy(row.astype(np.float32), [2600]), 1e-6, 1e-6)
    # NaN logits give NaN; +inf logits give NaN (inf - inf), as MLX
    assert np.isnan(np.array(fl.cross_entropy(mx.array([[0.0, np.nan, 1.0]]), mx.array([0])))).all()
    assert np.isnan(np.array(fl.cross_entropy(mx.array([[0.0, inf, 1.0]]), mx.array([0])))).all()


def test_out_of_range_targets_give_nan_rows():
    x, xn = _logits((5, 4))
    y = np.array([0, 4, -1, 3, 1000000])
    got = np.array(fl.cross_entropy(x, mx.array(y)))
    assert np.isnan(got[[1, 2, 4]]).all()
    _close(mx.array(got[[0, 3]]), ref.cross_entropy(xn, y)[[0, 3]], 1e-6, 1e-6)
    # int64 indices beyond int32 are not wrapped into range
    assert np.isnan(np.array(fl.nll_loss(x, mx.array([2**32, 0, 0, 0, 0], mx.int64))))[0]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape,axis", SHAPES)
def test_nll_loss(shape, axis, dtype):
    x, xn = _logits(shape, dtype=dtype)
    y = _indices(shape, axis, shape[axis])
    _close(fl.nll_loss(x, mx.array(y), axis=axis), ref.nll_loss(xn, y, axis=axis), 0, 0)
    if dtype == mx.float32:
        for r in ("none", "mean", "sum"):
            want = nn_losses.nll_loss(x, mx.array(y), axis=axis, reduction=r)
            _close(fl.nll_loss(x, mx.array(y), axis=axis, reduction=r), np.array(want), 1e-6, 1e-6)


def test_nll_loss_class_weights_and_ignore_index():
    x, xn = _logits((50, 6))
    y = RNG.integers(-1, 6, size=50)
    cw = RNG.random(6)
    for r in ("none", "mean", "sum"):
        got = fl.nll_loss(x, mx.array(y), reduction=r, class_weights=mx.array(cw), ignore_index=-1)
        _close(got, ref.nll_loss(xn, y, reduction=r, class_weights=cw, ignore_index=-1), 1e-6, 1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("log_target", [True, False])
def test_kl_div_loss(shape, axis, dtype, log_target):
    x = np.log(_probs(shape, axis))
    p = _probs(shape, axis)
    p.flat[::7] = 0.0  # 0 log 0 = 0 for probability targets
    t = p if not log_target else np.log(_probs(shape, axis))
    xm = mx.array(x).astype(dtype)
    tm = mx.array(t).astype(dtype)
    got = fl.kl_div_loss(xm, tm, axis=axis, log_target=log_target)
    want = ref.kl_div(_np(xm), _np(tm), axis=axis, log_target=log_target)
    _close(got, want, *TOL[dtype])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
def test_kl_div_loss_reductions_and_mlx(reduction):
    x = mx.array(np.log(_probs((4, 3, 6), -1)).astype(np.float32))
    t = mx.array(np.log(_probs((4, 3, 6), -1)).astype(np.float32))
    got = fl.kl_div_loss(x, t, reduction=reduction)
    _close(got, ref.kl_div(np.array(x), np.array(t), reduction=reduction), 1e-6, 1e-6)
    if reduction != "batchmean":
        _close(got, np.array(nn_losses.kl_div_loss(x, t, reduction=reduction)), 1e-5, 1e-6)
    # broadcast targets (one distribution for every row), no copy needed
    t1 = t[0, 0]
    _close(fl.kl_div_loss(x, t1, reduction=reduction),
           ref.kl_div(np.array(x), np.array(t1), reduction=reduction), 1e-6, 1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape,axis", SHAPES[:4])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_focal_loss(shape, axis, dtype, gamma):
    x, xn = _logits(shape, dtype=dtype)
    y = _indices(shape, axis, shape[axis])
    alpha = (RNG.random(shape[axis]) + 0.1).astype(np.float32)
    for a in (None, 0.25, alpha):
        am = mx.array(a) if isinstance(a, np.ndarray) else a
        got = fl.softmax_focal_loss(x, mx.array(y), alpha=am, gamma=gamma, axis=axis)
        want = ref.softmax_focal(xn, y, alpha=a, gamma=gamma, axis=axis)
        _close(got, want, *(TOL[dtype] if gamma == 0 else (1e-5, 1e-6)))


def test_softmax_focal_loss_confident_rows():
    # p_y -> 1: (1 - p)^gamma computed without cancellation
    x = mx.array([[30.0, 0.0, 0.0], [12.0, -3.0, 1.0]], mx.float64)
    got = np.array(fl.softmax_focal_loss(x, mx.array([0, 0]), gamma=2.0))
    np.testing.assert_allclose(got, ref.softmax_focal(np.array(x), [0, 0], gamma=2.0), rtol=1e-10)
    assert got[0] > 0


def test_strided_and_broadcast_inputs():
    base, _ = _logits((12, 9, 7))
    y = mx.array(_indices((9, 12), 0, 9))  # for logits (9, 12) read along axis 0
    cases = [
        (base[:, :, 3].T, 0),                          # transposed, non-contiguous
        (base[::2, ::3, 1:6].reshape(6, -1)[:, ::2], -1),  # sliced
        (mx.broadcast_to(base[0, :, :1], (9, 12)), 0),  # stride-0 rows
    ]
    for x, axis in cases:
        x64 = np.array(x).astype(np.float64)
        yy = y if x.shape == (9, 12) else mx.array(_indices(x.shape, axis, x.shape[axis]))
        got = fl.cross_entropy(x, yy, axis=axis, label_smoothing=0.1)
        _close(got, ref.cross_entropy(x64, np.array(yy), axis=axis, label_smoothing=0.1), 2e-6, 2e-6)
        t = mx.array(_probs(x.shape, axis).astype(np.float32)).T.T
        _close(fl.cross_entropy(x, t, axis=axis), ref.cross_entropy(x64, np.array(t), axis=axis), 2e-6, 2e-6)


def test_half_logits_with_float32_probabilities():
    x, xn = _logits((5, 33), dtype=mx.bfloat16)
    t = _probs((5, 33), -1).astype(np.float32)
    _close(fl.cross_entropy(x, mx.array(t)), ref.cross_entropy(xn, t), 1e-5, 1e-5)
    # float64 targets promote the loss to float64, as MLX's arithmetic would
    got = fl.cross_entropy(x, mx.array(t).astype(mx.float64))
    assert got.dtype == mx.float64


def test_integer_logits_and_empty_batches():
    x = mx.array([[1, 2, 3], [0, 0, 5]])
    _close(fl.cross_entropy(x, mx.array([2, 0])), ref.cross_entropy(np.array(x), [2, 0]), 1e-6, 1e-6)
    empty = fl.cross_entropy(mx.zeros((0, 4)), mx.zeros((0,), mx.int32))
    assert empty.shape == (0,)
    assert np.isnan(np.array(fl.cross_entropy(mx.zeros((0, 4)), mx.zeros((0,), mx.int32), reduction="mean")))


def test_patch_mlx_swaps_the_row_losses():
    x, _ = _logits((4, 5))
    y = mx.array([0, 1, 2, 3])
    with fl.patched_mlx():
        assert nn_losses.cross_entropy is fl.cross_entropy
        assert nn_losses.nll_loss is fl.nll_loss
        assert nn_losses.kl_div_loss is fl.kl_div_loss
        got = nn_losses.cross_entropy(x, y)
    assert nn_losses.cross_entropy is not fl.cross_entropy
    _close(got, np.array(nn_losses.cross_entropy(x, y)), 1e-6, 1e-6)


BAD = [
    (lambda: fl.cross_entropy(mx.zeros((3, 4)), mx.zeros((4,), mx.int32)), ValueError, "targets"),
    (lambda: fl.cross_entropy(mx.zeros((3, 4)), mx.zeros((3,))), TypeError, "integer"),
    (lambda: fl.cross_entropy(mx.zeros((3, 4)), mx.zeros((3, 5))), ValueError, "targets"),
    (lambda: fl.cross_entropy(mx.zeros((3, 4)), mx.zeros((3,), mx.int32), axis=2), ValueError, "axis"),
    (lambda: fl.cross_entropy(mx.zeros((3, 4)), mx.zeros((3,), mx.int32), label_smoothing=1.0),
     ValueError, "label_smoothing"),
    (lambda: fl.cross_entropy(mx.zeros((3, 4)), mx.zeros((3,), mx.int32), reduction="avg"),
     ValueError, "reduction"),
    (lambda: fl.cross_entropy(mx.zeros((3, 4)), mx.zeros((3,), mx.int32), reduction="batchmean"),
     ValueError, "batchmean"),
    (lambda: fl.cross_entropy(mx.zeros((3, 4)), mx.zeros((3,), mx.int32), weights=mx.ones((4,))),
     ValueError, "weights"),
    (lambda: fl.cross_entropy(mx.zeros((3, 4)), mx.zeros((3,), mx.int32), class_weights=mx.ones((3,))),
     ValueError, "class_weights"),
    (lambda: fl.cross_entropy(mx.zeros((3, 4)), mx.zeros((3, 4)), ignore_index=1), ValueError, "ignore_index"),
    (lambda: fl.cross_entropy(mx.zeros((3, 0)), mx.zeros((3,), mx.int32)), ValueError, "no classes"),
    (lambda: fl.cross_entropy(mx.zeros(()), mx.zeros((), mx.int32)), ValueError, "scalar"),
    (lambda: fl.cross_entropy(mx.zeros((3, 4), mx.complex64), mx.zeros((3,), mx.int32)), TypeError, "logits"),
    (lambda: fl.cross_entropy(mx.zeros((3, 4)), mx.zeros((3,), mx.int32), ignore_index=1.5),
     TypeError, "ignore_index"),
    (lambda: fl.nll_loss(mx.zeros((3, 4)), mx.zeros((2,), mx.int32)), ValueError, "targets"),
    (lambda: fl.kl_div_loss(mx.zeros((3, 4)), mx.zeros((3, 5))), ValueError, "broadcast"),
    (lambda: fl.softmax_focal_loss(mx.zeros((3, 4)), mx.zeros((3,), mx.int32), gamma=-1.0),
     ValueError, "gamma"),
    (lambda: fl.softmax_focal_loss(mx.zeros((3, 4)), mx.zeros((3,), mx.int32), alpha=mx.ones((3,))),
     ValueError, "alpha"),
    (lambda: fl.mse_loss(mx.zeros((3,)), mx.zeros((3,)), reduction="batchmean"), ValueError, "batchmean"),
]


@pytest.mark.parametrize("call,error,word", BAD)
def test_bad_arguments(call, error, word):
    with pytest.raises(error, match=word):
        call()
