"""A tiny metric-learning run: an embedding of two Gaussian clusters, trained
with triplet_loss / contrastive_loss / cosine_embedding_loss and an optimizer
from mlx.optimizers, separates them (the loss drops far, nearest-centroid
accuracy on held-out points is ~1)."""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest

import mlx_fused_losses as mfl

DIM, EMBED = 10, 3


def _clusters(rng, n):
    """Two Gaussian clusters in 10-D whose means (+-2 on two axes: 5.7 standard
    deviations apart, a Bayes accuracy of 0.998) differ along those axes only,
    hidden among the other eight, which have three times the noise."""
    mean = np.zeros(DIM)
    mean[:2] = 2.0
    labels = rng.integers(0, 2, n)
    noise = rng.standard_normal((n, DIM)) * np.where(np.arange(DIM) < 2, 1.0, 3.0)
    x = noise + np.where(labels[:, None] == 1, mean, -mean)
    return mx.array(x.astype(np.float32)), labels


class Embedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(DIM, 32)
        self.out = nn.Linear(32, EMBED)

    def __call__(self, x):
        return self.out(nn.gelu(self.hidden(x)))


def _triplets(rng, x, labels, n):
    same = [np.flatnonzero(labels == c) for c in (0, 1)]
    c = rng.integers(0, 2, n)
    a = np.array([rng.choice(same[k]) for k in c])
    p = np.array([rng.choice(same[k]) for k in c])
    q = np.array([rng.choice(same[1 - k]) for k in c])
    return x[mx.array(a)], x[mx.array(p)], x[mx.array(q)]


def _pairs(rng, x, labels, n):
    i, j = rng.integers(0, len(labels), n), rng.integers(0, len(labels), n)
    return x[mx.array(i)], x[mx.array(j)], mx.array((labels[i] == labels[j]).astype(np.float32))


def _nearest_centroid_accuracy(model, x_train, y_train, x_test, y_test):
    e_train, e_test = np.array(model(x_train)), np.array(model(x_test))
    centroids = np.stack([e_train[y_train == c].mean(0) for c in (0, 1)])
    d = np.linalg.norm(e_test[:, None, :] - centroids[None], axis=-1)
    return np.mean(np.argmin(d, 1) == y_test)


LOSSES = {
    "triplet": lambda m, b: mfl.triplet_loss(m(b[0]), m(b[1]), m(b[2]), margin=1.0, reduction="mean"),
    "triplet_swap_p1": lambda m, b: mfl.triplet_loss(m(b[0]), m(b[1]), m(b[2]), p=1, margin=1.0, swap=True,
                                                     reduction="mean"),
    "contrastive": lambda m, b: mfl.contrastive_loss(m(b[0]), m(b[1]), b[2], margin=2.0),
    "cosine_embedding": lambda m, b: mfl.cosine_embedding_loss(m(b[0]), m(b[1]), 2 * b[2] - 1, margin=0.0),
}


@pytest.mark.parametrize("loss_name", list(LOSSES))
def test_metric_learning_separates_two_clusters(loss_name):
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    x, y = _clusters(rng, 400)
    x_test, y_test = _clusters(rng, 400)
    model = Embedding()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-2)
    loss_fn = LOSSES[loss_name]
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    sample = _triplets if loss_name.startswith("triplet") else _pairs
    fixed = sample(np.random.default_rng(0), x, y, 256)  # to measure the loss on
    before = loss_fn(model, fixed).item()
    chance = _nearest_centroid_accuracy(model, x, y, x_test, y_test)
    for step in range(150):
        _, grads = loss_and_grad(model, sample(rng, x, y, 64))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    after = loss_fn(model, fixed).item()
    accuracy = _nearest_centroid_accuracy(model, x, y, x_test, y_test)
    assert after < 0.2 * before, (before, after)
    assert accuracy >= 0.98 and accuracy > chance, (chance, accuracy)


def test_the_fused_run_follows_the_stock_run():
    """Same seed, same batches: a training run with the fused triplet loss and
    one with mlx.nn.losses.triplet_loss end at the same parameters (to float32
    rounding accumulated over the steps)."""
    import mlx.nn.losses as stock
    from mlx.utils import tree_flatten

    runs = []
    for fn in (mfl.triplet_loss, stock.triplet_loss):
        rng = np.random.default_rng(11)
        mx.random.seed(11)
        x, y = _clusters(rng, 200)
        model = Embedding()
        opt = optim.SGD(learning_rate=0.05, momentum=0.9)
        lg = nn.value_and_grad(model, lambda m, b: fn(m(b[0]), m(b[1]), m(b[2]), reduction="mean"))
        for _ in range(30):
            _, grads = lg(model, _triplets(rng, x, y, 32))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
        runs.append(tree_flatten(model.parameters()))
    for (k1, a), (k2, b) in zip(*runs):
        assert k1 == k2
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-3, atol=1e-4, err_msg=k1)
