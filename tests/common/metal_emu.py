"""Run the Metal kernels in metalcheck's CPU emulator, as eval_gpu does.

The dispatch plans (kernel names, grids, threadgroup sizes, buffer bindings,
constant bytes) come from the C++ planners through ``_ext._pointwise_metal_plan``,
``_ext._row_softmax_metal_plan`` and ``_ext._row_distance_metal_plan`` -- the
same functions csrc/<family>/metal*.cpp execute on a Mac -- and the kernels from
kernels/*/*.metal, built by metalcheck.

metalcheck is looked up in ``$METALCHECK_DIR``, else the vendored ``<repo>/tools/metalcheck``.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[2]
KERNELS = REPO / "kernels" / "pointwise" / "pointwise.metal"
ROW_KERNELS = REPO / "kernels" / "row_softmax" / "row_softmax.metal"
ROW_DISTANCE_KERNELS = REPO / "kernels" / "row_distance" / "row_distance.metal"


def metalcheck_dir() -> Path:
    env = os.environ.get("METALCHECK_DIR")
    return Path(env) if env else REPO / "tools" / "metalcheck"


def unavailable() -> Optional[str]:
    """Why the emulator cannot run here, or None."""
    mc = metalcheck_dir()
    if not (mc / "msl_emu.py").is_file():
        return f"metalcheck not found at {mc} (set METALCHECK_DIR)"
    clang = os.environ.get("METALCHECK_CLANG", "clang++-19")
    if shutil.which(clang) is None:
        return f"{clang} not found (run {mc}/install.sh)"
    return None


def emu():
    """metalcheck's msl_emu module."""
    path = str(metalcheck_dir())
    if path not in sys.path:  # (called per conversion: sys.path would grow without bound)
        sys.path.insert(0, path)
    import msl_emu

    return msl_emu


@functools.lru_cache(maxsize=None)
def library(path: Path = KERNELS):
    """The emulator build of a .metal file, kernels/pointwise/pointwise.metal by default
    (cached by metalcheck)."""
    return emu().Library.from_metal(str(path), include_dirs=[str(REPO)])


# ------------------------------------------------------------------ dtypes
STORAGE = {"float32": np.float32, "float16": np.float16, "bfloat16": np.uint16}


def to_device(values: np.ndarray, dtype: str) -> np.ndarray:
    """float64 values -> the kernel's storage (bfloat16 as uint16 bits)."""
    if dtype == "bfloat16":
        return emu().to_bfloat16(np.asarray(values, np.float32))
    return np.asarray(values).astype(STORAGE[dtype])


def from_device(stored: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        return emu().from_bfloat16(stored).astype(np.float64)
    return stored.astype(np.float64)


def quantize(values: np.ndarray, dtype: str) -> np.ndarray:
    """values rounded to dtype, back in float64."""
    return from_device(to_device(values, dtype), dtype)


# ------------------------------------------------------------------ layouts
def row_major(shape: Sequence[int]) -> List[int]:
    strides, n = [], 1
    for s in reversed(shape):
        strides.append(n)
        n *= s
    return strides[::-1]


def store(values: np.ndarray, layout: str, dtype: str, broadcast_axis: int = 0):
    """A logical array `values` stored with `layout`:
    "contiguous"; "transposed" (axes reversed in memory); "gapped" (every
    element followed by a NaN, so a wrong stride reads NaN); "broadcast"
    (stride 0 along `broadcast_axis`: `values` must be constant along it).
    Returns (flat device buffer, strides in elements)."""
    shape = values.shape
    if layout == "contiguous":
        return to_device(values.ravel(), dtype), row_major(shape)
    if layout == "transposed":
        flat = np.transpose(values).ravel()
        return to_device(flat, dtype), row_major(shape[::-1])[::-1]
    if layout == "gapped":
        flat = np.full(2 * values.size, np.nan)
        flat[::2] = values.ravel()
        return to_device(flat, dtype), [2 * s for s in row_major(shape)]
    if layout == "broadcast":
        ax = broadcast_axis % values.ndim
        first = np.take(values, [0], axis=ax)
        assert np.array_equal(values, np.broadcast_to(first, shape), equal_nan=True), \
            f"a broadcast operand must be constant along axis {ax}"
        strides = row_major(first.shape)
        strides[ax] = 0
        return to_device(first.ravel(), dtype), strides
    raise ValueError(layout)


# ------------------------------------------------------------------ dispatch
def placeholder(param) -> np.ndarray:
    """One element of a kernel parameter's type: any access beyond it faults."""
    if "float" in param["ctype"]:
        return np.zeros(1, np.float32)
    return np.zeros(1, np.dtype(f"u{param['elem_size']}"))


def run_plan(plan, inputs, outputs, dtype, *, schedules=False, threads=None, lib=None):
    """Executes `plan` (from _ext._*_metal_plan) like eval_gpu does, with the
    kernels of `lib` (default: library()).

    inputs: flat device buffers in the primitive's input order; outputs: device
    arrays, written in place (poisoned first, so every element must be
    written). Placeholder slots start poisoned too, and a writable one must
    still be poisoned afterwards (an unrequested output is never written).
    schedules: run each dispatch under all of metalcheck's thread schedules
    and require identical results. threads: override the threadgroup size
    (eval_gpu may lower it to the pipeline's limit)."""
    lib = library() if lib is None else lib
    partials = np.zeros(plan["partials"], np.float32)
    for d in plan["dispatches"]:
        kern = lib.kernel(d["kernel"])
        buffers, poison, unused = [], [], []
        for slot, (kind, value) in enumerate(d["buffers"]):
            if kind == "input":
                buf = inputs[value]
            elif kind == "output":
                buf = outputs[value]
                poison.append(slot)
            elif kind == "partials_out":
                buf = partials
                poison.append(slot)
            elif kind == "partials_in":
                buf = partials
            elif kind == "bytes":
                # A struct (constant T&) as raw bytes; arrays of int64 as such.
                buf = value if kern.buffers[slot]["ref"] else np.frombuffer(value, np.int64).copy()
            elif kind == "placeholder":
                buf = placeholder(kern.buffers[slot])
                poison.append(slot)
                if not kern.buffers[slot]["const"]:
                    unused.append((slot, buf))
            else:
                raise ValueError(kind)
            buffers.append(buf)
        group = d["group"] if threads is None else (threads, 1, 1)
        run = lib.check_schedules if schedules else lib.dispatch
        run(d["kernel"], buffers, grid=d["grid"], group=group, threads=False, poison=tuple(poison))
        for slot, buf in unused:
            assert (buf.view(np.uint8) == 0xFF).all(), \
                f"{d['kernel']} wrote its placeholder buffer({slot}) '{kern.buffers[slot]['name']}'"
