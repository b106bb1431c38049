"""Issue 2's speed targets, checked on the benchmark's rows.

Measured on the CPU at 16M float32 elements with reduction="mean": the forward
>= 5x faster than stock MLX and than ``mx.compile``d stock MLX, value_and_grad
>= 4x faster than both, at least as fast as PyTorch where PyTorch has the loss
(both modes), and the forward at >= 60% of the measured memory bandwidth.
"""

from __future__ import annotations

from typing import Dict, List, Optional

SIZE = 16 << 20
DTYPE = "float32"
REDUCTION = "mean"

# (name, mode, baseline or "roofline", threshold); vag = value_and_grad.
TARGETS = [
    ("fwd/stock>=5x", "forward", "stock", 5.0),
    ("fwd/compiled>=5x", "forward", "compiled", 5.0),
    ("vag/stock>=4x", "value_and_grad", "stock", 4.0),
    ("vag/compiled>=4x", "value_and_grad", "compiled", 4.0),
    ("fwd/torch>=1x", "forward", "torch", 1.0),
    ("vag/torch>=1x", "value_and_grad", "torch", 1.0),
    ("fwd bw>=60%", "forward", "roofline", 0.6),
]


W = 18  # column width of the table


def _value(row: Dict, baseline: str) -> Optional[float]:
    if baseline == "roofline":
        return row.get("roofline_fraction")
    return row.get("speedup", {}).get(baseline)


def check(rows: List[Dict]) -> Dict:
    """Per loss and target: the measured value and whether it passes.

    Uses the float32 / mean rows of the largest size measured (the targets are
    defined at 16M; ``size`` says which was used). A target whose baseline was
    not measured (no PyTorch loss) is None; a loss whose fused result did not
    match stock MLX fails every target.
    """
    eligible = [r for r in rows if r["dtype"] == DTYPE and r["reduction"] == REDUCTION]
    if not eligible:
        return {"size": None, "losses": {}}
    size = max(r["n"] for r in eligible)
    by_loss: Dict[str, Dict] = {}
    for row in eligible:
        if row["n"] != size:
            continue
        results = by_loss.setdefault(row["loss"], {})
        for name, mode, baseline, threshold in TARGETS:
            if row["mode"] != mode:
                continue
            if row["status"] != "ok":
                results[name] = {"value": None, "pass": False, "status": row["status"]}
                continue
            value = _value(row, baseline)
            results[name] = None if value is None else {
                "value": value, "pass": value >= threshold}
    return {"size": size, "dtype": DTYPE, "reduction": REDUCTION, "losses": by_loss}


def format_table(result: Dict) -> str:
    """A plain-text table: PASS/FAIL and the measured value per loss and target."""
    if not result["losses"]:
        return f"targets: no {DTYPE} / reduction={REDUCTION} rows were measured"
    names = [t[0] for t in TARGETS]
    lines = [f"targets at n={result['size']:,} {DTYPE} reduction={REDUCTION}"
             + ("" if result["size"] == SIZE else f" (defined at n={SIZE:,}: indicative only)")]
    width = max(len(n) for n in result["losses"]) + 2
    lines.append("loss".ljust(width) + "".join(n.rjust(W) for n in names))
    passed = dict.fromkeys(names, 0)
    for loss, results in result["losses"].items():
        cells = []
        for name in names:
            r = results.get(name)
            if r is None:
                cells.append("n/a")
            elif r["value"] is None:
                cells.append(f"FAIL ({r['status']})")
            else:
                unit = f"{100 * r['value']:.0f}%" if "bw" in name else f"{r['value']:.2f}x"
                cells.append(("PASS " if r["pass"] else "FAIL ") + unit)
                passed[name] += r["pass"]
        lines.append(loss.ljust(width) + "".join(c.rjust(W) for c in cells))
    applicable = {n: sum(1 for r in result["losses"].values() if r.get(n) is not None)
                  for n in names}
    lines.append("passed".ljust(width)
                 + "".join(f"{passed[n]}/{applicable[n]}".rjust(W) for n in names))
    return "\n".join(lines)
