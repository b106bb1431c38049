"""InfoNCE, NT-Xent and CLIP: the similarity matmul, then the fused cross-entropy."""

import mlx.core as mx
import numpy as np
import pytest

import mlx_fused_losses as fl
import row_softmax_reference as ref

RNG = np.random.default_rng(3)


def _emb(*shape):
    return RNG.standard_normal(shape)


def _f64(a):
    # (mx.array alone would make float64 numpy arrays float32)
    return mx.array(np.asarray(a, np.float64), dtype=mx.float64)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("normalize", [True, False])
def test_info_nce(reduction, normalize):
    q, k, nk = _emb(9, 6), _emb(9, 6), _emb(13, 6)
    for negatives in (None, nk):
        got = fl.info_nce_loss(mx.array(q), mx.array(k), 0.2, reduction, normalize=normalize,
                               negative_keys=None if negatives is None else mx.array(negatives))
        want = ref.info_nce(q, k, 0.2, reduction, negative_keys=negatives, normalize=normalize)
        np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_nt_xent(reduction):
    z1, z2 = _emb(7, 5), _emb(7, 5)
    got = fl.nt_xent_loss(mx.array(z1), mx.array(z2), 0.5, reduction)
    np.testing.assert_allclose(np.array(got), ref.nt_xent(z1, z2, 0.5, reduction), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_clip(reduction):
    i, t = _emb(8, 4), _emb(8, 4)
    got = fl.clip_loss(mx.array(i), mx.array(t), 0.07, reduction)
    np.testing.assert_allclose(np.array(got), ref.clip(i, t, 0.07, reduction), rtol=1e-5, atol=1e-5)


def test_gradients_by_finite_differences():
    z1, z2 = _emb(4, 3), _emb(4, 3)
    tau = mx.array(0.3, mx.float64)
    cases = [
        (lambda a: fl.nt_xent_loss(a, _f64(z2), 0.5), lambda a: ref.nt_xent(a, z2, 0.5)),
        (lambda a: fl.info_nce_loss(a, _f64(z2), 0.2), lambda a: ref.info_nce(a, z2, 0.2)),
        (lambda a: fl.clip_loss(a, _f64(z2), tau), lambda a: ref.clip(a, z2, 0.3)),
    ]
    for fused, numpy_ref in cases:
        g = np.array(mx.grad(fused)(_f64(z1)))
        np.testing.assert_allclose(g, _fd(numpy_ref, z1), rtol=1e-6, atol=1e-8)


def test_learned_clip_temperature():
    i, t = _f64(_emb(6, 4)), _f64(_emb(6, 4))
    g = mx.grad(lambda tau: fl.clip_loss(i, t, tau))(mx.array(0.1, mx.float64))
    h = 1e-6
    want = (ref.clip(np.array(i), np.array(t), 0.1 + h) - ref.clip(np.array(i), np.array(t), 0.1 - h)) / (2 * h)
    np.testing.assert_allclose(g.item(), want, rtol=1e-6)


def test_against_torch_formulations():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    i, t = _emb(10, 8), _emb(10, 8)
    ti, tt = F.normalize(torch.tensor(i), dim=-1), F.normalize(torch.tensor(t), dim=-1)
    logits = ti @ tt.T / 0.05
    labels = torch.arange(10)
    want = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    np.testing.assert_allclose(fl.clip_loss(_f64(i), _f64(t), 0.05).item(), want.item(), rtol=1e-10)
    # SimCLR's NT-Xent as usually written in PyTorch
    z = F.normalize(torch.cat([torch.tensor(i), torch.tensor(t)]), dim=-1)
    sim = z @ z.T / 0.5
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(10, 20), torch.arange(0, 10)])
    want = F.cross_entropy(sim, target)
    np.testing.assert_allclose(fl.nt_xent_loss(_f64(i), _f64(t), 0.5).item(), want.item(), rtol=1e-10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="temperature"):
        fl.info_nce_loss(mx.zeros((3, 2)), mx.zeros((3, 2)), temperature=0.0)
    with pytest.raises(ValueError, match="keys"):
        fl.info_nce_loss(mx.zeros((3, 2)), mx.zeros((4, 2)))
    with pytest.raises(ValueError, match="z1"):
        fl.nt_xent_loss(mx.zeros((3,)), mx.zeros((3,)))
    with pytest.raises(ValueError, match="temperature"):
        fl.clip_loss(mx.zeros((3, 2)), mx.zeros((3, 2)), temperature=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        fl.clip_loss(mx.zeros((3, 2)), mx.zeros((3, 2)), temperature=mx.ones((2,)))


def _fd(numpy_f, z, h=1e-6):
    want = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        want[idx] = (numpy_f(zp) - numpy_f(zm)) / (2 * h)
    return want


def test_second_operand_gradients_by_finite_differences():
    # keys, negative_keys, z2 and text_embeds (the first operands: above).
    z1, z2, nk = _emb(4, 3), _emb(4, 3), _emb(5, 3)
    cases = [
        (lambda b: fl.info_nce_loss(_f64(z1), b, 0.2, "sum"), lambda b: ref.info_nce(z1, b, 0.2, "sum"), z2),
        (lambda b: fl.info_nce_loss(_f64(z1), _f64(z2), 0.2, negative_keys=b),
         lambda b: ref.info_nce(z1, z2, 0.2, negative_keys=b), nk),
        (lambda b: fl.info_nce_loss(_f64(z1), _f64(z2), 0.3, negative_keys=b, normalize=False),
         lambda b: ref.info_nce(z1, z2, 0.3, negative_keys=b, normalize=False), nk),
        (lambda b: fl.nt_xent_loss(_f64(z1), b, 0.5, "sum"), lambda b: ref.nt_xent(z1, b, 0.5, "sum"), z2),
        (lambda b: fl.clip_loss(_f64(z1), b, 0.1), lambda b: ref.clip(z1, b, 0.1), z2),
        (lambda b: fl.clip_loss(_f64(z1), b, 0.5, normalize=False),
         lambda b: ref.clip(z1, b, 0.5, normalize=False), z2),
    ]
    for fused, numpy_ref, operand in cases:
        g = np.array(mx.grad(fused)(_f64(operand)))
        np.testing.assert_allclose(g, _fd(numpy_ref, operand), rtol=1e-6, atol=1e-8)


def test_embedding_dtypes():
    # float64 embeddings give float64 losses; integer embeddings are read as float32.
    z1, z2 = _emb(5, 4), _emb(5, 4)
    assert fl.info_nce_loss(_f64(z1), _f64(z2)).dtype == mx.float64
    zi = mx.array(np.round(z1 * 3).astype(np.int32))
    got = fl.nt_xent_loss(zi, zi[::-1], reduction="none")
    assert got.dtype == mx.float32
    np.testing.assert_allclose(np.array(got), ref.nt_xent(np.array(zi), np.array(zi[::-1]), 0.5, "none"),
                               rtol=1e-5, atol=1e-6)
