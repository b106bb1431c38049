"""The row-softmax losses on the GPU (Metal) against the same losses on the CPU.

Runs on Apple silicon only (skipped where mx.metal.is_available() is False):
the real Metal compiler and hardware, where tests/test_emulator_row_softmax.py
uses an emulator. Every public row-softmax function, float32/float16/bfloat16,
short rows (the "simd" kernels) and long ones (the "looped" kernels), the class
axis last or first (strided rows), label smoothing, class weights,
ignore_index, every reduction, values and gradients.
"""

from __future__ import annotations

import zlib

import mlx.core as mx
import numpy as np
import pytest

import mlx_fused_losses as mfl

pytestmark = pytest.mark.skipif(not mx.metal.is_available(), reason="needs Metal (Apple silicon)")

GPU, CPU = mx.gpu, mx.cpu
DTYPES = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
# Both devices compute in float from the same inputs (different exp/log and
# summation orders); gradients are then rounded to the dtype. (rtol, atol
# relative to the largest element.)
TOL = {"float32": (2e-5, 2e-6), "float16": (4e-3, 2e-3), "bfloat16": (2e-2, 1.6e-2)}


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def logits_for(rng, rows, n_classes, axis, dtype):
    x = (rng.standard_normal((rows, n_classes)) * 2.0).astype(np.float32)
    if axis == 0:
        # The class axis first, stored transposed: the kernels read strided rows.
        return mx.transpose(mx.array(x)).astype(DTYPES[dtype])
    return mx.array(x).astype(DTYPES[dtype])


def distribution(rng, rows, n_classes, axis, dtype):
    p = 0.05 + rng.random((rows, n_classes))
    p = (p / p.sum(-1, keepdims=True)).astype(np.float32)
    a = mx.array(p.T if axis == 0 else p)
    return a.astype(DTYPES[dtype]) if dtype else a


# name -> (loss(logits, targets, reduction, axis), targets(rng, rows, C, axis, dtype), wrt targets)
def _index_targets(rng, rows, n_classes, axis, dtype):
    t = rng.integers(0, n_classes, rows)
    t[::5] = -100
    return mx.array(t)


CASES = {
    "cross_entropy": (lambda x, t, r, a: mfl.cross_entropy(x, mx.maximum(t, 0), axis=a, reduction=r),
                      _index_targets, False),
    "cross_entropy_smoothing_weights_ignore": (
        lambda x, t, r, a: mfl.cross_entropy(
            x, t, axis=a, reduction=r, label_smoothing=0.1, ignore_index=-100,
            class_weights=mx.linspace(0.5, 1.5, x.shape[a])),
        _index_targets, False),
    "cross_entropy_probs": (
        lambda x, t, r, a: mfl.cross_entropy(x, t, axis=a, reduction=r, label_smoothing=0.05),
        lambda rng, n, c, a, d: distribution(rng, n, c, a, d), True),
    "cross_entropy_probs_weights_float32_targets": (
        lambda x, t, r, a: mfl.cross_entropy(x, t, axis=a, reduction=r,
                                             class_weights=mx.linspace(0.5, 1.5, x.shape[a])),
        lambda rng, n, c, a, d: distribution(rng, n, c, a, None), True),
    "nll_loss": (
        lambda x, t, r, a: mfl.nll_loss(x, t, axis=a, reduction=r, ignore_index=-100,
                                        class_weights=mx.linspace(0.5, 1.5, x.shape[a])),
        _index_targets, False),
    "kl_div_loss": (
        lambda x, t, r, a: mfl.kl_div_loss(x, mx.log(t), axis=a, reduction=r),
        lambda rng, n, c, a, d: distribution(rng, n, c, a, d), True),
    "kl_div_loss_probs": (
        lambda x, t, r, a: mfl.kl_div_loss(x, t, axis=a, reduction=r, log_target=False),
        lambda rng, n, c, a, d: distribution(rng, n, c, a, d), True),
    "softmax_focal_loss": (
        lambda x, t, r, a: mfl.softmax_focal_loss(x, mx.maximum(t, 0), axis=a, reduction=r,
                                                  alpha=mx.linspace(0.5, 1.5, x.shape[a])),
        _index_targets, False),
}


def assert_close(gpu, cpu, dtype, what):
    rtol, atol = TOL[dtype]
    g = np.array(gpu.astype(mx.float32)).astype(np.float64)
    c = np.array(cpu.astype(mx.float32)).astype(np.float64)
    assert g.shape == c.shape, what
    scale = np.max(np.abs(c[np.isfinite(c)]), initial=0.0)
    bad = ~(np.abs(g - c) <= rtol * np.abs(c) + atol * scale) & ~(g == c) & ~(np.isnan(g) & np.isnan(c))
    assert not bad.any(), f"{what}: {bad.sum()} elements differ, e.g. gpu {g[bad][:3]} cpu {c[bad][:3]}"


