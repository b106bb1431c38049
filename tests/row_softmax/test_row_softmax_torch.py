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


# ignore_index: None, PyTorch's usual -100, or a class inside the range.
COMBOS = list(itertools.product(
    ["index", "probs"], [False, True], [None, -100, 2], [0.0, 0.15], ["none", "mean", "sum"], [2, 3]))


@pytest.mark.parametrize("targets,class_weights,ignore,smoothing,reduction,ndim", COMBOS)
def test_cross_entropy(targets, class_weights, ignore, smoothing, reduction, ndim):
    shape = (N, C, D)[:ndim]
    if targets == "probs" and ignore is not None:
        # PyTorch rejects ignore_index >= 0 with probability targets (and
        # ignores negative ones); it applies to class indices only: we reject it.
        with pytest.raises(ValueError, match="ignore_index"):
            fl.cross_entropy(mx.zeros(shape), mx.zeros(shape), axis=1, ignore_index=ignore)
        return
    x = RNG.standard_normal(shape) * 2
    if targets == "index":
        t = RNG.integers(0, C, size=(N, D)[: ndim - 1])
        if ignore is not None:
            t.flat[::3] = ignore
    else:
        t = RNG.random(shape) + 0.05
        t /= t.sum(axis=1, keepdims=True)
    w = RNG.random(C) + 0.2 if class_weights else None

    kw_t = {"label_smoothing": smoothing, "reduction": reduction}
    kw_m = {"label_smoothing": smoothing, "reduction": reduction, "axis": 1}
    if w is not None:
        kw_t["weight"] = torch.tensor(w)
        kw_m["class_weights"] = _f64(w)
    if ignore is not None:
        kw_t["ignore_index"] = ignore
        kw_m["ignore_index"] = ignore
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


@pytest.mark.parametrize("class_weights", [False, True])
def test_every_target_ignored(class_weights):
    # 'mean' over no counted target: 0 / 0 = NaN, as PyTorch; 'sum' 0; no gradient.
    x = RNG.standard_normal((4, C))
    t = np.full(4, -100)
    kw = {"weight": torch.tensor(RNG.random(C) + 0.2)} if class_weights else {}
    for reduction in ("mean", "sum"):
        tx = torch.tensor(x, requires_grad=True)
        want = F.cross_entropy(tx, torch.tensor(t), ignore_index=-100, reduction=reduction,
                               label_smoothing=0.1, **kw)
        want.backward()
        kw_m = {"class_weights": _f64(kw["weight"].numpy())} if class_weights else {}
        f = lambda a: fl.cross_entropy(a, mx.array(t), ignore_index=-100, reduction=reduction,  # noqa
                                       label_smoothing=0.1, **kw_m)
        got, g = mx.value_and_grad(f)(_f64(x))
        np.testing.assert_equal(got.item(), want.item())
        if reduction == "sum":
            np.testing.assert_array_equal(np.array(g), tx.grad.numpy())


def _torch_focal(x, y, alpha, gamma):
    # Lin et al.'s softmax focal loss written with torch ops (class dim 1).
    logp = F.log_softmax(x, dim=1).gather(1, y.unsqueeze(1)).squeeze(1)
    a = 1.0 if alpha is None else (alpha if alpha.ndim == 0 else alpha[y])
    return -a * (1 - logp.exp()) ** gamma * logp


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, "scalar", "per_class"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_softmax_focal_loss(gamma, alpha, reduction):
    x = RNG.standard_normal((N, C, D)) * 2
    y = RNG.integers(0, C, size=(N, D))
    a = {None: None, "scalar": np.array(0.25), "per_class": RNG.random(C) + 0.1}[alpha]
    ta = None if a is None else torch.tensor(a)
    red = {"none": lambda v: v, "mean": torch.mean, "sum": torch.sum}[reduction]
    want, (want_g,) = _torch_value_and_grad(lambda v: red(_torch_focal(v, torch.tensor(y), ta, gamma)),
                                            torch.tensor(x))
    ma = None if a is None else _f64(a)
    got, (got_g,) = _mx_value_and_grad(
        lambda v: fl.softmax_focal_loss(v, mx.array(y), alpha=ma, gamma=gamma, axis=1, reduction=reduction),
        _f64(x))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_g, want_g, rtol=1e-10, atol=1e-13)


