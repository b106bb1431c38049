"""Forward values of the row-distance losses against the float64 numpy
reference (every dtype, layout, axis, broadcast, vector length and reduction)
and against mlx.nn.losses (cosine_similarity_loss, triplet_loss), with their
special values."""

import itertools

import mlx.core as mx
import mlx.nn.losses as stock
import numpy as np
import pytest

import mlx_fused_losses as mfl
import row_distance_reference as ref

DTYPES = [mx.float32, mx.float64, mx.float16, mx.bfloat16]
NAMES = list(ref.LOSSES)
VECTORS = {"cosine_similarity_loss": 2, "triplet_loss": 3, "contrastive_loss": 2,
           "cosine_embedding_loss": 2}
PARAMS = {
    "cosine_similarity_loss": [{}, {"eps": 1e-3}],
    "triplet_loss": [{}, {"p": 1}, {"p": 3}, {"p": 1.5, "margin": 0.3}, {"swap": True},
                     {"swap": True, "p": 1.5, "eps": 1e-3}, {"margin": 0.0}],
    "contrastive_loss": [{}, {"margin": 2.0}, {"p": 1, "margin": 3.0}, {"p": 3}, {"soft": True},
                         {"p": 1.5, "margin": 1.5, "soft": True}],
    "cosine_embedding_loss": [{}, {"margin": 0.3}, {"margin": -0.5}],
}
# Half a unit in the last place of the result (it is rounded once to its
# dtype), and what float32 arithmetic inside the kernel adds, relative to the
# size of the row's terms (distances of ~20 cancel in a loss of ~1).
TOL = {mx.float64: (1e-13, 1e-14), mx.float32: (1e-6, 2e-7), mx.float16: (2**-11 * 1.01, 2e-7),
       mx.bfloat16: (2**-8 * 1.01, 2e-7)}


def to_mx(a, dtype=mx.float32):
    return mx.array(np.asarray(a, np.float64), dtype=dtype)


def to_np(a):
    return np.array(a.astype(mx.float64) if a.dtype != mx.float64 else a)


def call(name, arrays, **kw):
    kw = {k: v for k, v in kw.items() if k != "soft"}
    return getattr(mfl, name)(*arrays, **kw)


def reference(name, values, **kw):
    kw = {k: v for k, v in kw.items() if k != "soft"}
    with np.errstate(invalid="ignore"):
        return ref.REFERENCES[name](*values, **kw)


def term_scale(name, values, axis, **kw):
    return ref.value_scale(name, values, axis, **kw)


def assert_close(got, want, scale, dtype, reduction, err_msg=""):
    """|got - want| <= rtol |want| + atol * (the terms' scale, summed as the reduction sums)."""
    rtol, atol = TOL[dtype]
    got = to_np(got)
    assert got.shape == np.shape(want), err_msg
    if reduction == "none":
        bound = rtol * np.abs(want) + atol * scale
    else:
        total = np.sum(scale) / (max(scale.size, 1) if reduction == "mean" else 1)
        bound = rtol * np.abs(want) + atol * total * 4
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=err_msg)
    ok = ~np.isnan(want)
    err = np.abs(got - want)[ok]
    assert np.all(err <= np.broadcast_to(bound, np.shape(want))[ok]), (
        f"{err_msg}: max error {err.max(initial=0):.3g}, bound {np.max(bound, initial=0):.3g}")


# (vector shape, axis, layout): layouts build the same logical values as a
# transposed view, a strided slice or broadcast operands.
LAYOUTS = [
    ((7, 3), -1, "contiguous"),
    ((7, 257), 1, "contiguous"),
    ((5, 1), -1, "contiguous"),
    ((4, 0), -1, "contiguous"),
    ((0, 5), -1, "contiguous"),
    ((3, 4, 5), 1, "contiguous"),
    ((6, 9), 0, "contiguous"),
    ((2, 3, 4, 5), 0, "contiguous"),
    ((2, 3, 4, 5), -2, "contiguous"),
    ((9, 33), -1, "transposed"),
    ((5, 6, 17), 2, "transposed"),
    ((8, 11), -1, "sliced"),
    ((6, 13), -1, "broadcast_vector"),
    ((3, 4, 6), -1, "broadcast_outer"),
    ((4, 7, 3), 1, "broadcast_outer"),
    ((5, 300), -1, "reversed"),
    ((40, 6), 0, "reversed"),
    ((2, 20000), -1, "contiguous"),  # long rows (many blocks of the row sums)
    ((5000, 3), -1, "contiguous"),  # many rows (split across the worker threads)
]


