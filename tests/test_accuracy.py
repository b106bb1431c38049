"""Reductions over 32M float32 elements stay within 1e-6 relative of the float64
reference (numpy's pairwise float64 sum), where a float32 running sum (stock
MLX's reduction on the CPU) is off by percents. One array per loss, reused for
'mean' and 'sum'."""

import mlx.core as mx
import mlx.nn.losses as stock
import numpy as np
import pytest

import mlx_fused_losses as mfl
from reference import ref_bce_logits

N = 32 * 1024 * 1024


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(1234)
    x = rng.standard_normal(N, dtype=np.float32)
    y = rng.standard_normal(N, dtype=np.float32)
    return x, y


def _check(name, ours, theirs, ref_elements):
    total = float(np.sum(ref_elements))
    for reduction, ref in (("sum", total), ("mean", total / N)):
        got = ours(reduction).item()
        assert abs(got - ref) <= 1e-6 * abs(ref), (name, reduction, got, ref)
        # The test can tell: stock MLX misses the same 1e-6 by orders of magnitude.
        off = abs(theirs(reduction).item() - ref) / abs(ref)
        assert off > 1e-4, (name, reduction, off)


def test_mse_over_32m(big):
    x, y = big
    a, b = mx.array(x), mx.array(y)
    ref = (x.astype(np.float64) - y.astype(np.float64)) ** 2
    _check("mse", lambda r: mfl.mse_loss(a, b, reduction=r),
           lambda r: stock.mse_loss(a, b, reduction=r), ref)


def test_bce_with_logits_over_32m(big):
    x, y = big
    logits = 3.0 * x
    targets = 0.5 * (np.tanh(y) + 1.0)  # soft targets in (0, 1)
    a, b = mx.array(logits), mx.array(targets.astype(np.float32))
    ref = ref_bce_logits(logits.astype(np.float64), targets.astype(np.float32).astype(np.float64))
    _check("bce", lambda r: mfl.binary_cross_entropy(a, b, reduction=r),
           lambda r: stock.binary_cross_entropy(a, b, reduction=r), ref)
