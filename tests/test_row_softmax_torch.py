"""The row-softmax losses against PyTorch (skipped without torch): every
combination of class weights, ignore_index, label smoothing, probability
targets and reduction, values and gradients, in float64."""

import itertools

import mlx.core as mx
import numpy as np
import pytest

import mlx_fused_losses as fl

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(2)
N, C, D = 6, 5, 3  # logits (N, C, D): PyTorch's class dim 1 is our axis=1


def _f64(a):
    # (mx.array alone would make float64 numpy arrays float32)
    return mx.array(np.asarray(a, np.float64), dtype=mx.float64)


def _torch_value_and_grad(f, *tensors):
    leaves = [t.clone().requires_grad_(True) for t in tensors]
    out = f(*leaves)
    # a fixed non-uniform cotangent for 'none', so every row's gradient counts
    cot = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * cot).sum().backward()
    return out.detach().numpy(), [leaf.grad.numpy() for leaf in leaves]


def _mx_value_and_grad(f, *arrays, n_grads=1):
    out = f(*arrays)
    cot = _f64(np.linspace(0.5, 1.5, out.size).reshape(out.shape))
    grads = mx.grad(lambda *a: mx.sum(f(*a) * cot), list(range(n_grads)))(*arrays)
    grads = grads if isinstance(grads, (list, tuple)) else [grads]
    return np.array(out), [np.array(g) for g in grads]


COMBOS = list(itertools.product(
    ["index", "probs"], [False, True], [False, True], [0.0, 0.15], ["none", "mean", "sum"], [2, 3]))


@pytest.mark.parametrize("targets,class_weights,ignore,smoothing,reduction,ndim", COMBOS)
def test_cross_entropy(targets, class_weights, ignore, smoothing, reduction, ndim):
    shape = (N, C, D)[:ndim]
    if targets == "probs" and ignore:
        # PyTorch rejects ignore_index >= 0 with probability targets (and
        # ignores negative ones); it applies to class indices only: we reject it.
        with pytest.raises(ValueError, match="ignore_index"):
            fl.cross_entropy(mx.zeros(shape), mx.zeros(shape), axis=1, ignore_index=-100)
        return
    x = RNG.standard_normal(shape) * 2
    if targets == "index":
        t = RNG.integers(0, C, size=(N, D)[: ndim - 1])
        if ignore:
            t.flat[::3] = -100
    else:
        t = RNG.random(shape) + 0.05
        t /= t.sum(axis=1, keepdims=True)
    w = RNG.random(C) + 0.2 if class_weights else None

    kw_t = {"label_smoothing": smoothing, "reduction": reduction}
    kw_m = {"label_smoothing": smoothing, "reduction": reduction, "axis": 1}
    if w is not None:
        kw_t["weight"] = torch.tensor(w)
        kw_m["class_weights"] = _f64(w)
    if ignore:
        kw_t["ignore_index"] = -100
        kw_m["ignore_index"] = -100
    tt = torch.tensor(t)
    tm = _f64(t) if targets == "probs" else mx.array(t)
    probs = targets == "probs"
    want, want_g = _torch_value_and_grad(
        (lambda a, b: F.cross_entropy(a, b, **kw_t)) if probs else (lambda a: F.cross_entropy(a, tt, **kw_t)),
        torch.tensor(x), *([tt] if probs else []))
    got, got_g = _mx_value_and_grad(
        (lambda a, b: fl.cross_entropy(a, b, **kw_m)) if probs else (lambda a: fl.cross_entropy(a, tm, **kw_m)),
        _f64(x), *([tm] if probs else []), n_grads=2 if probs else 1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    if probs and w is None:
        # Without class weights the loss is MLX's lse - <t', x>, whose target
        # gradient differs from PyTorch's -log_softmax by lse per row: the same
        # along the simplex (the targets sum to 1), so compare without it.
        got_g[1], want_g[1] = (g - g.mean(axis=1, keepdims=True) for g in (got_g[1], want_g[1]))
    for g, h in zip(got_g, want_g):
        np.testing.assert_allclose(g, h, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("class_weights,ignore,reduction",
                         list(itertools.product([False, True], [False, True], ["none", "mean", "sum"])))
def test_nll_loss(class_weights, ignore, reduction):
    x = np.log(RNG.random((N, C, D)) + 0.1)
    t = RNG.integers(0, C, size=(N, D))
    if ignore:
        t.flat[::4] = 2  # an ignore_index inside the class range
    kw_t = {"reduction": reduction}
    kw_m = {"reduction": reduction, "axis": 1}
    if class_weights:
        w = RNG.random(C) + 0.2
        kw_t["weight"] = torch.tensor(w)
        kw_m["class_weights"] = _f64(w)
    if ignore:
        kw_t["ignore_index"] = 2
        kw_m["ignore_index"] = 2
    want, (want_g,) = _torch_value_and_grad(lambda a: F.nll_loss(a, torch.tensor(t), **kw_t), torch.tensor(x))
    got, (got_g,) = _mx_value_and_grad(lambda a: fl.nll_loss(a, mx.array(t), **kw_m), _f64(x))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(got_g, want_g, rtol=1e-13, atol=1e-14)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("log_target", [True, False])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
def test_kl_div(log_target, reduction):
    x = np.log(RNG.dirichlet(np.ones(C), size=(N, D)))  # (N, D, C), class axis last
    p = RNG.dirichlet(np.ones(C), size=(N, D))
    p[0, 0, 1] = 0.0
    with np.errstate(divide="ignore"):
        t = np.log(p) if log_target else p
    # PyTorch's 'none' and 'mean' are elementwise: our per-distribution sums
    # correspond to its 'none' summed over the class axis, and our 'mean'
    # (over distributions) to its elementwise 'mean' times C.
    t_red = {"none": "none", "mean": "mean", "sum": "sum", "batchmean": "batchmean"}[reduction]

    def torch_loss(a, b):
        out = F.kl_div(a, b, reduction=t_red, log_target=log_target)
        return out.sum(-1) if reduction == "none" else (out * C if reduction == "mean" else out)

    # gradients w.r.t. the inputs (and the targets: PyTorch's xlogy has an
    # infinite derivative at p = 0, so only where p > 0)
    want, want_g = _torch_value_and_grad(torch_loss, torch.tensor(x), torch.tensor(t))
    got, got_g = _mx_value_and_grad(lambda a, b: fl.kl_div_loss(a, b, reduction=reduction, log_target=log_target),
                                    _f64(x), _f64(t), n_grads=2)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_g[0], want_g[0], rtol=1e-12, atol=1e-14)
    live = p > 0
    np.testing.assert_allclose(got_g[1][live], want_g[1][live], rtol=1e-12, atol=1e-14)


def test_bfloat16_loss_is_closer_than_torch():
    # Same bf16 logits: the float32 loss is within 1e-4 of float64, where a bf16
    # result (PyTorch's and MLX's dtype) cannot be closer than its rounding.
    x = torch.randn(64, 32000, dtype=torch.float64) * 4
    xb = x.to(torch.bfloat16)
    y = torch.randint(0, 32000, (64,))
    exact = F.cross_entropy(xb.double(), y, reduction="none").numpy()
    ours = np.array(fl.cross_entropy(mx.array(xb.float().numpy()).astype(mx.bfloat16), mx.array(y.numpy())))
    assert np.max(np.abs(ours - exact)) < 1e-4
