"""Shared fixtures. The CPU is the device the tests hold the kernels to (the
Metal kernels have their own emulator tests)."""

import os
import sys
import zlib

import mlx.core as mx
import numpy as np
import pytest

# Test modules import their helpers (tests/common: reference.py,
# pointwise_cases.py, ...) and each other (tests/) by name.
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "common"))

mx.set_default_device(mx.cpu)

# Markers by module (registered in pyproject.toml): `-m "not emulator"` skips the
# Metal emulator tests, `-m gpu` runs only the ones that need Apple's GPU.
_MODULE_MARKS = {
    "test_emulator_": "emulator",
    "test_gpu_hardware_": "gpu",
    "test_torch_compat": "torch",
    "test_row_softmax_torch": "torch",
    "test_properties": "slow",
    "test_mlx_compat": "slow",
    "test_cpp_example": "slow",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.path.name
        for prefix, mark in _MODULE_MARKS.items():
            if name.startswith(prefix):
                item.add_marker(getattr(pytest.mark, mark))


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
