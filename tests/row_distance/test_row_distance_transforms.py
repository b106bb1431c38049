"""The row-distance losses under MLX's transforms: mx.compile (shapeless too,
with row counts that change between calls), mx.vmap, mx.grad /
mx.value_and_grad, and inside an nn.Module training step."""

import mlx.core as mx
import mlx.nn as nn
import mlx.nn.losses as stock
import mlx.optimizers as optim
import numpy as np
import pytest
from mlx.utils import tree_flatten

import mlx_fused_losses as mfl
import row_distance_reference as ref

NAMES = list(ref.LOSSES)
VECTORS = {"cosine_similarity_loss": 2, "triplet_loss": 3, "contrastive_loss": 2,
           "cosine_embedding_loss": 2}
PARAMS = {"cosine_similarity_loss": {"eps": 1e-6}, "triplet_loss": {"p": 3, "swap": True, "margin": 0.5},
          "contrastive_loss": {"margin": 1.5}, "cosine_embedding_loss": {"margin": 0.2}}
TARGETS = ("contrastive_loss", "cosine_embedding_loss")


def to_mx(a, dtype=mx.float32):
    return mx.array(np.asarray(a, np.float64), dtype=dtype)


def to_np(a):
    return np.array(a.astype(mx.float64) if a.dtype != mx.float64 else a)


def n_grads(name):
    return VECTORS[name] + (name == "contrastive_loss")


def _grads(fn, arrays, argnums):
    g = mx.grad(fn, argnums=argnums)(*arrays)
    return list(g) if isinstance(g, (list, tuple)) else [g]


# --------------------------------------------------------------------- compile


@pytest.mark.parametrize("name", NAMES)
def test_compile_matches_eager(name, rng):
    fn = getattr(mfl, name)
    ops = [to_mx(o) for o in ref.sample(rng, name, (16, 9), -1, **PARAMS[name])]
    k = n_grads(name)

    def f(*a):
        return fn(*a, reduction="mean", **PARAMS[name]) + 0.5 * mx.sum(fn(*a, reduction="none", **PARAMS[name]))

    vg = mx.value_and_grad(f, list(range(k)))
    (v1, g1), (v2, g2) = vg(*ops), mx.compile(vg)(*ops)
    assert v1.item() == pytest.approx(v2.item(), rel=1e-6)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-8)
    want = ref.REFERENCES[name](*(to_np(o) for o in ops), reduction="mean", **PARAMS[name])
    assert v2.item() == pytest.approx(want * 9, rel=1e-5)  # mean + 0.5 * 16 * mean


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_shapeless_compile_follows_changing_row_counts(name, reduction, rng):
    fn = getattr(mfl, name)
    kw = dict(PARAMS[name], reduction=reduction)
    k = n_grads(name)
    f = mx.compile(lambda *a: fn(*a, **kw), shapeless=True)
    scalar = (lambda *a: mx.sum(fn(*a, **kw))) if reduction == "none" else (lambda *a: fn(*a, **kw))
    g = mx.compile(mx.grad(scalar, argnums=list(range(k))), shapeless=True)
    for n in (3, 7, 2, 5):
        ops = ref.sample(rng, name, (n, 6), -1, **PARAMS[name])
        arrays = [to_mx(o) for o in ops]
        got = f(*arrays)
        assert got.shape == ((n,) if reduction == "none" else ())
        want = ref.REFERENCES[name](*(to_np(a) for a in arrays), reduction=reduction, **PARAMS[name])
        np.testing.assert_allclose(to_np(got), want, rtol=1e-5, atol=1e-6, err_msg=f"n={n}")
        grads = g(*arrays)
        grads = list(grads) if isinstance(grads, (list, tuple)) else [grads]
        eager = _grads(scalar, arrays, list(range(k)))
        for a, b in zip(grads, eager):
            assert a.shape == b.shape
            np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6, atol=1e-7, err_msg=f"n={n}")


def test_shapeless_compile_with_a_broadcast_vector_and_changing_lengths(rng):
    f = mx.compile(lambda a, b, c: mfl.triplet_loss(a, b, c, reduction="sum"), shapeless=True)
    g = mx.compile(mx.grad(lambda a, b, c: mfl.triplet_loss(a, b, c, reduction="sum"), [0, 1, 2]), shapeless=True)
    for n, d in ((4, 5), (9, 5), (3, 8), (6, 3)):
        a, p, q = ref.sample(rng, "triplet_loss", (n, d))
        ops = [to_mx(a), to_mx(p[0]), to_mx(q)]  # the positives one (D,) vector
        vals = [to_np(o) for o in ops]
        assert f(*ops).item() == pytest.approx(ref.triplet(*vals, reduction="sum"), rel=1e-5)
        for got, want in zip(g(*ops), ref.triplet_grads(*vals, reduction="sum")):
            assert got.shape == want.shape
            np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-6)


