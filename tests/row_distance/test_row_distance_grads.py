"""Gradients of the row-distance losses: central differences in float64, the
analytic float64 reference in every dtype and layout, mlx.nn.losses' autograd,
mx.vjp / mx.jvp, broadcast operands, and the kinks (the clamp at a zero
vector, hinges at exactly 0, the swap's tie)."""

import mlx.core as mx
import mlx.nn.losses as stock
import numpy as np
import pytest

import mlx_fused_losses as mfl
import row_distance_reference as ref
from reference import numeric_grad

NAMES = list(ref.LOSSES)
VECTORS = {"cosine_similarity_loss": 2, "triplet_loss": 3, "contrastive_loss": 2,
           "cosine_embedding_loss": 2}
PARAMS = {
    "cosine_similarity_loss": [{}, {"eps": 0.3}],
    "triplet_loss": [{}, {"p": 1}, {"p": 3}, {"p": 1.5, "margin": 0.3}, {"swap": True},
                     {"swap": True, "p": 3, "eps": 1e-3}, {"eps": 0.0, "margin": 2.0}],
    "contrastive_loss": [{}, {"margin": 2.0, "p": 3}, {"p": 1, "margin": 0.5}, {"soft": True},
                         {"p": 1.5, "eps": 0.0, "soft": True}],
    "cosine_embedding_loss": [{}, {"margin": 0.3}, {"margin": -0.4}],
}
CASES = [(n, p) for n, ps in PARAMS.items() for p in ps]


def _id(case):
    return case[0] + "".join(f"-{k}{v}" for k, v in case[1].items())


def f64(a):
    return mx.array(np.asarray(a, np.float64), dtype=mx.float64)


def to_mx(a, dtype=mx.float32):
    return mx.array(np.asarray(a, np.float64), dtype=dtype)


def to_np(a):
    return np.array(a.astype(mx.float64) if a.dtype != mx.float64 else a)


def _kw(params):
    return {k: v for k, v in params.items() if k != "soft"}


def n_grads(name):
    """The differentiable operands: the vectors, and the contrastive targets."""
    return VECTORS[name] + (name == "contrastive_loss")


def _draw(rng, name, shape, axis, params, tries=100, elements=True):
    """Operands at least 1e-3 from every kink (finite differences cross none;
    ``elements=False``: from the hinges only, not from |e|^p's kink at e = 0)."""
    for _ in range(tries):
        ops = ref.sample(rng, name, shape, axis, **params)
        if ref.kink_distance(name, ops, axis, elements=elements, **params) > 1e-3:
            return ops
    raise AssertionError("no draw away from the kinks")


def _grads(fn, arrays, argnums):
    g = mx.grad(fn, argnums=argnums)(*arrays)
    return list(g) if isinstance(g, (list, tuple)) else [g]


# ---------------------------------------------------- finite differences, float64


@pytest.mark.parametrize("case", CASES, ids=_id)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape,axis", [((4, 5), -1), ((5, 4), 0), ((2, 3, 4), 1)])
def test_gradients_by_finite_differences(case, reduction, shape, axis, rng):
    name, params = case
    fn = getattr(mfl, name)
    ops = _draw(rng, name, shape, axis, params)
    kw = dict(_kw(params), axis=axis, reduction=reduction)
    rows = ref.REFERENCES[name](*ops, **dict(kw, reduction="none")).shape
    cot = f64(rng.standard_normal(rows)) if reduction == "none" else f64(1.0)

    def loss(*a):
        return mx.sum(fn(*a, **kw) * cot)

    argnums = list(range(n_grads(name)))
    got = _grads(loss, [f64(o) for o in ops], argnums)
    for i in argnums:
        want = numeric_grad(lambda *a: loss(*(f64(v) for v in a)).item(), ops, i)
        np.testing.assert_allclose(np.array(got[i]), want, rtol=1e-6, atol=1e-7, err_msg=f"d/d operand {i}")


# --------------------------------------------------- the analytic reference, every dtype

