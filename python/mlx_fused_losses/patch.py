"""Swapping the functions of ``mlx.nn.losses`` for the fused ones."""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator

import mlx.nn.losses as _mlx_losses

from ._common import MLX_REPLACEMENTS

# mlx.nn.losses names this package replaces (same signatures and results): the
# package imports every family module, whose decorators fill the registry,
# before this one.
PATCHABLE = list(MLX_REPLACEMENTS)

_originals: Dict[str, object] = {}


def patch_mlx() -> None:
    """Replace the ``mlx.nn.losses`` functions this package fuses with the fused ones.

    Code that calls ``nn.losses.mse_loss(...)`` (or ``mlx.nn.losses.<name>``)
    after this uses the fused kernels without edits; names imported with
    ``from mlx.nn.losses import ...`` before the call keep the originals.
    Calling it twice is harmless; ``unpatch_mlx()`` restores MLX's functions.
    """
    for name in PATCHABLE:
        if name not in _originals:
            _originals[name] = getattr(_mlx_losses, name)
        setattr(_mlx_losses, name, MLX_REPLACEMENTS[name])


def unpatch_mlx() -> None:
    """Restore the ``mlx.nn.losses`` functions replaced by :func:`patch_mlx`."""
    for name, original in _originals.items():
        setattr(_mlx_losses, name, original)
    _originals.clear()


def is_patched() -> bool:
    """Whether :func:`patch_mlx` is in effect."""
    return bool(_originals)


@contextlib.contextmanager
def patched_mlx() -> Iterator[None]:
    """Context manager: ``mlx.nn.losses`` uses the fused losses inside the block.

    Restores the previous state on exit (a block inside an already patched
    program leaves it patched).
    """
    was_patched = is_patched()
    patch_mlx()
    try:
        yield
    finally:
        if not was_patched:
            unpatch_mlx()