def _targets(rng, name, rows, params, broadcast):
    """Targets of the loss's shape ``rows``, or of a shape broadcasting to it."""
    if broadcast:
        rows = rows[:-1] + (1,) if len(rows) >= 2 else (1,) * len(rows)
    if name == "contrastive_loss":
        if params.get("soft"):
            return rng.uniform(-0.5, 1.5, rows)
        return rng.integers(0, 2, rows).astype(np.float64)
    return rng.choice([-1.0, 1.0], rows)


def _operands(rng, name, shape, axis, layout, dtype, params):
    """(mx operands, the float64 values they hold): vectors then targets."""
    n = VECTORS[name]
    vectors = ref.sample(rng, name, shape, axis, **params)[:n]
    if layout == "broadcast_vector":
        # the positives a (1, D) row, the second vector / negatives a (D,) vector
        vectors = [vectors[0]] + [v[:1] if i == 0 else v[0] for i, v in enumerate(vectors[1:])]
    elif layout == "broadcast_outer":
        # (B, 1, ..) against (1, N, ..): the loss's shape is the broadcast of both
        vectors = [v[:, :1] if i == 0 else v[:1] for i, v in enumerate(vectors)]
    arrays = []
    for v in vectors:
        if layout == "transposed":
            a = mx.swapaxes(to_mx(np.swapaxes(v, 0, -1).copy(), dtype), 0, -1)
        elif layout == "sliced":
            a = to_mx(np.repeat(v, 2, axis=-1), dtype)[..., ::2]
        elif layout == "reversed":  # negative strides along every axis
            a = to_mx(v[::-1, ::-1].copy(), dtype)[::-1, ::-1]
        else:
            a = to_mx(v, dtype)
        arrays.append(a)
    if name in ("contrastive_loss", "cosine_embedding_loss"):
        full = np.broadcast_shapes(*(v.shape for v in vectors))
        ax = axis % len(full)
        rows = full[:ax] + full[ax + 1:]
        t = _targets(rng, name, rows, params, layout.startswith("broadcast"))
        arrays.append(to_mx(t, mx.float64 if dtype == mx.float64 else mx.float32))
    return arrays, [to_np(a) for a in arrays]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape,axis,layout", LAYOUTS, ids=[f"{s}-ax{a}-{l}" for s, a, l in LAYOUTS])
@pytest.mark.parametrize("name", NAMES)
def test_values_against_the_float64_reference(name, shape, axis, layout, dtype, rng):
    if name in ("contrastive_loss", "cosine_embedding_loss") and shape[axis] == 0:
        pytest.skip("vectors of length 0 are refused with targets (test_zero_length_vectors_"
                    "with_targets_are_refused)")
    for params in PARAMS[name]:
        arrays, values = _operands(rng, name, shape, axis, layout, dtype, params)
        scale = term_scale(name, values, axis, **params)
        for reduction in ("none", "mean", "sum"):
            got = call(name, arrays, axis=axis, reduction=reduction, **params)
            assert got.dtype == dtype
            want = reference(name, values, axis=axis, reduction=reduction, **params)
            assert_close(got, want, scale, dtype, reduction, f"{params} {reduction}")


def test_float64_is_exact_to_1e12(rng):
    for name in NAMES:
        for params in PARAMS[name]:
            ops = ref.sample(rng, name, (64, 300), -1, **params)
            got = call(name, [to_mx(o, mx.float64) for o in ops], reduction="none", axis=-1, **params)
            want = reference(name, ops, axis=-1, reduction="none", **params)
            np.testing.assert_allclose(np.array(got), want, rtol=1e-12, atol=1e-12, err_msg=f"{name} {params}")


