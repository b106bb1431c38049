"""Timing and peak memory of one benchmark variant."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, List

import mlx.core as mx


def _quantile(sorted_xs: List[float], q: float) -> float:
    # Linear interpolation between order statistics (numpy's default).
    pos = q * (len(sorted_xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def summarize(times: List[float]) -> Dict:
    """Median, quartiles and extremes of the per-run seconds."""
    xs = sorted(times)
    return {
        "median_s": statistics.median(xs),
        "p25_s": _quantile(xs, 0.25),
        "p75_s": _quantile(xs, 0.75),
        "min_s": xs[0],
        "max_s": xs[-1],
        "times_s": list(times),
    }


def mlx_runner(fn: Callable, args) -> Callable[[], None]:
    """One call of ``fn(*args)`` evaluated to completion on its stream."""

    def run():
        mx.eval(fn(*args))
        mx.synchronize()

    return run


def time_runs(run: Callable[[], None], warmup: int, repeats: int) -> Dict:
    """``run()`` ``warmup`` times untimed (compilation, caches), then ``repeats`` timed runs."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return summarize(times)


def peak_memory(run: Callable[[], None]) -> int:
    """MLX's peak memory (bytes, including the live inputs) over one ``run()``.

    Only MLX's allocations count (a PyTorch variant's are invisible to it).
    """
    mx.synchronize()
    mx.clear_cache()
    mx.reset_peak_memory()
    run()
    return int(mx.get_peak_memory())
