"""The benchmark's outputs: progress bar, terminal table, JSON, CSV and Markdown."""

from __future__ import annotations

import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

import mlx.core as mx

import mlx_fused_losses

from .cases import POINTWISE, ROW_DISTANCE, ROW_SOFTMAX

MB = 1 << 20
PERF_ENV = ("MLX_FUSED_LOSSES_NUM_THREADS", "OMP_NUM_THREADS", "MALLOC_MMAP_THRESHOLD_",
            "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


# ----------------------------------------------------------------- progress
class Progress:
    """A one-line progress bar on stderr (a line per 10% when stderr is not a terminal)."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.stream = max(total, 1), 0, stream
        self.tty = stream.isatty()
        self.label = ""
        self.start = time.perf_counter()
        self._last_decile = -1

    def advance(self, steps: int = 1, label: Optional[str] = None) -> None:
        self.done = min(self.done + steps, self.total)
        if label is not None:
            self.label = label
        frac = self.done / self.total
        elapsed = time.perf_counter() - self.start
        line = f"[{'#' * int(30 * frac):<30}] {self.done}/{self.total} {elapsed:5.0f}s {self.label}"
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r" + line[:width].ljust(width))
        elif int(10 * frac) > self._last_decile:
            self._last_decile = int(10 * frac)
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------- environment
def _cpu_model() -> str:
    try:
        if sys.platform == "darwin":
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                  capture_output=True, text=True, timeout=5).stdout.strip()
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> Optional[int]:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _git_commit() -> Optional[str]:
    """The commit of the package's source tree, when run from a git checkout
    (``<commit>-dirty`` when the tree has uncommitted changes)."""
    here = os.path.dirname(os.path.abspath(mlx_fused_losses.__file__))
    try:
        out = subprocess.run(["git", "-C", here, "describe", "--always", "--dirty", "--abbrev=7"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment(device: mx.Device) -> Dict:
    versions = {
        "python": platform.python_version(),
        "mlx": mx.__version__,
        "mlx_fused_losses": mlx_fused_losses.__version__,
        "mlx_fused_losses_git": _git_commit(),
    }
    for name in ("numpy", "torch", "matplotlib"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except ImportError:
                pass
        versions[name] = getattr(module, "__version__", None) if module else None
    torch = sys.modules.get("torch")
    return {
        "machine": {
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "memory_bytes": _memory_bytes(),
            "device": str(device),
            "fused_threads": os.environ.get("MLX_FUSED_LOSSES_NUM_THREADS", os.cpu_count()),
            "torch_threads": torch.get_num_threads() if torch else None,
            # Settings that change the timings (glibc's mmap threshold: see docs/BENCHMARKS.md).
            "environment": {k: os.environ[k] for k in PERF_ENV if k in os.environ},
        },
        "versions": versions,
    }


# -------------------------------------------------------------------- table
def _size(n: int) -> str:
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def size_label(row: Dict) -> str:
    """The row's size: ``16M`` elements, or the first input's shape for the row
    families (``8192x32000`` logits, ``65536x256`` vectors)."""
    if row.get("family") in (ROW_SOFTMAX, ROW_DISTANCE):
        return "x".join(str(d) for d in row["shapes"][0])
    return _size(row["n"])


def largest(rows: List[Dict]) -> List[Dict]:
    """The rows of each (loss, dtype, reduction)'s largest measured size."""
    key = lambda r: (r["loss"], r["dtype"], r["reduction"])  # noqa: E731
    top: Dict = {}
    for r in rows:
        top[key(r)] = max(top.get(key(r), 0), r["n"])
    return [r for r in rows if r["n"] == top[key(r)]]


def _ms(v: Dict) -> str:
    return f"{1e3 * v['median_s']:.3g}"


def _baselines(rows: List[Dict]) -> List[str]:
    """The baseline columns, in a stable order: stock, compiled, extras, torch."""
    seen: List[str] = []
    for row in rows:
        for k in row["variants"]:
            if k != "fused" and k not in seen:
                seen.append(k)
    order = {"stock": 0, "compiled": 1, "torch": 3}
    return sorted(seen, key=lambda k: order.get(k, 2))


def check_detail(check: Dict) -> str:
    """What the correctness guard found, in words."""
    if check.get("detail"):
        return check["detail"]
    return ((f"{check['part']}: " if "part" in check else "")
            + f"max |fused - stock| {check['max_abs_err']:.3g} where max |stock| is "
            f"{check['max_abs_ref']:.3g}; {check['n_bad']} element(s) beyond "
            f"rtol {check['rtol']:g} + {check['atol_rel']:g} max|stock|")


def _peak(v: Optional[Dict]) -> str:
    if not v or v.get("peak_bytes") is None:
        return "-"
    return f"{v['peak_bytes'] / MB:.0f}"


def table_rows(rows: List[Dict]) -> Tuple[List[str], List[List[str]]]:
    """Header and cells of the results table (one line per row)."""
    baselines = _baselines(rows)
    header = ["loss", "mode", "size", "dtype", "red.", "fused ms (IQR)"]
    header += [f"{b} ms (speedup)" for b in baselines]
    header += ["GB/s", "% roofline", "peak MB fused/stock/compiled"]
    out = []
    for row in rows:
        cells = [row["loss"], "fwd" if row["mode"] == "forward" else "vag", size_label(row),
                 row["dtype"], row["reduction"]]
        if row["status"] == "mismatch":
            out.append(cells + [f"MISMATCH vs stock MLX ({check_detail(row['check'])}): "
                                "not timed"])
            continue
        v = row["variants"]
        fused = v.get("fused", {})
        if "median_s" not in fused:
            out.append(cells + [f"ERROR: {fused.get('error', 'fused variant failed')}"])
            continue
        iqr = 1e3 * (fused["p75_s"] - fused["p25_s"])
        cells.append(f"{_ms(fused)} ({iqr:.2g})")
        for b in baselines:
            bv = v.get(b)
            if bv is None:
                cells.append("-")
            elif "median_s" not in bv:
                cells.append("error")
            else:
                cells.append(f"{_ms(bv)} ({row['speedup'][b]:.1f}x)")
        cells.append(f"{row['bytes_per_s'] / 1e9:.1f}")
        cells.append(f"{100 * row['roofline_fraction']:.0f}%")
        cells.append("/".join(_peak(v.get(k)) for k in ("fused", "stock", "compiled")))
        out.append(cells)
    return header, out


TABLE_WIDTH = 120  # the terminal table's most columns


def _terminal_cells(rows: List[Dict], shared: List[str]) -> Tuple[List[str], List[List[str]]]:
    """table_rows for the terminal: the columns in `shared` (equal in every row)
    dropped, each baseline as its ms and speedup under its name, no IQR and no
    GB/s (the JSON, CSV and Markdown have every column)."""
    header, cells = table_rows(rows)
    keep = [i for i, h in enumerate(header) if h not in shared and h != "GB/s"]
    rename = {"fused ms (IQR)": "fused ms", "% roofline": "% roof",
              "peak MB fused/stock/compiled": "peak MB f/s/c"}
    short = []
    for i in keep:
        h = header[i]
        short.append(rename.get(h, h.replace("mx.fast.cross_entropy", "mx.fast")
                                .replace(" ms (speedup)", "")))
    out = []
    for c in cells:
        if len(c) != len(header):  # a mismatch or error: the key columns, then the message
            out.append([c[i] for i in keep if i < 5] + [c[5]])
            continue
        out.append([c[i].replace(" (", " ").replace("x)", "x") if "(speedup)" in header[i]
                    else c[i].split(" (")[0] if header[i] == "fused ms (IQR)" else c[i]
                    for i in keep])
    return short, out


def format_table(rows: List[Dict]) -> str:
    """The results as aligned text, one table per family (its own baseline
    columns), at most TABLE_WIDTH columns; a mismatch or error spans the timing
    columns. A dtype or reduction that every row of a family shares is said
    once, above its table."""
    blocks = []
    for family in dict.fromkeys(r.get("family", "") for r in rows):
        fam = [r for r in rows if r.get("family", "") == family]
        shared = [h for h, key in (("dtype", "dtype"), ("red.", "reduction"))
                  if len({r[key] for r in fam}) == 1]
        header, cells = _terminal_cells(fam, shared)
        n_key = header.index("fused ms")
        full = [c for c in cells if len(c) == len(header)]
        widths = [max(len(c[i]) for c in [header] + full) for i in range(len(header))]

        def line(cs):  # the key columns left-aligned, numbers right-aligned
            return "  ".join(c.ljust(w) if i < n_key else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cs, widths)))

        said = ", ".join(fam[0]["dtype"] if h == "dtype" else f"reduction {fam[0]['reduction']}"
                         for h in shared)
        title = ((family or "losses") + (f" ({said})" if said else "")
                 + ": each baseline's median ms and the speedup over it")
        lines = [title, line(header), "  ".join("-" * w for w in widths)]
        lines += [line(c) if len(c) == len(header)
                  else line(c[:n_key]) + "  " + c[n_key] for c in cells]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def format_markdown(rows: List[Dict]) -> str:
    header, cells = table_rows(rows)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < 5 else "---:" for i in range(len(header))) + "|"]
    for c in cells:
        c = c + [""] * (len(header) - len(c))
        lines.append("| " + " | ".join(c) + " |")
    return "\n".join(lines)