@pytest.mark.parametrize("name", NAMES)
def test_default_arguments(name, rng):
    # cosine_similarity_loss's axis is 1 (MLX's default), the others' -1; the
    # default reductions: 'none' for MLX's two, 'mean' for the others.
    ops = ref.sample(rng, name, (3, 4, 5), 1 if name == "cosine_similarity_loss" else -1)
    got = getattr(mfl, name)(*[to_mx(o, mx.float64) for o in ops])
    default_axis = 1 if name == "cosine_similarity_loss" else -1
    default_reduction = "none" if name in ("cosine_similarity_loss", "triplet_loss") else "mean"
    want = ref.REFERENCES[name](*ops, axis=default_axis, reduction=default_reduction)
    np.testing.assert_allclose(np.array(got), want, rtol=1e-12, atol=1e-13)


# ----------------------------------------------------------------- vs stock MLX


@pytest.mark.parametrize("shape,axis", [((6, 5), -1), ((6, 5), 1), ((4, 6, 5), 0), ((4, 6, 5), 1),
                                        ((3, 300), -1), ((2, 0), 1)])
@pytest.mark.parametrize("eps", [1e-8, 0.5])
def test_cosine_similarity_matches_mlx(shape, axis, eps, rng):
    x1, x2 = (to_mx(o) for o in ref.sample(rng, "cosine_similarity_loss", shape, axis))
    for reduction in ("none", "mean", "sum"):
        a = mfl.cosine_similarity_loss(x1, x2, axis=axis, eps=eps, reduction=reduction)
        b = stock.cosine_similarity_loss(x1, x2, axis=axis, eps=eps, reduction=reduction)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=2e-6, err_msg=reduction)


@pytest.mark.parametrize("p", [1, 2, 3, 1.5])
@pytest.mark.parametrize("shape,axis", [((6, 5), -1), ((4, 6, 5), 0), ((4, 6, 5), 1), ((3, 300), -1),
                                        ((2, 0), 1)])
def test_triplet_matches_mlx(p, shape, axis, rng):
    for margin, eps in ((1.0, 1e-6), (0.2, 0.0), (3.0, 0.5)):
        ops = [to_mx(o) for o in ref.sample(rng, "triplet_loss", shape, axis, p=p, margin=margin)]
        for reduction in ("none", "mean", "sum"):
            kw = dict(axis=axis, p=p, margin=margin, eps=eps, reduction=reduction)
            a = mfl.triplet_loss(*ops, **kw)
            b = stock.triplet_loss(*ops, **kw)
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-5, err_msg=str(kw))


def test_broadcast_operands_match_mlx(rng):
    x1 = to_mx(rng.standard_normal((5, 4)))
    for x2 in (to_mx(rng.standard_normal(4)), to_mx(rng.standard_normal((1, 4)))):
        a = mfl.cosine_similarity_loss(x1, x2, axis=-1)
        b = stock.cosine_similarity_loss(x1, x2, axis=-1)
        assert a.shape == b.shape == (5,)
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6, atol=1e-7)
        a = mfl.triplet_loss(x1, x2, x2 * 2.0, p=3)
        b = stock.triplet_loss(x1, x2, x2 * 2.0, p=3)
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)
    # the first operand broadcast (cosine_similarity_loss's default axis 1)
    x1, x2 = to_mx(rng.standard_normal((1, 4, 3))), to_mx(rng.standard_normal((6, 4, 3)))
    a, b = mfl.cosine_similarity_loss(x1, x2), stock.cosine_similarity_loss(x1, x2)
    assert a.shape == b.shape == (6, 3)
    np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6, atol=1e-7)


