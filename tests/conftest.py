"""Shared fixtures. The CPU is the device the tests hold the kernels to (the
Metal kernels have their own emulator tests)."""

import os
import sys
import zlib

import mlx.core as mx
import numpy as np
import pytest

# Test modules import their helpers (reference.py, pointwise_cases.py) by name.
sys.path.insert(0, os.path.dirname(__file__))

mx.set_default_device(mx.cpu)


@pytest.fixture
def rng(request):
    """A generator seeded per test, so every test is reproducible on its own."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture(autouse=True)
def _restore_mlx_losses():
    """No test leaks a patched mlx.nn.losses into the next one."""
    import mlx_fused_losses

    yield
    mlx_fused_losses.unpatch_mlx()
