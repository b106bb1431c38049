"""PNG plots of a benchmark report (matplotlib, the ``bench`` extra)."""

from __future__ import annotations

import math
from typing import Dict, List

from .report import _baselines, _size, largest, size_label

MISSING = ("matplotlib is not installed, so no PNG plots were written (the JSON and CSV "
           "were). Install it with: pip install 'mlx-fused-losses[bench]'  (or: pip install "
           "matplotlib)")

COLORS = {"fused": "#d62728", "stock": "#1f77b4", "compiled": "#17becf", "torch": "#ff7f0e",
          "mx.fast.cross_entropy": "#2ca02c"}
DPI = 100  # with the figure sizes below: at least 1000 px wide
MODES = (("forward", "forward"), ("value_and_grad", "mx.value_and_grad"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str, dpi: int, layout: bool = True) -> None:
    """The figure as a palette PNG: a tenth of the RGBA size, small enough to commit."""
    import io

    from PIL import Image  # a dependency of matplotlib

    buf = io.BytesIO()
    if layout:
        fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    _pyplot().close(fig)
    buf.seek(0)
    Image.open(buf).convert("RGB").quantize(colors=64).save(path, optimize=True)


def _timed(rows: List[Dict]) -> List[Dict]:
    return [r for r in rows if r["status"] == "ok"]


def _combo(row: Dict) -> str:
    return f"{row['dtype']}, {row['reduction']}"


def speedup(rows: List[Dict], path: str, title: str) -> bool:
    """Bars: the fused loss's speedup over each baseline, at each loss's largest size."""
    rows = largest(_timed(rows))
    if not rows:
        return False
    plt = _pyplot()
    combos = sorted({_combo(r) for r in rows})
    baselines = _baselines(rows)
    fig, axes = plt.subplots(1, 2, sharey=True, figsize=(13, 1.8 + 0.36 * len(rows) / 2))
    for ax, (mode, mode_title) in zip(axes, MODES):
        mrows = [r for r in rows if r["mode"] == mode]
        labels = [f"{r['loss']} {size_label(r)}" + (f" ({_combo(r)})" if len(combos) > 1 else "")
                  for r in mrows]
        height = 0.8 / max(len(baselines), 1)
        for j, b in enumerate(baselines):
            ys = [i + (j - (len(baselines) - 1) / 2) * height for i in range(len(mrows))]
            xs = [r.get("speedup", {}).get(b, math.nan) for r in mrows]
            ax.barh(ys, xs, height=height, color=COLORS.get(b, None), label=b)
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_yticks(range(len(mrows)))
        ax.set_yticklabels(labels, fontsize=10)
        ax.set_xlabel("speedup of the fused loss (x, log scale)", fontsize=10)
        ax.set_title(mode_title, fontsize=11)
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0].invert_yaxis()  # the first loss on top (the axes share y: invert once)
    # One legend below the plots, where it covers no bar.
    handles, names = axes[0].get_legend_handles_labels()
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=10, frameon=False)
    _save(fig, path, dpi=DPI, layout=False)
    return True


def time_vs_size(rows: List[Dict], path: str, title: str, mode: str = "forward") -> bool:
    """Small multiples, one per loss: median time vs n of each variant, and the roofline."""
    rows = [r for r in _timed(rows) if r["mode"] == mode]
    if not rows:
        return False
    plt = _pyplot()
    from matplotlib.ticker import NullLocator

    legend: Dict[str, object] = {}  # variant -> a line of it, for the figure's legend
    keys = []
    for r in rows:
        k = (r["loss"], _combo(r))
        if k not in keys:
            keys.append(k)
    cols = min(4, len(keys))
    nrows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(max(10.5, 3.2 * cols), 2.6 * nrows + 0.8),
                             squeeze=False)
    for ax, key in zip(axes.flat, keys):
        series = sorted((r for r in rows if (r["loss"], _combo(r)) == key), key=lambda r: r["n"])
        ns = [r["n"] for r in series]
        for variant in ["fused"] + _baselines(series):
            ts = [r["variants"].get(variant, {}).get("median_s", math.nan) * 1e3 for r in series]
            ax.plot(ns, ts, marker="o", ms=3, lw=1.2, color=COLORS.get(variant), label=variant)
            legend.setdefault(variant, ax.lines[-1])
        ax.plot(ns, [r["roofline_s"] * 1e3 for r in series], "k--", lw=1, label="roofline")
        legend.setdefault("roofline", ax.lines[-1])
        ax.set_xscale("log", base=2)
        ax.set_xticks(ns, [_size(n) for n in ns])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_yscale("log")
        ax.set_title(key[0] + ("" if len({k[1] for k in keys}) == 1 else f" ({key[1]})"),
                     fontsize=10)
        ax.tick_params(which="both", labelsize=9)
        ax.grid(alpha=0.3, which="both")
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    axes.flat[0].set_ylabel("ms (median)", fontsize=10)
    # One legend (every variant of any panel) above the panels, covering none.
    fig.suptitle(f"{title}: {dict(MODES)[mode]} time vs number of elements", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.75 / fig.get_figheight()))
    fig.legend(list(legend.values()), list(legend), loc="upper center", ncol=len(legend),
               fontsize=10, frameon=False, bbox_to_anchor=(0.5, 1 - 0.4 / fig.get_figheight()))
    _save(fig, path, dpi=DPI, layout=False)
    return True


def write_all(rows: List[Dict], out_dir: str, prefix: str, title: str) -> List[str]:
    """Every plot into ``out_dir``; the paths written (empty without matplotlib)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return []
    import os

    written = []
    path = os.path.join(out_dir, f"{prefix}speedup.png")
    if speedup(rows, path, title):
        written.append(path)
    for mode, _ in MODES:
        path = os.path.join(out_dir, f"{prefix}time-vs-size-{mode}.png")
        if time_vs_size(rows, path, title, mode):
            written.append(path)
    return written
