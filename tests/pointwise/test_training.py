"""Tiny end-to-end fits: a linear regression with each regression loss and a
logistic regression with binary_cross_entropy recover the parameters that
generated the data."""

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np
import pytest

import mlx_fused_losses as mfl

TRUE_W = np.array([1.5, -2.0, 0.5])
TRUE_B = 0.3

REGRESSION = [
    ("mse_loss", {}),
    ("l1_loss", {}),
    ("huber_loss", {"reduction": "mean"}),
    ("smooth_l1_loss", {}),
    ("log_cosh_loss", {"reduction": "mean"}),
    ("charbonnier_loss", {}),
    ("rmse_loss", {}),
    ("quantile_loss", {"tau": 0.5}),
]


def _fit(loss, x, y, steps, lr):
    """Adam on (w, b), compiled; returns the fitted parameters and the loss."""
    params = {"w": mx.zeros((x.shape[1],)), "b": mx.zeros(())}
    opt = optim.Adam(learning_rate=lr)

    def objective(p):
        return loss(x @ p["w"] + p["b"], y)

    step = mx.compile(mx.value_and_grad(objective))
    for _ in range(steps):
        value, grads = step(params)
        opt.update(params, grads)
        mx.eval(params, opt.state)
    return params, value.item()


@pytest.mark.parametrize("name,kw", REGRESSION, ids=[r[0] for r in REGRESSION])
def test_linear_regression_converges(name, kw, rng):
    x = rng.standard_normal((512, 3)).astype(np.float32)
    # Small symmetric noise: every loss here is minimised at the true line.
    y = (x @ TRUE_W + TRUE_B + 0.01 * rng.standard_normal(512)).astype(np.float32)
    fn = getattr(mfl, name)
    # A decaying step: the L1-like losses have gradients that do not shrink.
    sched = optim.exponential_decay(0.1, 0.99)
    params, final = _fit(lambda p, t: fn(p, t, **kw), mx.array(x), mx.array(y), 400, sched)
    np.testing.assert_allclose(np.array(params["w"]), TRUE_W, atol=0.02, err_msg=name)
    assert abs(params["b"].item() - TRUE_B) < 0.02, name
    start = fn(mx.zeros(512), mx.array(y), **kw).item()
    assert final < 0.05 * start


def test_logistic_regression(rng):
    """Labels drawn from sigmoid(x w + b): the fit recovers (w, b) up to
    sampling error, and matches the fit through stock MLX's loss."""
    import mlx.nn.losses as stock

    n = 20000
    x = rng.standard_normal((n, 3)).astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-(x @ TRUE_W + TRUE_B)))
    y = (rng.random(n) < p).astype(np.float32)
    fits = {}
    for label, fn in (("fused", mfl.binary_cross_entropy), ("stock", stock.binary_cross_entropy)):
        params, final = _fit(fn, mx.array(x), mx.array(y), 300, optim.exponential_decay(0.1, 0.99))
        fits[label] = (np.array(params["w"]), params["b"].item(), final)
    w, b, final = fits["fused"]
    np.testing.assert_allclose(w, TRUE_W, atol=0.15)
    assert abs(b - TRUE_B) < 0.1
    np.testing.assert_allclose(w, fits["stock"][0], atol=1e-3)
    assert final == pytest.approx(fits["stock"][2], rel=1e-4)


def test_logistic_regression_with_pos_weight(rng):
    """pos_weight w on the positives shifts the optimum's intercept by log(w)
    (the weighted loss is minimised at log-odds + log w)."""
    n = 20000
    x = rng.standard_normal((n, 1)).astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-(1.0 * x[:, 0] - 0.5)))
    y = (rng.random(n) < p).astype(np.float32)
    pw = mx.array(3.0)
    params, _ = _fit(lambda a, t: mfl.binary_cross_entropy(a, t, pos_weight=pw),
                     mx.array(x), mx.array(y), 300, optim.exponential_decay(0.1, 0.99))
    assert abs(params["b"].item() - (-0.5 + np.log(3.0))) < 0.1
    assert abs(params["w"].item() - 1.0) < 0.1