# Each gradient element is rounded once to the input dtype (float16's
# subnormals have an absolute spacing of 2^-24), after float32 arithmetic whose
# error is relative to the terms that make up the element (they may cancel).
GTOL = {mx.float64: (1e-12, 1e-13, 0.0), mx.float32: (1e-6, 5e-7, 0.0),
        mx.float16: (2**-11 * 1.01, 5e-7, 2**-25), mx.bfloat16: (2**-8 * 1.01, 5e-7, 0.0)}


def gradient_terms(name, values, axis, reduction, cotangent, **kw):
    """Per operand, the size of the terms each gradient element sums (the
    scale of its rounding errors), in the operand's shape."""
    (u, v, *w), ax = ref._vectors(values[: VECTORS[name]], axis)
    rows = u.shape[:-1]
    c = np.abs(ref.row_cotangent(rows, reduction, cotangent))[..., None]
    if name in ("cosine_similarity_loss", "cosine_embedding_loss"):
        eps = kw.get("eps", 1e-8)
        n1 = np.sqrt(np.sum(u * u, -1, keepdims=True))
        n2 = np.sqrt(np.sum(v * v, -1, keepdims=True))
        cos = np.abs(ref.cosine(u, v, eps)[0])[..., None]
        den = np.maximum(n1 * n2, eps)
        with np.errstate(invalid="ignore", divide="ignore"):
            parts = [c * (np.abs(v) / den + cos * np.abs(u) / n1**2),
                     c * (np.abs(u) / den + cos * np.abs(v) / n2**2)]
        parts = [np.nan_to_num(p_, posinf=0.0) for p_ in parts]
        extra = []
    else:
        p, eps = kw.get("p", 2), kw.get("eps", 1e-6)
        if name == "triplet_loss":
            phis = [np.abs(ref.distance_grad(x, y, p, eps)) for x, y in ((u, v), (u, w[0]), (v, w[0]))]
            total = c * sum(phis)
            parts = [total, total, total]
            extra = []
        else:
            t = ref._targets(values[2], rows)
            d = ref.distance(u, v, p, eps)
            h = np.maximum(kw.get("margin", 1.0) - d, 0.0)
            k = c * (2 * np.abs(t) * d + 2 * np.abs(1 - t) * h)[..., None]
            phi = np.abs(ref.distance_grad(u, v, p, eps))
            parts = [k * phi, k * phi]
            extra = [ref.unbroadcast(c[..., 0] * (d**2 + h**2), np.shape(values[2]))]
    return [ref.unbroadcast(np.moveaxis(p_, -1, ax), np.shape(x)) for p_, x in zip(parts, values)] + extra


def _assert_grad_close(got, want, scale, dtype, err_msg):
    rtol, atol, floor = GTOL[dtype]
    assert got.dtype == dtype and got.shape == want.shape, err_msg
    g = to_np(got)
    bound = rtol * np.abs(want) + atol * scale + floor + 1e-300
    err = np.abs(g - want)
    assert np.all(err <= bound), f"{err_msg}: max error {err.max():.3g} (relative {np.max(err / bound):.3g})"


LAYOUTS = [((12, 257), -1, "contiguous"), ((6, 7, 9), 1, "contiguous"), ((9, 33), -1, "transposed"),
           ((10, 6), -1, "broadcast"), ((5, 1), -1, "contiguous")]


