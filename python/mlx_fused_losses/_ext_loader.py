"""Loads the compiled extension (after mlx.core, whose types it shares)."""

import mlx.core  # noqa: F401  (registers MLX's types before _ext needs them)

from . import _ext  # noqa: E402

__all__ = ["_ext"]