def format_summary_markdown(rows: List[Dict]) -> str:
    """One line per loss, forward and value_and_grad side by side, at its largest size
    (one table per family, dtype and reduction): the README's table."""
    tables = []
    groups = dict.fromkeys((r.get("family", POINTWISE), r["dtype"], r["reduction"])
                           for r in rows)
    for family, dtype, reduction in groups:
        sel = largest([r for r in rows if (r.get("family", POINTWISE), r["dtype"],
                                           r["reduction"]) == (family, dtype, reduction)])
        baselines = _baselines(sel)
        by_loss: Dict[str, Dict[str, Dict]] = {}
        for r in sel:
            by_loss.setdefault(r["loss"], {})[r["mode"]] = r
        header = ["loss"]
        for mode in ("fwd", "vag"):
            header += [f"{mode} ms"] + [f"{mode} vs {b}" for b in baselines]
        header += ["fwd % roofline", "peak MB fwd: fused / stock", "peak MB vag: fused / stock"]
        sizes = ", ".join(dict.fromkeys(size_label(r) for r in sel))
        lines = [f"{family}: {sizes} {dtype}, reduction={reduction}; vs X = X's time "
                 "/ fused time; vag = mx.value_and_grad", "",
                 "| " + " | ".join(header) + " |",
                 "|---" + "|---:" * (len(header) - 1) + "|"]
        starred = False
        for loss, modes in by_loss.items():
            some = next(iter(modes.values()))
            star = some["labels"]["stock"] != "mlx.nn.losses"
            starred |= star
            cells = [f"`{loss}`" + (" *" if star else "")]
            for mode in ("forward", "value_and_grad"):
                r = modes.get(mode)
                if r is None or r["status"] != "ok":
                    status = r["status"].upper() if r else "-"
                    cells += [status] + ["-"] * len(baselines)
                    continue
                cells.append(_ms(r["variants"]["fused"]))
                cells += [f"{r['speedup'][b]:.1f}x" if b in r["speedup"] else "-"
                          for b in baselines]
            fwd = modes.get("forward", {})
            cells.append(f"{100 * fwd['roofline_fraction']:.0f}%"
                         if "roofline_fraction" in fwd else "-")
            for mode in ("forward", "value_and_grad"):
                v = modes.get(mode, {}).get("variants", {})
                cells.append(f"{_peak(v.get('fused'))} / {_peak(v.get('stock'))}")
            lines.append("| " + " | ".join(cells) + " |")
        if starred:
            lines += ["", "\\* MLX lacks the loss: stock = the formula in stock `mx` ops "
                      "(`mlx_fused_losses/bench/cases.py`)."]
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def format_bandwidth(bw: Dict) -> str:
    g = lambda part: f"{part['best_bytes_per_s'] / 1e9:.1f} GB/s"  # noqa: E731
    text = (f"memory bandwidth (best of {bw['repeats']}, {bw['buffer_bytes'] // MB} MB): "
            f"read {g(bw['read'])}, copy {g(bw['copy'])}  [{bw['method']}]")
    np1 = bw.get("numpy_single_thread")
    if np1:
        text += f"\n  for context, numpy on one thread: sum {g(np1['read'])}, copy {g(np1['copy'])}"
    return text