@pytest.mark.parametrize("dtype", [mx.float32, mx.float64, mx.float16, mx.bfloat16], ids=str)
@pytest.mark.parametrize("shape,axis,layout", LAYOUTS, ids=[f"{s}-{l}" for s, a, l in LAYOUTS])
@pytest.mark.parametrize("name", NAMES)
def test_gradients_against_the_reference(name, shape, axis, layout, dtype, rng):
    fn = getattr(mfl, name)
    for params in PARAMS[name]:
        ops = _draw(rng, name, shape, axis, params, elements=False)
        n = VECTORS[name]
        if layout == "broadcast":
            ops[1] = ops[1][0]  # (D,): its gradient is the sum over the rows
        arrays = []
        for i, o in enumerate(ops):
            d = dtype if i < n else (mx.float64 if dtype == mx.float64 else mx.float32)
            if layout == "transposed" and i < n:
                arrays.append(mx.swapaxes(to_mx(np.swapaxes(o, 0, -1).copy(), d), 0, -1))
            else:
                arrays.append(to_mx(o, d))
        values = [to_np(a) for a in arrays]
        for reduction in ("none", "mean", "sum"):
            rows = ref.REFERENCES[name](*values, axis=axis, reduction="none", **_kw(params)).shape
            # (the cotangent in the loss's dtype: MLX rounds it to that on the way back)
            cm = to_mx(rng.standard_normal(rows), dtype) if reduction == "none" else None
            cot = to_np(cm) if cm is not None else None
            argnums = list(range(n_grads(name)))

            def loss(*a):
                out = fn(*a, axis=axis, reduction=reduction, **_kw(params))
                return mx.sum(out * cm) if cm is not None else out

            got = _grads(loss, arrays, argnums)
            want = ref.GRADIENTS[name](*values, axis=axis, reduction=reduction, cotangent=cot, **_kw(params))
            scale = gradient_terms(name, values, axis, reduction, cot, **_kw(params))
            if layout == "broadcast" and dtype in (mx.float16, mx.bfloat16):
                # MLX sums the broadcast operand's row gradients in its dtype
                full = values[:1] + [np.broadcast_to(values[1], values[0].shape).copy()] + values[2:]
                g_rows = ref.GRADIENTS[name](*full, axis=axis, reduction=reduction, cotangent=cot,
                                             **_kw(params))[1]
                scale[1] = scale[1] + GTOL[dtype][0] / GTOL[dtype][1] * shape[0] * np.abs(g_rows).sum(0)
            for i in argnums:
                _assert_grad_close(got[i], want[i], scale[i], arrays[i].dtype,
                                   f"{params} {reduction} d/d operand {i}")


# ------------------------------------------------------------------ vs stock MLX


@pytest.mark.parametrize("p", [1, 2, 3, 1.5])
@pytest.mark.parametrize("shape,axis", [((6, 5), -1), ((4, 6, 5), 0), ((4, 6, 5), 1), ((3, 300), -1)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_triplet_gradients_match_mlx(p, shape, axis, reduction, rng):
    for margin, eps in ((1.0, 1e-6), (0.3, 0.01)):
        ops = [to_mx(o) for o in _draw(rng, "triplet_loss", shape, axis, {"p": p, "margin": margin},
                                       elements=False)]
        kw = dict(axis=axis, p=p, margin=margin, eps=eps, reduction=reduction)
        vo, go = mx.value_and_grad(lambda *a: mx.sum(mfl.triplet_loss(*a, **kw)), [0, 1, 2])(*ops)
        vs, gs = mx.value_and_grad(lambda *a: mx.sum(stock.triplet_loss(*a, **kw)), [0, 1, 2])(*ops)
        np.testing.assert_allclose(vo.item(), vs.item(), rtol=1e-5, atol=1e-5)
        for i, (a, b) in enumerate(zip(go, gs)):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-6, err_msg=f"{kw} {i}")


@pytest.mark.parametrize("shape,axis", [((6, 5), 1), ((6, 5), -1), ((4, 6, 5), 0), ((4, 6, 5), 1),
                                        ((3, 300), -1)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("eps", [1e-8, 0.5])
def test_cosine_similarity_gradients_match_mlx(shape, axis, reduction, eps, rng):
    ops = [to_mx(o) for o in ref.sample(rng, "cosine_similarity_loss", shape, axis)]
    kw = dict(axis=axis, eps=eps, reduction=reduction)
    go = _grads(lambda *a: mx.sum(mfl.cosine_similarity_loss(*a, **kw)), ops, [0, 1])
    gs = _grads(lambda *a: mx.sum(stock.cosine_similarity_loss(*a, **kw)), ops, [0, 1])
    for a, b in zip(go, gs):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=2e-6)


def test_broadcast_gradients_match_mlx(rng):
    x1 = to_mx(rng.standard_normal((7, 4)))
    for x2 in (to_mx(rng.standard_normal(4)), to_mx(rng.standard_normal((1, 4)))):
        x3 = to_mx(rng.standard_normal((7, 1)))  # broadcast along the vector axis
        for fused, theirs, args in ((mfl.cosine_similarity_loss, stock.cosine_similarity_loss, (x1, x2)),
                                    (mfl.triplet_loss, stock.triplet_loss, (x1, x2, x3))):
            argnums = list(range(len(args)))
            go = _grads(lambda *a: fused(*a, axis=-1, reduction="sum"), list(args), argnums)
            gs = _grads(lambda *a: theirs(*a, axis=-1, reduction="sum"), list(args), argnums)
            for a, b, x in zip(go, gs, args):
                assert a.shape == x.shape
                np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)


def test_integer_operands_are_constants_for_mlx_grad():
    # Stock and fused agree on gradients of float operands mixed with integer ones.
    a, p = mx.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]), mx.array([[4, 5, 6], [0, -1, 2]])
    n = mx.array([[7, 8, 9], [3, 2, 3]])
    g1 = mx.grad(lambda x: mfl.triplet_loss(x, p, n, reduction="sum"))(a)
    g2 = mx.grad(lambda x: stock.triplet_loss(x, p, n, reduction="sum"))(a)
    np.testing.assert_allclose(np.array(g1), np.array(g2), rtol=1e-5, atol=1e-7)