def run(name, x, t, reduction, axis, device):
    fn, _, grad_t = CASES[name]
    argnums = [0, 1] if grad_t else [0]

    def loss(*a):
        return fn(a[0], a[1] if grad_t else t, reduction, axis)

    with mx.stream(device):
        value = loss(x, t)
        cot = mx.ones_like(value)
        _, grads = mx.vjp(loss, [x, t][: len(argnums)], [cot])
        mx.eval(value, grads)
    return value, grads


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("n_classes", [3, 33, 1000, 5000])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("name", list(CASES))
def test_gpu_matches_cpu(name, dtype, reduction, n_classes, axis):
    rng = rng_for(name, dtype, n_classes, axis)
    rows = 37
    x = logits_for(rng, rows, n_classes, axis, dtype)
    t = CASES[name][1](rng, rows, n_classes, axis, dtype)
    v_gpu, g_gpu = run(name, x, t, reduction, axis, GPU)
    v_cpu, g_cpu = run(name, x, t, reduction, axis, CPU)
    assert v_gpu.dtype == v_cpu.dtype
    assert_close(v_gpu, v_cpu, "float32", f"{name} value")
    for k, (a, b) in enumerate(zip(g_gpu, g_cpu)):
        assert a.dtype == b.dtype
        assert_close(a, b, dtype, f"{name} gradient {k}")


def test_gpu_vocabulary_256k():
    rng = rng_for("256k")
    x = mx.array((rng.standard_normal((2, 1 << 18)) * 3.0).astype(np.float32))
    t = mx.array(np.array([5, (1 << 18) - 1]))
    results = []
    for device in (GPU, CPU):
        with mx.stream(device):
            f = lambda a: mfl.cross_entropy(a, t, reduction="mean", label_smoothing=0.1)  # noqa: E731
            value, grad = mx.value_and_grad(f)(x)
            mx.eval(value, grad)
        results.append((value, grad))
    assert_close(results[0][0], results[1][0], "float32", "value")
    assert_close(results[0][1], results[1][1], "float32", "gradient")


def test_gpu_out_of_range_target_is_nan():
    x = mx.zeros((3, 4))
    t = mx.array([1, 4, -1])
    with mx.stream(GPU):
        loss = mfl.cross_entropy(x, t, reduction="none")
        mx.eval(loss)
    out = np.array(loss)
    assert np.isclose(out[0], np.log(4.0)) and np.isnan(out[1:]).all()


def test_gpu_vmap_matches_cpu():
    rng = rng_for("vmap")
    x = logits_for(rng, 12, 40, -1, "float32").reshape(3, 4, 40)
    t = mx.array(rng.integers(0, 40, (3, 4)))

    def f(a, b):
        return mfl.cross_entropy(a, b, reduction="mean", label_smoothing=0.1)

    results = []
    for device in (GPU, CPU):
        with mx.stream(device):
            value = mx.vmap(f, in_axes=(1, 1))(x, t)
            grad = mx.grad(lambda a: mx.vmap(f, in_axes=(1, 1))(a, t).sum())(x)
            mx.eval(value, grad)
        results.append((value, grad))
    assert results[0][0].shape == (4,)
    assert_close(results[0][0], results[1][0], "float32", "vmap value")
    assert_close(results[0][1], results[1][1], "float32", "vmap gradient")


CONTRASTIVE = {
    "info_nce_loss": lambda a, b, n: mfl.info_nce_loss(a, b),
    "info_nce_loss_negatives": lambda a, b, n: mfl.info_nce_loss(a, b, negative_keys=n),
    # -inf on the similarity matrix's diagonal.
    "nt_xent_loss": lambda a, b, n: mfl.nt_xent_loss(a, b),
    # Rows and columns of the logits: the class axis last and first (strided).
    "clip_loss": lambda a, b, n: mfl.clip_loss(a, b),
}


@pytest.mark.parametrize("n", [5, 300])
@pytest.mark.parametrize("name", list(CONTRASTIVE))
def test_gpu_contrastive_matches_cpu(name, n):
    rng = rng_for("contrastive", name, n)
    a, b, neg = (mx.array(rng.standard_normal((k, 16)).astype(np.float32)) for k in (n, n, 2 * n))
    fn = CONTRASTIVE[name]
    results = []
    for device in (GPU, CPU):
        with mx.stream(device):
            value, grads = mx.value_and_grad(lambda x, y: fn(x, y, neg), argnums=(0, 1))(a, b)
            mx.eval(value, grads)
        results.append((value, grads))
    assert_close(results[0][0], results[1][0], "float32", f"{name} value")
    for k in range(2):
        assert_close(results[0][1][k], results[1][1][k], "float32", f"{name} gradient {k}")
