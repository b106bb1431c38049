"""Shared helpers of the Python layer: the public-function decorator, argument
conversion (every converter raises an error naming the argument; the decorator
adds the public function's name) and the extension module."""

from __future__ import annotations

import functools
from numbers import Integral, Real
from typing import Any, Callable, Dict, Literal, Optional, Sequence, TypeVar

import mlx.core as mx  # before _ext: it uses MLX's registered types

from . import _ext  # noqa: F401,E402

Reduction = Literal["none", "mean", "sum"]
REDUCTIONS = ("none", "mean", "sum")

F = TypeVar("F", bound=Callable[..., Any])

# mlx.nn.losses name -> the fused function that replaces it under patch_mlx();
# filled by the @loss_function decorators of the family modules.
MLX_REPLACEMENTS: Dict[str, Callable[..., Any]] = {}

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


class _ArgumentError(Exception):
    """An error of an argument converter: its message names the argument, and
    :func:`loss_function` prefixes the public function's name."""


class ArgumentTypeError(_ArgumentError, TypeError):
    pass


class ArgumentValueError(_ArgumentError, ValueError):
    pass


def loss_function(replaces: Optional[str] = None) -> Callable[[F], F]:
    """Marks a public loss: argument errors raised inside it name it
    (``"mse_loss: `reduction` is ..."``), and, with ``replaces``, ``patch_mlx()``
    swaps it for that ``mlx.nn.losses`` function."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except _ArgumentError as err:
                plain = TypeError if isinstance(err, TypeError) else ValueError
                raise plain(f"{fn.__name__}: {err}") from None

        if replaces is not None:
            MLX_REPLACEMENTS[replaces] = wrapper
        return wrapper  # type: ignore[return-value]

    return decorate


def as_array(name: str, value: Any, like: Optional[mx.array] = None) -> mx.array:
    """``value`` as an ``mx.array`` (numbers, lists and numpy arrays are converted).

    A value that is not yet an array is converted in float64 when ``like`` is
    float64, so Python floats keep their precision for float64 losses."""
    if isinstance(value, mx.array):
        return value
    try:
        if like is not None and like.dtype == mx.float64:
            return mx.array(value, dtype=mx.float64)
        return mx.array(value)
    except (TypeError, ValueError) as err:
        raise ArgumentTypeError(
            f"`{name}` is a {type(value).__name__}; expected an mlx.core.array "
            "(or a number, list or numpy array convertible to one)"
        ) from err


def as_optional_array(
    name: str, value: Any, like: Optional[mx.array] = None
) -> Optional[mx.array]:
    return None if value is None else as_array(name, value, like)


def as_number(name: str, value: Any) -> float:
    """A scalar parameter as a float: a real number (numpy's included) or a
    one-element real array; strings and bools are refused."""
    if isinstance(value, mx.array) and value.size == 1 and value.dtype != mx.bool_:
        if not mx.issubdtype(value.dtype, mx.complexfloating):
            return float(value.item())
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ArgumentTypeError(
            f"`{name}` is {value!r} ({type(value).__name__}); expected a number"
        )
    return float(value)


def as_flag(name: str, value: Any) -> bool:
    """A boolean parameter: a bool (numpy's included) or the integers 0 and 1."""
    if isinstance(value, Integral) and int(value) in (0, 1):
        return bool(value)
    if str(getattr(value, "dtype", "")) == "bool" and getattr(value, "shape", None) == ():
        return bool(value)  # numpy's bool
    raise ArgumentTypeError(f"`{name}` is {value!r} ({type(value).__name__}); expected a bool")


def _as_int(name: str, value: Any, bounds: Sequence[int], expected: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ArgumentTypeError(f"`{name}` is a {type(value).__name__}; expected {expected}")
    if not bounds[0] <= int(value) <= bounds[1]:
        raise ArgumentValueError(
            f"`{name}` is {int(value)}; expected {expected} in [{bounds[0]}, {bounds[1]}]"
        )
    return int(value)


def as_axis(value: Any, name: str = "axis") -> int:
    """An axis: an int (numpy integers too, as MLX's losses accept them)."""
    return _as_int(name, value, _INT32, "an int")


def as_optional_index(name: str, value: Any) -> Optional[int]:
    """A class index such as ``ignore_index``, or None."""
    if value is None:
        return None
    return _as_int(name, value, _INT64, "an int (or None)")


def as_reduction(reduction: Any, allowed: Sequence[str] = REDUCTIONS) -> str:
    expected = ", ".join(repr(r) for r in allowed)
    if not isinstance(reduction, str):
        raise ArgumentTypeError(
            f"`reduction` is a {type(reduction).__name__}; expected one of {expected}"
        )
    if reduction not in allowed:
        raise ArgumentValueError(f"`reduction` is {reduction!r}; expected one of {expected}")
    return reduction
