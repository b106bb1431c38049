"""The machine's memory bandwidth, measured in the benchmark's own run.

On the CPU the probes are C++ (``_ext._bench_stream_read``/``_bench_copy``),
running on the threads the fused kernels use; on the GPU they are MLX ops
(a sum and a copy, which MLX's Metal kernels run near the hardware's peak).
The figure used for the roofline is the best of the repeats, as STREAM does:
the others only add noise from the rest of the machine.
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional

import mlx.core as mx

from .._common import _ext
from .timing import summarize

BUFFER_BYTES = 256 << 20  # well beyond any cache


def _rates(nbytes: int, times: List[float]) -> Dict:
    stats = summarize(times)
    return {
        "best_bytes_per_s": nbytes / stats["min_s"],
        "median_bytes_per_s": nbytes / stats["median_s"],
        "times_s": stats["times_s"],
    }


def _cpu(buffer: mx.array, repeats: int) -> Dict:
    nbytes = buffer.nbytes
    read_times, _ = _ext._bench_stream_read(buffer, repeats)
    copy_times = _ext._bench_copy(buffer, repeats)
    return {
        "read": _rates(nbytes, read_times),
        "copy": _rates(2 * nbytes, copy_times),  # each copy reads and writes nbytes
        "method": "C++ sum / memcpy over a 256 MB float32 buffer on the kernels' threads",
    }


def _gpu(buffer: mx.array, repeats: int) -> Dict:
    def timed(fn):
        mx.eval(fn())  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            mx.eval(fn())
            mx.synchronize()
            times.append(time.perf_counter() - t0)
        return times

    nbytes = buffer.nbytes
    return {
        "read": _rates(nbytes, timed(lambda: mx.sum(buffer))),
        "copy": _rates(2 * nbytes, timed(lambda: mx.abs(buffer))),
        "method": "MLX sum / abs over a 256 MB float32 buffer on the GPU",
    }


def _numpy_single_thread(repeats: int) -> Optional[Dict]:
    """numpy's sum and copy (one thread), for context only."""
    try:
        import numpy as np
    except ImportError:
        return None
    src = np.ones(BUFFER_BYTES // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # maps the pages

    def timed(fn):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return times

    return {
        "read": _rates(src.nbytes, timed(src.sum)),
        "copy": _rates(2 * src.nbytes, timed(lambda: np.copyto(dst, src))),
    }


def measure(device: mx.Device, repeats: int = 5) -> Dict:
    """Read and copy bandwidth (bytes/s) of ``device``'s memory; see the module doc."""
    with mx.stream(mx.cpu):
        buffer = mx.full((BUFFER_BYTES // 4,), 1.0, dtype=mx.float32)
        mx.eval(buffer)
    if device == mx.cpu:
        result = _cpu(buffer, repeats)
    else:
        with mx.stream(device):
            result = _gpu(buffer, repeats)
    del buffer
    result["buffer_bytes"] = BUFFER_BYTES
    result["repeats"] = repeats
    result["numpy_single_thread"] = _numpy_single_thread(repeats)
    return result


def roofline_seconds(read: int, written: int, bw: Dict) -> float:
    """The least time to read ``read`` and write ``written`` bytes at the measured rates.

    A read costs ``1 / read_bw`` per byte. A copy of n bytes reads n and writes
    n in ``2n / copy_bw``, so a written byte costs ``2 / copy_bw - 1 / read_bw``.
    """
    r = bw["read"]["best_bytes_per_s"]
    c = bw["copy"]["best_bytes_per_s"]
    per_written = max(2.0 / c - 1.0 / r, 0.0)
    return read / r + written * per_written