# -------------------------------------------------------------- vjp, jvp


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_vjp_with_a_random_cotangent(case, rng):
    name, params = case
    fn = getattr(mfl, name)
    ops = ref.sample(rng, name, (6, 5, 4), 1, **params)
    arrays = [f64(o) for o in ops]
    cot = rng.standard_normal((6, 4))
    k = n_grads(name)
    out, vjps = mx.vjp(lambda *a: fn(*a, *arrays[k:], axis=1, reduction="none", **_kw(params)),
                       arrays[:k], [f64(cot)])
    np.testing.assert_allclose(np.array(out[0]), ref.REFERENCES[name](*ops, axis=1, reduction="none",
                                                                      **_kw(params)), rtol=1e-12, atol=1e-13)
    want = ref.GRADIENTS[name](*ops, axis=1, reduction="none", cotangent=cot, **_kw(params))
    for i in range(k):
        np.testing.assert_allclose(np.array(vjps[i]), want[i], rtol=1e-10, atol=1e-12, err_msg=f"operand {i}")


@pytest.mark.parametrize("case", CASES, ids=_id)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_jvp_agrees_with_vjp_and_finite_differences(case, reduction, rng):
    name, params = case
    fn = getattr(mfl, name)
    ops = _draw(rng, name, (5, 6), -1, params)
    k = n_grads(name)
    primals = [f64(o) for o in ops]
    tangents = [f64(rng.standard_normal(o.shape)) for o in ops[:k]]

    def f(*a):
        return fn(*a, *primals[k:], axis=-1, reduction=reduction, **_kw(params))

    out, (jv,) = mx.jvp(f, primals[:k], tangents)
    assert jv.shape == out[0].shape if isinstance(out, list) else True
    # <c, J t> = sum_i <J_i^T c, t_i>
    c = f64(rng.standard_normal(jv.shape))
    _, vjps = mx.vjp(f, primals[:k], [c])
    lhs = mx.sum(c * jv).item()
    rhs = sum(mx.sum(v * t).item() for v, t in zip(vjps, tangents))
    assert lhs == pytest.approx(rhs, rel=1e-11, abs=1e-12)
    h = 1e-6
    plus = f(*[p + h * t for p, t in zip(primals[:k], tangents)])
    minus = f(*[p - h * t for p, t in zip(primals[:k], tangents)])
    np.testing.assert_allclose(np.array(jv), np.array((plus - minus) / (2 * h)), rtol=1e-6, atol=1e-7)