def test_focal_with_gamma_0_is_cross_entropy():
    x = _f64(RNG.standard_normal((N, C)) * 3)
    y = mx.array(RNG.integers(0, C, size=N))
    for reduction in ("none", "mean", "sum"):
        f = mx.value_and_grad(lambda a: mx.sum(fl.softmax_focal_loss(a, y, gamma=0.0, reduction=reduction)))
        g = mx.value_and_grad(lambda a: mx.sum(fl.cross_entropy(a, y, reduction=reduction)))
        (v1, g1), (v2, g2) = f(x), g(x)
        np.testing.assert_allclose(v1.item(), v2.item(), rtol=1e-14)
        np.testing.assert_allclose(np.array(g1), np.array(g2), rtol=1e-13, atol=1e-15)
    want = F.cross_entropy(torch.tensor(np.array(x)), torch.tensor(np.array(y)), reduction="none").numpy()
    np.testing.assert_allclose(np.array(fl.softmax_focal_loss(x, y, gamma=0.0)), want, rtol=1e-13)


def _torch_info_nce(q, k, tau, negatives=None, normalize=True):
    if normalize:
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        negatives = None if negatives is None else F.normalize(negatives, dim=-1)
    if negatives is None:
        return F.cross_entropy(q @ k.T / tau, torch.arange(len(q)), reduction="none")
    logits = torch.cat([(q * k).sum(-1, keepdim=True), q @ negatives.T], 1) / tau
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long), reduction="none")


def _torch_nt_xent(z1, z2, tau):
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    sim = (z @ z.T / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(sim, torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]), reduction="none")


def _torch_clip(i, t, tau, normalize=True):
    if normalize:
        i, t = F.normalize(i, dim=-1), F.normalize(t, dim=-1)
    logits = i @ t.T / tau
    labels = torch.arange(len(i))
    return (F.cross_entropy(logits, labels, reduction="none")
            + F.cross_entropy(logits.T, labels, reduction="none")) / 2


@pytest.mark.parametrize("case", ["info_nce", "info_nce_negatives", "info_nce_raw", "nt_xent", "clip",
                                  "clip_raw", "clip_learned_tau"])
def test_contrastive_values_and_gradients(case):
    a, b, neg = RNG.standard_normal((7, 5)), RNG.standard_normal((7, 5)), RNG.standard_normal((11, 5))
    tensors, arrays = [torch.tensor(a), torch.tensor(b)], [_f64(a), _f64(b)]
    if case == "info_nce":
        tf, mf = (lambda q, k: _torch_info_nce(q, k, 0.2)), (lambda q, k: fl.info_nce_loss(q, k, 0.2, "none"))
    elif case == "info_nce_raw":
        tf = lambda q, k: _torch_info_nce(q, k, 0.7, normalize=False)  # noqa: E731
        mf = lambda q, k: fl.info_nce_loss(q, k, 0.7, "none", normalize=False)  # noqa: E731
    elif case == "info_nce_negatives":
        tensors.append(torch.tensor(neg))
        arrays.append(_f64(neg))
        tf = lambda q, k, n: _torch_info_nce(q, k, 0.1, n)  # noqa: E731
        mf = lambda q, k, n: fl.info_nce_loss(q, k, 0.1, "none", negative_keys=n)  # noqa: E731
    elif case == "nt_xent":
        tf, mf = (lambda u, v: _torch_nt_xent(u, v, 0.5)), (lambda u, v: fl.nt_xent_loss(u, v, 0.5, "none"))
    elif case == "clip":
        tf, mf = (lambda u, v: _torch_clip(u, v, 0.07)), (lambda u, v: fl.clip_loss(u, v, 0.07, "none"))
    elif case == "clip_raw":
        tf = lambda u, v: _torch_clip(u, v, 0.5, normalize=False)  # noqa: E731
        mf = lambda u, v: fl.clip_loss(u, v, 0.5, "none", normalize=False)  # noqa: E731
    else:
        tensors.append(torch.tensor(0.05, dtype=torch.float64))
        arrays.append(mx.array(0.05, mx.float64))
        tf, mf = _torch_clip, (lambda u, v, tau: fl.clip_loss(u, v, tau, "none"))
    want, want_g = _torch_value_and_grad(tf, *tensors)
    got, got_g = _mx_value_and_grad(mf, *arrays, n_grads=len(arrays))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    for g, h in zip(got_g, want_g):
        np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-12)
