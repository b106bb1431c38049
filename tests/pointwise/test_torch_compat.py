"""Against PyTorch (torch.nn.functional) where it has the loss: values and
autograd gradients, float64. Skipped when torch is not installed."""

import mlx.core as mx
import numpy as np
import pytest

import mlx_fused_losses as mfl
from pointwise_cases import CASES, REDUCTIONS, grad_sample, to_mx, to_np

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _torch_fn(name, params):
    """The torch.nn.functional call of our (name, params), operands in our order."""
    p = dict(params)
    if name == "mse_loss":
        return lambda x, y, r: F.mse_loss(x, y, reduction=r)
    if name == "l1_loss":
        return lambda x, y, r: F.l1_loss(x, y, reduction=r)
    if name == "huber_loss":
        return lambda x, y, r: F.huber_loss(x, y, delta=p.get("delta", 1.0), reduction=r)
    if name == "smooth_l1_loss":
        return lambda x, y, r: F.smooth_l1_loss(x, y, beta=p.get("beta", 1.0), reduction=r)
    if name == "margin_ranking_loss":
        return lambda a, b, y, r: F.margin_ranking_loss(a, b, y, margin=p.get("margin", 0.0),
                                                        reduction=r)
    if name == "gaussian_nll_loss":
        # torch's argument order is (input, target, var).
        return lambda x, y, v, r: F.gaussian_nll_loss(x, y, v, full=p.get("full", False),
                                                      eps=p.get("eps", 1e-6), reduction=r)
    if name == "poisson_nll_loss":
        return lambda x, y, r: F.poisson_nll_loss(
            x, y, log_input=p.get("log_input", True), full=p.get("full", False),
            eps=p.get("eps", 1e-8), reduction=r)
    if name == "binary_cross_entropy":
        def bce(x, y, *rest, r, weights=False, pos_weight=False):
            w = rest[0] if weights else None
            if p.get("with_logits", True):
                pw = rest[-1] if pos_weight else None
                return F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw,
                                                          reduction=r)
            assert not pos_weight  # torch's probability BCE has no pos_weight
            return F.binary_cross_entropy(x, y, weight=w, reduction=r)
        return bce
    raise KeyError(name)


TORCH_CASES = [c for c in CASES.values() if c.fn in (
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "margin_ranking_loss",
    "gaussian_nll_loss", "poisson_nll_loss", "binary_cross_entropy",
) and not (c.fn == "binary_cross_entropy" and not c.params["with_logits"]
           and "pos_weight" in c.operands)]


