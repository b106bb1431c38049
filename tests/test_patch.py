"""patch_mlx / unpatch_mlx / patched_mlx: mlx.nn.losses routes to the fused
losses while patched, and gets its own functions back afterwards."""

import mlx.core as mx
import mlx.nn as nn
import mlx.nn.losses
import numpy as np
import pytest

import mlx_fused_losses as mfl

ORIGINALS = {name: getattr(mlx.nn.losses, name) for name in mfl.PATCHABLE}


def _assert_original():
    assert not mfl.is_patched()
    for name, fn in ORIGINALS.items():
        assert getattr(mlx.nn.losses, name) is fn, name
        assert getattr(nn.losses, name) is fn, name


def _assert_fused():
    assert mfl.is_patched()
    for name in mfl.PATCHABLE:
        assert getattr(mlx.nn.losses, name) is getattr(mfl, name), name


def _fused_only_value():
    """log_cosh of a difference of 1e-4: the fused loss gives 5e-9 (log cosh e ~
    e^2 / 2); stock MLX's logaddexp(e, -e) - log 2 cancels to a float32
    rounding error, far from it."""
    return nn.losses.log_cosh_loss(mx.array([1e-4]), mx.array([0.0])).item()


def test_stock_value_is_distinguishable():
    _assert_original()
    assert abs(_fused_only_value() - 5e-9) > 1e-9


def test_patch_and_unpatch():
    mfl.patch_mlx()
    _assert_fused()
    assert _fused_only_value() == pytest.approx(5e-9, rel=1e-6)
    mfl.unpatch_mlx()
    _assert_original()
    assert abs(_fused_only_value() - 5e-9) > 1e-9


def test_patch_twice_then_unpatch_restores_the_originals():
    mfl.patch_mlx()
    mfl.patch_mlx()  # must not record the fused functions as "originals"
    _assert_fused()
    mfl.unpatch_mlx()
    _assert_original()
    mfl.unpatch_mlx()  # unpatching an unpatched module is harmless
    _assert_original()


def test_context_manager_nested():
    with mfl.patched_mlx():
        _assert_fused()
        with mfl.patched_mlx():
            _assert_fused()
        _assert_fused()  # the inner block leaves the outer one patched
    _assert_original()


def test_context_manager_inside_patch_keeps_it():
    mfl.patch_mlx()
    with mfl.patched_mlx():
        _assert_fused()
    _assert_fused()
    mfl.unpatch_mlx()
    _assert_original()


def test_context_manager_restores_on_exception():
    with pytest.raises(RuntimeError, match="boom"):
        with mfl.patched_mlx():
            _assert_fused()
            raise RuntimeError("boom")
    _assert_original()


def test_calls_through_nn_losses_use_the_fused_kernels():
    """Code written against nn.losses (looked up at call time) runs fused,
    gradients included, with the same results as calling the fused ones."""
    rng = np.random.default_rng(0)
    x = mx.array(rng.standard_normal((8, 3)).astype(np.float32))
    y = mx.array(rng.random((8, 3)).astype(np.float32))

    def user_code(a):
        return (nn.losses.mse_loss(a, y) + nn.losses.binary_cross_entropy(a, y)
                + nn.losses.huber_loss(a, y, reduction="sum"))

    with mfl.patched_mlx():
        v, g = mx.value_and_grad(user_code)(x)
    direct = lambda a: (mfl.mse_loss(a, y) + mfl.binary_cross_entropy(a, y)  # noqa: E731
                        + mfl.huber_loss(a, y, reduction="sum"))
    vd, gd = mx.value_and_grad(direct)(x)
    assert v.item() == vd.item()
    assert np.array_equal(np.array(g), np.array(gd))


def test_names_imported_before_patching_keep_the_originals():
    """Documented: ``from mlx.nn.losses import mse_loss`` binds the original."""
    from mlx.nn.losses import log_cosh_loss

    with mfl.patched_mlx():
        assert log_cosh_loss is ORIGINALS["log_cosh_loss"]
        assert nn.losses.log_cosh_loss is mfl.log_cosh_loss


def test_only_the_patchable_names_change():
    others = {n: getattr(mlx.nn.losses, n) for n in dir(mlx.nn.losses)
              if n not in mfl.PATCHABLE and not n.startswith("__")}
    with mfl.patched_mlx():
        for n, fn in others.items():
            assert getattr(mlx.nn.losses, n) is fn, n


def _mlx_loss_functions():
    """Every public loss function mlx.nn.losses defines (its own functions, not
    imported helpers such as typing.get_args, nor private ones like _reduce)."""
    import inspect

    return {name for name, fn in vars(mlx.nn.losses).items()
            if inspect.isfunction(fn) and fn.__module__ == mlx.nn.losses.__name__
            and not name.startswith("_")}


def test_patch_replaces_every_public_loss_of_mlx():
    _assert_original()
    names = _mlx_loss_functions()
    assert len(names) == 14, sorted(names)
    assert set(mfl.PATCHABLE) == names
    assert len(mfl.PATCHABLE) == len(set(mfl.PATCHABLE))
    with mfl.patched_mlx():
        for name in names:
            assert getattr(mlx.nn.losses, name) is getattr(mfl, name), name


def test_patched_row_distance_losses_route_to_the_fused_kernels():
    """nn.losses.cosine_similarity_loss / triplet_loss run fused while patched:
    the gradient at a zero vector is stock's NaN before and the clamped
    cosine's x2 / eps after; and a float16 norm of 300 sixteens does not
    overflow."""
    z, x = mx.zeros((1, 3)), mx.array([[1.0, 2.0, 3.0]])

    def grad_at_zero():
        return np.array(mx.grad(lambda a: nn.losses.cosine_similarity_loss(a, x, reduction="sum"))(z))

    def half_cosine():
        h = mx.full((1, 300), 16.0, dtype=mx.float16)
        return nn.losses.cosine_similarity_loss(h, h).astype(mx.float32).item()

    assert np.isnan(grad_at_zero()).all() and np.isnan(half_cosine())
    with mfl.patched_mlx():
        np.testing.assert_allclose(grad_at_zero(), np.array(x) / 1e-8, rtol=1e-6)
        assert half_cosine() == 1.0
        a = mx.full((1, 300), 0.0, dtype=mx.float16)
        p = mx.full((1, 300), 16.0, dtype=mx.float16)
        loss = nn.losses.triplet_loss(a, p, p * 2, margin=0.0)
        assert nn.losses.triplet_loss is mfl.triplet_loss and np.isfinite(loss.item())
    assert np.isnan(grad_at_zero()).all()
