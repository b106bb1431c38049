"""Runs the cases: correctness guard first, then every variant timed.

A *row* is one (loss, size, dtype, reduction, mode); mode is ``forward`` (the
loss) or ``value_and_grad`` (``mx.value_and_grad`` of it, w.r.t. the case's
``grad_argnums``; with ``reduction="none"`` the objective is the loss's sum).
Its *variants* are the fused function and the baselines: stock MLX, the same
under ``mx.compile``, the case's extra MLX baselines, and PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import mlx.core as mx

from . import bandwidth
from .cases import HEADLINE_SIZES, ROW_LENGTH, Case, bytes_moved
from .timing import mlx_runner, peak_memory, time_runs

MODES = ("forward", "value_and_grad")

# Tolerance of the guard per dtype, (rtol, atol_rel, atol_abs):
#   |fused - ref| <= rtol |ref| + atol_rel max|ref| + atol_abs,
# with ref = stock MLX on the same inputs in float64 (see run_row). atol_abs is
# half float16's smallest subnormal: gradients of a mean over millions of
# elements are ~1e-7, below float16's normal range.
TOLERANCE = {
    "float64": (1e-6, 1e-9, 0.0),
    "float32": (1e-4, 1e-6, 0.0),
    "float16": (5e-3, 1e-3, 2.0**-25),
    "bfloat16": (3e-2, 1e-2, 0.0),
}


@dataclass
class Config:
    device: mx.Device
    sizes: Optional[Sequence[int]]  # None: each family's HEADLINE_SIZES
    dtypes: Sequence[mx.Dtype]
    reductions: Sequence[str]
    warmup: int = 2
    repeats: int = 10
    torch: bool = True  # time PyTorch where it is installed
    seed: int = 0
    row_length: int = ROW_LENGTH  # classes per row of the row-softmax cases
    budget_s: float = 30.0  # a variant's timed runs stop past it (after MIN_RUNS)


def dtype_name(dtype: mx.Dtype) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def _cast(inputs, dtype):
    return [a.astype(dtype) if mx.issubdtype(a.dtype, mx.floating) else a for a in inputs]


def _call(fn: Callable, mode: str, reduction: str, params: Dict) -> Callable:
    """``fn`` on the inputs: the loss (forward), or ``mx.value_and_grad`` of it.

    With ``reduction="none"`` the objective differentiated is the loss's sum
    (in float32, which a float16 sum of millions of elements would overflow).
    """

    def loss(*inputs):
        return fn(*inputs, reduction=reduction, **params)

    if mode == "forward":
        return loss

    def objective(*inputs):
        out = loss(*inputs)
        return mx.sum(out.astype(mx.float32)) if reduction == "none" else out

    return objective


def _as_list(grads):
    return list(grads) if isinstance(grads, (list, tuple)) else [grads]


def _mlx_variants(case: Case, mode: str, reduction: str) -> Dict[str, Callable]:
    """label -> callable on the inputs, in the order of the table's columns."""

    def wrap(fn):
        f = _call(fn, mode, reduction, case.params)
        return f if mode == "forward" else mx.value_and_grad(f, argnums=case.grad_argnums)

    stock = wrap(case.stock)
    fns = {"fused": wrap(case.fused_fn()), "stock": stock, "compiled": mx.compile(stock)}
    fns.update({label: wrap(fn) for label, fn in case.extra.items()})
    return fns


def compare(got: mx.array, ref: mx.array, dtype_label: str) -> Dict:
    """Whether ``got`` matches ``ref`` within the dtype's tolerance, and how far off it is."""
    rtol, atol, atol_abs = TOLERANCE[dtype_label]
    got, ref = got.astype(mx.float32), ref.astype(mx.float32)
    if got.shape != ref.shape:
        return {"ok": False, "detail": f"shape {got.shape} != stock {ref.shape}"}
    err = mx.abs(got - ref)
    scale = mx.max(mx.where(mx.isnan(ref), 0.0, mx.abs(ref)))
    bad = mx.logical_not(
        (err <= rtol * mx.abs(ref) + atol * scale + atol_abs)
        | (got == ref)  # equal infinities
        | (mx.isnan(got) & mx.isnan(ref))
    )
    n_bad = int(mx.sum(bad).item())
    return {
        "ok": n_bad == 0,
        "max_abs_err": float(mx.max(err).item()),
        "max_abs_ref": float(scale.item()),
        "n_bad": n_bad,
        "rtol": rtol,
        "atol_rel": atol,
        "atol_abs": atol_abs,
    }