def test_jvp_of_one_operand(rng):
    a, p, n = (f64(o) for o in ref.sample(rng, "triplet_loss", (4, 3)))
    t = f64(rng.standard_normal((4, 3)))
    _, (jv,) = mx.jvp(lambda x: mfl.triplet_loss(a, x, n, swap=True), [p], [t])
    g = ref.triplet_grads(*(np.array(v) for v in (a, p, n)), swap=True)[1]
    np.testing.assert_allclose(np.array(jv), np.sum(g * np.array(t), -1), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------- broadcasting


@pytest.mark.parametrize("name", NAMES)
def test_broadcast_operands_get_summed_gradients(name, rng):
    fn = getattr(mfl, name)
    ops = ref.sample(rng, name, (6, 5), -1)
    n = VECTORS[name]
    # the second vector a single (D,) vector; the targets (if any) one scalar
    small = [ops[0], ops[1][0]] + ops[2:n] + ([np.float64(0.7 if name == "contrastive_loss" else 1.0)]
                                               if n < len(ops) else [])
    k = n_grads(name)
    got = _grads(lambda *a: fn(*a, axis=-1, reduction="sum"), [f64(o) for o in small], list(range(k)))
    want = ref.GRADIENTS[name](*small, axis=-1, reduction="sum")
    full = [np.broadcast_to(o, ops[0].shape).copy() if i < n else np.full(6, o) for i, o in enumerate(small)]
    want_full = ref.GRADIENTS[name](*full, axis=-1, reduction="sum")
    for i in range(k):
        assert got[i].shape == np.shape(small[i])
        np.testing.assert_allclose(np.array(got[i]), want[i], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.array(got[1]), want_full[1].sum(0), rtol=1e-10, atol=1e-12)
    if name == "contrastive_loss":
        np.testing.assert_allclose(np.array(got[2]), want_full[2].sum(), rtol=1e-10)


def test_targets_broadcast_along_rows_get_summed_gradients(rng):
    x1, x2, _ = ref.sample(rng, "contrastive_loss", (3, 4, 5), -1)
    t = rng.uniform(0, 1, (3, 1))
    g = mx.grad(lambda v: mfl.contrastive_loss(f64(x1), f64(x2), v, reduction="mean"))(f64(t))
    assert g.shape == (3, 1)
    np.testing.assert_allclose(np.array(g), ref.contrastive_grads(x1, x2, t, reduction="mean")[2], rtol=1e-10)
    num = numeric_grad(lambda v: ref.contrastive(x1, x2, v, reduction="mean"), [t], 0)
    np.testing.assert_allclose(np.array(g), num, rtol=1e-6)


# ------------------------------------------------------------------- targets


def test_contrastive_target_gradient_is_d2_minus_hinge2(rng):
    x1, x2, t = ref.sample(rng, "contrastive_loss", (40, 6), soft=True, margin=1.5)
    g = mx.grad(lambda v: mfl.contrastive_loss(f64(x1), f64(x2), v, margin=1.5, reduction="sum"))(f64(t))
    d = ref.distance(x1, x2, 2, 1e-6)
    np.testing.assert_allclose(np.array(g), d**2 - np.maximum(1.5 - d, 0) ** 2, rtol=1e-12)
    # and float32 targets of float32 vectors
    g32 = mx.grad(lambda v: mfl.contrastive_loss(to_mx(x1), to_mx(x2), v, margin=1.5, reduction="sum"))(to_mx(t))
    assert g32.dtype == mx.float32
    np.testing.assert_allclose(np.array(g32), d**2 - np.maximum(1.5 - d, 0) ** 2, rtol=1e-5, atol=1e-5)


def test_cosine_embedding_targets_have_zero_gradient(rng):
    x1, x2, t = ref.sample(rng, "cosine_embedding_loss", (8, 5))
    g = mx.grad(lambda v: mfl.cosine_embedding_loss(f64(x1), f64(x2), v, reduction="sum"))(f64(t))
    assert g.shape == (8,)
    np.testing.assert_array_equal(np.array(g), 0.0)


def test_gradients_with_respect_to_everything_at_once(rng):
    x1, x2, t = ref.sample(rng, "contrastive_loss", (5, 4), soft=True)
    gs = mx.grad(lambda a, b, c: mfl.contrastive_loss(a, b, c, p=3), [0, 1, 2])(f64(x1), f64(x2), f64(t))
    want = ref.contrastive_grads(x1, x2, t, p=3)
    for g, w in zip(gs, want):
        np.testing.assert_allclose(np.array(g), w, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------- kinks


def test_zero_vector_gradient_is_the_clamped_one_where_stock_is_nan():
    """At a zero x1 the denominator is clamped at eps: cos = x1 . x2 / eps, whose
    gradient is x2 / eps (x1's) and x1 / eps = 0 (x2's). Stock MLX's is NaN for
    x1 (the norm's derivative at 0, 0 / 0) and 0 for x2."""
    z, x = mx.zeros((1, 3)), mx.array([[1.0, 2.0, 3.0]])
    for eps in (1e-8, 0.5):
        g1, g2 = _grads(lambda a, b: mfl.cosine_similarity_loss(a, b, eps=eps, reduction="sum"), [z, x], [0, 1])
        np.testing.assert_allclose(np.array(g1), np.array(x) / eps, rtol=1e-6)
        np.testing.assert_array_equal(np.array(g2), 0.0)
        s1, s2 = _grads(lambda a, b: stock.cosine_similarity_loss(a, b, eps=eps, reduction="sum"), [z, x], [0, 1])
        assert np.isnan(np.array(s1)).all()
        np.testing.assert_array_equal(np.array(s2), 0.0)
    # both vectors zero: both gradients 0 (ours), the same for the embedding loss
    g1, g2 = _grads(lambda a, b: mfl.cosine_similarity_loss(a, b, reduction="sum"), [z, z], [0, 1])
    np.testing.assert_array_equal(np.array(g1), 0.0)
    np.testing.assert_array_equal(np.array(g2), 0.0)
    g1 = mx.grad(lambda a: mfl.cosine_embedding_loss(a, x, mx.array([1]), reduction="sum"))(z)
    np.testing.assert_allclose(np.array(g1), -np.array(x) / 1e-8, rtol=1e-6)


def test_clamped_tiny_vectors_match_stock_and_the_reference(rng):
    # |x1| |x2| < eps without a zero vector: stock is finite there and agrees.
    x1 = rng.standard_normal((4, 3)) * 1e-5
    x2 = rng.standard_normal((4, 3)) * 1e-5
    go = _grads(lambda a, b: mfl.cosine_similarity_loss(a, b, reduction="sum"), [to_mx(x1), to_mx(x2)], [0, 1])
    gs = _grads(lambda a, b: stock.cosine_similarity_loss(a, b, reduction="sum"), [to_mx(x1), to_mx(x2)], [0, 1])
    want = ref.cosine_similarity_grads(np.array(to_mx(x1)), np.array(to_mx(x2)), reduction="sum")
    for a, b, w in zip(go, gs, want):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5)
        np.testing.assert_allclose(np.array(a), w, rtol=1e-5)


def test_hinges_pass_no_gradient_at_exactly_zero():
    # 3-4-5 triangles: exact distances with eps = 0.
    a, p, n = mx.zeros((1, 2)), mx.array([[3.0, 4.0]]), mx.array([[6.0, 8.0]])
    # triplet: 5 - 10 + 5 = 0, as stock (mx.maximum's gradient at a tie)
    for fn in (mfl.triplet_loss, stock.triplet_loss):
        assert fn(a, p, n, margin=5.0, eps=0.0).item() == 0.0
        for g in _grads(lambda *v: fn(*v, margin=5.0, eps=0.0, reduction="sum"), [a, p, n], [0, 1, 2]):
            np.testing.assert_array_equal(np.array(g), 0.0)
    # ...and just inside the hinge, the full gradient
    g = _grads(lambda *v: mfl.triplet_loss(*v, margin=5.0001, eps=0.0, reduction="sum"), [a, p, n], [0, 1, 2])
    np.testing.assert_allclose(np.array(g[0]), [[-0.6 + 0.6, -0.8 + 0.8]], atol=1e-7)
    np.testing.assert_allclose(np.array(g[1]), [[0.6, 0.8]], rtol=1e-6)
    np.testing.assert_allclose(np.array(g[2]), [[-0.6, -0.8]], rtol=1e-6)
    # contrastive, a dissimilar pair at exactly the margin
    gs = _grads(lambda u, v: mfl.contrastive_loss(u, v, mx.array([0.0]), margin=5.0, eps=0.0), [a, p], [0, 1])
    for g in gs:
        np.testing.assert_array_equal(np.array(g), 0.0)
    # cosine embedding: cos((1, 0), (3, 4)) = 0.6 = margin
    u, v = mx.array([[1.0, 0.0]]), mx.array([[3.0, 4.0]])
    assert mfl.cosine_embedding_loss(u, v, mx.array([-1]), margin=0.6).item() == 0.0
    gs = _grads(lambda x, y: mfl.cosine_embedding_loss(x, y, mx.array([-1]), margin=0.6), [u, v], [0, 1])
    for g in gs:
        np.testing.assert_array_equal(np.array(g), 0.0)


def test_the_swap_tie_splits_the_gradient():
    # d(a, n) = d(p, n) = sqrt(10) exactly: half the negative's gradient through each.
    a, p, n = np.array([[0.0, 0.0]]), np.array([[2.0, 0.0]]), np.array([[1.0, 3.0]])
    for eps in (0.0, 1e-6):
        kw = dict(margin=5.0, eps=eps, swap=True, reduction="sum")
        got = _grads(lambda *v: mfl.triplet_loss(*v, **kw), [f64(a), f64(p), f64(n)], [0, 1, 2])
        want = ref.triplet_grads(a, p, n, **kw)
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.array(g), w, rtol=1e-12, atol=1e-14)
        # the mean of the two one-sided gradients (negatives a hair closer to either)
        sides = []
        for shift in ([[-1e-7, 0.0]], [[1e-7, 0.0]]):
            sides.append(ref.triplet_grads(a, p, n + np.array(shift), **kw)[2])
        np.testing.assert_allclose(np.array(got[2]), (sides[0] + sides[1]) / 2, rtol=1e-6, atol=1e-12)
        # the anchor gets the positive's pull and half the negative's push
        d_ap, d_an = np.sqrt(4 + eps), np.sqrt(10 + eps)
        np.testing.assert_allclose(np.array(got[0]), (a - p) / d_ap - 0.5 * (a - n) / d_an, rtol=1e-12)