def test_shapeless_compile_refuses_targets_that_no_longer_fit():
    f = mx.compile(lambda a, b, t: mfl.contrastive_loss(a, b, t), shapeless=True)
    mx.eval(f(mx.ones((3, 4)), mx.zeros((3, 4)), mx.ones((3,))))
    with pytest.raises(ValueError):
        mx.eval(f(mx.ones((5, 4)), mx.zeros((5, 4)), mx.ones((3,))))


# ------------------------------------------------------------------------ vmap


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_a_batch_axis_is_the_loop(name, rng):
    fn = getattr(mfl, name)
    n = VECTORS[name]
    B, N, D = 4, 5, 6
    # vectors (N, B, D) mapped on axis 1, the vector axis -1 inside
    vs = [to_mx(v) for v in ref.sample(rng, name, (N, B, D), -1, **PARAMS[name])[:n]]
    ts = [to_mx(rng.choice([-1.0, 1.0], (B, N)) if name == "cosine_embedding_loss" else rng.uniform(0, 1, (B, N)))] \
        if name in TARGETS else []

    def f(*a):
        return fn(*a, reduction="mean", **PARAMS[name])

    in_axes = (1,) * n + (0,) * len(ts)
    got = mx.vmap(f, in_axes=in_axes)(*vs, *ts)
    want = mx.stack([f(*[v[:, b] for v in vs], *[t[b] for t in ts]) for b in range(B)])
    assert got.shape == (B,)
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-6, atol=1e-7)
    # 'none' inside: a (B, N) result
    g = lambda *a: fn(*a, reduction="none", **PARAMS[name])  # noqa: E731
    got = mx.vmap(g, in_axes=in_axes)(*vs, *ts)
    want = mx.stack([g(*[v[:, b] for v in vs], *[t[b] for t in ts]) for b in range(B)])
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-6, atol=1e-7)
    # one vector shared by every batch (unmapped), and the gradient under vmap
    in_axes = (1, None) + (1,) * (n - 2) + (0,) * len(ts)
    shared = [vs[0], vs[1][:, 0]] + vs[2:]
    got = mx.vmap(f, in_axes=in_axes)(*shared, *ts)
    want = mx.stack([f(vs[0][:, b], vs[1][:, 0], *[v[:, b] for v in vs[2:]], *[t[b] for t in ts])
                     for b in range(B)])
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-6, atol=1e-7)
    k = n_grads(name)
    grad = mx.grad(f, argnums=list(range(k)))
    got = mx.vmap(grad, in_axes=(1,) * n + (0,) * len(ts), out_axes=tuple([1] * n + [0] * (k - n)))(*vs, *ts)
    for b in range(B):
        want = grad(*[v[:, b] for v in vs], *[t[b] for t in ts])
        for i, (gg, ww) in enumerate(zip(got, want)):
            sl = gg[:, b] if i < n else gg[b]
            np.testing.assert_allclose(np.array(sl), np.array(ww), rtol=1e-5, atol=1e-7, err_msg=f"{b} {i}")


def test_vmap_with_the_vector_axis_first_and_mapped_targets(rng):
    x1, x2, _ = ref.sample(rng, "contrastive_loss", (6, 5, 3), 0)  # vectors along axis 0
    t = rng.uniform(0, 1, (3, 5))  # mapped on axis 0, against the vectors' axis 2
    f = lambda a, b, y: mfl.contrastive_loss(a, b, y, axis=0, reduction="none")  # noqa: E731
    got = mx.vmap(f, in_axes=(2, 2, 0))(to_mx(x1), to_mx(x2), to_mx(t))
    want = np.stack([ref.contrastive(x1[:, :, b], x2[:, :, b], t[b], axis=0, reduction="none") for b in range(3)])
    np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-6)
    # unmapped vectors, mapped targets
    got = mx.vmap(f, in_axes=(None, None, 0))(to_mx(x1[:, :, 0]), to_mx(x2[:, :, 0]), to_mx(t))
    want = np.stack([ref.contrastive(x1[:, :, 0], x2[:, :, 0], t[b], axis=0, reduction="none") for b in range(3)])
    np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-6)
    # and the targets' gradient under vmap
    gt = mx.vmap(mx.grad(lambda y, a, b: mfl.contrastive_loss(a, b, y, axis=0, reduction="sum")),
                 in_axes=(0, 2, 2))(to_mx(t), to_mx(x1), to_mx(x2))
    want = np.stack([ref.contrastive_grads(x1[:, :, b], x2[:, :, b], t[b], axis=0, reduction="sum")[2]
                     for b in range(3)])
    np.testing.assert_allclose(np.array(gt), want, rtol=1e-5, atol=1e-6)


