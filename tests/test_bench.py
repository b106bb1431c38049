"""The benchmark command: a --quick smoke run end to end, and its parts.

No timing assertions: only that every number is there, positive and consistent
(bytes moved, bandwidth, speedups), that the plots are PNGs, and that the
correctness guard refuses to time a wrong result.
"""

import csv
import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import pytest

import mlx_fused_losses
from mlx_fused_losses import _ext
from mlx_fused_losses.bench import main, parse_size, report, runner
from mlx_fused_losses.bench.bandwidth import roofline_seconds
from mlx_fused_losses.bench.cases import CASES, bytes_moved

IMPLEMENTED = [c.name for c in CASES if c.available()]
CASE = {c.name: c for c in CASES}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        # --device cpu: on a Mac the default device is the GPU (gpu-results.json)
        [sys.executable, "-m", "mlx_fused_losses.bench", "--quick", "--device", "cpu",
         "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "cpu-results.json") as f:
        data = json.load(f)
    return out, proc, data


def test_quick_run_reports_every_loss_both_modes(quick_run):
    _, proc, data = quick_run
    sizes = data["config"]["sizes"]
    assert len(sizes) >= 2 and max(sizes) <= 1 << 20
    seen = {(r["loss"], r["n"], r["mode"]) for r in data["rows"]}
    expected = {(name, n, mode) for name in IMPLEMENTED for n in sizes for mode in runner.MODES}
    assert seen == expected
    assert data["mismatches"] == []
    for row in data["rows"]:
        assert row["status"] == "ok", row
        fused = row["variants"]["fused"]
        assert 0 < fused["min_s"] <= fused["p25_s"] <= fused["median_s"] <= fused["p75_s"]
        assert len(fused["times_s"]) == data["config"]["repeats"]
        assert {"stock", "compiled"} <= set(row["speedup"])
        for baseline, x in row["speedup"].items():
            assert math.isfinite(x) and x > 0, (row["loss"], baseline)
            ratio = row["variants"][baseline]["median_s"] / fused["median_s"]
            assert x == pytest.approx(ratio)
        assert 0 < row["roofline_fraction"] == pytest.approx(row["roofline_s"] / fused["min_s"])
        inputs = sum(math.prod(s) for s in row["shapes"]) * 4
        assert fused["peak_bytes"] >= inputs
    # The table is printed, with a column per baseline.
    header = next(line for line in proc.stdout.splitlines() if line.startswith("loss "))
    assert "fused ms" in header and " stock " in header and "compiled" in header
    for name in IMPLEMENTED:
        assert name in proc.stdout


def test_quick_run_bytes_model(quick_run):
    _, _, data = quick_run
    for row in data["rows"]:
        if row["loss"] != "mse_loss":
            continue
        n = row["n"]
        if row["mode"] == "forward":  # two float32 inputs read once, a scalar written
            assert (row["bytes_read"], row["bytes_written"]) == (8 * n, 4)
        else:  # read once, the scalar and d/dpredictions written
            assert (row["bytes_read"], row["bytes_written"]) == (8 * n, 4 + 4 * n)
        gauss = [r for r in data["rows"] if r["loss"] == "gaussian_nll_loss"
                 and r["n"] == n and r["mode"] == "value_and_grad"]
        if gauss:  # three inputs, gradients w.r.t. inputs and vars
            assert gauss[0]["bytes_written"] == 4 + 2 * 4 * n


def test_quick_run_machine_and_bandwidth(quick_run):
    _, _, data = quick_run
    assert data["machine"]["cores"] == os.cpu_count()
    assert data["versions"]["mlx"] == mx.__version__
    assert data["versions"]["mlx_fused_losses"] == mlx_fused_losses.__version__
    bw = data["bandwidth"]
    assert bw["buffer_bytes"] >= 256 << 20
    for part in ("read", "copy"):
        assert 1e8 < bw[part]["best_bytes_per_s"] < 1e13
        assert bw[part]["best_bytes_per_s"] >= bw[part]["median_bytes_per_s"]


def test_quick_run_torch_column(quick_run):
    pytest.importorskip("torch")
    _, _, data = quick_run
    row = next(r for r in data["rows"] if r["loss"] == "mse_loss")
    assert data["versions"]["torch"]
    assert row["variants"]["torch"]["median_s"] > 0
    # PyTorch lacks log_cosh: no torch column there.
    row = next(r for r in data["rows"] if r["loss"] == "log_cosh_loss")
    assert "torch" not in row["variants"]


def test_quick_run_table_fits_120_columns(quick_run):
    _, proc, data = quick_run
    lines = proc.stdout.splitlines()
    titles = [i for i, line in enumerate(lines) if "each baseline's median ms" in line]
    families = {r["family"] for r in data["rows"]}
    assert len(titles) == len(families)  # one table per family
    for i in titles:
        table = lines[i:lines.index("", i) if "" in lines[i:] else len(lines)]
        assert table[1].startswith("loss ")
        assert len(table) >= 4
        assert max(len(line) for line in table) <= report.TABLE_WIDTH, table
    pointwise = next(i for i in titles if lines[i].startswith("pointwise"))
    assert "mx.fast" not in lines[pointwise + 1]  # a family shows only its baselines


def test_quick_run_csv_and_markdown(quick_run):
    out, _, data = quick_run
    with open(out / "cpu-results.csv") as f:
        records = list(csv.DictReader(f))
    assert len(records) == sum(len(r["variants"]) for r in data["rows"])
    fused = [r for r in records if r["variant"] == "fused"]
    assert len(fused) == len(data["rows"])
    assert all(float(r["median_s"]) > 0 and float(r["roofline_fraction"]) > 0 for r in fused)
    md = (out / "cpu-results.md").read_text()
    summary, full = md.split("## Every measurement")
    # The summary: a line per loss at the largest size; then a line per row.
    assert sum(line.startswith("| `") for line in summary.splitlines()) == len(IMPLEMENTED)
    assert sum(line.startswith("| ") for line in full.splitlines()) == 1 + len(data["rows"])


def test_quick_run_plots(quick_run):
    pytest.importorskip("matplotlib")
    out, _, _ = quick_run
    for name in ("cpu-speedup.png", "cpu-time-vs-size-forward.png",
                 "cpu-time-vs-size-value_and_grad.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert 5_000 < len(data) < 400_000, (name, len(data))
        width = int.from_bytes(data[16:20], "big")  # the PNG header's IHDR width
        assert width >= 1000, (name, width)


def test_markdown_footnote_only_when_a_row_is_starred(quick_run):
    _, _, data = quick_run
    rows = data["rows"]
    stock_only = [r for r in rows if r["labels"]["stock"] == "mlx.nn.losses"]
    starred = [r for r in rows if r["labels"]["stock"] != "mlx.nn.losses"]
    assert stock_only and starred
    assert "MLX lacks the loss" not in report.format_summary_markdown(stock_only)
    assert "MLX lacks the loss" in report.format_summary_markdown(starred)


def test_from_json_reprints_and_replots(quick_run, tmp_path, capsys):
    out, _, data = quick_run
    assert main(["--from-json", str(out / "cpu-results.json"), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "fused ms" in printed and "mse_loss" in printed
    with open(tmp_path / "cpu-results.json") as f:
        assert json.load(f) == data
    if (out / "cpu-speedup.png").exists():
        assert (tmp_path / "cpu-speedup.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------ the guard
def _run(case, n=4096, reduction="mean"):
    config = runner.Config(device=mx.default_device(), sizes=[n], dtypes=[mx.float32],
                           reductions=[reduction], warmup=0, repeats=2, torch=False)
    bw = {"read": {"best_bytes_per_s": 1e10}, "copy": {"best_bytes_per_s": 1e10}}
    return {r["mode"]: r for r in runner.run_row(case, n, mx.float32, reduction, config, bw)}


def test_guard_refuses_to_time_a_wrong_value():
    wrong = dataclasses.replace(
        CASE["mse_loss"],
        fused=lambda p, t, reduction: 1.01 * mlx_fused_losses.mse_loss(p, t, reduction))
    rows = _run(wrong)
    for mode in runner.MODES:
        assert rows[mode]["status"] == "mismatch"
        assert rows[mode]["variants"] == {}
        assert rows[mode]["check"]["n_bad"] >= 1
    assert "MISMATCH vs stock MLX" in report.format_table(list(rows.values()))


def test_guard_checks_gradients_too():
    # Right value (the added term is 0), gradient off by 0.5.
    def wrong_grad(p, t, reduction):
        return mlx_fused_losses.mse_loss(p, t, reduction) + 0.5 * mx.sum(p - mx.stop_gradient(p))

    rows = _run(dataclasses.replace(CASE["mse_loss"], fused=wrong_grad))
    assert rows["forward"]["status"] == "ok" and "fused" in rows["forward"]["variants"]
    assert rows["value_and_grad"]["status"] == "mismatch"
    assert rows["value_and_grad"]["variants"] == {}


@pytest.mark.parametrize("name", IMPLEMENTED)
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_guard_accepts_each_fused_loss(name, reduction):
    # The guard's tolerance must not flag the real kernels (at every reduction).
    case = CASE[name]
    inputs = runner._cast(case.inputs(1000, mx.random.key(1), row_length=100), mx.bfloat16)
    checks = runner.check(case, inputs, reduction, "bfloat16", mx.float64)
    assert checks["forward"]["ok"] and checks["value_and_grad"]["ok"], checks


# ------------------------------------------------------------ the parts
def test_bytes_moved_model():
    x, y, w = mx.zeros((10,)), mx.zeros((10,)), mx.zeros((1,))
    out = mx.zeros(())
    moved = bytes_moved([x, y, w], out, [x])
    assert moved == {"forward_read": 84, "forward_written": 4,
                     "value_and_grad_read": 84, "value_and_grad_written": 44}
    # nll_loss reads the target's log-probability of each row: 3 of (3, 10), 3 indices.
    logp, y = mx.zeros((3, 10)), mx.zeros((3,), dtype=mx.int32)
    moved = bytes_moved([logp, y], mx.zeros(()), [logp], gather=True)
    assert moved["forward_read"] == 3 * 4 + 3 * 4
    assert moved["value_and_grad_written"] == 4 + 30 * 4


def test_roofline_model():
    bw = {"read": {"best_bytes_per_s": 10.0}, "copy": {"best_bytes_per_s": 8.0}}
    assert roofline_seconds(100, 0, bw) == pytest.approx(10.0)
    # A copy of n bytes (n read, n written) takes exactly 2n / copy_bw.
    assert roofline_seconds(40, 40, bw) == pytest.approx(80 / 8.0)


def test_bandwidth_probes():
    a = mx.ones((3 << 20) + 5)
    times, total = _ext._bench_stream_read(a, 2)
    assert len(times) == 2 and all(t > 0 for t in times)
    assert total == 2 * a.size  # sums of ones are exact in float
    times = _ext._bench_copy(a, 3)
    assert len(times) == 3 and all(t > 0 for t in times)
    with pytest.raises(ValueError, match="float32"):
        _ext._bench_stream_read(mx.ones((8,), dtype=mx.float16), 1)


def test_parse_size():
    assert parse_size("16M") == 16 << 20
    assert parse_size("64k") == 65536
    assert parse_size("1000") == 1000
    assert parse_size("1.5K") == 1536
    assert parse_size("8192x32000") == 8192 * 32000
    assert parse_size("4Kx2") == 8192


def test_row_softmax_cases_take_rows_of_row_length():
    logits, targets_ = CASE["cross_entropy"].inputs(8 * 300 + 7, mx.random.key(0), 300)
    assert logits.shape == (8, 300) and targets_.shape == (8,)
    assert 0 <= int(mx.min(targets_).item()) and int(mx.max(targets_).item()) < 300
    log_p, log_q = CASE["kl_div_loss"].inputs(600, mx.random.key(0), 300)
    assert log_p.shape == log_q.shape == (2, 300)  # log-probabilities: rows sum to 1
    assert mx.allclose(mx.sum(mx.exp(log_p), axis=-1), mx.ones((2,)), atol=1e-5).item()
    # Fewer elements than a row: one row of them.
    assert CASE["nll_loss"].inputs(50, mx.random.key(0), 300)[0].shape == (1, 50)


def test_rxc_sizes_set_the_row_length(tmp_path):
    out = tmp_path / "rows"
    code = main(["--device", "cpu", "--losses", "cross_entropy,mse_loss", "--sizes", "64x1000",
                 "--repeats", "1", "--warmup", "0", "--no-torch", "--out", str(out)])
    assert code == 0
    with open(out / "cpu-results.json") as f:
        data = json.load(f)
    assert data["config"]["row_length"] == 1000
    shapes = {r["loss"]: r["shapes"] for r in data["rows"]}
    assert shapes["cross_entropy"] == [[64, 1000], [64]]
    assert shapes["mse_loss"] == [[64000], [64000]]
    md = (out / "cpu-results.md").read_text()
    assert "row-softmax: 64x1000 float32" in md and "pointwise: 64000 float32" in md
    ce = next(r for r in data["rows"] if r["loss"] == "cross_entropy"
              and r["mode"] == "value_and_grad")
    # The fused gradient is the only logits-sized allocation beyond the inputs (at
    # 64 rows, so that MLX's small allocations do not count).
    assert 0.9 < ce["extra_peak_fraction"] < 1.3
    assert "mx.fast.cross_entropy" in ce["speedup"]


def test_cache_limit_is_set_and_recorded(tmp_path, capsys):
    before = mx.set_cache_limit(0)  # returns the previous limit
    try:
        code = main(["--device", "cpu", "--losses", "mse_loss", "--sizes", "4K", "--repeats", "1",
                     "--warmup", "0", "--no-torch", "--cache-limit", "64M", "--out", str(tmp_path)])
        assert code == 0
        assert mx.set_cache_limit(before) == 64 << 20
    finally:
        mx.set_cache_limit(before)
    with open(tmp_path / "cpu-results.json") as f:
        assert json.load(f)["config"]["cache_limit_bytes"] == 64 << 20
    assert "MLX cache limit (mx.set_cache_limit): 64 MB" in capsys.readouterr().out


def _repository_targets():
    """bench/targets.py: the repository's speed targets (not in the package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "bench" / "targets.py"
    spec = importlib.util.spec_from_file_location("repository_targets", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


targets = _repository_targets()


def test_headline_sizes_are_each_familys():
    from mlx_fused_losses.bench import _config, _parser

    parser = _parser()
    config, cases = _config(parser.parse_args(["--sizes", "headline"]), parser)
    planned = {w["case"].family: w["n"] for w in runner.plan(cases, config)}
    assert planned == {"pointwise": 16 << 20, "row-softmax": 8192 * 32000,
                       "row-distance": 65536 * 256}
    assert config.row_length == 32000
    config, cases = _config(parser.parse_args(["--family", "row-softmax"]), parser)
    assert {c.name for c in cases} == {c.name for c in CASES if c.family == "row-softmax"}


def test_time_runs_budget():
    from mlx_fused_losses.bench.timing import MIN_RUNS, time_runs

    calls = []
    stats = time_runs(lambda: calls.append(1), warmup=2, repeats=50, budget_s=1e-9)
    assert len(stats["times_s"]) == MIN_RUNS and len(calls) == 2 + MIN_RUNS
    assert len(time_runs(lambda: None, 0, 7, budget_s=None)["times_s"]) == 7


@pytest.mark.parametrize("argv, message", [
    (["--losses", "no_such_loss"], "unknown loss 'no_such_loss'"),
    (["--dtype", "int8"], "unknown dtype 'int8'"),
    (["--reductions", "avg"], "unknown reduction 'avg'"),
    (["--sizes", "lots"], "'lots' is not a size"),
    (["--repeats", "0"], "--repeats: got 0"),
    (["--sizes", "2x100,2x200"], "row lengths [100, 200] differ"),
    (["--row-length", "0"], "--row-length: got 0"),
    (["--budget", "0"], "--budget: got 0.0"),
    (["--family", "rows"], "unknown family 'rows'"),
    (["--cache-limit", "much"], "argument --cache-limit: 'much' is not a size"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def _target_row(mode, loss, status="ok", family="pointwise", n=16 << 20, **measured):
    speedup = {k: v for k, v in measured.items() if k != "extra_peak_fraction"}
    return {"loss": loss, "family": family, "n": n, "dtype": "float32", "reduction": "mean",
            "mode": mode, "status": status, "speedup": speedup, "roofline_fraction": 0.7,
            **{k: v for k, v in measured.items() if k == "extra_peak_fraction"}}


def test_targets_pass_and_fail():
    row = _target_row
    rows = [row("forward", "a", stock=6.0, compiled=4.0, torch=1.2),
            row("value_and_grad", "a", stock=4.5, compiled=4.1),
            row("forward", "b", "mismatch"), row("value_and_grad", "b", stock=9, compiled=9)]
    result = targets.check(rows)
    pointwise = result["families"]["pointwise"]
    assert list(result["families"]) == ["pointwise"] and pointwise["issue"] == 2
    a, b = pointwise["losses"]["a"], pointwise["losses"]["b"]
    assert a["fwd/stock>=5x"]["pass"] and not a["fwd/compiled>=5x"]["pass"]
    assert a["vag/stock>=4x"]["pass"] and a["vag/compiled>=4x"]["pass"]
    assert a["fwd/torch>=1x"]["pass"] and a["vag/torch>=1x"] is None  # no torch measured
    assert a["fwd bw>=60%"]["pass"]
    assert not b["fwd/stock>=5x"]["pass"] and b["vag/stock>=4x"]["pass"]
    text = targets.format_table(result)
    assert "FAIL (mismatch)" in text and "n/a" in text


def test_row_softmax_targets():
    rows_n = 8192 * 32000
    fast = "mx.fast.cross_entropy"

    def row(loss, peak, **speedup):
        return _target_row("value_and_grad", loss, family="row-softmax", n=rows_n,
                           extra_peak_fraction=peak, **speedup)

    result = targets.check([
        row("cross_entropy", 1.0003, stock=37.0, torch=5.7, **{fast: 36.0}),
        row("nll_loss", 1.4, stock=4.0, torch=0.9),
        _target_row("forward", "cross_entropy", family="row-softmax", n=rows_n, stock=9.0),
    ])
    family = result["families"]["row-softmax"]
    assert family["issue"] == 4 and family["size"] == family["defined_at"] == rows_n
    ce, nll = family["losses"]["cross_entropy"], family["losses"]["nll_loss"]
    assert all(ce[t]["pass"] for t in ("vag/stock>=5x", "vag/mx.fast>=5x", "vag/torch>=1x",
                                       "vag peak<=1.3x"))
    assert not any(nll[t]["pass"] for t in ("vag/stock>=5x", "vag/torch>=1x", "vag peak<=1.3x"))
    assert nll["vag/mx.fast>=5x"] is None  # mx.fast has no NLL kernel
    text = targets.format_table(result)
    assert "issue 4 targets (row-softmax)" in text and "PASS 1.00x" in text
    assert "indicative only" not in text


def test_repository_targets_use_the_targets_settings_unless_given():
    argv = targets._with_defaults(["--family", "pointwise"], "/tmp/out")
    assert argv[argv.index("--dtype") + 1] == "float32"
    assert argv[argv.index("--reductions") + 1] == "mean"
    assert argv[argv.index("--sizes") + 1] == "headline"
    assert argv[argv.index("--out") + 1] == "/tmp/out"
    argv = targets._with_defaults(["--sizes", "1M", "--out", "d"], "/tmp/out")
    assert argv.count("--sizes") == 1 and argv[argv.index("--out") + 1] == "d"
