"""The row-distance losses against PyTorch (skipped without torch): values and
gradients of F.cosine_similarity, F.triplet_margin_loss (with and without the
distance swap, any p) and F.cosine_embedding_loss, in float64 and float32."""

import itertools

import mlx.core as mx
import numpy as np
import pytest

import mlx_fused_losses as mfl
import row_distance_reference as ref

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch


def f64(a):
    return mx.array(np.asarray(a, np.float64), dtype=mx.float64)


def _torch_value_and_grads(f, arrays, dtype=torch.float64):
    leaves = [torch.tensor(np.asarray(a), dtype=dtype, requires_grad=True) for a in arrays]
    out = f(*leaves)
    # a fixed non-uniform cotangent for 'none', so every row's gradient counts
    cot = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * cot).sum().backward()
    return out.detach().numpy(), [leaf.grad.numpy() for leaf in leaves]


def _mx_value_and_grads(f, arrays, dtype=mx.float64):
    xs = [mx.array(np.asarray(a, np.float64), dtype=dtype) for a in arrays]
    out = f(*xs)
    cot = mx.array(np.linspace(0.5, 1.5, out.size).reshape(out.shape), dtype=dtype)
    grads = mx.grad(lambda *a: mx.sum(f(*a) * cot), list(range(len(xs))))(*xs)
    return np.array(out.astype(mx.float64)), [np.array(g.astype(mx.float64)) for g in grads]


def _compare(mf, tf, arrays, rtol, atol, dtype="float64"):
    got, got_g = _mx_value_and_grads(mf, arrays, mx.float64 if dtype == "float64" else mx.float32)
    want, want_g = _torch_value_and_grads(tf, arrays, torch.float64 if dtype == "float64" else torch.float32)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    for i, (g, h) in enumerate(zip(got_g, want_g)):
        np.testing.assert_allclose(g, h, rtol=rtol, atol=atol, err_msg=f"d/d operand {i}")


# ----------------------------------------------------------- cosine similarity