def test_nested_vmap(rng):
    a, p, n = (to_mx(v) for v in ref.sample(rng, "triplet_loss", (3, 4, 5, 6)))
    f = lambda x, y, z: mfl.triplet_loss(x, y, z, reduction="sum", swap=True)  # noqa: E731
    got = mx.vmap(mx.vmap(f))(a, p, n)
    want = ref.triplet(*(to_np(v) for v in (a, p, n)), swap=True).sum(-1)
    np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------- grad, value_and_grad


def test_value_and_grad_argnums(rng):
    x1, x2, t = (to_mx(v, mx.float64) for v in ref.sample(rng, "contrastive_loss", (5, 4), soft=True))
    f = lambda a, b, c: mfl.contrastive_loss(a, b, c, margin=2.0)  # noqa: E731
    want = ref.contrastive_grads(*(np.array(v) for v in (x1, x2, t)), margin=2.0)
    for argnums in (0, 1, 2, [0, 2], [1, 2], [0, 1, 2]):
        v, g = mx.value_and_grad(f, argnums)(x1, x2, t)
        assert v.item() == pytest.approx(ref.contrastive(np.array(x1), np.array(x2), np.array(t), margin=2.0),
                                         rel=1e-12)
        idx = [argnums] if isinstance(argnums, int) else argnums
        g = [g] if isinstance(argnums, int) else g
        for i, gi in zip(idx, g):
            np.testing.assert_allclose(np.array(gi), want[i], rtol=1e-10, atol=1e-12)


def test_second_order_through_the_loss_is_refused_or_right(rng):
    # The loss of a function of the parameters, differentiated twice through a
    # linear map: whatever the primitive supports must be correct, or raise.
    x1, x2 = (to_mx(v, mx.float64) for v in ref.sample(rng, "cosine_similarity_loss", (3, 4), -1))

    def inner(s):
        return mx.grad(lambda w: mfl.cosine_similarity_loss(x1 * w, x2, axis=-1, reduction="sum"))(s)

    s = mx.array(1.5, mx.float64)
    try:
        got = mx.grad(inner)(s).item()
    except (ValueError, RuntimeError):
        return
    # cos(x1 w, x2) does not depend on w > 0: both derivatives are 0
    assert abs(inner(s).item()) < 1e-12 and abs(got) < 1e-12


# --------------------------------------------------------------- nn.Module step


def _mx_contrastive(x1, x2, t, margin=1.0):
    d = mx.sqrt(mx.sum(mx.square(x1 - x2), -1) + 1e-6)
    return mx.mean(t * d**2 + (1 - t) * mx.maximum(margin - d, 0) ** 2)


def _mx_cosine_embedding(x1, x2, t, margin=0.0):
    cos = stock.cosine_similarity_loss(x1, x2, axis=-1)
    return mx.mean(mx.where(t == 1, 1 - cos, mx.maximum(cos - margin, 0)))


class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 16)
        self.l2 = nn.Linear(16, 4)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


LOSS_PAIRS = {
    "triplet_loss": (lambda m, a, p, n, t: mfl.triplet_loss(m(a), m(p), m(n), reduction="mean", margin=0.5),
                     lambda m, a, p, n, t: stock.triplet_loss(m(a), m(p), m(n), reduction="mean", margin=0.5)),
    "cosine_similarity_loss": (lambda m, a, p, n, t: -mfl.cosine_similarity_loss(m(a), m(p), reduction="mean"),
                               lambda m, a, p, n, t: -stock.cosine_similarity_loss(m(a), m(p), reduction="mean")),
    "contrastive_loss": (lambda m, a, p, n, t: mfl.contrastive_loss(m(a), m(p), t, margin=2.0),
                         lambda m, a, p, n, t: _mx_contrastive(m(a), m(p), t, margin=2.0)),
    "cosine_embedding_loss": (lambda m, a, p, n, t: mfl.cosine_embedding_loss(m(a), m(n), 2 * t - 1, margin=0.1),
                              lambda m, a, p, n, t: _mx_cosine_embedding(m(a), m(n), 2 * t - 1, margin=0.1)),
}


