"""The row-distance losses on the GPU (Metal) against the same losses on the CPU.

Runs on Apple silicon only (skipped where mx.metal.is_available() is False):
the real Metal compiler and hardware, where
tests/row_distance/test_emulator_row_distance.py uses an emulator. Every
public row-distance function, p = 2, 1, 3 and 1.5, the triplet's swap,
float32/float16/bfloat16, short vectors (the "simd" kernels) and long ones
(the "looped" kernels), the vector axis last or first (strided rows),
broadcast inputs, every reduction, values and gradients.
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
# Both devices compute from the same inputs (the GPU sums in float, the CPU in
# double, in other orders); results are then rounded to the dtype. (rtol, atol
# relative to the largest element.)
TOL = {"float32": (2e-5, 2e-6), "float16": (4e-3, 2e-3), "bfloat16": (2e-2, 1.6e-2)}


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# name -> (loss(vectors, targets, reduction, axis), vectors, p, targets(rng, rows) or None)
def _labels(values):
    return lambda rng, rows: mx.array(rng.choice(values, rows).astype(np.float32))


CASES = {
    "cosine_similarity": (
        lambda x, t, r, a: mfl.cosine_similarity_loss(x[0], x[1], axis=a, reduction=r), 2, 2.0,
        None),
    "cosine_embedding": (
        lambda x, t, r, a: mfl.cosine_embedding_loss(x[0], x[1], t, margin=0.1, axis=a,
                                                     reduction=r), 2, 2.0, _labels([1.0, -1.0])),
    **{f"triplet_p{p}" + ("_swap" if swap else ""): (
        (lambda p, swap: lambda x, t, r, a: mfl.triplet_loss(
            x[0], x[1], x[2], axis=a, p=p, margin=0.5, reduction=r, swap=swap))(p, swap),
        3, p, None) for p in (2.0, 1.0, 3.0, 1.5) for swap in (False, True)},
    **{f"contrastive_p{p}": (
        (lambda p: lambda x, t, r, a: mfl.contrastive_loss(x[0], x[1], t, margin=1.0, axis=a, p=p,
                                                           reduction=r))(p),
        2, p, _labels([0.0, 1.0, 0.25])) for p in (2.0, 1.0, 3.0, 1.5)},
}


def vectors_for(rng, k, rows, n, p, axis, dtype):
    """k vectors (rows, n), the later ones near the first at a per-row
    distance of about 0.2 to 2 (both sides of the hinges); axis 0: stored
    transposed, so the kernels read strided rows."""
    u = rng.standard_normal((rows, n))
    vecs = [u] + [u + rng.standard_normal((rows, n)) * rng.uniform(0.2, 2.0, (rows, 1))
                  / max(n, 1) ** (1.0 / p) for _ in range(k - 1)]
    out = []
    for x in vecs:
        a = mx.array(x.astype(np.float32))
        out.append((mx.transpose(a) if axis == 0 else a).astype(DTYPES[dtype]))
    return out


def assert_close(gpu, cpu, dtype, what):
    rtol, atol = TOL[dtype]
    g = np.array(gpu.astype(mx.float32)).astype(np.float64)
    c = np.array(cpu.astype(mx.float32)).astype(np.float64)
    assert g.shape == c.shape, what
    scale = np.max(np.abs(c[np.isfinite(c)]), initial=0.0)
    bad = ~(np.abs(g - c) <= rtol * np.abs(c) + atol * scale) & ~(g == c) & ~(np.isnan(g) & np.isnan(c))
    assert not bad.any(), f"{what}: {bad.sum()} elements differ, e.g. gpu {g[bad][:3]} cpu {c[bad][:3]}"


def run(name, vecs, t, reduction, axis, device):
    fn = CASES[name][0]

    def loss(*x):
        return fn(list(x), t, reduction, axis)

    with mx.stream(device):
        value = loss(*vecs)
        _, grads = mx.vjp(loss, vecs, [mx.ones_like(value)])
        mx.eval(value, grads)
    return value, grads


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("n", [3, 33, 300, 5000])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("name", list(CASES))
def test_gpu_matches_cpu(name, dtype, reduction, n, axis):
    rng = rng_for(name, dtype, n, axis)
    _, k, p, targets = CASES[name]
    rows = 37
    vecs = vectors_for(rng, k, rows, n, p, axis, dtype)
    t = targets(rng, rows) if targets else None
    v_gpu, g_gpu = run(name, vecs, t, reduction, axis, GPU)
    v_cpu, g_cpu = run(name, vecs, t, reduction, axis, CPU)
    assert v_gpu.dtype == v_cpu.dtype
    assert_close(v_gpu, v_cpu, dtype, f"{name} value")
    for j, (a, b) in enumerate(zip(g_gpu, g_cpu)):
        assert a.dtype == b.dtype
        assert_close(a, b, dtype, f"{name} gradient {j}")


@pytest.mark.parametrize("name", ["cosine_similarity", "triplet_p1.5_swap", "contrastive_p2.0"])
def test_gpu_broadcast_inputs(name):
    # One vector shared by every row (stride 0, no copy), and a vector axis of 0.
    rng = rng_for("broadcast", name)
    _, k, p, targets = CASES[name]
    vecs = vectors_for(rng, k, 12, 40, p, -1, "float32")
    vecs[1] = vecs[1][:1]
    t = targets(rng, 12) if targets else None
    results = [run(name, vecs, t, "mean", -1, d) for d in (GPU, CPU)]
    assert_close(results[0][0], results[1][0], "float32", "value")
    for j in range(k):
        assert_close(results[0][1][j], results[1][1][j], "float32", f"gradient {j}")
    empty = [mx.zeros((4, 0)) for _ in range(k)]
    t = targets(rng, 4) if targets else None
    results = [run(name, empty, t, "none", -1, d) for d in (GPU, CPU)]
    assert_close(results[0][0], results[1][0], "float32", "empty vectors")


def test_gpu_edge_cases_match_cpu():
    # A hinge at exactly 0 (positive == negative, margin 0), the swap's exact
    # tie (negative 0, positive -anchor), a zero vector (the clamped cosine),
    # cosine-embedding targets outside {1, -1} (NaN).
    rng = rng_for("edges")
    u = mx.array(rng.standard_normal((3, 20)).astype(np.float32))
    v = mx.array(rng.standard_normal((3, 20)).astype(np.float32))
    cases = [
        (lambda a, b, c: mfl.triplet_loss(a, b, c, margin=0.0), [u, v, v]),
        (lambda a, b, c: mfl.triplet_loss(a, b, c, swap=True), [u, -u, mx.zeros_like(u)]),
        (lambda a, b: mfl.cosine_similarity_loss(a, b, axis=-1), [mx.zeros_like(u), v]),
        (lambda a, b: mfl.cosine_embedding_loss(a, b, mx.array([1.0, 0.5, -1.0]),
                                                reduction="none"), [u, v]),
    ]
    for j, (fn, args) in enumerate(cases):
        results = []
        for device in (GPU, CPU):
            with mx.stream(device):
                value, vjps = mx.vjp(fn, args, [mx.ones((3,))])
                mx.eval(value, vjps)
            results.append((value[0], vjps))
        assert_close(results[0][0], results[1][0], "float32", f"case {j} value")
        for k in range(len(args)):
            assert_close(results[0][1][k], results[1][1][k], "float32", f"case {j} gradient {k}")


def test_gpu_vmap_matches_cpu():
    rng = rng_for("vmap")
    a, b, c = (mx.array(rng.standard_normal((3, 4, 40)).astype(np.float32)) for _ in range(3))

    def f(x, y, z):
        return mfl.triplet_loss(x, y, z, reduction="mean", swap=True)

    results = []
    for device in (GPU, CPU):
        with mx.stream(device):
            value = mx.vmap(f, in_axes=(1, 1, 1))(a, b, c)
            grad = mx.grad(lambda x: mx.vmap(f, in_axes=(1, 1, 1))(x, b, c).sum())(a)
            mx.eval(value, grad)
        results.append((value, grad))
    assert results[0][0].shape == (4,)
    assert_close(results[0][0], results[1][0], "float32", "vmap value")
    assert_close(results[0][1], results[1][1], "float32", "vmap gradient")