def test_integer_inputs_match_mlx():
    # MLX's own test_triplet_loss uses integer vectors; the loss is float32.
    anchors = mx.array([[1, 2, 3], [1, 2, 3]])
    positives = mx.array([[4, 5, 6], [0, -1, 2]])
    negatives = mx.array([[7, 8, 9], [3, 2, 3]])
    for p in (1, 2, 3, 1.5):
        a = mfl.triplet_loss(anchors, positives, negatives, p=p)
        b = stock.triplet_loss(anchors, positives, negatives, p=p)
        assert a.dtype == b.dtype == mx.float32
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6)
        np.testing.assert_allclose(np.array(a), ref.triplet(np.array(anchors), np.array(positives),
                                                            np.array(negatives), p=p), rtol=1e-6)
    a = mfl.cosine_similarity_loss(anchors, positives)
    b = stock.cosine_similarity_loss(anchors, positives)
    assert a.dtype == b.dtype == mx.float32
    np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6)
    for dtype in (mx.int8, mx.int16, mx.uint8, mx.int64, mx.bool_):
        x1, x2 = mx.array([[1, 0, 1, 1]]).astype(dtype), mx.array([[1, 1, 0, 1]]).astype(dtype)
        got = mfl.cosine_similarity_loss(x1, x2, reduction="sum")
        assert got.dtype == mx.float32 and got.item() == pytest.approx(2 / 3, rel=1e-6)
        t = mfl.contrastive_loss(x1, x2, mx.array([1]), eps=0.0)
        assert t.dtype == mx.float32 and t.item() == pytest.approx(2.0, rel=1e-6)
        e = mfl.cosine_embedding_loss(x1, x2, mx.array([1]))
        assert e.dtype == mx.float32 and e.item() == pytest.approx(1 / 3, rel=1e-6)


PROMOTION = [mx.float16, mx.bfloat16, mx.float32, mx.float64, mx.int32, mx.uint8]


def _promoted(*arrays):
    dtype = mx.result_type(*arrays)
    return dtype if mx.issubdtype(dtype, mx.floating) else mx.float32


def test_dtype_promotion_matches_mlx():
    """The loss has the promoted dtype of the vectors (float32 for integers), as
    stock MLX's arithmetic; stock's cosine_similarity_loss differs only for a
    half-precision vector with an integer one (stock's norm or p-distance of an
    integer array is float32, which promotes the half one)."""
    halves, ints = {mx.float16, mx.bfloat16}, {mx.int32, mx.uint8}
    base = np.array([[0.5, 1.0, 2.0], [1.0, 0.25, 3.0]])
    checked = 0
    for d1, d2, d3 in itertools.product(PROMOTION, repeat=3):
        x1, x2, x3 = to_mx(base, d1), to_mx(base[::-1] + 1, d2), to_mx(base * 2 + 1, d3)
        a = mfl.triplet_loss(x1, x2, x3)
        assert a.dtype == _promoted(x1, x2, x3), (d1, d2, d3)
        if not ({d1, d2, d3} & halves and {d1, d2, d3} & ints):
            assert a.dtype == stock.triplet_loss(x1, x2, x3).dtype, (d1, d2, d3)
        np.testing.assert_allclose(to_np(a), ref.triplet(to_np(x1), to_np(x2), to_np(x3)), rtol=4e-3)
        if d3 == mx.float32:
            a = mfl.cosine_similarity_loss(x1, x2)
            assert a.dtype == _promoted(x1, x2), (d1, d2)
            if not ({d1, d2} & halves and {d1, d2} & ints):
                assert a.dtype == stock.cosine_similarity_loss(x1, x2).dtype, (d1, d2)
            for fn in (mfl.contrastive_loss, mfl.cosine_embedding_loss):
                assert fn(x1, x2, mx.array([1, 1])).dtype == _promoted(x1, x2), (fn.__name__, d1, d2)
        checked += 1
    assert checked == len(PROMOTION) ** 3


def test_targets_do_not_change_the_dtype(rng):
    x1, x2, t = ref.sample(rng, "contrastive_loss", (4, 3))
    for dtype in (mx.float16, mx.float32):
        a, b = to_mx(x1, dtype), to_mx(x2, dtype)
        for tt in (mx.array(t.astype(np.int32)), mx.array(t.astype(bool)), to_mx(t, mx.float32)):
            assert mfl.contrastive_loss(a, b, tt).dtype == dtype
            assert mfl.cosine_embedding_loss(a, b, tt * 2 - 1).dtype == dtype


# --------------------------------------------------- half precision is summed in float32


