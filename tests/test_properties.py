"""Property-based tests: random shapes (size-0 and size-1 axes included), strided
and broadcast (stride-0) views, dtypes, reductions and parameters at their
bounds, every loss against its float64 reference, values and gradients; and
``mx.compile(shapeless=True)`` with shapes that change between calls.

The generator is seeded (SEED), so a failure names a reproducible draw.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

import mlx_fused_losses as mfl
import row_softmax_reference as rref
from pointwise_cases import CASES, TOL, grad_sample, to_mx, to_np
from reference import numeric_grad

# (numpy warns about the mean of empty draws; the tests check the NaN it gives)
pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value")

SEED = 20261203
DRAWS = 12  # per loss
DIMS = (0, 1, 1, 2, 3, 5)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, sum(map(ord, name))])


def _shape(rng, min_ndim=0, max_ndim=3, dims=DIMS):
    return tuple(int(rng.choice(dims)) for _ in range(rng.integers(min_ndim, max_ndim + 1)))


def _laid_out(rng, values: np.ndarray, dtype) -> mx.array:
    """``values`` as an array of ``dtype`` in a random memory layout (the same
    logical values): contiguous, transposed, a strided slice, or a broadcast
    (stride-0) view where the values allow one."""
    kind = rng.choice(["contiguous", "transposed", "sliced", "broadcast"])
    if kind == "transposed" and values.ndim >= 2:
        return mx.swapaxes(to_mx(np.swapaxes(values, 0, -1).copy(), dtype), 0, -1)
    if kind == "sliced" and values.ndim >= 1:
        wide = np.repeat(values, 2, axis=-1)
        return to_mx(wide, dtype)[..., ::2]
    if kind == "broadcast" and values.ndim >= 1 and values.size:
        row = values[(0,) * (values.ndim - 1)]
        return mx.broadcast_to(to_mx(row, dtype), values.shape)
    return to_mx(values, dtype)


# ------------------------------------------------------------------- pointwise

POINTWISE = [c for c in CASES.values() if not c.id.startswith("bce-") or c.id == "bce-probs"]
POINTWISE = [c for c in POINTWISE if c.full_operands == len(c.operands)]  # no pos_weight
DTYPES = [mx.float32, mx.float64, mx.float16]


def _pointwise_draw(case, rng):
    shape = _shape(rng)
    dtype = DTYPES[rng.integers(len(DTYPES))]
    reduction = str(rng.choice(["none", "mean", "sum"]))
    ops = case.sample(rng, shape)
    arrays, values = [], []
    for o in ops:
        a = _laid_out(rng, np.asarray(o, np.float64), dtype)
        arrays.append(a)
        values.append(to_np(a))  # the values the layout holds
    return shape, dtype, reduction, arrays, values


@pytest.mark.parametrize("case", POINTWISE, ids=lambda c: c.id)
def test_pointwise_random_draws(case):
    rng = _rng(case.id)
    for draw in range(DRAWS):
        shape, dtype, reduction, arrays, values = _pointwise_draw(case, rng)
        got = case(*arrays, reduction=reduction)
        expected = case.expected(*values, reduction=reduction)
        where = f"draw {draw}: shape {shape}, {dtype}, {reduction}"
        assert got.shape == np.shape(expected), where
        assert got.dtype == dtype, where
        if not np.size(expected):
            continue
        rtol, atol = TOL[dtype]
        if reduction == "none":
            scale = np.maximum(1.0, np.abs(expected))
        else:
            elements = case.expected(*values, reduction="none")
            count = max(1, np.size(elements)) if reduction == "mean" else 1
            scale = max(1.0, float(np.sum(np.abs(elements))) / count)
        err = np.abs(to_np(got) - expected)
        np.testing.assert_array_less(err, rtol * np.abs(expected) + 4 * atol * scale + 1e-300,
                                     err_msg=where)


@pytest.mark.parametrize("case", POINTWISE, ids=lambda c: c.id)
def test_pointwise_random_gradients_float64(case):
    rng = _rng("grad" + case.id)
    sample = grad_sample(case)
    for draw in range(4):
        shape = _shape(rng, 1, 2, (1, 2, 3))
        reduction = str(rng.choice(["mean", "sum"]))
        ops = [np.asarray(o, np.float64) for o in sample(rng, shape)]
        arrays = [_laid_out(rng, o, mx.float64) for o in ops]
        ops = [to_np(a) for a in arrays]  # the values the layout holds
        argnums = list(range(case.full_operands))
        grads = mx.grad(lambda *a: case(*a, reduction=reduction), argnums=argnums)(*arrays)

        def f(*a):
            return float(case.expected(*a, reduction=reduction))

        for i in argnums:
            num = numeric_grad(f, ops, i)
            np.testing.assert_allclose(np.array(grads[i]), num, rtol=1e-5, atol=1e-6,
                                       err_msg=f"draw {draw}: d/d{case.operands[i]}, {shape}")


@pytest.mark.parametrize("case", POINTWISE, ids=lambda c: c.id)
def test_pointwise_shapeless_compile(case):
    rng = _rng("compile" + case.id)
    for reduction in ("none", "mean", "sum"):
        f = mx.compile(lambda *a: case(*a, reduction=reduction), shapeless=True)
        g = mx.compile(mx.grad(lambda *a: case(*a, reduction="sum" if reduction == "none" else reduction)),
                       shapeless=True)
        for n in (3, 7, 1, 5):
            ops = [to_mx(o) for o in case.sample(rng, (n, 2))]
            np.testing.assert_allclose(f(*ops), case(*ops, reduction=reduction), rtol=1e-6, atol=1e-7,
                                       err_msg=f"{reduction}, n={n}")
            eager = mx.grad(lambda *a: case(*a, reduction="sum" if reduction == "none" else reduction))(*ops)
            np.testing.assert_allclose(g(*ops), eager, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ row softmax


def _row_problem(rng, name):
    """(call, reference, differentiable inputs) for one random draw of a row loss."""
    rows = _shape(rng, 0, 2, (0, 1, 2, 3, 4))
    n_classes = int(rng.choice([1, 2, 3, 7]))
    ndim = len(rows) + 1
    axis = int(rng.integers(-ndim, ndim))
    pos = axis % ndim
    shape = rows[:pos] + (n_classes,) + rows[pos:]
    x = rng.standard_normal(shape) * 2.0
    reduction = str(rng.choice(["none", "mean", "sum"]))
    y = rng.integers(0, n_classes, rows)
    kw = {"axis": axis, "reduction": reduction}
    if name == "cross_entropy":
        if rng.random() < 0.4:  # probabilities
            t = np.moveaxis(np.exp(rref.log_softmax(np.moveaxis(rng.standard_normal(shape), pos, -1))), -1, pos)
            y = t
        elif rng.random() < 0.5:
            kw["ignore_index"] = int(rng.integers(0, n_classes))
        if rng.random() < 0.5:
            kw["label_smoothing"] = float(rng.choice([0.0, 0.3, 0.999]))
        if rng.random() < 0.4:
            kw["class_weights"] = rng.random(n_classes) + 0.1
        if rng.random() < 0.3:
            kw["weights"] = rng.random(rows)
        ref = rref.cross_entropy
    elif name == "nll_loss":
        x = np.moveaxis(rref.log_softmax(np.moveaxis(x, pos, -1)), -1, pos)
        if rng.random() < 0.4:
            kw["class_weights"] = rng.random(n_classes) + 0.1
        if rng.random() < 0.4:
            kw["ignore_index"] = int(rng.integers(0, n_classes))
        ref = rref.nll_loss
    elif name == "kl_div_loss":
        x = np.moveaxis(rref.log_softmax(np.moveaxis(x, pos, -1)), -1, pos)
        t = np.moveaxis(rref.log_softmax(np.moveaxis(rng.standard_normal(shape), pos, -1)), -1, pos)
        kw["log_target"] = bool(rng.random() < 0.5)
        y = t if kw["log_target"] else np.exp(t)
        if rows and rng.random() < 0.3:
            kw["reduction"] = "batchmean"
        ref = rref.kl_div
    else:  # softmax_focal_loss
        kw["gamma"] = float(rng.choice([0.0, 1.0, 2.0, 3.5]))
        if rng.random() < 0.5:
            kw["alpha"] = float(rng.random()) if rng.random() < 0.5 else rng.random(n_classes)
        ref = rref.softmax_focal
    return x, y, kw, ref


def _mx_kwargs(kw, dtype):
    """The keyword arrays as mx arrays of ``dtype``, and ``kw`` with the values
    they hold (for the reference)."""
    out, held = dict(kw), dict(kw)
    for k in ("class_weights", "weights", "alpha"):
        if isinstance(out.get(k), np.ndarray):
            out[k] = to_mx(out[k], dtype)
            held[k] = to_np(out[k])
    return out, held


ROW_LOSSES = ["cross_entropy", "nll_loss", "kl_div_loss", "softmax_focal_loss"]


@pytest.mark.parametrize("name", ROW_LOSSES)
def test_row_random_draws(name):
    rng = _rng(name)
    fn = getattr(mfl, name)
    for draw in range(3 * DRAWS):
        x, y, kw, ref = _row_problem(rng, name)
        dtype = [mx.float32, mx.float64, mx.bfloat16][rng.integers(3)]
        xa = _laid_out(rng, x, dtype)
        xv = to_np(xa)
        index = np.asarray(y).dtype.kind == "i"
        ya = mx.array(y) if index else _laid_out(rng, y, mx.float32 if dtype == mx.bfloat16 else dtype)
        yv = np.asarray(y) if index else to_np(ya)
        kwm, kw = _mx_kwargs(kw, dtype)
        got = fn(xa, ya, **kwm)
        with np.errstate(all="ignore"):
            expected = ref(xv, yv, **kw)
        where = f"draw {draw}: {x.shape}, {dtype}, {kw}"
        assert got.shape == np.shape(expected), where
        tol = 1e-10 if dtype == mx.float64 else 2e-5
        np.testing.assert_allclose(to_np(got), expected, rtol=tol, atol=tol, err_msg=where)


@pytest.mark.parametrize("name", ROW_LOSSES)
def test_row_random_gradients_float64(name):
    rng = _rng("grad" + name)
    fn = getattr(mfl, name)
    done = 0
    while done < 6:
        x, y, kw, ref = _row_problem(rng, name)
        if x.size == 0 or x.size > 40 or kw["reduction"] == "none":
            continue
        with np.errstate(all="ignore"):
            if not np.isfinite(ref(x, y, **kw)):  # e.g. every row ignored: a NaN mean
                continue
        done += 1
        xa = _laid_out(rng, x, mx.float64)
        xv = to_np(xa)
        index = np.asarray(y).dtype.kind == "i"
        ya = mx.array(y) if index else to_mx(y, mx.float64)
        kwm, kw = _mx_kwargs(kw, mx.float64)
        argnums = [0] if index else [0, 1]
        grads = mx.grad(lambda a, b: fn(a, b, **kwm), argnums=argnums)(xa, ya)
        grads = grads if isinstance(grads, (list, tuple)) else [grads]
        for i in argnums:
            num = numeric_grad(lambda a, b: float(ref(a, b, **kw)), [xv, np.asarray(y, np.float64)], i)
            np.testing.assert_allclose(np.array(grads[i]), num, rtol=1e-5, atol=1e-6,
                                       err_msg=f"d/d input {i}: {x.shape}, {kw}")


@pytest.mark.parametrize("name", ROW_LOSSES)
def test_row_shapeless_compile(name):
    rng = _rng("compile" + name)
    fn = getattr(mfl, name)
    for variant in range(4):
        x, y, kw, _ = _row_problem(rng, name)
        kw = dict(kw, axis=-1)
        kw.pop("weights", None)
        kw.pop("class_weights", None)
        if isinstance(kw.get("alpha"), np.ndarray):
            kw.pop("alpha")
        probs = np.asarray(y).dtype.kind != "i"
        f = mx.compile(lambda a, b: fn(a, b, **kw), shapeless=True)
        g = mx.compile(mx.grad(lambda a, b: mx.sum(fn(a, b, **kw))), shapeless=True)
        for n, c in ((4, 3), (2, 5), (7, 3), (1, 1)):
            xs = rng.standard_normal((n, c))
            if name in ("nll_loss", "kl_div_loss"):
                xs = rref.log_softmax(xs)
            if probs:
                ys = np.exp(rref.log_softmax(rng.standard_normal((n, c))))
                yb = to_mx(ys)
            else:
                yb = mx.array(rng.integers(0, c, (n,)))
            xb = to_mx(xs)
            np.testing.assert_allclose(f(xb, yb), fn(xb, yb, **kw), rtol=1e-6, atol=1e-6,
                                       err_msg=f"{kw}, {n}x{c}")
            np.testing.assert_allclose(g(xb, yb), mx.grad(lambda a, b: mx.sum(fn(a, b, **kw)))(xb, yb),
                                       rtol=1e-6, atol=1e-7)


CONTRASTIVE = {
    "info_nce_loss": rref.info_nce,
    "nt_xent_loss": rref.nt_xent,
    "clip_loss": rref.clip,
}


@pytest.mark.parametrize("name", list(CONTRASTIVE))
def test_contrastive_random_draws_and_shapeless_compile(name):
    rng = _rng(name)
    fn, ref = getattr(mfl, name), CONTRASTIVE[name]
    f = mx.compile(fn, shapeless=True)
    vg = mx.compile(mx.value_and_grad(fn, argnums=[0, 1]), shapeless=True)
    for n in (1, 4, 2, 9):
        # (no D = 1 after a larger D: stock MLX's shapeless compile crashes when
        # an axis becomes 1, e.g. on x / norm(x), with or without this package)
        d = int(rng.choice([3, 8]))
        a, b = (rng.standard_normal((n, d)) for _ in range(2))
        am, bm = to_mx(a, mx.float64), to_mx(b, mx.float64)
        assert fn(am, bm).item() == pytest.approx(ref(a, b), rel=1e-10)
        if n * d <= 12:
            ga = mx.grad(fn, argnums=[0, 1])(am, bm)
            for i in (0, 1):
                num = numeric_grad(lambda p, q: float(ref(p, q)), [a, b], i)
                np.testing.assert_allclose(np.array(ga[i]), num, rtol=1e-5, atol=1e-6)
        if n == 1:
            # Stock MLX 0.32.4's shapeless compile crashes (double free) when an
            # axis becomes 1 on e.g. mx.max(a @ a.T, -1, keepdims=True), with
            # or without this package: N = 1 is checked eagerly only.
            continue
        a32, b32 = to_mx(a), to_mx(b)
        assert f(a32, b32).item() == pytest.approx(ref(to_np(a32), to_np(b32)), rel=1e-5, abs=1e-6)
        if name == "nt_xent_loss":  # (see test_reliability: MLX's Slice)
            continue
        value, grads = vg(a32, b32)
        assert value.item() == pytest.approx(fn(a32, b32).item(), rel=1e-6)
        eager = mx.grad(fn, argnums=[0, 1])(a32, b32)
        for gc, ge in zip(grads, eager):
            np.testing.assert_allclose(gc, ge, rtol=1e-5, atol=1e-6)


def test_the_draws_cover_the_edge_shapes():
    # The generator does produce size-0, size-1 and multi-axis shapes.
    rng = _rng("coverage")
    shapes = [_shape(rng) for _ in range(200)]
    assert any(0 in s for s in shapes) and any(s == () for s in shapes)
    assert any(1 in s for s in shapes) and any(len(s) == 3 and 0 not in s for s in shapes)


# ----------------------------------------------------------------- row distance

import row_distance_reference as dref  # noqa: E402

DISTANCE_LOSSES = list(dref.REFERENCES)
_DISTANCE_VECTORS = {"cosine_similarity_loss": 2, "triplet_loss": 3, "contrastive_loss": 2,
                     "cosine_embedding_loss": 2}
_DISTANCE_TOL = {mx.float64: (1e-10, 1e-12), mx.float32: (2e-6, 1e-6),
                 mx.float16: (2**-11 * 1.01, 1e-6), mx.bfloat16: (2**-8 * 1.01, 1e-6)}


def _distance_problem(rng, name, dims=(0, 1, 2, 3, 7), rows_dims=(0, 1, 2, 3, 4)):
    """(operands in float64, keyword arguments) of one random draw: any rank,
    vector axis and length (0 included), parameters at their bounds (p = 1,
    eps = 0, margins of either sign), soft contrastive labels."""
    rows = _shape(rng, 0, 2, rows_dims)
    # (the losses with targets refuse vectors of length 0)
    d = int(rng.choice([v for v in dims if v or name not in ("contrastive_loss", "cosine_embedding_loss")]))
    ndim = len(rows) + 1
    axis = int(rng.integers(-ndim, ndim))
    pos = axis % ndim
    shape = rows[:pos] + (d,) + rows[pos:]
    kw = {"axis": axis, "reduction": str(rng.choice(["none", "mean", "sum"]))}
    if name in ("triplet_loss", "contrastive_loss"):
        kw["p"] = float(rng.choice([1.0, 1.25, 2.0, 3.0, 6.5]))
        kw["eps"] = float(rng.choice([0.0, 1e-6, 0.1]))
        kw["margin"] = float(rng.choice([0.0, 0.5, 1.0, 2.5, -0.5]))
        if name == "triplet_loss":
            kw["swap"] = bool(rng.random() < 0.5)
    else:
        kw["eps"] = float(rng.choice([0.0, 1e-8, 0.5]))
        if name == "cosine_embedding_loss":
            kw["margin"] = float(rng.choice([-1.0, 0.0, 0.3, 1.0]))
    soft = name == "contrastive_loss" and rng.random() < 0.5
    ops = dref.sample(rng, name, shape, axis, soft=soft, **{k: v for k, v in kw.items() if k in ("p", "margin")})
    n = _DISTANCE_VECTORS[name]
    if ops[0].ndim >= 2 and rng.random() < 0.3:
        # one vector operand broadcast from a size-1 leading axis
        k = int(rng.integers(1, n))
        ops[k] = ops[k][:1]
    if n < len(ops) and ops[-1].ndim >= 1 and rng.random() < 0.3:
        ops[-1] = ops[-1][..., :1]  # targets broadcast along the last row axis
    return ops, kw


def _distance_arrays(rng, name, ops, dtype):
    """The operands as mx arrays in random layouts (the vectors in ``dtype``, the
    targets in float32 / float64), and the float64 values they hold."""
    n = _DISTANCE_VECTORS[name]
    arrays = [_laid_out(rng, o, dtype if i < n else (mx.float64 if dtype == mx.float64 else mx.float32))
              for i, o in enumerate(ops)]
    return arrays, [to_np(a) for a in arrays]


@pytest.mark.parametrize("name", DISTANCE_LOSSES)
def test_distance_random_draws(name):
    rng = _rng(name)
    fn = getattr(mfl, name)
    failures = []  # every failing draw, not only the first
    for draw in range(3 * DRAWS):
        ops, kw = _distance_problem(rng, name)
        dtype = [mx.float32, mx.float64, mx.float16, mx.bfloat16][rng.integers(4)]
        arrays, values = _distance_arrays(rng, name, ops, dtype)
        got = fn(*arrays, **kw)
        with np.errstate(all="ignore"):
            expected = dref.REFERENCES[name](*values, **kw)
            scale = dref.value_scale(name, values, **{k: v for k, v in kw.items() if k != "reduction"})
        where = f"draw {draw}: {[np.shape(v) for v in values]}, {dtype}, {kw}"
        assert got.shape == np.shape(expected), where
        assert got.dtype == dtype, where
        rtol, atol = _DISTANCE_TOL[dtype]
        if kw["reduction"] != "none":
            scale = np.sum(scale) / (max(scale.size, 1) if kw["reduction"] == "mean" else 1) * 4
        got = to_np(got)
        bound = np.broadcast_to(rtol * np.abs(expected) + atol * np.nan_to_num(scale), np.shape(expected))
        with np.errstate(invalid="ignore"):
            bad = (np.isnan(got) != np.isnan(expected)) | (np.abs(got - expected) > bound)
        if np.any(bad):
            failures.append(f"{where}: got {got[bad]}, expected {np.asarray(expected)[bad]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", DISTANCE_LOSSES)
def test_distance_random_gradients_float64(name):
    rng = _rng("grad" + name)
    fn = getattr(mfl, name)
    n = _DISTANCE_VECTORS[name]
    k = n + (name == "contrastive_loss")
    done = 0
    while done < 6:
        ops, kw = _distance_problem(rng, name, dims=(1, 2, 3, 5), rows_dims=(1, 2, 3))
        if ops[0].size > 30 or kw["reduction"] == "none":
            continue
        params = {a: b for a, b in kw.items() if a != "reduction"}
        with np.errstate(all="ignore"):
            if (not np.isfinite(dref.REFERENCES[name](*ops, **kw))
                    or dref.kink_distance(name, ops, **params) < 1e-4):
                continue
        done += 1
        arrays = [_laid_out(rng, o, mx.float64) for o in ops]
        values = [to_np(a) for a in arrays]
        grads = mx.grad(lambda *a: fn(*a, **kw), argnums=list(range(k)))(*arrays)
        for i in range(k):
            num = numeric_grad(lambda *a: float(dref.REFERENCES[name](*a, **kw)), values, i)
            np.testing.assert_allclose(np.array(grads[i]), num, rtol=1e-5, atol=1e-6,
                                       err_msg=f"d/d operand {i}: {[v.shape for v in values]}, {kw}")


@pytest.mark.parametrize("name", DISTANCE_LOSSES)
def test_distance_shapeless_compile(name):
    rng = _rng("compile" + name)
    fn = getattr(mfl, name)
    n = _DISTANCE_VECTORS[name]
    k = n + (name == "contrastive_loss")
    for variant in range(3):
        _, kw = _distance_problem(rng, name)
        kw = dict(kw, axis=-1)
        params = {a: b for a, b in kw.items() if a not in ("axis", "reduction")}
        f = mx.compile(lambda *a: fn(*a, **kw), shapeless=True)
        g = mx.compile(mx.grad(lambda *a: mx.sum(fn(*a, **kw)), argnums=list(range(k))), shapeless=True)
        d = int(rng.choice([3, 6]))  # (no vector length changing to 1: see the contrastive test)
        for rows in (4, 2, 7, 3):
            ops = [to_mx(o) for o in dref.sample(rng, name, (rows, d), -1, **params)]
            np.testing.assert_allclose(f(*ops), fn(*ops, **kw), rtol=1e-6, atol=1e-6,
                                       err_msg=f"{kw}, {rows}x{d}")
            eager = mx.grad(lambda *a: mx.sum(fn(*a, **kw)), argnums=list(range(k)))(*ops)
            for gc, ge in zip(g(*ops), eager):
                np.testing.assert_allclose(gc, ge, rtol=1e-6, atol=1e-7)