def check(case: Case, inputs, reduction: str, dtype_label: str, wide: mx.Dtype
          ) -> Dict[str, Dict]:
    """The guard: fused value (and gradients) against stock MLX, per mode.

    The reference is stock MLX on the same (rounded) inputs cast to ``wide``.
    """
    ref_inputs = _cast(inputs, wide)
    result = {}
    fused, stock = case.fused_fn(), case.stock
    try:
        got = _call(fused, "forward", reduction, case.params)(*inputs)
        ref = _call(stock, "forward", reduction, case.params)(*ref_inputs)
        result["forward"] = compare(got, ref, dtype_label)
    except Exception as err:  # reported, not raised: the other losses still run
        result["forward"] = {"ok": False, "detail": f"{type(err).__name__}: {err}"}
    try:
        vag = lambda fn: mx.value_and_grad(  # noqa: E731
            _call(fn, "value_and_grad", reduction, case.params), argnums=case.grad_argnums)
        value, grads = vag(fused)(*inputs)
        ref_value, ref_grads = vag(stock)(*ref_inputs)
        parts = [dict(compare(value, ref_value, dtype_label), part="value")]
        parts += [dict(compare(g, r, dtype_label), part=f"gradient of input {i}")
                  for i, g, r in zip(case.grad_argnums, _as_list(grads), _as_list(ref_grads))]
        worst = max(parts, key=lambda p: (not p["ok"], p.get("max_abs_err", 0.0)))
        result["value_and_grad"] = dict(worst, parts=parts, ok=all(p["ok"] for p in parts))
    except Exception as err:
        result["value_and_grad"] = {"ok": False, "detail": f"{type(err).__name__}: {err}"}
    return result


# ------------------------------------------------------------------ PyTorch
def torch_module():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _torch_device(device: mx.Device, torch) -> Optional[str]:
    if device == mx.cpu:
        return "cpu"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else None


def _torch_runner(case: Case, mode, reduction, inputs, dtype_label, torch, tdev):
    import numpy as np

    def tensor(a, i):
        # Through float32 numpy (which has no bfloat16): exact for every dtype here.
        wide = mx.float64 if a.dtype == mx.float64 else mx.float32
        t = torch.from_numpy(np.array(a.astype(wide) if mx.issubdtype(a.dtype, mx.floating)
                                      else a))
        if t.is_floating_point():
            t = t.to(getattr(torch, dtype_label))
        else:
            t = t.long()  # PyTorch's class indices
        t = t.to(tdev)
        return t.requires_grad_(mode == "value_and_grad" and i in case.grad_argnums)

    ts = [tensor(a, i) for i, a in enumerate(inputs)]
    wrt = [ts[i] for i in case.grad_argnums]
    sync = torch.mps.synchronize if tdev == "mps" else (lambda: None)

    def run():
        out = case.torch(*ts, reduction=reduction, **case.params)
        if mode == "value_and_grad":
            torch.autograd.grad(out.sum() if reduction == "none" else out, wrt)
        sync()

    return run


# ------------------------------------------------------------------ the loop
def plan(cases: Sequence[Case], config: Config) -> List[Dict]:
    """Every row to run, in order (for the progress bar's total)."""

    return [
        {"case": c, "n": n, "dtype": d, "reduction": r}
        for c in cases
        for n in (config.sizes or [HEADLINE_SIZES[c.family]])
        for d in config.dtypes
        for r in config.reductions
    ]


def variants_per_row(case: Case, with_torch: bool) -> int:
    return 3 + len(case.extra) + int(with_torch and case.torch is not None)