@pytest.mark.parametrize("name", list(LOSS_PAIRS))
def test_nn_module_training_step(name, rng):
    mx.random.seed(3)
    model = Embed()
    fused, composed = LOSS_PAIRS[name]
    a, p, n = (to_mx(rng.standard_normal((32, 6))) for _ in range(3))
    t = to_mx(rng.integers(0, 2, 32))
    v1, g1 = nn.value_and_grad(model, fused)(model, a, p, n, t)
    v2, g2 = nn.value_and_grad(model, composed)(model, a, p, n, t)
    assert v1.item() == pytest.approx(v2.item(), rel=1e-5, abs=1e-6)
    for (k1, x), (k2, y) in zip(tree_flatten(g1), tree_flatten(g2)):
        assert k1 == k2
        np.testing.assert_allclose(np.array(x), np.array(y), rtol=1e-4, atol=1e-6, err_msg=k1)
    # a compiled optimizer step, with the state threaded through
    opt = optim.SGD(learning_rate=0.05)
    state = [model.state, opt.state]
    loss_and_grad = nn.value_and_grad(model, fused)

    def step(a, p, n, t):
        loss, grads = loss_and_grad(model, a, p, n, t)
        opt.update(model, grads)
        return loss

    step = mx.compile(step, inputs=state, outputs=state)
    losses = []
    for _ in range(20):
        losses.append(step(a, p, n, t).item())
        mx.eval(state)
    assert losses[-1] < losses[0]


def test_compile_keeps_differently_parameterised_losses_apart(rng):
    # One graph holding the same loss with each parameter changed: none may be
    # merged with another (common-subexpression elimination compares them).
    a, p, n = (to_mx(v) for v in ref.sample(rng, "triplet_loss", (6, 5)))
    variants = [{}, {"p": 3}, {"margin": 0.5}, {"eps": 0.1}, {"swap": True}, {"p": 1}]

    def f(x, y, z):
        return [mfl.triplet_loss(x, y, z, reduction="sum", **kw) for kw in variants] + [
            mfl.triplet_loss(x.T, y.T, z.T, axis=0, reduction="sum"),
            mfl.contrastive_loss(x, y, mx.ones(6), reduction="sum"),
            mfl.contrastive_loss(x, y, mx.ones(6), reduction="sum", margin=3.0),
            mfl.cosine_embedding_loss(x, y, mx.ones(6), reduction="sum"),
            mfl.cosine_embedding_loss(x, y, -mx.ones(6), reduction="sum", margin=-0.5),
            mfl.cosine_similarity_loss(x, y, axis=-1, reduction="sum"),
            mfl.cosine_similarity_loss(x, y, axis=-1, reduction="sum", eps=100.0),
        ]

    eager, compiled = f(a, p, n), mx.compile(f)(a, p, n)
    assert len({round(v.item(), 5) for v in eager}) >= 10  # (most differ: a merge would show)
    for e, c in zip(eager, compiled):
        assert e.item() == pytest.approx(c.item(), rel=1e-6)
    # and their gradients, each with respect to a different operand
    g = mx.compile(mx.grad(lambda x, y, z: sum(f(x, y, z)), argnums=[0, 1, 2]))(a, p, n)
    h = mx.grad(lambda x, y, z: sum(f(x, y, z)), argnums=[0, 1, 2])(a, p, n)
    for u, v in zip(g, h):
        np.testing.assert_allclose(np.array(u), np.array(v), rtol=1e-5, atol=1e-7)


def test_gradients_of_some_operands_equal_those_of_all(rng):
    a, p, n = (to_mx(v, mx.float64) for v in ref.sample(rng, "triplet_loss", (5, 4)))
    f = lambda x, y, z: mfl.triplet_loss(x, y, z, swap=True, reduction="sum")  # noqa: E731
    full = mx.grad(f, argnums=[0, 1, 2])(a, p, n)
    for argnums in ([0], [1], [2], [0, 2], [1, 2]):
        part = _grads(f, [a, p, n], argnums)
        for i, g in zip(argnums, part):
            np.testing.assert_array_equal(np.array(g), np.array(full[i]))
