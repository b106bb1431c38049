"""The pointwise Metal kernels, run on the CPU by metalcheck's emulator.

Every loss of reference.POINTWISE (plus binary cross-entropy on probabilities,
with weights and pos_weight), every reduction, float32/float16/bfloat16,
contiguous and strided/broadcast inputs, forward and backward, launched with
the geometry of the C++ plan that eval_gpu executes (tests/metal_emu.py).
Shapes are odd and span several threadgroups and batch entries; outputs start
poisoned (NaN), so an element the kernels miss fails the test. References: the
float64 numpy formulas of tests/reference.py; gradients by central differences
of those formulas.
"""

from __future__ import annotations

import inspect
import re
import zlib
from dataclasses import dataclass
from typing import Callable, Tuple

import numpy as np
import pytest

import metal_emu
import reference as ref

_REASON = metal_emu.unavailable()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")

import mlx.core as mx  # noqa: E402,F401  (before _ext: it uses MLX's types)
from mlx_fused_losses import _ext  # noqa: E402

DTYPES = ("float32", "float16", "bfloat16")
REDUCTIONS = ("none", "mean", "sum")
# 3129 elements: 4 threadgroups of 256 (the last one partly idle); with one
# batch axis, 3 entries of 1043 elements (2 partial sums each).
SHAPE = (3, 7, 149)
# Tolerances: float computation, then rounding to the output dtype.
# (relative to each element, relative to the largest element)
TOL = {"float32": (2e-5, 2e-6), "float16": (2e-3, 1e-3), "bfloat16": (8e-3, 8e-3)}
# Operand layouts of the "strided" case (x, y, z, weight).
STRIDED = ("transposed", "broadcast", "gapped", "transposed")


# ------------------------------------------------------------------ cases
@dataclass
class Case:
    name: str
    kind: str
    n_operands: int
    weighted: bool
    params: Tuple[float, ...]  # the kernel's (a, b, c, flags)
    loss: Callable  # float64 per-element loss of (operands..., [weight])
    sample: Callable  # rng, shape -> the inputs, float64

    @property
    def n_inputs(self):
        return self.n_operands + int(self.weighted)


# How each loss's keyword parameters become the kernel's (a, b, c, flags)
# (as csrc/pointwise/ops.cpp passes them).
KERNEL_PARAMS = {
    "huber_loss": lambda p: (p["delta"],),
    "smooth_l1_loss": lambda p: (p["beta"],),
    "charbonnier_loss": lambda p: (p["eps"],),
    "quantile_loss": lambda p: (p["tau"],),
    "mape_loss": lambda p: (p["eps"],),
    "margin_ranking_loss": lambda p: (p["margin"],),
    "gaussian_nll_loss": lambda p: (p["eps"], 0.5 * ref.LOG_2PI if p["full"] else 0.0),
    "poisson_nll_loss": lambda p: (
        p.get("eps", 1e-8), 0.0, 0.0, int(p["log_input"]) | 2 * int(p["full"])),
    "sigmoid_focal_loss": lambda p: (p["alpha"], p["gamma"], 0.0, focal_gamma_flags(p["gamma"])),
}


def focal_gamma_flags(gamma: float) -> int:
    # SigmoidFocal's flags, as focal_gamma_flags (kernels/pointwise/losses.h) sets them.
    if gamma == 2.0:
        return 1
    if gamma != int(gamma):
        return 0
    return 2 if int(gamma) % 2 == 0 else 3


def case_from_reference(name: str) -> Case:
    entry = ref.POINTWISE[name]
    accepted = inspect.signature(entry.ref).parameters
    kwargs = {k: v for k, v in entry.params.items() if k in accepted}
    if name in KERNEL_PARAMS:
        params = KERNEL_PARAMS[name](entry.params)
    else:
        assert set(entry.params) <= {"with_logits"}, f"{name}: map its parameters in KERNEL_PARAMS"
        params = ()
    return Case(name, entry.kind, len(entry.operands), False, params,
                lambda *ops: entry.ref(*ops, **kwargs), entry.sample)