def run_row(case: Case, n: int, dtype: mx.Dtype, reduction: str, config: Config,
            bw: Dict, progress=None) -> List[Dict]:
    """Both modes of one (loss, size, dtype, reduction): guard, then timings."""
    label = dtype_name(dtype)
    key = mx.random.key(config.seed)
    inputs = _cast(case.inputs(n, key, config.row_length), dtype)
    mx.eval(inputs)
    # The guard's reference in float64 (float32 where the device lacks it):
    # stock float32 sums drift by ~1e-4 at 1M elements.
    wide = mx.float64 if config.device == mx.cpu else mx.float32
    checks = check(case, inputs, reduction, label, wide)

    torch = torch_module() if config.torch and case.torch is not None else None
    tdev = _torch_device(config.device, torch) if torch is not None else None

    rows = []
    for mode in MODES:
        row = {
            "loss": case.name,
            "family": case.family,
            "n": n,
            "shapes": [list(a.shape) for a in inputs],
            "dtype": label,
            "reduction": reduction,
            "mode": mode,
            "check": checks[mode],
            "labels": {"stock": case.stock_label, "compiled": f"mx.compile({case.stock_label})",
                       "torch": case.torch_label},
            "variants": {},
        }
        rows.append(row)
        n_steps = variants_per_row(case, torch is not None)
        if not checks[mode]["ok"]:
            row["status"] = "mismatch"
            if progress:
                progress.advance(n_steps, f"{case.name}: MISMATCH, not timed")
            continue
        row["status"] = "ok"
        for vlabel, fn in _mlx_variants(case, mode, reduction).items():
            if progress:
                progress.advance(0, f"{case.name} {label} {mode}: {vlabel}")
            row["variants"][vlabel] = _measure(mlx_runner(fn, inputs), config, mlx=True)
            if progress:
                progress.advance(1)
        if torch is not None:
            if progress:
                progress.advance(0, f"{case.name} {label} {mode}: torch")
            if tdev is None:
                row["variants"]["torch"] = {"error": "no PyTorch device for this MLX device"}
            else:
                run = _torch_runner(case, mode, reduction, inputs, label, torch, tdev)
                row["variants"]["torch"] = _measure(run, config, mlx=False)
            if progress:
                progress.advance(1)
        _derive(row, inputs, case, reduction, bw)
    mx.clear_cache()
    return rows


def _measure(run: Callable[[], None], config: Config, mlx: bool) -> Dict:
    try:
        stats = time_runs(run, config.warmup, config.repeats, config.budget_s)
        stats["peak_bytes"] = peak_memory(run) if mlx else None
        return stats
    except Exception as err:  # a baseline that cannot run this dtype, etc.
        return {"error": f"{type(err).__name__}: {err}"}


def _derive(row: Dict, inputs, case: Case, reduction: str, bw: Dict) -> None:
    """Speedups over each baseline, bytes moved, the share of the roofline and the
    fused variant's peak memory beyond its inputs, in units of the first input."""
    fused = row["variants"].get("fused", {})
    if "median_s" not in fused:
        row["status"] = "error"
        row["error"] = fused.get("error", "the fused variant did not run")
        return
    t = fused["median_s"]
    row["speedup"] = {
        k: v["median_s"] / t for k, v in row["variants"].items()
        if k != "fused" and "median_s" in v
    }
    out = case.fused_fn()(*inputs, reduction=reduction, **case.params)
    grads = [inputs[i] for i in case.grad_argnums]  # each gradient has its input's shape
    moved = bytes_moved(inputs, out, grads, case.gather)
    read, written = moved[f"{row['mode']}_read"], moved[f"{row['mode']}_written"]
    roof = bandwidth.roofline_seconds(read, written, bw)
    row["bytes_read"], row["bytes_written"] = read, written
    row["roofline_s"] = roof
    # Against the best run, as the bandwidth is the best of its repeats (STREAM's
    # rule): a median would charge the kernel for the rest of the machine (on
    # this VM, the host reclaiming freed pages for ~1 s after large frees)
    # while the bandwidth is not. The speedups above compare medians.
    best = fused["min_s"]
    row["bytes_per_s"] = (read + written) / best
    row["roofline_fraction"] = roof / best
    if fused.get("peak_bytes") is not None:
        live = sum(a.nbytes for a in inputs)
        row["extra_peak_fraction"] = (fused["peak_bytes"] - live) / inputs[0].nbytes