def format_header(report: Dict) -> str:
    m, v, c = report["machine"], report["versions"], report["config"]
    load = m.get("load_average_1min", {})
    return (f"mlx-fused-losses {v['mlx_fused_losses']} ({v['mlx_fused_losses_git'] or 'no git'})"
            f" | mlx {v['mlx']} | torch {v['torch'] or 'not installed'}\n"
            f"{m['cpu']}, {m['cores']} cores | device {m['device']} | 1-min load average "
            f"before/after: {load.get('before')}/{load.get('after')} (other processes "
            "distort timings)\n"
            f"times: median of {c['repeats']} runs after {c['warmup']} warm-up runs; IQR in ms; "
            f"speedup = baseline median / fused median; GB/s and % roofline: the fused "
            f"best run, as the bandwidth's; vag = mx.value_and_grad\n"
            + (f"MLX cache limit (mx.set_cache_limit): {c['cache_limit_bytes'] / MB:.0f} MB\n"
               if c.get("cache_limit_bytes") else "")
            + format_bandwidth(report["bandwidth"]))


# ------------------------------------------------------------- JSON and CSV
CSV_FIELDS = ["loss", "family", "n", "dtype", "reduction", "mode", "status", "variant", "label",
              "median_s", "p25_s", "p75_s", "min_s", "max_s", "peak_bytes", "speedup_of_fused",
              "bytes_read", "bytes_written", "roofline_fraction", "error"]


def write_json(report: Dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=1)


def write_csv(rows: List[Dict], path: str) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for row in rows:
            base = {k: row.get(k) for k in ("loss", "family", "n", "dtype", "reduction", "mode",
                                            "status")}
            if not row["variants"]:
                w.writerow(base)
            for name, v in row["variants"].items():
                rec = dict(base, variant=name, label=row["labels"].get(name, name),
                           error=v.get("error"))
                rec.update({k: v.get(k) for k in ("median_s", "p25_s", "p75_s", "min_s", "max_s",
                                                  "peak_bytes")})
                if name == "fused":
                    rec.update({k: row.get(k) for k in ("bytes_read", "bytes_written",
                                                        "roofline_fraction")})
                else:
                    rec["speedup_of_fused"] = row.get("speedup", {}).get(name)
                w.writerow(rec)