@pytest.mark.parametrize("dtype", [mx.float16, mx.bfloat16])
def test_half_precision_is_closer_to_float64_than_stock(dtype, rng):
    # Same rounded inputs; ours is rounded once from float32 arithmetic with
    # float64 sums, stock MLX sums in the half dtype.
    x1 = to_mx(rng.standard_normal((64, 1000)), dtype)
    x2 = to_mx(to_np(x1) + 0.3 * rng.standard_normal((64, 1000)), dtype)
    x3 = to_mx(to_np(x1) + 0.35 * rng.standard_normal((64, 1000)), dtype)
    v1, v2, v3 = to_np(x1), to_np(x2), to_np(x3)
    half_ulp = 2**-11 if dtype == mx.float16 else 2**-8
    for ours, theirs, want in (
        (mfl.cosine_similarity_loss(x1, x2, axis=1), stock.cosine_similarity_loss(x1, x2, axis=1),
         ref.cosine_similarity(v1, v2, axis=1)),
        (mfl.triplet_loss(x1, x2, x3, margin=2.0), stock.triplet_loss(x1, x2, x3, margin=2.0),
         ref.triplet(v1, v2, v3, margin=2.0)),
    ):
        err_ours = np.abs(to_np(ours) - want)
        err_stock = np.abs(to_np(theirs) - want)
        assert np.all(err_ours <= half_ulp * 1.01 * np.abs(want) + 1e-5)
        assert err_ours.max() < err_stock.max()


def test_float16_norms_do_not_overflow():
    # 300 elements of 16: sum x^2 = 76800 > float16's 65504. Stock MLX's float16
    # norm overflows (inf / inf = NaN); ours is summed in float32.
    x = mx.full((2, 300), 16.0, dtype=mx.float16)
    assert np.isnan(np.array(stock.cosine_similarity_loss(x, x).astype(mx.float32))).all()
    got = mfl.cosine_similarity_loss(x, x)
    assert got.dtype == mx.float16 and got.tolist() == [1.0, 1.0]
    # the triplet's distances (sum |e|^2 = 76800, d = 277.1): finite and right
    z = mx.zeros((2, 300), dtype=mx.float16)
    got = mfl.triplet_loss(z, x, x * 2, margin=0.0, swap=True)
    want = ref.triplet(np.zeros((2, 300)), np.full((2, 300), 16.0), np.full((2, 300), 32.0),
                       margin=0.0, swap=True)
    np.testing.assert_allclose(to_np(got), want, rtol=2**-11)
    assert np.isfinite(to_np(mfl.contrastive_loss(z, x, mx.array([1.0, 0.0])))).all()


def test_half_precision_reductions_are_rounded_once(rng):
    # A mean over many rows: summed in float64, rounded to float16 once.
    x1 = to_mx(rng.standard_normal((4096, 8)), mx.float16)
    x2 = to_mx(rng.standard_normal((4096, 8)), mx.float16)
    t = to_mx(rng.choice([-1.0, 1.0], 4096))
    for fn, args, refn in ((mfl.cosine_embedding_loss, (x1, x2, t), ref.cosine_embedding),
                           (mfl.contrastive_loss, (x1, x2, t * 0.5 + 0.5), ref.contrastive)):
        vals = [to_np(a) for a in args]
        for reduction in ("mean", "sum"):
            got = fn(*args, reduction=reduction)
            want = refn(*vals, reduction=reduction)
            assert got.dtype == mx.float16
            assert abs(got.item() - want) <= 2**-11 * abs(want) * 1.01, (fn.__name__, reduction)


# ----------------------------------------------------------------- the targets


@pytest.mark.parametrize("name", ["contrastive_loss", "cosine_embedding_loss"])
def test_targets_broadcast_to_the_loss_shape(name, rng):
    x1, x2, t = ref.sample(rng, name, (3, 4, 6), -1)
    a, b = to_mx(x1, mx.float64), to_mx(x2, mx.float64)
    t0 = float(t.flat[0])
    for targets in (t0, [t0], np.full((1, 1), t0), t[:1, :], t[:, :1], t.tolist(), mx.array(t, mx.float64),
                    mx.array(t).astype(mx.int32)):
        want = ref.REFERENCES[name](x1, x2, targets if not isinstance(targets, mx.array) else np.array(targets),
                                    reduction="none")
        got = getattr(mfl, name)(a, b, targets, reduction="none")
        assert got.shape == (3, 4)
        np.testing.assert_allclose(np.array(got), want, rtol=1e-12, atol=1e-13)


