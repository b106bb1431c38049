"""Timing and peak memory of one benchmark variant."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, List, Optional

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


MIN_RUNS = 3  # timed runs a budget never cuts below
SLOW_S = 1.0  # a warm-up this long is the last one: compilation and caches are warm


def time_runs(run: Callable[[], None], warmup: int, repeats: int,
              budget_s: Optional[float] = None) -> Dict:
    """``run()`` ``warmup`` times untimed (compilation, caches), then ``repeats`` timed runs.

    Slow variants (stock MLX on 8192 x 32000 logits takes ~10 s) stop early:
    after one warm-up of over ``SLOW_S``, and once the timed runs add up to
    ``budget_s`` (but never before ``MIN_RUNS`` runs).
    """
    for _ in range(warmup):
        t0 = time.perf_counter()
        run()
        if time.perf_counter() - t0 > SLOW_S:
            break
    times: List[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        if budget_s is not None and len(times) >= MIN_RUNS and sum(times) >= budget_s:
            break
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