def _bce_sample(logits: bool):
    def sample(r, s):
        x = r.standard_normal(s) * 3.0 if logits else 0.02 + 0.96 * r.random(s)
        return x, r.random(s), 0.5 + 2.0 * r.random(s), r.random(s)
    return sample


EXTRA = [
    Case("bce_probs", "bce_probs", 2, False, (), ref.ref_bce_probs,
         lambda r, s: _bce_sample(False)(r, s)[:2]),
    Case("bce_logits_weights_pos_weight", "bce_logits", 3, True, (),
         lambda x, y, pw, w: w * ref.ref_bce_logits(x, y, pw), _bce_sample(True)),
    Case("bce_probs_weights_pos_weight", "bce_probs", 3, True, (),
         lambda x, y, pw, w: w * ref.ref_bce_probs(x, y, pw), _bce_sample(False)),
]
# The focal loss's other powers (the reference case has gamma 2, computed as m m).
EXTRA += [
    Case(f"sigmoid_focal_gamma_{g}", "sigmoid_focal", 2, False, (0.25, g, 0.0, focal_gamma_flags(g)),
         lambda x, y, g=g: ref.ref_sigmoid_focal(x, y, 0.25, g),
         ref.POINTWISE["sigmoid_focal_loss"].sample)
    for g in (1.5, 3.0, 4.0)
]
# Not a loss: x y, the row families' accurate sums over their per-row losses
# (sum_of_products), which run on the GPU for every row-family mean and sum.
EXTRA.append(Case("product", "product", 2, False, (), lambda x, y: x * y,
                  lambda r, s: (r.standard_normal(s) * 2.0, r.random(s))))
CASES = [case_from_reference(n) for n in ref.POINTWISE] + EXTRA