def test_contrastive_soft_and_out_of_range_targets(rng):
    x1, x2, _ = ref.sample(rng, "contrastive_loss", (50, 7), -1)
    for t in (rng.uniform(0, 1, 50), rng.uniform(-3, 4, 50), np.full(50, 0.5)):
        got = mfl.contrastive_loss(to_mx(x1, mx.float64), to_mx(x2, mx.float64), to_mx(t, mx.float64),
                                   reduction="none")
        np.testing.assert_allclose(np.array(got), ref.contrastive(x1, x2, t, reduction="none"),
                                   rtol=1e-12, atol=1e-13)
    # (no 1/2 factor: a similar pair at distance d costs d^2)
    got = mfl.contrastive_loss(mx.array([[0.0, 0.0]]), mx.array([[3.0, 4.0]]), mx.array([1.0]), eps=0.0)
    assert got.item() == 25.0
    got = mfl.contrastive_loss(mx.array([[0.0, 0.0]]), mx.array([[3.0, 4.0]]), mx.array([0.0]), margin=7.0,
                               eps=0.0)
    assert got.item() == 4.0


def test_cosine_embedding_invalid_targets_are_nan(rng):
    x1, x2, _ = ref.sample(rng, "cosine_embedding_loss", (6, 5), -1)
    t = np.array([1.0, -1.0, 0.0, 2.0, 0.5, np.nan])
    got = np.array(mfl.cosine_embedding_loss(to_mx(x1), to_mx(x2), to_mx(t), reduction="none"))
    assert np.isfinite(got[:2]).all() and np.isnan(got[2:]).all()
    np.testing.assert_allclose(got[:2], ref.cosine_embedding(x1[:2], x2[:2], t[:2], reduction="none"),
                               rtol=1e-6, atol=1e-7)
    for reduction in ("mean", "sum"):
        assert np.isnan(mfl.cosine_embedding_loss(to_mx(x1), to_mx(x2), mx.array([1, 0, 1, 1, 1, 1]),
                                                  reduction=reduction).item())
    # 0/1 labels passed by mistake: the 0 rows are NaN, not a silent 0
    out = mfl.cosine_embedding_loss(to_mx(x1), to_mx(x2), mx.array([0, 1, 0, 1, 0, 1]), reduction="none")
    assert np.isnan(np.array(out)[::2]).all() and np.isfinite(np.array(out)[1::2]).all()


def test_cosine_embedding_margins(rng):
    x1, x2, _ = ref.sample(rng, "cosine_embedding_loss", (200, 5), -1)
    t = -np.ones(200)
    for margin in (-1.0, -0.3, 0.0, 0.5, 1.0):
        got = mfl.cosine_embedding_loss(to_mx(x1, mx.float64), to_mx(x2, mx.float64), to_mx(t, mx.float64),
                                        margin=margin, reduction="none")
        want = ref.cosine_embedding(x1, x2, t, margin=margin, reduction="none")
        np.testing.assert_allclose(np.array(got), want, rtol=1e-12, atol=1e-14)
        if margin == 1.0:
            assert np.all(np.array(got) == 0.0)


# -------------------------------------------------------------- special values


def test_zero_length_vectors():
    z = mx.zeros((3, 0))
    np.testing.assert_array_equal(np.array(mfl.cosine_similarity_loss(z, z)), [0.0] * 3)
    np.testing.assert_array_equal(np.array(stock.cosine_similarity_loss(z, z)), [0.0] * 3)
    # d = sqrt(0 + eps): the triplet is the margin, as stock
    np.testing.assert_allclose(np.array(mfl.triplet_loss(z, z, z, margin=0.5)), [0.5] * 3)
    np.testing.assert_allclose(np.array(stock.triplet_loss(z, z, z, margin=0.5)), [0.5] * 3)


