"""The repository's speed targets (its issues'), checked on the benchmark's rows;
not part of the package, whose benchmark only measures.

    python bench/targets.py [benchmark options]   # e.g. --family pointwise --out DIR

runs ``python -m mlx_fused_losses.bench`` (float32, reduction="mean", each family
at its headline size unless --sizes is given), then prints a PASS/FAIL table per
family and adds it to the report's JSON as "targets". On the CPU:

- pointwise (issue 2), 16M elements: the forward >= 5x faster than stock MLX
  and than ``mx.compile``d stock MLX, value_and_grad >= 4x faster than both, at
  least as fast as PyTorch where PyTorch has the loss (both modes), and the
  forward at >= 60% of the measured memory bandwidth;
- row-softmax (issue 4), 8192 x 32000 logits: value_and_grad >= 5x faster than
  stock MLX and than ``mx.fast.cross_entropy``, faster than PyTorch's forward +
  backward, and at most 1.3x the logits' size in extra peak memory;
- row-distance (issue 20), 65536 x 256 vectors: the forward and value_and_grad
  >= 5x faster than stock MLX and than ``mx.compile``d stock MLX, faster than
  PyTorch where it has the loss, and the forward within 1.5x of the time to read
  its inputs once (>= 67% of the measured bandwidth).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from mlx_fused_losses.bench.cases import (POINTWISE, ROW_DISTANCE, ROW_LENGTH, ROW_SOFTMAX,
                                          VECTOR_SIZE)

DTYPE = "float32"
REDUCTION = "mean"


@dataclass(frozen=True)
class Target:
    name: str
    mode: str  # "forward" or "value_and_grad" (vag)
    measure: str  # a baseline's label (speedup over it), "roofline" or "extra_peak"
    threshold: float
    at_most: bool = False  # the value must be <= threshold (memory), else >=

    def passes(self, value: float) -> bool:
        return value <= self.threshold if self.at_most else value >= self.threshold


# family -> (the issue, the size its targets are defined at, the targets)
TARGETS: Dict[str, Tuple[int, int, List[Target]]] = {
    POINTWISE: (2, 16 << 20, [
        Target("fwd/stock>=5x", "forward", "stock", 5.0),
        Target("fwd/compiled>=5x", "forward", "compiled", 5.0),
        Target("vag/stock>=4x", "value_and_grad", "stock", 4.0),
        Target("vag/compiled>=4x", "value_and_grad", "compiled", 4.0),
        Target("fwd/torch>=1x", "forward", "torch", 1.0),
        Target("vag/torch>=1x", "value_and_grad", "torch", 1.0),
        Target("fwd bw>=60%", "forward", "roofline", 0.6),
    ]),
    ROW_SOFTMAX: (4, 8192 * ROW_LENGTH, [
        Target("vag/stock>=5x", "value_and_grad", "stock", 5.0),
        Target("vag/mx.fast>=5x", "value_and_grad", "mx.fast.cross_entropy", 5.0),
        Target("vag/torch>=1x", "value_and_grad", "torch", 1.0),
        Target("vag peak<=1.3x", "value_and_grad", "extra_peak", 1.3, at_most=True),
    ]),
    ROW_DISTANCE: (20, 65536 * VECTOR_SIZE, [
        Target("fwd/stock>=5x", "forward", "stock", 5.0),
        Target("fwd/compiled>=5x", "forward", "compiled", 5.0),
        Target("vag/stock>=5x", "value_and_grad", "stock", 5.0),
        Target("vag/compiled>=5x", "value_and_grad", "compiled", 5.0),
        Target("fwd/torch>=1x", "forward", "torch", 1.0),
        Target("vag/torch>=1x", "value_and_grad", "torch", 1.0),
        Target("fwd bw>=67%", "forward", "roofline", 1 / 1.5),
    ]),
}


W = 18  # column width of the table


def _value(row: Dict, measure: str) -> Optional[float]:
    if measure == "roofline":
        return row.get("roofline_fraction")
    if measure == "extra_peak":
        return row.get("extra_peak_fraction")
    return row.get("speedup", {}).get(measure)


def check(rows: List[Dict]) -> Dict:
    """Per family, loss and target: the measured value and whether it passes.

    Uses each family's float32 / mean rows of the largest size measured (``size``
    says which; the targets are defined at ``defined_at``). A target whose
    baseline was not measured (no PyTorch loss, no ``mx.fast`` kernel) is None;
    a loss whose fused result did not match stock MLX fails every target.
    """
    families = {}
    for family, (issue, defined_at, family_targets) in TARGETS.items():
        eligible = [r for r in rows if r["dtype"] == DTYPE and r["reduction"] == REDUCTION
                    and r.get("family", POINTWISE) == family]
        if not eligible:
            continue
        size = max(r["n"] for r in eligible)
        by_loss: Dict[str, Dict] = {}
        for row in eligible:
            if row["n"] != size:
                continue
            results = by_loss.setdefault(row["loss"], {})
            for target in family_targets:
                if row["mode"] != target.mode:
                    continue
                if row["status"] != "ok":
                    results[target.name] = {"value": None, "pass": False,
                                            "status": row["status"]}
                    continue
                value = _value(row, target.measure)
                results[target.name] = None if value is None else {
                    "value": value, "pass": target.passes(value)}
        families[family] = {"issue": issue, "size": size, "defined_at": defined_at,
                            "losses": by_loss}
    return {"dtype": DTYPE, "reduction": REDUCTION, "families": families}


def _cell(name: str, r: Optional[Dict]) -> Tuple[str, bool]:
    if r is None:
        return "n/a", False
    if r["value"] is None:
        return f"FAIL ({r['status']})", False
    v = r["value"]
    unit = f"{100 * v:.0f}%" if "bw" in name else f"{v:.2f}x"
    return ("PASS " if r["pass"] else "FAIL ") + unit, r["pass"]


def format_table(result: Dict) -> str:
    """Plain-text tables, one per family: PASS/FAIL and the measured value per target."""
    if not result["families"]:
        return f"targets: no {DTYPE} / reduction={REDUCTION} rows were measured"
    tables = []
    for family, measured in result["families"].items():
        names = [t.name for t in TARGETS[family][2]]
        size, defined_at = measured["size"], measured["defined_at"]
        lines = [f"issue {measured['issue']} targets ({family}) at n={size:,} {DTYPE} "
                 f"reduction={REDUCTION}"
                 + ("" if size == defined_at else
                    f" (defined at n={defined_at:,}: indicative only)")]
        width = max(len(n) for n in measured["losses"]) + 2
        lines.append("loss".ljust(width) + "".join(n.rjust(W) for n in names))
        passed = dict.fromkeys(names, 0)
        applicable = dict.fromkeys(names, 0)
        for loss, results in measured["losses"].items():
            cells = []
            for name in names:
                text, ok = _cell(name, results.get(name))
                cells.append(text)
                passed[name] += ok
                applicable[name] += results.get(name) is not None
            lines.append(loss.ljust(width) + "".join(c.rjust(W) for c in cells))
        lines.append("passed".ljust(width)
                     + "".join(f"{passed[n]}/{applicable[n]}".rjust(W) for n in names))
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def _with_defaults(argv: Sequence[str], out: str) -> List[str]:
    """The benchmark's arguments: the targets' dtype, reduction and sizes unless given."""
    argv = list(argv)
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    for flag, value in (("--dtype", DTYPE), ("--reductions", REDUCTION), ("--sizes", "headline")):
        if flag not in given and not (flag == "--reductions" and "--reduction" in given):
            argv += [flag, value]
    if "--out" not in given:
        argv += ["--out", out]
    return argv


def main(argv: Optional[Sequence[str]] = None) -> int:
    import mlx.core as mx

    from mlx_fused_losses.bench import main as bench_main

    argv = list(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as tmp:
        argv = _with_defaults(argv, tmp)
        status = bench_main(argv)
        out = argv[argv.index("--out") + 1]
        # (the benchmark names its report after the device it ran on)
        device = (argv[argv.index("--device") + 1] if "--device" in argv
                  else "gpu" if mx.default_device() == mx.gpu else "cpu")
        path = os.path.join(out, f"{device}-results.json")
        with open(path) as f:
            report = json.load(f)
        report["targets"] = check(report["rows"])
        with open(path, "w") as f:
            json.dump(report, f, indent=1)
    print()
    print(format_table(report["targets"]))
    return status


if __name__ == "__main__":
    sys.exit(main())