def rng_for(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def make_inputs(case: Case, dtype: str, layout: str, rng, shape=SHAPE):
    """-> (float64 values as the kernel sees them, device buffers, strides)."""
    full = case.sample(rng, shape)
    small = case.sample(rng, (1,) + tuple(shape[1:]))
    values, buffers, strides = [], [], []
    for k in range(case.n_inputs):
        lay = "contiguous" if layout == "contiguous" else STRIDED[k]
        v = np.broadcast_to(small[k], shape) if lay == "broadcast" else full[k]
        v = metal_emu.quantize(v, dtype)
        buf, st = metal_emu.store(v, lay, dtype)
        values.append(v)
        buffers.append(buf)
        strides.append(st)
    return values, buffers, strides


def plan(case, dtype, reduction, strides, batch_ndim=0, wrt=None, shape=SHAPE):
    return _ext._pointwise_metal_plan(
        case.kind, dtype, reduction, list(shape), strides, case.n_operands, case.weighted,
        batch_ndim, list(case.params), wrt)


def assert_close(got, want, dtype, what):
    rtol, atol = TOL[dtype]
    got, want = np.ravel(got), np.ravel(want)
    bound = rtol * np.abs(want) + atol * np.max(np.abs(want), initial=0.0)
    bad = ~(np.abs(got - want) <= bound)  # NaN (poison) fails
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        pytest.fail(f"{what}: {bad.sum()} of {bad.size} elements off, first at {i}: "
                    f"got {got[i]!r}, want {want[i]!r}")


def check_variant(p, strided: bool):
    for d in p["dispatches"]:
        if not d["kernel"].startswith("pointwise_finish_"):
            assert ("_strided_" in d["kernel"]) == strided, d["kernel"]


def batch_ndim_for(reduction):
    # Mean over several batch entries (as under vmap); sum over everything.
    return 1 if reduction == "mean" else 0


# ------------------------------------------------------------------ forward
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_forward(case, dtype, reduction, layout):
    values, buffers, strides = make_inputs(case, dtype, layout, rng_for(case.name, dtype, layout))
    batch_ndim = batch_ndim_for(reduction)
    p = plan(case, dtype, reduction, strides, batch_ndim)
    check_variant(p, layout == "strided")

    loss = case.loss(*values)
    if reduction == "none":
        want = loss
    else:
        per_entry = loss.reshape(SHAPE[:batch_ndim] + (-1,))
        want = per_entry.mean(-1) if reduction == "mean" else per_entry.sum(-1)
    out = np.zeros(np.size(want), metal_emu.STORAGE[dtype])
    # The reductions must give the same bits under every thread schedule (a
    # missing barrier would not).
    metal_emu.run_plan(p, buffers, [out], dtype, schedules=reduction != "none")
    assert_close(metal_emu.from_device(out, dtype), want, dtype, f"{case.name} {reduction}")


# ------------------------------------------------------------------ backward
def numeric_partials(f, values, k):
    """d f / d values[k], elementwise (f is pointwise), by differences: the
    central, forward and backward quotients, and where f is smooth (the
    one-sided slopes agree)."""
    x = values[k]
    h = 1e-6 * np.maximum(1.0, np.abs(x))

    def at(delta):
        v = list(values)
        v[k] = x + delta
        return f(*v)

    f0, fp, fm = at(0.0), at(h), at(-h)
    fwd, bwd = (fp - f0) / h, (f0 - fm) / h
    smooth = np.abs(fwd - bwd) <= 1e-2 * (np.abs(fwd) + np.abs(bwd)) + 1e-3
    return np.stack([(fp - fm) / (2 * h), fwd, bwd]), smooth


def expected_gradient(slopes, smooth, got):
    """The central slope where f is smooth. At a kink (|x - y| = 0, a hinge's
    corner, poisson_nll's Stirling term switching on at y = 1) any value
    between the one-sided slopes (a subgradient) -- which one depends on the
    kernel's float branch, e.g. sign(0) = 0 for l1 -- so the nearest one."""
    lo, hi = np.minimum(slopes[1], slopes[2]), np.maximum(slopes[1], slopes[2])
    return np.where(smooth, slopes[0], np.clip(got, lo, hi))


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_backward(case, dtype, reduction, layout):
    rng = rng_for(case.name, dtype, layout, "vjp")
    values, buffers, strides = make_inputs(case, dtype, layout, rng)
    batch_ndim = batch_ndim_for(reduction)
    n = int(np.prod(SHAPE))

    # The cotangent, broadcast to the inputs' shape as PointwiseVJP gets it.
    if reduction == "none":
        cot = metal_emu.quantize(rng.standard_normal(SHAPE), dtype)
        cot_buf, cot_strides = metal_emu.store(
            cot, "contiguous" if layout == "contiguous" else "transposed", dtype)
        scale = 1.0
    else:
        batch = SHAPE[:batch_ndim]
        cb = metal_emu.quantize(rng.standard_normal(batch), dtype)
        cot = np.broadcast_to(cb.reshape(batch + (1,) * (len(SHAPE) - batch_ndim)), SHAPE)
        # Batch entries a stride of 2 apart: still the contiguous kernel.
        step = 1 if layout == "contiguous" else 2
        cot_buf = metal_emu.to_device(np.repeat(cb.ravel(), step), dtype)
        cot_strides = [step * s for s in metal_emu.row_major(batch)] + [0] * (len(SHAPE) - batch_ndim)
        scale = 1.0 / np.prod(SHAPE[batch_ndim:]) if reduction == "mean" else 1.0

    # Contiguous: every gradient in order; strided: a subset in reverse order
    # (unrequested outputs are placeholders).
    wrt = list(range(case.n_inputs))
    if layout == "strided":
        wrt = wrt[::-1][:max(1, case.n_inputs - 1)]
    p = plan(case, dtype, reduction, strides + [cot_strides], batch_ndim, wrt)
    check_variant(p, layout == "strided")
    outs = [np.zeros(n, metal_emu.STORAGE[dtype]) for _ in wrt]
    metal_emu.run_plan(p, buffers + [cot_buf], outs, dtype)

    for out, k in zip(outs, wrt):
        slopes, smooth = numeric_partials(case.loss, values, k)
        assert smooth.mean() > 0.5, f"{case.name}: the sample is mostly kinks"
        got = metal_emu.from_device(out, dtype).reshape(SHAPE)
        want = expected_gradient(slopes * cot * scale, smooth, got)
        assert_close(got, want, dtype, f"{case.name} {reduction} d/d input {k}")


# ------------------------------------------------------------------ edge cases
CASE = {c.name: c for c in CASES}


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reduction_over_zero_elements(reduction):
    case = CASE["mse_loss"]
    st = [[0, 1], [0, 1]]
    p = plan(case, "float32", reduction, st, batch_ndim=1, shape=(3, 0))
    assert [d["kernel"] for d in p["dispatches"]] == ["pointwise_finish_float32"]
    out = np.zeros(3, np.float32)
    metal_emu.run_plan(p, [np.zeros(1, np.float32)] * 2, [out], "float32")
    want = np.full(3, np.nan) if reduction == "mean" else np.zeros(3)
    np.testing.assert_array_equal(out, want)


def test_empty_inputs_dispatch_nothing():
    case = CASE["mse_loss"]
    assert plan(case, "float32", "none", [[1, 1], [1, 1]], shape=(0, 5))["dispatches"] == []
    assert plan(case, "float32", "sum", [[1, 1], [1, 1]], batch_ndim=1,
                shape=(0, 5))["dispatches"] == []
    assert plan(case, "float32", "mean", [[1, 1]] * 3, wrt=[0], shape=(0, 5))["dispatches"] == []


def test_large_mean_is_accurate():
    # More elements than 1024 partials x 256 threads x 4: every thread walks
    # several grid strides; the result stays within float32 rounding.
    n = 1024 * 256 * 4 + 4099
    rng = rng_for("large")
    x, y = rng.standard_normal(n), rng.standard_normal(n)
    xs, ys = x.astype(np.float32), y.astype(np.float32)
    p = plan(CASE["mse_loss"], "float32", "mean", [[1], [1]], shape=(n,))
    assert p["partials"] == 1024
    out = np.zeros(1, np.float32)
    metal_emu.run_plan(p, [xs, ys], [out], "float32")
    want = np.mean((xs.astype(np.float64) - ys) ** 2)
    assert abs(out[0] - want) <= 2e-7 * want


@pytest.mark.parametrize("threads", [40, 1024])
def test_any_threadgroup_size(threads):
    # eval_gpu may lower the plan's threadgroup size to the pipeline's limit.
    case = CASE["binary_cross_entropy"]
    values, buffers, strides = make_inputs(case, "float32", "strided", rng_for("tg", threads))
    loss = case.loss(*values)
    for reduction, batch_ndim, want in [("sum", 0, loss.sum()), ("mean", 2, loss.mean(-1)),
                                        ("none", 0, loss)]:
        p = plan(case, "float32", reduction, strides, batch_ndim)
        out = np.zeros(np.size(want), np.float32)
        metal_emu.run_plan(p, buffers, [out], "float32", threads=threads,
                           schedules=reduction != "none")
        assert_close(out, want, "float32", f"{reduction} with {threads} threads")


def test_plan_rejects_bad_arguments():
    case = CASE["mse_loss"]
    with pytest.raises(ValueError, match="float64"):
        plan(case, "float64", "mean", [[1], [1]], shape=(4,))
    with pytest.raises(ValueError, match="strides of 1 inputs; expected 2"):
        plan(case, "float32", "mean", [[1]], shape=(4,))
    with pytest.raises(ValueError, match="gradient of input 2"):
        plan(case, "float32", "mean", [[1], [1], [0]], wrt=[2], shape=(4,))


def test_every_loss_has_every_kernel():
    # The .metal file instantiates from MFL_POINTWISE_LOSSES: every kind, dtype
    # and variant the host can ask for exists, and nothing else.
    header = (metal_emu.REPO / "kernels" / "pointwise" / "losses.h").read_text()
    kinds = re.findall(r"^\s*X\((\w+), \w+, [23]\)", header, re.M)
    assert len(kinds) >= len({c.kind for c in CASES})
    variants = ["none", "none_strided", "partial", "partial_strided", "vjp", "vjp_strided"]
    want = {f"pointwise_{k}_{v}_{d}" for k in kinds for v in variants for d in DTYPES}
    want |= {f"pointwise_finish_{d}" for d in DTYPES}
    assert set(metal_emu.library().kernels) == want