def test_zero_length_vectors_with_targets_are_refused():
    """A target is read (and its gradient written) along its row's vectors: with
    vectors of length 0 there is nowhere to, so the losses with targets refuse
    them (the others take them: d = sqrt(eps), cos = 0)."""
    z = mx.zeros((3, 0))
    for name, t in (("contrastive_loss", [1.0, 0.0, 0.0]), ("cosine_embedding_loss", [1, -1, 1])):
        with pytest.raises(ValueError, match=rf"^{name}: the vectors have shape \(3, 0\), of "
                           r"length 0 along axis -1; expected vectors of length >= 1"):
            getattr(mfl, name)(z, z, mx.array(t), reduction="none")
    np.testing.assert_array_equal(np.array(mfl.cosine_similarity_loss(z, z, axis=-1)), [0, 0, 0])
    np.testing.assert_allclose(np.array(mfl.triplet_loss(z, z, z)), [1.0] * 3)


def test_no_rows():
    for name in NAMES:
        ops = [mx.zeros((0, 4))] * VECTORS[name] + ([mx.zeros((0,))] if name in ("contrastive_loss",
                                                                            "cosine_embedding_loss") else [])
        kw = {"axis": -1}
        assert getattr(mfl, name)(*ops, reduction="none", **kw).shape == (0,)
        assert getattr(mfl, name)(*ops, reduction="sum", **kw).item() == 0.0
        assert np.isnan(getattr(mfl, name)(*ops, reduction="mean", **kw).item())


def test_zero_vectors_and_the_clamp():
    z, x = mx.zeros((1, 3)), mx.array([[1.0, 2.0, 3.0]])
    for a, b in ((z, x), (x, z), (z, z)):
        assert mfl.cosine_similarity_loss(a, b).item() == 0.0
        assert stock.cosine_similarity_loss(a, b).item() == 0.0
    # the denominator is clamped at eps: a tiny pair's "cosine" shrinks with it
    tiny = x * 1e-5  # |x|^2 ~ 1.4e-9 < eps = 1e-8
    got = mfl.cosine_similarity_loss(tiny, tiny).item()
    assert got == pytest.approx(stock.cosine_similarity_loss(tiny, tiny).item(), rel=1e-5)
    assert got == pytest.approx(14e-10 / 1e-8, rel=1e-5)
    # eps = 0: a zero vector's cosine is 0 / 0
    assert np.isnan(mfl.cosine_similarity_loss(z, x, eps=0.0).item())
    assert np.isnan(stock.cosine_similarity_loss(z, x, eps=0.0).item())
    assert mfl.cosine_similarity_loss(x, 2 * x, eps=0.0).item() == pytest.approx(1.0, rel=1e-7)
    # eps = 0 distances: exact Euclidean ones, 0 between equal vectors
    assert mfl.triplet_loss(z, z, x, eps=0.0, margin=4.0).item() == pytest.approx(4.0 - np.sqrt(14), rel=1e-6)
    assert mfl.contrastive_loss(x, x, mx.array([1.0]), eps=0.0).item() == 0.0
    assert mfl.contrastive_loss(x, x, mx.array([0.0]), eps=0.0, margin=2.0).item() == 4.0
    assert mfl.cosine_embedding_loss(z, x, mx.array([1])).item() == 1.0


NONFINITE = [np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("bad", NONFINITE)
def test_nonfinite_inputs_follow_the_formulas_and_stock(bad, rng):
    # row 0: the first vector holds `bad`; row 1: the second; row 2: the third
    # (the negatives); row 3: every vector; row 4 finite.
    ops = [rng.standard_normal((5, 6)) for _ in range(3)]
    for i in range(3):
        ops[i][i, i + 1] = bad
        ops[i][3, 0] = bad
    arrays = [to_mx(o) for o in ops]
    targets = {"contrastive_loss": np.array([1.0, 0.0, 1.0, 0.0, 1.0]),
               "cosine_embedding_loss": np.array([1.0, -1.0, 1.0, -1.0, 1.0])}
    for name in NAMES:
        for params in PARAMS[name][:2] + ([{"swap": True}] if name == "triplet_loss" else []):
            n = VECTORS[name]
            extra = [targets[name]] if name in targets else []
            values = ops[:n] + extra
            for reduction in ("none", "sum"):
                got = to_np(call(name, arrays[:n] + [to_mx(t) for t in extra], axis=-1, reduction=reduction,
                                 **params))
                want = reference(name, values, axis=-1, reduction=reduction, **params)
                where = f"{name} {params} {reduction}"
                np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=where)
                np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=where)
                np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)], err_msg=where)
                fin = np.isfinite(want)
                np.testing.assert_allclose(got[fin], want[fin], rtol=1e-5, atol=1e-5, err_msg=where)
                if reduction == "none":
                    assert np.isfinite(got[4]), where
                    if np.isnan(bad):
                        assert np.isnan(got[[0, 3]]).all(), where
    for fused, theirs, k in ((mfl.cosine_similarity_loss, stock.cosine_similarity_loss, 2),
                             (mfl.triplet_loss, stock.triplet_loss, 3)):
        for reduction in ("none", "mean", "sum"):
            a = to_np(fused(*arrays[:k], axis=-1, reduction=reduction))
            b = to_np(theirs(*arrays[:k], axis=-1, reduction=reduction))
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_array_equal(a[~np.isfinite(b)], b[~np.isfinite(b)])
            np.testing.assert_allclose(a[np.isfinite(b)], b[np.isfinite(b)], rtol=1e-5, atol=1e-6)


