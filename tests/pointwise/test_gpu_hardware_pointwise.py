"""The pointwise losses on the GPU (Metal) against the same losses on the CPU.

Runs on Apple silicon only (skipped where mx.metal.is_available() is False):
the real Metal compiler and hardware, where tests/test_emulator_pointwise.py uses
an emulator. Every loss of reference.POINTWISE (and binary cross-entropy on
probabilities, with weights and pos_weight), every reduction and dtype,
contiguous and strided/broadcast inputs, values and gradients.
"""

from __future__ import annotations

import zlib

import mlx.core as mx
import numpy as np
import pytest

import mlx_fused_losses as mfl
import reference as ref

pytestmark = pytest.mark.skipif(not mx.metal.is_available(), reason="needs Metal (Apple silicon)")

GPU, CPU = mx.gpu, mx.cpu
DTYPES = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
# float computation on both devices (different exp/log implementations and
# summation orders), then rounding to the dtype: (rtol, atol relative to the
# largest element).
TOL = {"float32": (1e-5, 1e-6), "float16": (4e-3, 2e-3), "bfloat16": (2e-2, 1.6e-2)}
SHAPE = (3, 7, 149)

# name -> (function, operand names, sampler, keyword arguments)
CASES = {name: (getattr(mfl, name), e.operands, e.sample, e.params)
         for name, e in ref.POINTWISE.items()}


def _bce_sample(logits):
    def sample(r, s):
        x = r.standard_normal(s) * 3.0 if logits else 0.02 + 0.96 * r.random(s)
        return x, r.random(s), r.random(s), 0.5 + 2.0 * r.random(s)
    return sample


for _logits in (True, False):
    CASES[f"bce_{'logits' if _logits else 'probs'}_weights_pos_weight"] = (
        lambda x, y, w, pw, reduction="mean", _l=_logits: mfl.binary_cross_entropy(
            x, y, w, with_logits=_l, reduction=reduction, pos_weight=pw),
        ("inputs", "targets", "weights", "pos_weight"), _bce_sample(_logits), {})


def arrays(name, dtype, layout):
    """The operands as mx arrays: contiguous, or transposed / broadcast (stride 0)
    / sliced every other element."""
    _, operands, sample, _ = CASES[name]
    rng = np.random.default_rng(zlib.crc32(repr((name, dtype, layout)).encode()))
    full = sample(rng, SHAPE)
    small = sample(rng, (1,) + SHAPE[1:])
    dt = DTYPES[dtype]
    out = []
    for k in range(len(operands)):
        v = full[k].astype(np.float32)
        # Cast first, then take the view: the kernels must see the strides.
        if layout == "contiguous":
            a = mx.array(v).astype(dt)
        elif k % 3 == 0:
            a = mx.transpose(mx.array(np.ascontiguousarray(v.T)).astype(dt))
        elif k % 3 == 1:
            a = mx.broadcast_to(mx.array(small[k].astype(np.float32)).astype(dt), SHAPE)
        else:
            a = mx.array(np.repeat(v, 2, axis=-1)).astype(dt)[..., ::2]
        out.append(a)
    return out


def assert_close(gpu, cpu, dtype, what):
    rtol, atol = TOL[dtype]
    g = np.array(gpu.astype(mx.float32)).astype(np.float64)
    c = np.array(cpu.astype(mx.float32)).astype(np.float64)
    assert g.shape == c.shape, what
    # NaN/inf (rmse_loss's gradient where x == y) must match exactly.
    scale = np.max(np.abs(c[np.isfinite(c)]), initial=0.0)
    bad = ~(np.abs(g - c) <= rtol * np.abs(c) + atol * scale) & ~(g == c) & ~(np.isnan(g) & np.isnan(c))
    assert not bad.any(), f"{what}: {bad.sum()} elements differ, e.g. gpu {g[bad][:3]} cpu {c[bad][:3]}"


def run(name, inputs, reduction, device, cotangent):
    fn, _, _, params = CASES[name]

    def loss(*a):
        return fn(*a, reduction=reduction, **params)

    with mx.stream(device):
        value = loss(*inputs)
        _, grads = mx.vjp(loss, list(inputs), [cotangent])
        mx.eval(value, grads)
    return value, grads


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("name", list(CASES))
def test_gpu_matches_cpu(name, dtype, reduction, layout):
    inputs = arrays(name, dtype, layout)
    out_shape = SHAPE if reduction == "none" else ()
    rng = np.random.default_rng(1)
    cot = mx.array(rng.standard_normal(out_shape).astype(np.float32)).astype(DTYPES[dtype])
    v_gpu, g_gpu = run(name, inputs, reduction, GPU, cot)
    v_cpu, g_cpu = run(name, inputs, reduction, CPU, cot)
    assert v_gpu.dtype == v_cpu.dtype
    assert_close(v_gpu, v_cpu, dtype, f"{name} value")
    for k, (a, b) in enumerate(zip(g_gpu, g_cpu)):
        assert_close(a, b, dtype, f"{name} gradient {k}")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gpu_vmap_matches_cpu(reduction):
    # vmap folds the mapped axis into batch entries: one sum per entry.
    x, y = arrays("huber_loss", "float32", "strided")[:2]

    def f(a, b):
        return mfl.huber_loss(a, b, delta=0.7, reduction=reduction)

    results = []
    for device in (GPU, CPU):
        with mx.stream(device):
            value = mx.vmap(f, in_axes=(1, 1))(x, y)
            grad = mx.grad(lambda a, b: mx.vmap(f, in_axes=(1, 1))(a, b).sum())(x, y)
            mx.eval(value, grad)
        results.append((value, grad))
    assert results[0][0].shape == (SHAPE[1],)
    assert_close(results[0][0], results[1][0], "float32", "vmap value")
    assert_close(results[0][1], results[1][1], "float32", "vmap gradient")


def test_gpu_empty_mean_is_nan():
    with mx.stream(GPU):
        out = mfl.mse_loss(mx.zeros((0,)), mx.zeros((0,)))
        mx.eval(out)
    assert np.isnan(out.item())
