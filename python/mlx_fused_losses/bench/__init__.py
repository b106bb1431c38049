"""``python -m mlx_fused_losses.bench``: how much faster than what you use now?

Benchmarks every loss of the package, forward and ``mx.value_and_grad``, on the
default device against stock ``mlx.nn.losses`` (or the loss written with stock
ops where MLX lacks it), the same under ``mx.compile``, ``mx.fast`` kernels where
MLX has one, and PyTorch when it is installed. Each fused result is first
checked against stock MLX; a mismatch is reported and not timed. The memory
bandwidth is measured in the same run, for the roofline.

Modules: ``cases`` (the registry of losses), ``runner`` (guard + timings),
``timing``, ``bandwidth``, ``report``
(table, JSON, CSV) and ``plots`` (PNG).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

import mlx.core as mx

from . import bandwidth, plots, report, runner
from .cases import CASES, FAMILIES, ROW_LENGTH, Case

DTYPES = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16,
          "float64": mx.float64}
REDUCTIONS = ("none", "mean", "sum")
DEFAULT_SIZES = "1M,16M"
QUICK = {"sizes": "64K,256K", "repeats": 3, "warmup": 1, "bandwidth_repeats": 3}


def parse_size(text: str, flag: str = "--sizes: ") -> int:
    """``"16M"`` -> 16 * 2**20; K, M, G are binary multiples; plain integers as is;
    ``"8192x32000"`` -> their product (a rows x classes shape). ``flag`` starts
    the error messages."""
    factors = text.lower().split("x")
    if len(factors) == 2:
        return parse_size(factors[0], flag) * parse_size(factors[1], flag)
    t = text.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    number = t[:-1] if mult > 1 else t
    try:
        n = int(float(number) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{flag}{text!r} is not a size; expected e.g. 65536, 64K, 16M, 8192x32000"
        ) from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{flag}{text!r} must be positive")
    return n


def _csv(value: str) -> List[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mlx_fused_losses.bench",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        epilog="Exit status 1 if a fused result does not match stock MLX (or fails).")
    p.add_argument("--device", choices=("cpu", "gpu"),
                   help="device to run on (default: MLX's default device)")
    p.add_argument("--sizes", help=f"elements per input, comma-separated, e.g. 1M,16M or "
                   f"8192x32000 (default {DEFAULT_SIZES}; row-softmax losses take (n / "
                   "ROW_LENGTH, ROW_LENGTH) logits), or 'headline': each family at the size "
                   "of the README's results (pointwise 16M, row-softmax 8192x32000, row-distance "
                   "65536x256)")
    p.add_argument("--row-length", type=int, metavar="ROW_LENGTH",
                   help="classes per row of the row-softmax losses (default: C of the "
                   f"sizes given as RxC, else {ROW_LENGTH})")
    p.add_argument("--dtype", help="comma-separated: float32,bfloat16,float16,float64 "
                   "(default float32)")
    p.add_argument("--reductions", "--reduction", dest="reductions",
                   help="comma-separated: none,mean,sum (default mean)")
    p.add_argument("--losses", help="comma-separated loss names (default: all implemented)")
    p.add_argument("--family", help=f"comma-separated families: {','.join(FAMILIES)} "
                   "(default: all)")
    p.add_argument("--repeats", type=int, help="timed runs per variant (default 10)")
    p.add_argument("--warmup", type=int, help="untimed runs before them (default 2; one if "
                   "it takes over a second)")
    p.add_argument("--budget", type=float, default=30.0, metavar="SECONDS",
                   help="stop a variant's timed runs once they add up to this, after 3 "
                   "(default 30: stock MLX takes ~10 s a run on 8192x32000 logits)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument("--quick", action="store_true",
                   help=f"a smoke run in under a minute: sizes {QUICK['sizes']}, "
                   f"{QUICK['repeats']} repeats")
    p.add_argument("--out", metavar="DIR",
                   help="write <device>-results.{json,csv,md} and PNG plots into DIR")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed of the inputs")
    p.add_argument("--cache-limit", metavar="BYTES", type=lambda t: parse_size(t, ""),
                   help="mx.set_cache_limit(BYTES) before measuring, e.g. 4G: MLX then keeps "
                   "freed buffers for reuse, as a training loop with it set would (default: "
                   "MLX's own limit; on the Linux CPU 32 MB, so large outputs are fresh, "
                   "page-faulted memory on every call)")
    p.add_argument("--from-json", metavar="FILE",
                   help="measure nothing: print (and with --out, rewrite) the report of a "
                   "previous run's JSON")
    return p


def _row_length_of(sizes: Optional[str], parser) -> int:
    """C of the sizes given as ``RxC`` (one C for all), else the default row length."""
    lengths = {parse_size(s.lower().split("x")[1]) for s in _csv(sizes or "")
               if s.lower().count("x") == 1}
    if len(lengths) > 1:
        parser.error(f"--sizes: row lengths {sorted(lengths)} differ; give one C per run "
                     "(or --row-length)")
    return lengths.pop() if lengths else ROW_LENGTH


def _config(args, parser) -> Tuple[runner.Config, List[Case]]:
    device = mx.Device(getattr(mx, args.device)) if args.device else mx.default_device()
    if device == mx.gpu and not mx.is_available(mx.gpu):
        parser.error("--device gpu: this MLX build has no GPU backend (try --device cpu)")
    quick = args.quick
    sizes = args.sizes or (QUICK["sizes"] if quick else DEFAULT_SIZES)
    sizes = None if sizes == "headline" else sizes  # each family's HEADLINE_SIZES
    try:
        sizes = sizes and [parse_size(s) for s in _csv(sizes)]
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
    row_length = (args.row_length if args.row_length is not None
                  else _row_length_of(args.sizes, parser))
    if row_length < 1:
        parser.error(f"--row-length: got {row_length}; expected >= 1")
    if args.budget <= 0:
        parser.error(f"--budget: got {args.budget}; expected > 0 seconds")
    dtypes = _csv(args.dtype or "float32")
    for d in dtypes:
        if d not in DTYPES:
            parser.error(f"--dtype: unknown dtype {d!r}; expected some of {', '.join(DTYPES)}")
    reductions = _csv(args.reductions or "mean")
    for r in reductions:
        if r not in REDUCTIONS:
            parser.error(f"--reductions: unknown reduction {r!r}; expected some of "
                         f"{', '.join(REDUCTIONS)}")
    available = [c for c in CASES if c.available()]
    cases = available
    if args.losses:
        names = _csv(args.losses)
        known = {c.name: c for c in CASES}
        for name in names:
            if name not in known:
                parser.error(f"--losses: unknown loss {name!r}; available: "
                             f"{', '.join(c.name for c in available)}")
            if not known[name].available():
                parser.error(f"--losses: {name!r} is not implemented in this build of "
                             "mlx_fused_losses")
        cases = [known[n] for n in names]
    if args.family:
        families = _csv(args.family)
        for f in families:
            if f not in FAMILIES:
                parser.error(f"--family: unknown family {f!r}; expected some of "
                             f"{', '.join(FAMILIES)}")
        cases = [c for c in cases if c.family in families]
    for flag in ("repeats", "warmup"):
        value = getattr(args, flag)
        if value is not None and value < (1 if flag == "repeats" else 0):
            parser.error(f"--{flag}: got {value}; expected >= {1 if flag == 'repeats' else 0}")
    config = runner.Config(
        device=device, sizes=sizes, dtypes=[DTYPES[d] for d in dtypes], reductions=reductions,
        warmup=args.warmup if args.warmup is not None else (QUICK["warmup"] if quick else 2),
        repeats=args.repeats or (QUICK["repeats"] if quick else 10),
        torch=not args.no_torch, seed=args.seed, row_length=row_length,
        budget_s=args.budget)
    return config, cases


def _load_average() -> Optional[float]:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            return _present(json.load(f), args.out)
    config, cases = _config(args, parser)
    mx.set_default_device(config.device)
    if args.cache_limit is not None:
        mx.set_cache_limit(args.cache_limit)
    if config.torch and runner.torch_module() is None:
        print("PyTorch is not installed: no torch column (pip install torch)", file=sys.stderr)
        config.torch = False

    # Before the run: its commit is the code that was loaded, whatever the run writes.
    environment = report.environment(config.device)
    started = time.time()
    load_before = _load_average()
    bw = bandwidth.measure(config.device, QUICK["bandwidth_repeats"] if args.quick else 5)
    work = runner.plan(cases, config)
    progress = report.Progress(sum(
        2 * runner.variants_per_row(w["case"], config.torch) for w in work))
    rows = []
    try:
        for w in work:
            rows += runner.run_row(w["case"], w["n"], w["dtype"], w["reduction"], config, bw,
                                   progress)
    finally:
        progress.close()

    result = dict(environment)
    result["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started))
    result["seconds"] = round(time.time() - started, 1)
    # Other processes on the machine distort timings: the 1-minute load around the run.
    result["machine"]["load_average_1min"] = {"before": load_before, "after": _load_average()}
    result["command"] = "python -m mlx_fused_losses.bench " + " ".join(
        argv if argv is not None else sys.argv[1:])
    result["config"] = {
        "device": str(config.device), "sizes": sorted({w["n"] for w in work}),
        "row_length": config.row_length, "budget_s": config.budget_s,
        "dtypes": [runner.dtype_name(d) for d in config.dtypes],
        "reductions": list(config.reductions), "warmup": config.warmup,
        "repeats": config.repeats, "torch": config.torch, "seed": config.seed,
        "cache_limit_bytes": args.cache_limit,
        "losses": [c.name for c in cases],
        "timing": "median (and quartiles) of `repeats` runs after `warmup` runs, "
                  "time.perf_counter around mx.eval + mx.synchronize; a variant stops "
                  "after one warm-up over 1 s and once 3+ timed runs add up to budget_s",
        "extra_peak": "fused variant's MLX peak memory minus its inputs' bytes, in units of "
                      "the first input's bytes (the logits)",
        "bytes_model": "forward: every input read once, the output written; value_and_grad: "
                       "every input read twice, the output and one gradient per "
                       "differentiated input written",
        "roofline": "read_bytes / read_bw + written_bytes * (2 / copy_bw - 1 / read_bw), "
                    "with the best measured bandwidths",
    }
    result["bandwidth"] = bw
    result["rows"] = rows
    failed = [r for r in rows if r["status"] != "ok"]
    result["mismatches"] = [
        {k: r.get(k) for k in ("loss", "n", "dtype", "reduction", "mode", "status", "check",
                               "error")}
        for r in failed]

    return _present(result, args.out)


def _present(result: Dict, out: Optional[str]) -> int:
    """Prints the report, writes it into ``out``; the exit status (1: a mismatch)."""
    rows = result["rows"]
    failed = [r for r in rows if r["status"] != "ok"]
    print(report.format_header(result))
    print()
    print(report.format_table(rows))
    if failed:
        print(f"\n!!! {len(failed)} fused result(s) did NOT match stock MLX (or failed) and "
              "were not timed:")
        for r in failed:
            print(f"!!!   {r['loss']} {r['mode']} n={r['n']} {r['dtype']} {r['reduction']}: "
                  f"{r.get('error') or report.check_detail(r['check'])}")
    if out:
        os.makedirs(out, exist_ok=True)
        device = "gpu" if "gpu" in result["config"]["device"] else "cpu"
        prefix = f"{device}-"
        stem = os.path.join(out, prefix + "results")
        report.write_json(result, stem + ".json")
        report.write_csv(rows, stem + ".csv")
        with open(stem + ".md", "w") as f:
            f.write(f"# {result['command']}\n\n{report.format_header(result)}\n\n"
                    f"## Summary\n\n{report.format_summary_markdown(rows)}\n\n"
                    f"## Every measurement\n\n{report.format_markdown(rows)}\n")
        written = [stem + ext for ext in (".json", ".csv", ".md")]
        title = f"mlx-fused-losses vs baselines on {device.upper()}"
        pngs = plots.write_all(rows, out, prefix, title)
        if not pngs:
            print(plots.MISSING, file=sys.stderr)
        print("\nwrote " + ", ".join(written + pngs))
    return 1 if failed else 0