def test_nan_targets_give_nan_rows(rng):
    x1, x2, _ = ref.sample(rng, "contrastive_loss", (3, 4))
    for fn, t in ((mfl.contrastive_loss, [1.0, np.nan, 0.0]), (mfl.cosine_embedding_loss, [1.0, np.nan, -1.0])):
        out = np.array(fn(to_mx(x1), to_mx(x2), mx.array(t), reduction="none"))
        assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all(), fn.__name__


def test_an_infinite_distance():
    a, p, n = mx.zeros((1, 2)), mx.array([[np.inf, 0.0]]), mx.array([[1.0, 1.0]])
    for fn in (mfl.triplet_loss, stock.triplet_loss):
        assert np.isposinf(fn(a, p, n).item())  # the positive at infinity
        assert fn(a, n, p).item() == 0.0  # the negative at infinity
    # swap, d(a, n) = d(p, n) = inf: still 0
    assert mfl.triplet_loss(a, n, p, swap=True).item() == 0.0
    # an anchor at infinity: d(a, p) - d(a, n) = inf - inf without the swap;
    # with it the finite d(p, n) is the negative's distance, the loss inf
    a = mx.array([[np.inf, 0.0]])
    for fn in (mfl.triplet_loss, stock.triplet_loss):
        assert np.isnan(fn(a, n, n * 2).item())
    assert np.isposinf(mfl.triplet_loss(a, n, n * 2, swap=True).item())


def test_mlx_own_test_values():
    e1 = mx.array([[0.5, 0.5, 0.2, 0.9], [0.1, 0.3, 0.5, 0.5]])
    e2 = mx.array([[0.6, 0.4, 0.3, 0.8], [0.2, 0.5, 0.6, 0.4]])
    assert mx.allclose(mfl.cosine_similarity_loss(e1, e2), mx.array([0.985344, 0.961074]))
    anchors = mx.array([[1, 2, 3], [1, 2, 3]])
    positives = mx.array([[4, 5, 6], [0, -1, 2]])
    negatives = mx.array([[7, 8, 9], [3, 2, 3]])
    assert mx.allclose(mfl.triplet_loss(anchors, positives, negatives), mx.array([0, 2.31662]))
    # MLX expects 0 (allclose: within 1e-8) for these two; the exact values
    # are eps-sized, (8 + 1e-6)^(1/p) - (9 + 1e-6)^(1/p)... : 0 for p = 1,
    # 4.6e-8 for p = 3. The float32 result is within a unit in the last place
    # of the distances (2 and 3) of the exact one.
    a, p, n = np.array([[0.0, 0.0]]), np.array([[2.0, 0.0]]), np.array([[0.0, 3.0]])
    for deg in (1, 3, 2, 1.5):
        got = mfl.triplet_loss(mx.array(a), mx.array(p), mx.array(n), p=deg).item()
        exact = ref.triplet(a, p, n, p=deg)[0]
        assert abs(got - exact) <= 2**-22, deg
        assert got >= 0.0
    assert mfl.triplet_loss(mx.array(a), mx.array(p), mx.array(n), p=1).item() == 0.0