def _call_torch(case, tensors, reduction):
    f = _torch_fn(case.fn, case.params)
    if case.fn == "binary_cross_entropy":
        return f(*tensors, r=reduction, weights="weights" in case.operands,
                 pos_weight="pos_weight" in case.operands)
    return f(*tensors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", TORCH_CASES, ids=[c.id for c in TORCH_CASES])
def test_matches_torch(case, reduction, rng):
    values = grad_sample(case)(rng, (4, 6))
    if case.id == "gaussian_nll_loss-clamped":
        # torch passes gradient through the clamp (MLX does not; MLX wins): keep
        # the variances above eps for the gradient comparison here.
        values = (values[0], values[1], np.maximum(values[2], 0.1))
    # torch does not differentiate BCE's weight and pos_weight (our finite
    # difference tests cover those gradients).
    tensors = [torch.tensor(v, dtype=torch.float64,
                            requires_grad=name not in ("weights", "pos_weight"))
               for name, v in zip(case.operands, values)]
    want = _call_torch(case, tensors, reduction)
    cot = rng.standard_normal(tuple(want.shape))
    (want * torch.tensor(cot)).sum().backward()

    arrays = [to_mx(v, mx.float64) for v in values]
    got, grads = mx.vjp(lambda *a: case(*a, reduction=reduction), arrays,
                        [to_mx(cot, mx.float64)])
    np.testing.assert_allclose(to_np(got[0]), want.detach().numpy(), rtol=1e-12, atol=1e-13)
    for name, g, t in zip(case.operands, grads, tensors):
        if not t.requires_grad:
            continue
        np.testing.assert_allclose(to_np(g), t.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"d/d{name}")


def test_gaussian_nll_var_gradient_differs_from_torch_only_where_clamped():
    """Documented difference: below eps torch passes the gradient through the
    clamp, MLX (and this package) passes none; above eps they agree."""
    x = np.zeros(4)
    y = np.array([1.0, 0.5, -1.0, 2.0])
    v = np.array([1e-8, 0.02, 0.5, 2.0])
    eps = 0.05
    tv = torch.tensor(v, requires_grad=True)
    F.gaussian_nll_loss(torch.tensor(x), torch.tensor(y), tv, eps=eps, reduction="sum").backward()
    g = mx.grad(lambda w: mfl.gaussian_nll_loss(to_mx(x, mx.float64), to_mx(y, mx.float64), w,
                                                eps=eps, reduction="sum"))(to_mx(v, mx.float64))
    g = to_np(g)
    assert np.all(g[:2] == 0.0)
    assert np.all(tv.grad.numpy()[:2] != 0.0)
    np.testing.assert_allclose(g[2:], tv.grad.numpy()[2:], rtol=1e-12)


def test_poisson_nll_full_on_integer_counts_matches_torch(rng):
    """Integer counts, including 0 and 1 where the Stirling term switches on."""
    x = rng.standard_normal((50,))
    y = np.floor(rng.random(50) * 6)
    y[:3] = [0.0, 1.0, 2.0]
    for log_input in (True, False):
        xi = x if log_input else np.exp(x)
        for reduction in REDUCTIONS:
            want = F.poisson_nll_loss(torch.tensor(xi), torch.tensor(y), log_input=log_input,
                                      full=True, reduction=reduction).numpy()
            got = mfl.poisson_nll_loss(to_mx(xi, mx.float64), to_mx(y, mx.float64),
                                       log_input=log_input, full=True, reduction=reduction)
            np.testing.assert_allclose(to_np(got), want, rtol=1e-12, atol=1e-13)


def test_bce_with_logits_pos_weight_float32_matches_torch(rng):
    """The usual multi-label setup in float32: (batch, classes) logits, one
    pos_weight per class, per-element weights."""
    x = rng.standard_normal((64, 10)).astype(np.float32) * 4
    y = (rng.random((64, 10)) > 0.7).astype(np.float32)
    pw = (rng.random(10) * 4 + 0.5).astype(np.float32)
    w = rng.random((64, 10)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    want = F.binary_cross_entropy_with_logits(tx, torch.tensor(y), weight=torch.tensor(w),
                                              pos_weight=torch.tensor(pw))
    want.backward()
    f = lambda a: mfl.binary_cross_entropy(a, mx.array(y), weights=mx.array(w),  # noqa: E731
                                           pos_weight=mx.array(pw))
    got, g = mx.value_and_grad(f)(mx.array(x))
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-6)
    np.testing.assert_allclose(np.array(g), tx.grad.numpy(), rtol=1e-5, atol=1e-9)


def _torchvision_focal(x, y, alpha, gamma):
    # torchvision.ops.sigmoid_focal_loss (torchvision is not installed here), in torch ops.
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    return (alpha * y + (1 - alpha) * (1 - y)) * loss


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gamma", [2.0, 3.0, 1.0, 4.0, 2.5])
def test_sigmoid_focal_targets_outside_unit_interval_match_torch(gamma, dtype, rng):
    """Targets outside [0, 1] make 1 - p_t negative: torch.pow gives the
    power for a whole gamma (NaN for any other), so do both of our paths
    (gamma == 2 multiplies, others use pow), values and gradients."""
    x = (rng.standard_normal(64) * 3).astype(dtype)
    y = rng.uniform(-1.0, 2.0, 64).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    want = _torchvision_focal(tx, torch.tensor(y), 0.25, gamma)
    want.sum().backward()
    mx_dtype = mx.float32 if dtype == np.float32 else mx.float64
    f = lambda a: mfl.sigmoid_focal_loss(a, to_mx(y, mx_dtype), alpha=0.25,  # noqa: E731
                                         gamma=gamma)
    got = f(to_mx(x, mx_dtype))
    grad = mx.grad(lambda a: f(a).sum())(to_mx(x, mx_dtype))
    assert got.dtype == mx_dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    if gamma != int(gamma):
        negative = (1 - (torch.sigmoid(tx) * torch.tensor(y) + (1 - torch.sigmoid(tx))
                         * (1 - torch.tensor(y)))).detach().numpy() < 0
        assert negative.any()
        assert np.isnan(np.array(got)[negative]).all()
        assert np.isnan(want.detach().numpy()[negative]).all()
        keep = ~negative
    else:
        keep = np.ones(64, bool)
    assert np.isfinite(np.array(got)[keep]).all()
    np.testing.assert_allclose(np.array(got)[keep], want.detach().numpy()[keep], rtol=rtol,
                               atol=1e-6 if dtype == np.float32 else 1e-13)
    np.testing.assert_allclose(np.array(grad)[keep], tx.grad.numpy()[keep], rtol=10 * rtol,
                               atol=1e-5 if dtype == np.float32 else 1e-12)
