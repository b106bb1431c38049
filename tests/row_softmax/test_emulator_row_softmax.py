"""The row-softmax Metal kernels, run on the CPU by metalcheck's emulator.

Every kind (cross-entropy on class indices and on distributions, nll, kl_div,
softmax focal) with and without label smoothing / class weights / ignore_index,
float32/float16/bfloat16, row lengths 1, 3, 31, 33, 257 and 1000 (both kernel
variants, lengths that are not a multiple of any threadgroup), long rows (the
looped kernels walking them several times) up to a 2^18-class vocabulary, the
class axis first, last or in the middle, transposed/gapped/broadcast inputs,
state and cotangent, forward and backward, launched with the
geometry of the C++ plan that eval_gpu executes (tests/metal_emu.py). Outputs
start poisoned (NaN), so an element the kernels miss fails the test.
References: the float64 formulas of tests/row_softmax_reference.py; gradients
by central differences of them; edge cases (out-of-range targets, -inf logits,
large offsets) also against the CPU backend, whose semantics the GPU mirrors.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest

import metal_emu
import row_softmax_reference as ref

_REASON = metal_emu.unavailable()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")

import mlx.core as mx  # noqa: E402  (before _ext: it uses MLX's types)
import mlx_fused_losses as mfl  # noqa: E402
from mlx_fused_losses import _ext  # noqa: E402

DTYPES = ("float32", "float16", "bfloat16")
UNIT_MASS, LOG_TARGET = 1, 1  # RowParams flags (kernels/row_softmax/losses.h)
SIMD_MAX = 256  # rows up to this long take the "simd" kernels (row_softmax_plan.h)
# Backward outputs are rounded to the dtype: (relative, relative to the row's
# largest element). The forward's outputs are float32 for every dtype, computed
# in float from the same (rounded) inputs as the reference.
GRAD_TOL = {"float32": (3e-5, 3e-6), "float16": (2e-3, 1e-3), "bfloat16": (1e-2, 8e-3)}
LOSS_TOL = (3e-5, 3e-6)


def lib():
    return metal_emu.library(metal_emu.ROW_KERNELS)


def rng_for(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# ------------------------------------------------------------------ cases
@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # the kernel's kind
    eps: float = 0.0  # label smoothing
    class_weights: bool = False
    ignore: bool = False  # some rows' target is ignore_index
    log_target: bool = True  # kl_div
    wide: bool = False  # distribution targets in float32 for float16/bfloat16 logits

    @property
    def index(self):
        return self.kind in ("cross_entropy", "nll", "softmax_focal")

    def params(self):
        """The spec's (a, b, c, flags), as csrc/row_softmax/ops.cpp passes them (the
        plan reads the cross-entropies' b = eps as eps / C, from the logits' shape)."""
        if self.kind in ("cross_entropy", "cross_entropy_probs"):
            flags = UNIT_MASS if self.kind == "cross_entropy_probs" and not self.class_weights else 0
            return [1 - self.eps, self.eps, 0.0, flags]
        if self.kind == "kl_div":
            return [0.0, 0.0, 0.0, LOG_TARGET if self.log_target else 0]
        if self.kind == "softmax_focal":
            return [GAMMA, 0.0, 0.0, 0]
        return [0.0, 0.0, 0.0, 0]

    @property
    def dot(self):
        return self.eps > 0 or not self.index

    def sample(self, rng, shape, axis):
        """(logits, targets, class weights or None, ignore_index or None), float64 / int64."""
        n_classes = shape[axis]
        x = rng.standard_normal(shape) * 2.0
        w = 0.25 + 2.0 * rng.random(n_classes) if self.class_weights else None
        if self.index:
            rows = tuple(s for a, s in enumerate(shape) if a != axis % len(shape))
            t = rng.integers(0, n_classes, rows)
            ignore = None
            if self.ignore:
                ignore = -100
                t.flat[:: 3] = ignore
            return x, t, w, ignore
        if self.kind == "kl_div":
            p = 0.05 + rng.random(shape)
            p /= p.sum(axis, keepdims=True)
            t = np.log(p) if self.log_target else p
        else:
            t = rng.random(shape)
            t /= t.sum(axis, keepdims=True)
        return x, t, w, None

    def reference(self, x, t, w, ignore, axis):
        """float64 per-row loss."""
        if self.kind in ("cross_entropy", "cross_entropy_probs"):
            return ref.cross_entropy(x, t, axis=axis, label_smoothing=self.eps,
                                     class_weights=w, ignore_index=ignore)
        if self.kind == "nll":
            return ref.nll_loss(x, t, axis=axis, class_weights=w, ignore_index=ignore)
        if self.kind == "kl_div":
            return ref.kl_div(x, t, axis=axis, log_target=self.log_target)
        return ref.softmax_focal(x, t, alpha=w, gamma=GAMMA, axis=axis)

    def row_weight(self, t, w, ignore):
        """The forward's `weight` output: the target's class weight, 0 if ignored."""
        if not self.index:
            return 1.0
        wy = np.ones(t.shape) if w is None else w[np.clip(t, 0, len(w) - 1)]
        return np.where(t == ignore, 0.0, wy) if ignore is not None else wy


GAMMA = 2.0
CASES = [
    Case("cross_entropy", "cross_entropy"),
    Case("cross_entropy_smoothing_weights_ignore", "cross_entropy", eps=0.1,
         class_weights=True, ignore=True),
    Case("cross_entropy_probs", "cross_entropy_probs", eps=0.1),
    Case("cross_entropy_probs_weights_wide", "cross_entropy_probs", class_weights=True,
         wide=True),
    Case("nll", "nll"),
    Case("nll_weights_ignore", "nll", class_weights=True, ignore=True),
    Case("kl_div_log_target", "kl_div"),
    Case("kl_div_probs_wide", "kl_div", log_target=False, wide=True),
    Case("softmax_focal_alpha", "softmax_focal", class_weights=True),
]
CASE = {c.name: c for c in CASES}


# ------------------------------------------------------------------ running
@dataclass
class Stored:
    """Inputs as the kernels see them: float64 values (rounded to the dtype)
    and device buffers with strides."""
    x: np.ndarray
    t: np.ndarray
    w: Optional[np.ndarray]
    ignore: Optional[int]
    buffers: list
    strides: list
    targets_dtype: str


def store_indices(t, layout):
    """Class indices stored contiguous, transposed or gapped (every other
    element 2^40: out of range, a NaN loss if the kernels read it)."""
    if layout == "transposed":
        return np.ascontiguousarray(t.T).ravel(), metal_emu.row_major(t.shape[::-1])[::-1]
    if layout == "gapped":
        flat = np.full(2 * t.size, 2 ** 40, np.int64)
        flat[::2] = t.ravel()
        return flat, [2 * v for v in metal_emu.row_major(t.shape)]
    return t.ravel().copy(), metal_emu.row_major(t.shape)


def store(case, dtype, x, t, w, ignore, layout="contiguous", t_layout=None):
    """A "broadcast" layout makes the operand constant along axis 0 first."""
    if layout == "broadcast":
        x = np.broadcast_to(x[:1], x.shape)
    x = metal_emu.quantize(x, dtype)
    xb, xs = metal_emu.store(x, layout, dtype)
    if case.index:
        t = np.asarray(t, np.int64)
        tb, ts = store_indices(t, t_layout or "contiguous")
        t_dtype = "int64"
    else:
        t_dtype = "float32" if case.wide and dtype != "float32" else dtype
        if (t_layout or layout) == "broadcast":  # one row of targets for all rows
            t = np.broadcast_to(t[:1], t.shape)
        t = metal_emu.quantize(t, t_dtype)
        tb, ts = metal_emu.store(t, t_layout or layout, t_dtype)
    buffers, strides = [xb, tb], [xs, ts]
    if w is not None:
        w = w.astype(np.float32).astype(np.float64)
        buffers.append(w.astype(np.float32))
        strides.append([1])
    return Stored(x, t, w, ignore, buffers, strides, t_dtype)


def plan(case, dtype, s: Stored, axis, wrt=None, extra_strides=()):
    return _ext._row_softmax_metal_plan(
        case.kind, dtype, s.targets_dtype, list(s.x.shape), s.strides + list(extra_strides),
        axis % s.x.ndim, s.w is not None, case.dot, s.ignore, case.params(), wrt)


def forward(case, dtype, s: Stored, axis, threads=None, schedules=False):
    """-> (plan, loss, weight, state) from the emulator."""
    p = plan(case, dtype, s, axis)
    rows = tuple(n for a, n in enumerate(s.x.shape) if a != axis % s.x.ndim)
    n = int(np.prod(rows))
    outs = [np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(4 * n, np.float32)]
    metal_emu.run_plan(p, s.buffers, outs, dtype, lib=lib(), threads=threads, schedules=schedules)
    loss, weight, state = (o.astype(np.float64) for o in outs)
    return p, loss.reshape(rows), weight.reshape(rows), state.reshape(rows + (4,))


def backward(case, dtype, s: Stored, axis, state, cot, wrt, cot_layout="contiguous",
             threads=None, state_layout="contiguous"):
    """-> (plan, gradients in `wrt` order, float64 in the inputs' logical shape).
    The state and the cotangent are float32, stored with the given layouts (under
    vmap they can be views)."""
    state_buf, state_strides = metal_emu.store(state, state_layout, "float32")
    cot_buf, cot_strides = metal_emu.store(cot, cot_layout, "float32")
    p = plan(case, dtype, s, axis, wrt, [state_strides, cot_strides])
    outs = []
    for k in wrt:
        out_dtype = dtype if k == 0 else s.targets_dtype
        outs.append(np.zeros(s.x.size, metal_emu.STORAGE[out_dtype]))
    metal_emu.run_plan(p, s.buffers + [state_buf, cot_buf], outs, dtype, lib=lib(),
                       threads=threads)
    grads = [metal_emu.from_device(o, dtype if k == 0 else s.targets_dtype).reshape(s.x.shape)
             for o, k in zip(outs, wrt)]
    return p, grads


def numeric_grad(f, arrays, k, axis):
    """d f_r / d arrays[k] for every row r (f: per-row loss), by central
    differences: rows are independent, so one class of every row moves at once.
    Steps relative to the value for the targets (probabilities can be ~1e-4)."""
    a = np.moveaxis(arrays[k], axis, -1)
    g = np.zeros(a.shape)
    for j in range(a.shape[-1]):
        h = 1e-6 * np.maximum(1e-2 if k else 1.0, np.abs(a[..., j]))
        vals = []
        for sign in (1, -1):
            moved = a.copy()
            moved[..., j] += sign * h
            args = list(arrays)
            args[k] = np.moveaxis(moved, -1, axis)
            vals.append(f(*args))
        g[..., j] = (vals[0] - vals[1]) / (2 * h)
    return np.moveaxis(g, -1, axis)


def assert_close(got, want, tol, what, nan_ok=False):
    rtol, atol = tol
    got, want = np.ravel(got), np.ravel(want)
    bound = rtol * np.abs(want) + atol * np.max(np.abs(want[np.isfinite(want)]), initial=1.0)
    with np.errstate(invalid="ignore"):
        ok = np.abs(got - want) <= bound
    ok |= got == want  # inf
    if nan_ok:
        ok |= np.isnan(got) & np.isnan(want)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        pytest.fail(f"{what}: {(~ok).sum()} of {ok.size} elements off, first at {i}: "
                    f"got {got[i]!r}, want {want[i]!r}")


def check_all(case, dtype, shape, axis, layout="contiguous", t_layout=None, threads=None,
              cot_layout="contiguous", state_layout="contiguous", schedules=False, key=(),
              wrt=None):
    """Forward and backward of `case` against the references."""
    rng = rng_for(case.name, dtype, shape, axis, layout, *key)
    s = store(case, dtype, *case.sample(rng, shape, axis), layout=layout, t_layout=t_layout)
    p, loss, weight, state = forward(case, dtype, s, axis, threads, schedules)
    simd = shape[axis] <= SIMD_MAX
    assert ("_simd_" in p["dispatches"][0]["kernel"]) == simd, p["dispatches"][0]["kernel"]

    f = lambda x, t: case.reference(x, t, s.w, s.ignore, axis)  # noqa: E731
    assert_close(loss, f(s.x, s.t), LOSS_TOL, f"{case.name} loss")
    assert_close(weight, case.row_weight(s.t, s.w, s.ignore) * np.ones(loss.shape), (0, 0),
                 f"{case.name} weight")
    if case.kind in ("cross_entropy", "cross_entropy_probs", "softmax_focal"):
        live = ~(s.t == s.ignore) if s.ignore is not None else np.ones(loss.shape, bool)
        xr = np.moveaxis(s.x, axis, -1)
        m = xr.max(-1)
        assert_close(state[..., 0][live], m[live], (0, 0), "state: row max")
        assert_close(state[..., 1][live], np.log(np.exp(xr - m[..., None]).sum(-1))[live],
                     LOSS_TOL, "state: log sum exp")

    cot = rng.standard_normal(loss.shape)
    if cot_layout == "broadcast":
        cot = np.broadcast_to(cot[:1], cot.shape)
    cot = cot.astype(np.float32).astype(np.float64)
    wrt = wrt or ([0] if case.index else [1, 0])
    _, grads = backward(case, dtype, s, axis, state, cot, wrt, cot_layout, threads,
                        state_layout)
    cot_b = np.expand_dims(cot, axis % s.x.ndim)
    for k, g in zip(wrt, grads):
        want = numeric_grad(f, [s.x, s.t], k, axis) * cot_b
        tdtype = dtype if k == 0 else s.targets_dtype
        assert_close(g, want, GRAD_TOL[tdtype], f"{case.name} d/d input {k}")


# ------------------------------------------------------------------ tests
LENGTHS = (1, 3, 31, 33, 257, 1000)


@pytest.mark.parametrize("n_classes", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_kind_dtype_length(case, dtype, n_classes):
    # 11 short rows: the simd kernels' threadgroups of 8 rows, the last one partial.
    # 257 classes: 3 simdgroups per row; the threadgroup reduction must give the
    # same bits under every thread schedule.
    rows = 11 if n_classes <= SIMD_MAX else 2
    check_all(case, dtype, (rows, n_classes), -1, schedules=n_classes == 257)


@pytest.mark.parametrize("case", ["cross_entropy_smoothing_weights_ignore",
                                  "cross_entropy_probs_weights_wide", "kl_div_probs_wide"])
def test_long_row_looped(case):
    # More classes than 1024 threads x 4 reads: each thread walks the row
    # twice (forward) and the VJP splits it among threadgroups. Under every
    # thread schedule the result must be the same (the threadgroup reduction's
    # barrier).
    check_all(CASE[case], "float32", (1, 4099 + 1024), -1, schedules=True)


@pytest.mark.parametrize("threads", [40, 96])
@pytest.mark.parametrize("n_classes", [13, 300])
def test_any_threadgroup_size(threads, n_classes):
    # eval_gpu may lower the plan's threadgroup size to the pipeline's limit:
    # partial simdgroups (40), fewer rows per threadgroup than planned.
    check_all(CASE["cross_entropy_smoothing_weights_ignore"], "float32", (9, n_classes), -1,
              threads=threads, schedules=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["cross_entropy_smoothing_weights_ignore",
                                  "cross_entropy_probs", "kl_div_probs_wide",
                                  "softmax_focal_alpha", "nll_weights_ignore"])
@pytest.mark.parametrize("n_classes", [7, 300])
def test_strided(case, dtype, n_classes):
    # The class axis first (strided rows), logits stored transposed, targets
    # with every other element a NaN gap, the cotangent broadcast (stride 0),
    # the saved state gapped.
    check_all(CASE[case], dtype, (n_classes, 3, 5), 0, layout="transposed", t_layout="gapped",
              cot_layout="broadcast", state_layout="gapped")
    # A middle axis, logits gapped, the state transposed.
    check_all(CASE[case], dtype, (2, n_classes, 3), 1, layout="gapped", t_layout="transposed",
              state_layout="transposed")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["cross_entropy_probs", "kl_div_probs_wide"])
def test_broadcast_operands(case, dtype):
    # kl_div_loss broadcasts its operands (stride 0, no copy): one row of
    # targets for every row, and logits constant along the class axis.
    check_all(CASE[case], dtype, (6, 40), -1, t_layout="broadcast")
    check_all(CASE[case], dtype, (40, 6), 0, layout="broadcast", t_layout="transposed")


@pytest.mark.parametrize("case", ["cross_entropy_probs_weights_wide", "kl_div_log_target"])
def test_targets_gradient_alone(case):
    # wrt = [targets]: the logits' gradient slot is a placeholder, never written.
    check_all(CASE[case], "float16", (3, 40), -1, wrt=[1])


@pytest.mark.parametrize("case", ["cross_entropy_smoothing_weights_ignore",
                                  "cross_entropy_probs_weights_wide", "softmax_focal_alpha"])
def test_scalar_class_weight(case):
    # A scalar class weight (alpha) is broadcast to (C,) with stride 0, not copied.
    case = CASE[case]
    rng = rng_for("scalar weight", case.name)
    x, t, _, ignore = case.sample(rng, (5, 70), -1)
    s = store(case, "float32", x, t, np.full(70, 0.75), ignore)
    s.buffers[2] = np.array([0.75], np.float32)
    s.strides[2] = [0]
    _, loss, weight, state = forward(case, "float32", s, -1)
    assert_close(loss, case.reference(s.x, s.t, s.w, ignore, -1), LOSS_TOL, "loss")
    cot = np.linspace(-1, 1, 5)
    wrt = [0] if case.index else [0, 1]
    _, grads = backward(case, "float32", s, -1, state, cot, wrt)
    f = lambda x, t: case.reference(x, t, s.w, ignore, -1)  # noqa: E731
    for k, g in zip(wrt, grads):
        assert_close(g, numeric_grad(f, [s.x, s.t], k, -1) * cot[:, None], GRAD_TOL["float32"],
                     f"d/d input {k}")


def test_plan_geometry():
    case = CASE["cross_entropy"]
    s = store(case, "float32", np.zeros((11, 33)), np.zeros(11, np.int64), None, None)
    p = plan(case, "float32", s, -1)["dispatches"][0]
    assert p["kernel"] == "row_cross_entropy_forward_simd_float32"
    assert p["grid"] == (2, 1, 1) and p["group"] == (256, 1, 1)
    s = store(case, "float16", np.zeros((3, 100000)), np.zeros(3, np.int64), None, None)
    p = plan(case, "float16", s, -1)["dispatches"][0]
    assert p["kernel"] == "row_cross_entropy_forward_looped_float16"
    assert p["grid"] == (3, 1, 1) and p["group"] == (1024, 1, 1)
    # 256k classes: the VJP splits each row among 256 threadgroups of 256 threads.
    s = store(case, "float32", np.zeros((2, 262144)), np.zeros(2, np.int64), None, None)
    p = plan(case, "float32", s, -1, [0], [[4, 1], [1]])["dispatches"][0]
    assert p["kernel"] == "row_cross_entropy_vjp_looped_float32"
    assert p["grid"] == (2, 256, 1) and p["group"] == (256, 1, 1)


def test_vocabulary_256k():
    # A GPT-sized vocabulary (2^18 classes) in one row, a large shared offset.
    case = CASE["cross_entropy_smoothing_weights_ignore"]
    rng = rng_for("256k")
    n = 1 << 18
    x = rng.standard_normal((1, n)) * 3.0 + 50.0
    t = np.array([n - 1])
    s = store(case, "float32", x, t, None, None)
    _, loss, _, state = forward(case, "float32", s, -1)
    assert_close(loss, ref.cross_entropy(s.x, t, label_smoothing=case.eps), (2e-5, 0), "loss")
    cot = np.array([0.5])
    _, (g,) = backward(case, "float32", s, -1, state, cot, [0])
    logp = ref.log_softmax(s.x)
    want = 0.5 * (np.exp(logp) - case.eps / n)
    want[0, n - 1] -= 0.5 * (1 - case.eps)
    assert_close(g, want, (1e-4, 1e-7), "gradient")


# ------------------------------------------------------------ edge cases
def cpu_results(case, x, t, w, ignore, axis, cot):
    """The CPU backend's per-row loss and d loss / d logits (float64)."""
    xa = mx.array(x.astype(np.float32))
    ta = mx.array(t)
    kwargs = dict(axis=axis, reduction="none")
    if case.kind == "cross_entropy":
        fn = lambda a: mfl.cross_entropy(a, ta, label_smoothing=case.eps,  # noqa: E731
                                         class_weights=None if w is None else mx.array(w),
                                         ignore_index=ignore, **kwargs)
    elif case.kind == "nll":
        fn = lambda a: mfl.nll_loss(a, ta, class_weights=None if w is None else mx.array(w),  # noqa: E731
                                    ignore_index=ignore, **kwargs)
    else:
        fn = lambda a: mfl.softmax_focal_loss(a, ta, alpha=None if w is None else mx.array(w),  # noqa: E731
                                              gamma=GAMMA, **kwargs)
    with mx.stream(mx.cpu):
        loss, vjps = mx.vjp(fn, [xa], [mx.array(cot.astype(np.float32))])
        mx.eval(loss, vjps)
    return np.array(loss, np.float64), np.array(vjps[0], np.float64)


@pytest.mark.parametrize("case", ["cross_entropy_smoothing_weights_ignore", "nll_weights_ignore",
                                  "softmax_focal_alpha"])
def test_out_of_range_targets(case):
    # Class indices C, -1 and 2^40 that are not ignore_index: a NaN loss and
    # weight, and the row is never used to index the logits (the row with
    # target C is last, so x[C] would be past the end of the buffer: a fault).
    # The other rows are exact and the gradient matches the CPU backend.
    case = CASE[case]
    rng = rng_for("oor", case.name)
    n_rows, n_classes = 6, 5
    x = rng.standard_normal((n_rows, n_classes))
    ignore = -100 if case.ignore else None  # (softmax_focal_loss has no ignore_index)
    t = np.array([1, -1, 4, 2 ** 40, -100 if case.ignore else 0, n_classes])
    w = 0.5 + rng.random(n_classes)
    s = store(case, "float32", x, t, w, ignore)
    _, loss, weight, state = forward(case, "float32", s, -1)
    bad = np.array([False, True, False, True, False, True])
    assert np.isnan(loss[bad]).all() and np.isnan(weight[bad]).all()
    if case.ignore:
        assert loss[4] == 0 and weight[4] == 0
    good = ~bad
    want = case.reference(s.x, np.where(bad, 0, t), s.w, ignore, -1)
    assert_close(loss[good], want[good], LOSS_TOL, "rows in range")
    cot = rng.standard_normal(n_rows).astype(np.float32).astype(np.float64)
    _, (g,) = backward(case, "float32", s, -1, state, cot, [0])
    cpu_loss, cpu_g = cpu_results(case, s.x, t, w.astype(np.float32), ignore, -1, cot)
    assert_close(loss, cpu_loss, LOSS_TOL, "loss vs CPU", nan_ok=True)
    assert_close(g, cpu_g, GRAD_TOL["float32"], "gradient vs CPU", nan_ok=True)
    assert not np.isnan(g[good]).any()
    if case.ignore:
        assert (g[4] == 0).all()


@pytest.mark.parametrize("dtype,offset,spread", [
    ("float32", 1e4, 0.01), ("float32", 1e20, 1e14),  # spreads of ~1e4 and ~10 ulps
    ("float16", 1e4, 16.0), ("bfloat16", 1e4, 128.0),  # ~2 ulps
])
def test_large_shared_offset(dtype, offset, spread):
    # exp(x - max) with a running max: a shared offset changes nothing, and
    # x_target - max is exact.
    case = CASE["cross_entropy_smoothing_weights_ignore"]
    rng = rng_for("offset", dtype, offset)
    x = rng.standard_normal((7, 300)) * spread + offset
    t = rng.integers(0, 300, 7)
    for n_classes in (300, 9):
        s = store(case, dtype, x[:, :n_classes], t % n_classes, None, None)
        _, loss, _, state = forward(case, dtype, s, -1)
        want = case.reference(s.x, s.t, None, None, -1)
        assert np.isfinite(want).all()
        assert_close(loss, want, (1e-4, 1e-5), f"offset {offset}, {n_classes} classes")
        cot = np.ones(7)
        _, (g,) = backward(case, dtype, s, -1, state, cot, [0])
        _, cpu_g = cpu_results(case, s.x, s.t, None, None, -1, cot)
        assert_close(g, cpu_g, GRAD_TOL[dtype], "gradient vs CPU")


@pytest.mark.parametrize("n_classes", [6, 600])
def test_negative_infinite_logits(n_classes):
    # -inf logits add nothing to the softmax; an all -inf row but its target
    # still gives a finite loss; label smoothing over -inf logits gives +inf
    # (as the CPU backend and PyTorch). Compared with the CPU backend.
    rng = rng_for("ninf", n_classes)
    x = rng.standard_normal((4, n_classes))
    x[0, ::2] = -np.inf
    x[1, :] = -np.inf
    x[1, 3] = 2.0
    x[2, 1:] = -np.inf
    t = np.array([1, 3, 0, 2])
    for case in (CASE["cross_entropy"], CASE["cross_entropy_smoothing_weights_ignore"],
                 CASE["softmax_focal_alpha"]):
        w = np.linspace(0.5, 1.5, n_classes) if case.class_weights else None
        s = store(case, "float32", x, t, w, -100 if case.ignore else None)
        _, loss, _, state = forward(case, "float32", s, -1)
        cot = np.array([1.0, -0.5, 2.0, 0.25])
        _, (g,) = backward(case, "float32", s, -1, state, cot, [0])
        cpu_loss, cpu_g = cpu_results(case, s.x, t, None if w is None else w.astype(np.float32),
                                      s.ignore, -1, cot)
        if case.eps == 0:
            assert np.isfinite(loss).all(), case.name
            assert_close(loss, case.reference(s.x, t, s.w, s.ignore, -1), LOSS_TOL, case.name)
        else:
            assert np.isposinf(loss[:3]).all(), loss
        assert_close(loss, cpu_loss, LOSS_TOL, f"{case.name} loss vs CPU", nan_ok=True)
        assert_close(g, cpu_g, GRAD_TOL["float32"], f"{case.name} gradient vs CPU", nan_ok=True)


def test_empty_rows_dispatch_nothing():
    p = _ext._row_softmax_metal_plan("cross_entropy", "float32", "int64", [0, 5], [[5, 1], [1]], 1)
    assert p["dispatches"] == []
    p = _ext._row_softmax_metal_plan("cross_entropy", "float32", "int64", [0, 5],
                                     [[5, 1], [1], [4, 1], [1]], 1, wrt=[0])
    assert p["dispatches"] == []


def test_plan_rejects_bad_arguments():
    with pytest.raises(ValueError, match="float64"):
        _ext._row_softmax_metal_plan("cross_entropy", "float64", "int64", [2, 3], [[3, 1], [1]], 1)
    with pytest.raises(ValueError, match="targets dtype float32; expected int64"):
        _ext._row_softmax_metal_plan("nll", "float32", "float32", [2, 3], [[3, 1], [1]], 1)
    with pytest.raises(ValueError, match="targets dtype int32; expected float16 or float32"):
        _ext._row_softmax_metal_plan("kl_div", "float16", "int32", [2, 3], [[3, 1], [3, 1]], 1)
    with pytest.raises(ValueError, match="strides of 1 inputs; expected 2"):
        _ext._row_softmax_metal_plan("nll", "float32", "int64", [2, 3], [[3, 1]], 1)
    with pytest.raises(ValueError, match="gradient of input 1"):
        _ext._row_softmax_metal_plan("nll", "float32", "int64", [2, 3],
                                     [[3, 1], [1], [4, 1], [1]], 1, wrt=[1])
    with pytest.raises(ValueError, match="row-softmax loss kind"):
        _ext._row_softmax_metal_plan("mse_loss", "float32", "int64", [2, 3], [[3, 1], [1]], 1)


def test_every_kind_has_every_kernel():
    # The .metal file instantiates from MFL_ROW_LOSSES: every kind, dtype and
    # variant the host can ask for exists, and nothing else.
    header = (metal_emu.REPO / "kernels" / "row_softmax" / "losses.h").read_text()
    kinds = re.findall(r"^\s*X\((\w+), \w+\)", header, re.M)
    assert set(kinds) >= {c.kind for c in CASES}
    want = {f"row_{k}_{p}_{v}_{d}" for k in kinds for p in ("forward", "vjp")
            for v in ("simd", "looped") for d in DTYPES}
    assert set(lib().kernels) == want