def test_swap_picks_the_nearer_negative_distance(rng):
    # without a tie the gradient goes through the smaller distance only
    a, p, n = np.array([[0.0, 0.0]]), np.array([[2.0, 0.0]]), np.array([[1.5, 3.0]])  # d(p, n) < d(a, n)
    g = _grads(lambda *v: mfl.triplet_loss(*v, margin=5.0, swap=True, eps=0.0, reduction="sum"),
               [f64(a), f64(p), f64(n)], [0, 1, 2])
    np.testing.assert_allclose(np.array(g[0]), (a - p) / 2.0, rtol=1e-12)  # no negative term
    d_pn = np.sqrt(0.25 + 9)
    np.testing.assert_allclose(np.array(g[2]), (p - n) / d_pn, rtol=1e-12)


def test_eps_zero_at_equal_vectors_is_nan_as_stock():
    # d = 0 with eps = 0: the root's derivative at 0 (0 / 0), stock MLX's too;
    # the default eps keeps it finite.
    x, y = mx.array([[1.0, 2.0]]), mx.array([[0.0, 5.0]])
    for fn in (mfl.triplet_loss, stock.triplet_loss):
        assert np.isnan(np.array(mx.grad(lambda v: fn(v, x, y, eps=0.0, reduction="sum"))(x))).all()
        assert np.isfinite(np.array(mx.grad(lambda v: fn(v, x, y, reduction="sum"))(x))).all()