@pytest.mark.parametrize("shape,axis", [((7, 5), 1), ((7, 5), 0), ((3, 4, 6), 1), ((3, 4, 6), -1), ((4, 300), 1)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cosine_similarity(shape, axis, reduction, rng):
    # (PyTorch clamps each norm at eps, MLX their product: away from 0 they agree)
    x1, x2 = ref.sample(rng, "cosine_similarity_loss", shape, axis)
    red = {"none": lambda v: v, "mean": torch.mean, "sum": torch.sum}[reduction]
    _compare(lambda a, b: mfl.cosine_similarity_loss(a, b, axis=axis, reduction=reduction),
             lambda a, b: red(F.cosine_similarity(a, b, dim=axis)), [x1, x2], rtol=1e-12, atol=1e-14)


def test_cosine_similarity_broadcast(rng):
    x1, x2 = rng.standard_normal((6, 5)), rng.standard_normal((1, 5))
    _compare(lambda a, b: mfl.cosine_similarity_loss(a, b, axis=1),
             lambda a, b: F.cosine_similarity(a, b, dim=1), [x1, x2], rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- triplet loss

TRIPLET = list(itertools.product([1, 2, 3, 1.5], [False, True], ["none", "mean", "sum"]))


@pytest.mark.parametrize("p,swap,reduction", TRIPLET)
def test_triplet_at_eps_zero_is_pytorchs(p, swap, reduction, rng):
    # At eps = 0 both distances are |x - y|_p: the same loss exactly-ish.
    a, pos, neg = ref.sample(rng, "triplet_loss", (20, 6), p=p, margin=0.7)
    mf = lambda x, y, z: mfl.triplet_loss(x, y, z, p=p, margin=0.7, eps=0.0, swap=swap, reduction=reduction)  # noqa
    tf = lambda x, y, z: F.triplet_margin_loss(x, y, z, margin=0.7, p=p, eps=0.0, swap=swap,  # noqa
                                               reduction=reduction)
    _compare(mf, tf, [a, pos, neg], rtol=1e-11, atol=1e-13)
    _compare(mf, tf, [a, pos, neg], rtol=1e-5, atol=1e-6, dtype="float32")


@pytest.mark.parametrize("p,swap,reduction", TRIPLET)
def test_triplet_at_default_eps_is_within_1e5_of_pytorchs(p, swap, reduction, rng):
    # MLX adds eps under the root, PyTorch to the difference: for distances
    # and differences not near 0 (rows chosen so), about 1e-6 apart.
    a, pos, neg = ref.sample(rng, "triplet_loss", (200, 6), p=p)
    dists = [ref.distance(x, y, p, 0.0) for x, y in ((a, pos), (a, neg), (pos, neg))]
    z = dists[0] - (np.minimum(dists[1], dists[2]) if swap else dists[1]) + 1.0
    keep = (np.min(dists, 0) > 0.5) & (np.abs(z) > 1e-3) & (np.abs(dists[1] - dists[2]) > 1e-3)
    keep &= np.all([np.min(np.abs(e), -1) > 1e-2 for e in (a - pos, a - neg, pos - neg)], 0)
    a, pos, neg = a[keep][:20], pos[keep][:20], neg[keep][:20]
    assert len(a) == 20
    mf = lambda x, y, z: mfl.triplet_loss(x, y, z, p=p, swap=swap, reduction=reduction)  # noqa
    tf = lambda x, y, z: F.triplet_margin_loss(x, y, z, p=p, swap=swap, reduction=reduction)  # noqa
    got, got_g = _mx_value_and_grads(mf, [a, pos, neg])
    want, want_g = _torch_value_and_grads(tf, [a, pos, neg])
    rows = 20 if reduction == "sum" else 1
    np.testing.assert_allclose(got, want, atol=1e-5 * rows)
    assert np.max(np.abs(got - want)) > 0  # (the eps placements do differ)
    for g, h in zip(got_g, want_g):
        np.testing.assert_allclose(g, h, atol=1e-5)


def test_triplet_vector_axis_and_broadcast(rng):
    # PyTorch's distances are along the last dim: transpose ours in.
    a, pos, neg = ref.sample(rng, "triplet_loss", (5, 4, 3), 1)
    mf = lambda x, y, z: mfl.triplet_loss(x, y, z, axis=1, eps=0.0, swap=True)  # noqa
    tf = lambda x, y, z: F.triplet_margin_loss(*(v.transpose(1, 2) for v in (x, y, z)), eps=0.0, swap=True,  # noqa
                                               reduction="none")
    _compare(mf, tf, [a, pos, neg], rtol=1e-11, atol=1e-13)
    # one negative for every anchor
    a, pos, neg = ref.sample(rng, "triplet_loss", (6, 5))
    _compare(lambda x, y, z: mfl.triplet_loss(x, y, z, eps=0.0),
             lambda x, y, z: F.triplet_margin_loss(x, y, z, eps=0.0, reduction="none"), [a, pos, neg[:1]],
             rtol=1e-11, atol=1e-13)


def test_triplet_swap_tie_splits_like_torch_min():
    # d(a, n) = d(p, n) = sqrt(10): torch.min sends half the gradient to each.
    a, p, n = np.array([[0.0, 0.0]]), np.array([[2.0, 0.0]]), np.array([[1.0, 3.0]])
    for margin in (5.0, 3.0):
        _compare(lambda x, y, z: mfl.triplet_loss(x, y, z, margin=margin, eps=0.0, swap=True),
                 lambda x, y, z: F.triplet_margin_loss(x, y, z, margin=margin, eps=0.0, swap=True,
                                                       reduction="none"), [a, p, n], rtol=1e-13, atol=1e-15)


# ------------------------------------------------------- cosine embedding loss


@pytest.mark.parametrize("margin", [0.0, 0.3, -0.4])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cosine_embedding(margin, reduction, rng):
    # PyTorch adds 1e-12 to the squared norms: 1e-12 / |x|^2 apart.
    x1, x2, t = ref.sample(rng, "cosine_embedding_loss", (30, 7))
    got, got_g = _mx_value_and_grads(
        lambda a, b: mfl.cosine_embedding_loss(a, b, f64(t), margin=margin, reduction=reduction), [x1, x2])
    want, want_g = _torch_value_and_grads(
        lambda a, b: F.cosine_embedding_loss(a, b, torch.tensor(t), margin=margin, reduction=reduction), [x1, x2])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-11)
    for g, h in zip(got_g, want_g):
        np.testing.assert_allclose(g, h, rtol=1e-9, atol=1e-11)


def test_cosine_embedding_float32(rng):
    x1, x2, t = ref.sample(rng, "cosine_embedding_loss", (30, 7))
    got, got_g = _mx_value_and_grads(lambda a, b: mfl.cosine_embedding_loss(a, b, mx.array(t), margin=0.2,
                                                                            reduction="sum"),
                                     [x1, x2], mx.float32)
    want, want_g = _torch_value_and_grads(lambda a, b: F.cosine_embedding_loss(
        a, b, torch.tensor(t, dtype=torch.float32), margin=0.2, reduction="sum"), [x1, x2], torch.float32)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for g, h in zip(got_g, want_g):
        np.testing.assert_allclose(g, h, rtol=1e-4, atol=1e-6)


def test_cosine_embedding_invalid_targets_nan_where_torch_gives_zero(rng):
    x1, x2, _ = ref.sample(rng, "cosine_embedding_loss", (4, 3))
    t = np.array([1.0, 0.0, -1.0, 2.0])
    ours = np.array(mfl.cosine_embedding_loss(f64(x1), f64(x2), f64(t), reduction="none"))
    theirs = F.cosine_embedding_loss(torch.tensor(x1), torch.tensor(x2), torch.tensor(t), reduction="none").numpy()
    np.testing.assert_array_equal(theirs[[1, 3]], 0.0)
    assert np.isnan(ours[[1, 3]]).all()
    np.testing.assert_allclose(ours[[0, 2]], theirs[[0, 2]], rtol=1e-10, atol=1e-12)


# ------------------------------------------------- contrastive loss (written in torch)


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("soft", [False, True])
def test_contrastive_written_with_torch_ops(p, soft, rng):
    # No torch built-in: its definition in torch ops, targets differentiable too.
    x1, x2, t = ref.sample(rng, "contrastive_loss", (25, 5), p=p, margin=1.5, soft=soft)

    def torch_loss(a, b, y):
        d = ((a - b).abs() ** p).sum(-1).add(1e-6) ** (1.0 / p)
        return y * d**2 + (1 - y) * (1.5 - d).clamp_min(0) ** 2

    _compare(lambda a, b, y: mfl.contrastive_loss(a, b, y, margin=1.5, p=p, reduction="none"), torch_loss,
             [x1, x2, t], rtol=1e-11, atol=1e-13)
