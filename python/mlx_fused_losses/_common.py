"""Shared helpers of the Python layer: argument conversion and the extension."""

from __future__ import annotations

from typing import Any, Literal, Optional

import mlx.core as mx  # before _ext: it uses MLX's registered types

from . import _ext  # noqa: F401,E402

Reduction = Literal["none", "mean", "sum"]


def as_array(name: str, value: Any) -> mx.array:
    """``value`` as an ``mx.array`` (numbers, lists and numpy arrays are converted)."""
    if isinstance(value, mx.array):
        return value
    try:
        return mx.array(value)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"`{name}` is a {type(value).__name__}; expected an mlx.core.array "
            "(or a number, list or numpy array convertible to one)"
        ) from err


def as_optional_array(name: str, value: Any) -> Optional[mx.array]:
    return None if value is None else as_array(name, value)


def as_float(name: str, value: Any) -> float:
    """A scalar parameter as a float, or a TypeError naming it."""
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"`{name}` is {value!r} ({type(value).__name__}); expected a number"
        ) from err


def as_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str):
        raise TypeError(
            f"`reduction` is a {type(reduction).__name__}; expected one of "
            "'none', 'mean', 'sum'"
        )
    return reduction