# ------------------------------------------------------------- special values


def test_nan_inputs_poison_only_their_row(rng):
    for name in NAMES:
        ops = ref.sample(rng, name, (4, 5))
        ops[0][1, 2] = np.nan
        k = n_grads(name)
        got = _grads(lambda *a: getattr(mfl, name)(*a, reduction="sum"), [f64(o) for o in ops], list(range(k)))
        want = ref.GRADIENTS[name](*ops, reduction="sum")
        for i in range(VECTORS[name]):
            g = np.array(got[i])
            assert np.isnan(g[1]).all(), (name, i)
            np.testing.assert_allclose(g[[0, 2, 3]], want[i][[0, 2, 3]], rtol=1e-10, atol=1e-12)


def test_invalid_embedding_targets_give_nan_gradients(rng):
    x1, x2, _ = ref.sample(rng, "cosine_embedding_loss", (3, 4))
    g = mx.grad(lambda a: mfl.cosine_embedding_loss(a, f64(x2), mx.array([1, 0, -1]), reduction="sum"))(f64(x1))
    g = np.array(g)
    assert np.isnan(g[1]).all() and np.isfinite(g[[0, 2]]).all()


def test_zero_length_vectors_and_no_rows():
    for name in NAMES:
        fn = getattr(mfl, name)
        n, k = VECTORS[name], n_grads(name)
        for shape in ((3, 0), (0, 4)):
            if name in ("contrastive_loss", "cosine_embedding_loss") and shape[1] == 0:
                continue  # refused: test_zero_length_vectors_with_targets_are_refused
            rows = shape[:1]
            ops = [mx.zeros(shape) for _ in range(n)]
            if name in ("contrastive_loss", "cosine_embedding_loss"):
                ops.append(mx.array([1.0, -1.0, 1.0][: rows[0]]))
            grads = _grads(lambda *a: fn(*a, reduction="sum"), ops, list(range(k)))
            want = ref.GRADIENTS[name](*(to_np(o) for o in ops), reduction="sum")
            for i, g in enumerate(grads):
                assert g.shape == ops[i].shape, (name, shape, i)
                np.testing.assert_allclose(to_np(g), want[i], rtol=1e-6, err_msg=f"{name} {shape} {i}")
            _, vjps = mx.vjp(lambda *a: fn(*a, *ops[n:], reduction="none"), ops[:n], [mx.ones(rows)])
            assert all(v.shape == shape for v in vjps)


