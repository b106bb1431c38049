"""The float64 references of the row-distance losses hold to hand-computed
values, and their analytic gradients to central differences of the values
(so the tests of the package can trust both)."""

import numpy as np
import pytest

import row_distance_reference as ref
from reference import numeric_grad

PARAMS = {
    "cosine_similarity_loss": [{}, {"eps": 0.3}],
    "triplet_loss": [{}, {"p": 1}, {"p": 3}, {"p": 1.5, "margin": 0.4}, {"swap": True},
                     {"swap": True, "p": 1.5, "eps": 0.1}],
    "contrastive_loss": [{}, {"margin": 2.0, "p": 3}, {"p": 1, "margin": 0.5}, {"soft": True}],
    "cosine_embedding_loss": [{}, {"margin": 0.3}, {"margin": -0.4}],
}
CASES = [(n, p) for n, ps in PARAMS.items() for p in ps]


def _id(case):
    return case[0] + "".join(f"-{k}{v}" for k, v in case[1].items())


def test_hand_computed_values():
    # MLX's own test_losses.py numbers.
    e1 = np.array([[0.5, 0.5, 0.2, 0.9], [0.1, 0.3, 0.5, 0.5]])
    e2 = np.array([[0.6, 0.4, 0.3, 0.8], [0.2, 0.5, 0.6, 0.4]])
    np.testing.assert_allclose(ref.cosine_similarity(e1, e2), [0.985344, 0.961074], atol=1e-6)
    a = np.array([[1, 2, 3], [1, 2, 3]])
    p = np.array([[4, 5, 6], [0, -1, 2]])
    n = np.array([[7, 8, 9], [3, 2, 3]])
    np.testing.assert_allclose(ref.triplet(a, p, n), [0, 2.31662], atol=1e-5)
    # 3-4-5 triangles: exact distances
    a, p, n = np.zeros((1, 2)), np.array([[3.0, 4.0]]), np.array([[6.0, 8.0]])
    assert ref.triplet(a, p, n, eps=0.0, margin=7.0)[0] == 2.0
    assert ref.triplet(a, p, n, eps=0.0, p=1, margin=7.0)[0] == 0.0  # 7 - 14 + 7
    assert ref.triplet(a, p, n, eps=0.0, margin=7.0, swap=True)[0] == 7.0  # d(p, n) = 5
    # contrastive: d = 5; similar: 25; dissimilar: (6 - 5)^2; soft 0.25
    assert ref.contrastive(a, p, [1.0], margin=6.0, eps=0.0, reduction="none")[0] == 25.0
    assert ref.contrastive(a, p, [0.0], margin=6.0, eps=0.0, reduction="none")[0] == 1.0
    assert ref.contrastive(a, p, [0.25], margin=6.0, eps=0.0, reduction="none")[0] == 0.25 * 25 + 0.75
    assert ref.contrastive(a, p, [0.0], margin=4.0, eps=0.0, reduction="none")[0] == 0.0
    # cosine embedding: cos = 0.6 between (1, 0) and (3, 4)
    u, v = np.array([[1.0, 0.0]] * 4), np.array([[3.0, 4.0]] * 4)
    got = ref.cosine_embedding(u, v, [1, -1, -1, 0], margin=0.5, reduction="none")
    np.testing.assert_allclose(got[:3], [0.4, 0.1, 0.1])
    assert np.isnan(got[3])
    # the clamp: a zero vector's cosine is 0, its gradient x2 / eps
    g1, g2 = ref.cosine_similarity_grads(np.zeros((1, 3)), np.array([[1.0, 2.0, 3.0]]), eps=1e-8)
    np.testing.assert_allclose(g1, [[1e8, 2e8, 3e8]])
    np.testing.assert_array_equal(g2, 0.0)


def test_reductions_and_broadcasting():
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((4, 5)), rng.standard_normal(5)
    full = ref.cosine_similarity(x1, np.broadcast_to(x2, (4, 5)), axis=-1)
    np.testing.assert_array_equal(ref.cosine_similarity(x1, x2, axis=-1), full)
    assert ref.cosine_similarity(x1, x2, axis=-1, reduction="sum") == np.sum(full)
    assert ref.cosine_similarity(x1, x2, axis=-1, reduction="mean") == np.sum(full) / 4
    assert np.isnan(ref.triplet(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3)), reduction="mean"))
    # the vector axis anywhere
    x = rng.standard_normal((3, 4, 5))
    y = rng.standard_normal((3, 4, 5))
    np.testing.assert_allclose(ref.triplet(x, y, -y, axis=1),
                               ref.triplet(np.swapaxes(x, 1, 2), np.swapaxes(y, 1, 2),
                                           -np.swapaxes(y, 1, 2), axis=2))
    with pytest.raises(ValueError):
        ref.contrastive(x1, x1, np.ones((2, 4)))  # targets may not extend the loss's shape
    # a broadcast gradient is the sum over the broadcast rows
    g1, g2 = ref.cosine_similarity_grads(x1, x2, axis=-1)
    _, g2_full = ref.cosine_similarity_grads(x1, np.broadcast_to(x2, (4, 5)).copy(), axis=-1)
    np.testing.assert_allclose(g2, g2_full.sum(0))


@pytest.mark.parametrize("case", CASES, ids=_id)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_analytic_gradients_match_finite_differences(case, reduction, axis, rng):
    name, params = case
    value, grads, args = ref.LOSSES[name]
    shape = (4, 3, 5)
    for _ in range(50):
        ops = ref.sample(rng, name, shape, axis, **params)
        if ref.kink_distance(name, ops, axis, **params) > 1e-3:
            break
    kw = {k: v for k, v in params.items() if k != "soft"}
    cot = rng.standard_normal(value(*ops, axis=axis, reduction="none", **kw).shape)
    cotangent = cot if reduction == "none" else None

    def f(*a):
        out = value(*a, axis=axis, reduction=reduction, **kw)
        return float(np.sum(out * cot)) if reduction == "none" else float(out)

    got = grads(*ops, axis=axis, reduction=reduction, cotangent=cotangent, **kw)
    assert len(got) == len(args)
    for i, g in enumerate(got):
        np.testing.assert_allclose(g, numeric_grad(f, ops, i), rtol=1e-6, atol=1e-7,
                                   err_msg=f"d/d {args[i]}")


def test_samples_cover_both_sides_of_every_hinge():
    rng = np.random.default_rng(1)
    a, p, n = ref.sample(rng, "triplet_loss", (400, 6))
    z = ref.triplet(a, p, n)
    assert 0.2 < np.mean(z > 0) < 0.9
    x1, x2, t = ref.sample(rng, "contrastive_loss", (400, 6), p=3, margin=2.0)
    d = ref.distance(x1, x2, 3, 1e-6)
    assert 0.2 < np.mean(d < 2.0) < 0.8 and set(np.unique(t)) == {0.0, 1.0}
    x1, x2, t = ref.sample(rng, "cosine_embedding_loss", (400, 6))
    cos = ref.cosine_similarity(x1, x2, axis=-1)
    assert 0.2 < np.mean(cos > 0) < 0.8 and set(np.unique(t)) == {-1.0, 1.0}