@pytest.mark.parametrize("dtype", [mx.float16, mx.bfloat16])
def test_half_precision_gradients_keep_the_dtype(dtype, rng):
    for name in NAMES:
        ops = ref.sample(rng, name, (8, 300))
        arrays = [to_mx(o, dtype) for o in ops[: VECTORS[name]]] + [to_mx(o) for o in ops[VECTORS[name]:]]
        grads = _grads(lambda *a: getattr(mfl, name)(*a, reduction="mean"), arrays, list(range(VECTORS[name])))
        assert all(g.dtype == dtype for g in grads), name
        assert all(np.isfinite(to_np(g)).all() for g in grads), name


def test_scaled_and_unit_cotangents_agree(rng):
    # mx.grad's unit seed and any other cotangent give the same gradient (x2).
    for name in NAMES:
        ops = [to_mx(o) for o in ref.sample(rng, name, (9, 7))]
        k = VECTORS[name]
        for reduction in ("mean", "sum"):
            g1 = _grads(lambda *a: getattr(mfl, name)(*a, *ops[k:], reduction=reduction), ops[:k], list(range(k)))
            g2 = _grads(lambda *a: 2.0 * getattr(mfl, name)(*a, *ops[k:], reduction=reduction), ops[:k],
                        list(range(k)))
            for a, b in zip(g1, g2):
                np.testing.assert_allclose(2 * np.array(a), np.array(b), rtol=1e-6, atol=1e-8)
