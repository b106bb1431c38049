"""The row-distance Metal kernels, run on the CPU by metalcheck's emulator.

Every kind (cosine similarity, cosine embedding, triplet with and without the
distance swap, contrastive), the norms p = 2, 1 (their own code) and 3, 1.5
(the pow one), float32/float16/bfloat16, vector lengths 0, 1, 3, 31, 33, 257,
1000 and 5000 (both kernel variants, lengths that are not a multiple of any
threadgroup, rows walked several times), the vector axis first, last or in
the middle, transposed/gapped/broadcast (stride 0, also along the vector axis)
inputs, targets, state and cotangent, forward and backward for every subset
of vectors, launched with the geometry of the C++ plan that eval_gpu executes
(tests/common/metal_emu.py). Outputs start poisoned (NaN), so an element the
kernels miss fails the test, and an unrequested gradient must stay unwritten.
References: the float64 formulas below (written from the definitions, not
from kernels/row_distance/losses.h), with their analytic gradients; edge
cases (hinges at exactly 0, the swap's tie, the clamped cosine denominator,
cosine-embedding targets outside {1, -1}) also against the CPU backend.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import pytest

import metal_emu

_REASON = metal_emu.unavailable()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")

import mlx.core as mx  # noqa: E402  (before _ext: it uses MLX's types)
import mlx_fused_losses as mfl  # noqa: E402
from mlx_fused_losses import _ext  # noqa: E402

DTYPES = ("float32", "float16", "bfloat16")
SWAP = 1  # kSwap (kernels/row_distance/losses.h)
SIMD_MAX = 256  # rows up to this long take the "simd" kernels (row_distance/metal_plan.h)
# The forward's outputs are float32 for every dtype, computed in float from
# the same (rounded) inputs as the reference: (relative, relative to the
# largest value, at least 1). Gradients are rounded to the dtype: (relative,
# relative to the row's largest element).
LOSS_TOL = (2e-5, 2e-5)
GRAD_TOL = {"float32": (5e-5, 5e-6), "float16": (2e-3, 1e-3), "bfloat16": (1e-2, 8e-3)}
KINK = 1e-4  # rows this close (relatively) to a hinge or a swap's switch: no gradient check


def lib():
    return metal_emu.library(metal_emu.ROW_DISTANCE_KERNELS)


def rng_for(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# ------------------------------------------------------------------ cases
@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    p: float = 2.0
    swap: bool = False
    margin: float = 0.0
    eps: float = 1e-6

    @property
    def vectors(self):
        return 3 if self.kind == "triplet" else 2

    @property
    def targets(self):
        return self.kind in ("cosine_embedding", "contrastive")

    @property
    def cosine(self):
        return self.kind.startswith("cosine")

    @property
    def norm(self):
        if self.cosine or self.p == 2:
            return "l2"
        return "l1" if self.p == 1 else "lp"

    def params(self):
        """(margin, eps, p, flags), as csrc/row_distance/ops.cpp passes them."""
        return [self.margin, self.eps, self.p, SWAP if self.swap else 0]

    def sample(self, rng, rows, n):
        """The vectors (rows..., n) and per-row targets (rows), float64. The
        differences have a per-row scale, so distances and cosines spread over
        both sides of the hinges."""
        shape = tuple(rows) + (n,)
        u = rng.standard_normal(shape)
        if self.cosine:
            a = rng.uniform(-1.5, 1.5, tuple(rows) + (1,))
            vecs = [u, a * u + rng.standard_normal(shape)]
        else:
            root = max(n, 1) ** (1.0 / self.p)
            vecs = [u] + [u + rng.standard_normal(shape) * rng.uniform(0.2, 2.0, tuple(rows) + (1,))
                          / root for _ in range(self.vectors - 1)]
        t = None
        if self.kind == "cosine_embedding":
            t = rng.choice([1.0, -1.0], size=rows)
        elif self.kind == "contrastive":
            t = rng.choice([0.0, 1.0, 0.25], size=rows)
        return vecs, t


CASES = [
    Case("cosine_similarity", "cosine_similarity", eps=1e-8),
    Case("cosine_embedding", "cosine_embedding", margin=0.1, eps=1e-8),
    *[Case(f"triplet_p{p}" + ("_swap" if swap else ""), "triplet", p=p, swap=swap, margin=0.5)
      for p in (2.0, 1.0, 3.0, 1.5) for swap in (False, True)],
    *[Case(f"contrastive_p{p}", "contrastive", p=p, margin=1.0) for p in (2.0, 1.0, 3.0, 1.5)],
]
CASE = {c.name: c for c in CASES}


# -------------------------------------------------------------- reference
def _distance(x, y, p, eps):
    """(sum |x - y|^p + eps)^(1/p) over the last axis and its gradient in x."""
    e = x - y
    d = ((np.abs(e) ** p).sum(-1) + eps) ** (1.0 / p)
    return d, d[..., None] ** (1.0 - p) * np.abs(e) ** (p - 1.0) * np.sign(e)


@dataclass
class Ref:
    """float64 results, the vector axis last. The sizes are those of the
    terms a result sums, what its rounding error scales with (a triplet's
    loss cancels two distances, a cosine's gradient is 0 at cos = 1)."""
    loss: np.ndarray  # per row
    dt: np.ndarray  # d loss / d target, per row
    grads: List[np.ndarray]  # of each vector
    grad_sizes: List[np.ndarray]
    loss_size: np.ndarray  # of loss and dt, per row
    kink: np.ndarray  # rows near a hinge or a swap's switch: their gradient
    # depends on which side float rounding puts them


def reference(case, vecs, t) -> Ref:
    u, v = vecs[0], vecs[1]
    rows = u.shape[:-1]
    dt = np.zeros(rows)
    with np.errstate(all="ignore"):
        if case.cosine:
            s0, s1, s2 = (u * u).sum(-1), (v * v).sum(-1), (u * v).sum(-1)
            norms = np.sqrt(s0) * np.sqrt(s1)
            clamped = norms <= case.eps
            den = np.where(clamped, case.eps, norms)
            cos = s2 / den
            kink = np.zeros(rows, bool)
            loss_size = np.ones(rows)
            if case.kind == "cosine_similarity":
                loss, g = cos, np.ones(rows)
            else:
                h = cos - case.margin
                loss = np.where(t == 1, 1 - cos, np.where(t == -1, np.maximum(h, 0), np.nan))
                g = np.where(t == 1, -1.0, np.where(t == -1, (h > 0).astype(float), np.nan))
                kink = (t == -1) & (np.abs(h) <= KINK)
            c = clamped[..., None]
            dcos_du = np.where(c, v / case.eps, v / den[..., None] - (cos / s0)[..., None] * u)
            dcos_dv = np.where(c, u / case.eps, u / den[..., None] - (cos / s1)[..., None] * v)
            grads = [g[..., None] * dcos_du, g[..., None] * dcos_dv]
            ag = np.abs(g)[..., None]
            sizes = [ag * np.where(c, np.abs(v) / case.eps,
                                   np.abs(v / den[..., None]) + np.abs((cos / s0)[..., None] * u)),
                     ag * np.where(c, np.abs(u) / case.eps,
                                   np.abs(u / den[..., None]) + np.abs((cos / s1)[..., None] * v))]
        elif case.kind == "contrastive":
            d, gd = _distance(u, v, case.p, case.eps)
            h = np.maximum(case.margin - d, 0)
            loss = t * d * d + (1 - t) * h * h
            dl = (2 * t * d - 2 * (1 - t) * h)[..., None]
            grads = [dl * gd, -dl * gd]
            sizes = [(2 * np.abs(t * d) + 2 * np.abs((1 - t) * h))[..., None] * np.abs(gd)] * 2
            dt = d * d - h * h
            kink = np.zeros(rows, bool)
            loss_size = d * d + h * h
        else:
            w = vecs[2]
            d_pos, g_pos = _distance(u, v, case.p, case.eps)
            d_an, g_an = _distance(u, w, case.p, case.eps)
            kink = np.zeros(rows, bool)
            if case.swap:
                d_pn, g_pn = _distance(v, w, case.p, case.eps)
                d_neg = np.minimum(d_an, d_pn)
                share_an = np.where(d_an < d_pn, 1.0, np.where(d_an == d_pn, 0.5, 0.0))
                kink |= (d_an != d_pn) & (np.abs(d_an - d_pn) <= KINK * (d_an + d_pn))
            else:
                d_pn, g_pn, d_neg, share_an = d_an, np.zeros_like(u), d_an, np.ones(rows)
            share_pn = 1 - share_an
            z = d_pos - d_neg + case.margin
            loss = np.maximum(z, 0)
            kink |= (z != 0) & (np.abs(z) <= KINK * (d_pos + d_neg + abs(case.margin)))
            g = (z > 0).astype(float)[..., None]
            sa, sp = share_an[..., None], share_pn[..., None]
            grads = [g * (g_pos - sa * g_an), g * (-g_pos - sp * g_pn), g * (sa * g_an + sp * g_pn)]
            a_pos, a_an, a_pn = np.abs(g_pos), np.abs(sa * g_an), np.abs(sp * g_pn)
            sizes = [g * (a_pos + a_an), g * (a_pos + a_pn), g * (a_an + a_pn)]
            loss_size = d_pos + d_neg + abs(case.margin)
    return Ref(loss, dt, grads, sizes, loss_size, kink)


# ------------------------------------------------------------------ storing
def logical(values_last, axis):
    """(rows..., n) -> the inputs' logical shape, the vector axis at `axis`."""
    return np.moveaxis(values_last, -1, axis)


def store_vector(x, layout, axis, dtype):
    """A logical vector input (already constant where the layout broadcasts)
    -> (values rounded to dtype, device buffer, strides)."""
    x = metal_emu.quantize(x, dtype)
    if layout in ("broadcast_row", "broadcast_vector"):
        bax = axis if layout == "broadcast_vector" else (0 if axis != 0 else 1)
        buf, st = metal_emu.store(x, "broadcast", dtype, bax)
    else:
        buf, st = metal_emu.store(x, layout, dtype)
    return x, buf, st


def make_constant(x, layout, axis):
    """x made constant along the axis a broadcast layout has stride 0 on."""
    if layout not in ("broadcast_row", "broadcast_vector"):
        return x
    bax = axis if layout == "broadcast_vector" else (0 if axis != 0 else 1)
    return np.broadcast_to(np.take(x, [0], axis=bax), x.shape).copy()


def store_targets(t, axis, layout):
    """Per-row targets as the primitive gets them: float32 of the inputs'
    shape, constant along the vector axis (stride 0 there). layout: "row"
    (rows row-major), "transposed" (rows reversed in memory), "scalar" (one
    value for every row)."""
    rows = t.shape
    if layout == "scalar":
        return np.array([t.flat[0]], np.float32), [0] * (len(rows) + 1)
    if layout == "transposed":
        buf = np.ascontiguousarray(np.transpose(t)).ravel()
        st = metal_emu.row_major(rows[::-1])[::-1]
    else:
        buf, st = t.ravel(), metal_emu.row_major(rows)
    st = list(st)
    st.insert(axis, 0)
    return buf.astype(np.float32), st


@dataclass
class Stored:
    shape: tuple
    axis: int
    vecs: List[np.ndarray]  # logical values, rounded to the dtype (float64)
    t: Optional[np.ndarray]  # per row, float32-rounded (float64)
    buffers: list
    strides: list

    @property
    def rows(self):
        return self.shape[:self.axis] + self.shape[self.axis + 1:]

    def last(self):
        """The vectors with the vector axis last, for the reference."""
        return [np.moveaxis(x, self.axis, -1) for x in self.vecs]


def store(case, dtype, vecs_last, t, axis, layouts=None, t_layout="row"):
    """Inputs as the kernels see them. vecs_last: (rows..., n) float64; t: rows."""
    layouts = layouts or ["contiguous"] * case.vectors
    axis %= vecs_last[0].ndim
    vecs, buffers, strides = [], [], []
    for x, layout in zip(vecs_last, layouts):
        x = make_constant(logical(x, axis), layout, axis)
        xq, buf, st = store_vector(x, layout, axis, dtype)
        vecs.append(xq)
        buffers.append(buf)
        strides.append(st)
    if case.targets:
        if t_layout == "scalar":
            t = np.full(t.shape, t.flat[0])
        t = t.astype(np.float32).astype(np.float64)
        buf, st = store_targets(t, axis, t_layout)
        buffers.append(buf)
        strides.append(st)
    return Stored(vecs[0].shape, axis, vecs, t, buffers, strides)


# ------------------------------------------------------------------ running
def plan(case, dtype, s: Stored, wrt=None, extra_strides=()):
    return _ext._row_distance_metal_plan(case.kind, dtype, list(s.shape),
                                         s.strides + list(extra_strides), s.axis, case.params(),
                                         wrt)


def forward(case, dtype, s: Stored, threads=None, schedules=False):
    """-> (plan, loss, dt, state) from the emulator."""
    p = plan(case, dtype, s)
    rows = s.rows
    n = int(np.prod(rows, dtype=np.int64))
    outs = [np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(3 * n, np.float32)]
    metal_emu.run_plan(p, s.buffers, outs, dtype, lib=lib(), threads=threads, schedules=schedules)
    loss, dt, state = (o.astype(np.float64) for o in outs)
    return p, loss.reshape(rows), dt.reshape(rows), state.reshape(rows + (3,))


def backward(case, dtype, s: Stored, state, cot, wrt, state_layout="contiguous",
             cot_layout="contiguous", threads=None, schedules=False):
    """-> (plan, [gradient of vector k for k in wrt], logical shape, float64)."""
    state_buf, state_st = metal_emu.store(state, state_layout, "float32")
    cot_buf, cot_st = metal_emu.store(cot, cot_layout, "float32")
    p = plan(case, dtype, s, wrt, [state_st, cot_st])
    size = int(np.prod(s.shape, dtype=np.int64))
    outs = [np.zeros(size, metal_emu.STORAGE[dtype]) for _ in wrt]
    metal_emu.run_plan(p, s.buffers + [state_buf, cot_buf], outs, dtype, lib=lib(),
                       threads=threads, schedules=schedules)
    return p, [metal_emu.from_device(o, dtype).reshape(s.shape) for o in outs]


def assert_close(got, want, tol, what, row_axis=None, sizes=None):
    """|got - want| <= rtol |want| + atol scale, NaN where want is NaN. scale:
    the largest of `sizes` (default |want|) in each row (row_axis: the vector
    axis), or without row_axis (per-row values) each size, at least 1."""
    rtol, atol = tol
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    sizes = np.abs(want) if sizes is None else np.broadcast_to(sizes, want.shape)
    finite = np.where(np.isfinite(sizes), sizes, 0.0)
    if row_axis is None:
        scale = np.maximum(finite, 1.0)
    else:
        scale = finite.max(axis=row_axis, keepdims=True, initial=0.0)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), \
        f"{what}: NaN at {np.argwhere(np.isnan(got) != nan)[:3].tolist()}"
    ok = (np.abs(got - want) <= rtol * np.abs(want) + atol * scale) | (got == want) | nan
    if not ok.all():
        i = np.argwhere(~ok)[:3]
        raise AssertionError(f"{what}: {(~ok).sum()} of {ok.size} differ, e.g. at {i.tolist()}: "
                             f"got {got[~ok][:3]}, want {want[~ok][:3]}")


def all_wrt(case):
    return [list(w) for k in range(1, case.vectors + 1)
            for w in itertools.permutations(range(case.vectors), k)]


def check(case, dtype, rows, n, axis, *, layouts=None, t_layout="row", wrts=None,
          state_layout="contiguous", cot_layout="contiguous", threads=None, schedules=False,
          key=()):
    """Forward against the reference, then the VJP of each entry of wrts
    (default: all vectors) from the emulator's own state."""
    rng = rng_for(case.name, dtype, rows, n, axis, layouts, t_layout, key)
    vecs_last, t = case.sample(rng, rows, n)
    s = store(case, dtype, vecs_last, t, axis, layouts, t_layout)
    _, loss, dt, state = forward(case, dtype, s, threads, schedules)
    ref = reference(case, s.last(), s.t)
    assert_close(loss, ref.loss, LOSS_TOL, f"{case.name} loss", sizes=ref.loss_size)
    assert_close(dt, ref.dt, LOSS_TOL, f"{case.name} d loss / d target", sizes=ref.loss_size)

    cot = rng.standard_normal(s.rows)
    if cot_layout == "broadcast":
        cot = np.broadcast_to(np.take(cot, [0], axis=0), cot.shape).copy()
    cot = cot.astype(np.float32).astype(np.float64)
    live = np.expand_dims(~ref.kink, axis)
    for wrt in wrts or [list(range(case.vectors))]:
        _, grads = backward(case, dtype, s, state, cot, wrt, state_layout, cot_layout, threads,
                            schedules)
        for k, g in zip(wrt, grads):
            want = np.moveaxis(ref.grads[k] * cot[..., None], -1, axis)
            size = np.moveaxis(ref.grad_sizes[k] * np.abs(cot[..., None]), -1, axis)
            live_k = np.broadcast_to(live, want.shape)
            assert_close(np.where(live_k, g, 0), np.where(live_k, want, 0), GRAD_TOL[dtype],
                         f"{case.name} d/d vector {k} (wrt {wrt})", row_axis=axis, sizes=size)
    return s, loss, state


# ------------------------------------------------------------------ tests
LENGTHS = (0, 1, 3, 31, 33, 257, 1000)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_kind_dtype_length(case, dtype, n):
    # 11 short rows: the simd kernels' threadgroups of 8 rows, the last one
    # partial. Long rows: 2 (the looped kernels); 257: the threadgroup sum
    # must give the same bits under every thread schedule.
    rows = (11,) if n <= SIMD_MAX else (2,)
    check(case, dtype, rows, n, 1, schedules=n == 257)


@pytest.mark.parametrize("n", [5, 300])
@pytest.mark.parametrize("case", ["cosine_similarity", "cosine_embedding", "triplet_p1.5_swap",
                                  "triplet_p1.0", "contrastive_p3.0"])
def test_every_wrt_subset(case, n):
    # Every subset and order of the vectors: unrequested gradient slots are
    # placeholders that must stay unwritten.
    case = CASE[case]
    check(case, "float32", (4,) if n <= SIMD_MAX else (2,), n, 1, wrts=all_wrt(case))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [7, 300])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_strided(case, n, dtype):
    k = case.vectors
    # The vector axis first (strided rows): vectors transposed and gapped,
    # targets transposed, the cotangent broadcast (stride 0), the state gapped.
    check(case, dtype, (3, 2), n, 0, layouts=["transposed", "gapped", "transposed"][:k],
          t_layout="transposed", state_layout="gapped", cot_layout="broadcast")
    # A middle axis: one vector the same for every row (stride 0 on a row
    # axis), one gapped, the state transposed.
    check(case, dtype, (2, 3), n, 1, layouts=["broadcast_row", "gapped", "contiguous"][:k],
          state_layout="transposed")


@pytest.mark.parametrize("n", [6, 300])
@pytest.mark.parametrize("case", ["cosine_similarity", "cosine_embedding", "triplet_p2.0_swap",
                                  "triplet_p3.0", "contrastive_p1.0"])
def test_broadcast_vector_axis(case, n):
    # A vector constant along its own axis, read with stride 0 there (a
    # broadcast scalar per row), and one target for every row.
    case = CASE[case]
    layouts = ["contiguous", "broadcast_vector", "transposed"][:case.vectors]
    check(case, "float32", (5,), n, 1, layouts=layouts, t_layout="scalar")
    check(case, "float16", (3, 2), n, 2, layouts=layouts[::-1], t_layout="scalar")


@pytest.mark.parametrize("case", ["cosine_embedding", "triplet_p1.5_swap", "contrastive_p2.0"])
def test_single_vector(case):
    # One row and no row axes (rows shape ()).
    check(CASE[case], "float32", (), 50, 0)
    check(CASE[case], "float32", (), 700, 0)


@pytest.mark.parametrize("threads", [40, 96])
@pytest.mark.parametrize("n", [13, 300])
def test_any_threadgroup_size(threads, n):
    # eval_gpu may lower the plan's threadgroup size to the pipeline's limit:
    # partial simdgroups (40), fewer rows per threadgroup than planned.
    check(CASE["triplet_p1.5_swap"], "float32", (9,), n, 1, threads=threads, schedules=True)


@pytest.mark.parametrize("case", ["cosine_embedding", "triplet_p3.0_swap", "contrastive_p1.0"])
def test_long_rows(case):
    # More elements than 1024 threads x 4 reads: each thread walks the row
    # twice (forward) and the VJP splits it among threadgroups; every thread
    # schedule gives the same bits.
    check(CASE[case], "float32", (1,), 5000, 1, schedules=True)


# ------------------------------------------------------------ edge cases
def cpu_results(case, vecs, t, axis, cot):
    """The CPU backend's per-row loss and gradients of the vectors (float64),
    from float32 inputs."""
    xs = [mx.array(x.astype(np.float32)) for x in vecs]
    ta = None if t is None else mx.array(t.astype(np.float32))
    kw = dict(axis=axis, eps=case.eps, reduction="none")
    if case.kind == "cosine_similarity":
        fn = lambda a, b: mfl.cosine_similarity_loss(a, b, **kw)  # noqa: E731
    elif case.kind == "cosine_embedding":
        fn = lambda a, b: mfl.cosine_embedding_loss(a, b, ta, margin=case.margin, **kw)  # noqa: E731
    elif case.kind == "contrastive":
        fn = lambda a, b: mfl.contrastive_loss(a, b, ta, margin=case.margin, p=case.p, **kw)  # noqa: E731
    else:
        fn = lambda a, b, c: mfl.triplet_loss(a, b, c, p=case.p, margin=case.margin,  # noqa: E731
                                              swap=case.swap, **kw)
    with mx.stream(mx.cpu):
        loss, vjps = mx.vjp(fn, xs, [mx.array(cot.astype(np.float32))])
        mx.eval(loss, vjps)
    return np.array(loss[0], np.float64), [np.array(g, np.float64) for g in vjps]


def emulate(case, vecs, t, axis, cot):
    """The emulator's loss and gradients for logical float32 inputs."""
    vecs_last = [np.moveaxis(x, axis, -1) for x in vecs]
    s = store(case, "float32", vecs_last, t, axis)
    _, loss, _, state = forward(case, "float32", s)
    _, grads = backward(case, "float32", s, state, cot, list(range(case.vectors)))
    return s, loss, grads


def check_vs_cpu(case, vecs, t, axis, cot):
    s, loss, grads = emulate(case, vecs, t, axis, cot)
    cpu_loss, cpu_grads = cpu_results(case, s.vecs, s.t, axis, cot)
    ref = reference(case, s.last(), s.t)
    assert_close(loss, cpu_loss, LOSS_TOL, f"{case.name} loss vs CPU", sizes=ref.loss_size)
    for k, (g, c) in enumerate(zip(grads, cpu_grads)):
        size = np.moveaxis(ref.grad_sizes[k] * np.abs(cot[..., None]), -1, s.axis)
        assert_close(g, c, GRAD_TOL["float32"], f"{case.name} d/d vector {k} vs CPU",
                     row_axis=s.axis, sizes=size)
    return s, loss, grads


def check_reference(case, vecs, t, cot, loss, grads):
    """The emulator's results for float32 inputs, the vector axis last,
    against the float64 reference (no row left out)."""
    ref = reference(case, vecs, t)
    assert_close(loss, ref.loss, LOSS_TOL, "loss", sizes=ref.loss_size)
    for k, g in enumerate(grads):
        assert_close(g, ref.grads[k] * cot[:, None], GRAD_TOL["float32"], f"grad {k}", 1,
                     ref.grad_sizes[k] * np.abs(cot[:, None]))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_matches_cpu_backend(case):
    # Random rows, the vector axis in the middle, against the public function
    # on mx.cpu (reduction='none').
    rng = rng_for("cpu", case.name)
    vecs_last, t = case.sample(rng, (3, 4), 37)
    vecs = [logical(x, 1) for x in vecs_last]
    cot = rng.standard_normal((3, 4))
    check_vs_cpu(case, vecs, t, 1, cot)


def test_triplet_hinge_at_zero():
    # margin 0 and positive == negative: d(a, p) - d(a, n) is exactly 0, the
    # loss 0 and, the hinge being at exactly 0, every gradient 0 (the last
    # row, its negative closer than its positive, keeps its gradient).
    rng = rng_for("hinge")
    for p in (2.0, 1.0, 1.5):
        case = Case("triplet_margin0", "triplet", p=p, margin=0.0)
        u = rng.standard_normal((4, 9)).astype(np.float32).astype(np.float64)
        v = rng.standard_normal((4, 9)).astype(np.float32).astype(np.float64)
        w = v.copy()
        w[3] = u[3] + 0.01
        cot = np.array([1.0, -2.0, 0.5, 1.0])
        _, loss, grads = check_vs_cpu(case, [u, v, w], None, -1, cot)
        assert (loss[:3] == 0).all()
        for g in grads:
            assert (g[:3] == 0).all() and (g[3] != 0).any()
        check_reference(case, [u, v, w], None, cot, loss, grads)


def test_cosine_embedding_hinge_at_zero():
    # Target -1, margin 0, orthogonal vectors: cos is exactly 0, so the hinge
    # is at exactly 0 and passes no gradient.
    case = Case("cosine_embedding_margin0", "cosine_embedding", margin=0.0, eps=1e-8)
    u = np.array([[1.5, -2.0, 0.0, 3.0], [0.25, 0.5, 1.0, -1.0]])
    v = np.array([[2.0, 1.5, 7.0, 0.0], [-0.5, 0.25, 0.0, 0.0]])
    t = np.array([-1.0, -1.0])
    _, loss, grads = check_vs_cpu(case, [u, v], t, -1, np.array([1.0, 1.0]))
    assert (loss == 0).all()
    assert all((g == 0).all() for g in grads)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
def test_triplet_swap_tie(p):
    # negative 0, positive -anchor: d(a, n) and d(p, n) sum the same terms in
    # the same order, an exact tie, which splits the negative's gradient in
    # halves between them (as torch.min's).
    case = Case("triplet_swap_tie", "triplet", p=p, swap=True, margin=0.5)
    rng = rng_for("tie", p)
    u = rng.standard_normal((3, 40)).astype(np.float32).astype(np.float64)
    v, w = -u, np.zeros_like(u)
    cot = np.array([1.0, 0.5, -1.0])
    _, loss, grads = check_vs_cpu(case, [u, v, w], None, -1, cot)
    check_reference(case, [u, v, w], None, cot, loss, grads)
    # Not the gradient of either single choice of negative distance.
    one_side = reference(Case("x", "triplet", p=p, swap=False, margin=0.5), [u, v, w], None).grads
    assert not np.allclose(grads[2], one_side[2] * cot[:, None])


@pytest.mark.parametrize("kind", ["cosine_similarity", "cosine_embedding"])
def test_cosine_clamped_denominator(kind):
    # eps = 1: |u| |v| exactly 1 (clamped: the denominator is eps, the
    # gradient x2 / eps), smaller (clamped), 0 (a zero vector), and larger.
    case = Case(f"{kind}_eps1", kind, margin=-0.5, eps=1.0)
    u = np.array([[2.0, 0.0, 0.0, 0.0],
                  [0.1, -0.2, 0.05, 0.3],
                  [0.0, 0.0, 0.0, 0.0],
                  [1.0, 2.0, -3.0, 0.5],
                  [2.0, 0.0, 0.0, 0.0]])
    v = np.array([[0.0, 0.5, 0.0, 0.0],
                  [0.4, 0.1, -0.3, 0.2],
                  [1.0, -1.0, 2.0, 0.5],
                  [-2.0, 1.0, 0.5, 1.5],
                  [0.5, 0.0, 0.0, 0.0]])
    t = np.array([1.0, -1.0, 1.0, -1.0, -1.0]) if kind == "cosine_embedding" else None
    cot = np.array([1.0, -1.0, 0.5, 2.0, 1.0])
    _, loss, grads = check_vs_cpu(case, [u, v], t, -1, cot)
    check_reference(case, [u, v], t, cot, loss, grads)
    g = 1.0 if kind == "cosine_similarity" else -1.0
    assert np.array_equal(grads[0][0], g * cot[0] * v[0])  # d cos / d u = v / eps, exactly
    assert np.array_equal(grads[1][2], g * cot[2] * u[2])  # 0: u is the zero vector


def test_cosine_embedding_targets_not_pm1():
    # Targets other than 1 and -1 give a NaN loss and NaN gradients for their
    # rows only.
    case = CASE["cosine_embedding"]
    rng = rng_for("bad targets")
    vecs_last, _ = case.sample(rng, (6,), 20)
    t = np.array([1.0, 0.0, -1.0, 0.5, 2.0, -1.0])
    _, loss, grads = check_vs_cpu(case, vecs_last, t, -1, np.ones(6))
    bad = np.array([False, True, False, True, True, False])
    assert np.isnan(loss[bad]).all() and np.isfinite(loss[~bad]).all()
    for g in grads:
        assert np.isnan(g[bad]).all() and np.isfinite(g[~bad]).all()


def test_empty_vectors():
    # Vectors of length 0: every row is written (sums 0: the cosine 0 / eps,
    # distances eps^(1/p)); the VJP has nothing to write.
    for case in (CASE["cosine_embedding"], CASE["triplet_p1.5_swap"], CASE["contrastive_p3.0"]):
        rng = rng_for("empty", case.name)
        vecs_last, t = case.sample(rng, (4,), 0)
        s = store(case, "float32", vecs_last, t, 1)
        _, loss, dt, state = forward(case, "float32", s)
        ref = reference(case, s.last(), s.t)
        assert_close(loss, ref.loss, LOSS_TOL, f"{case.name} loss", sizes=ref.loss_size)
        assert_close(dt, ref.dt, LOSS_TOL, f"{case.name} dt", sizes=ref.loss_size)
        p = plan(case, "float32", s, [0], [[3, 1], [1]])
        assert p["dispatches"] == []


# ------------------------------------------------------------------ plans
def test_plan_geometry():
    def geometry(kind, dtype, shape, p=2.0, wrt=None, swap=False):
        n_vec = 3 if kind == "triplet" else 2
        st = [metal_emu.row_major(shape)] * n_vec
        if kind in ("cosine_embedding", "contrastive"):
            st = st + [[1, 0]]
        extra = [] if wrt is None else [[3, 1], [1]]
        d = _ext._row_distance_metal_plan(kind, dtype, shape, st + extra, 1,
                                          [1.0, 1e-6, p, SWAP if swap else 0], wrt)
        d = d["dispatches"][0]
        return d["kernel"], d["grid"], d["group"]

    # Up to 256 elements: 8 rows (simdgroups) per threadgroup.
    assert geometry("triplet", "float32", [11, 256], p=1.5, swap=True) == (
        "distance_triplet_lp_forward_simd_float32", (2, 1, 1), (256, 1, 1))
    assert geometry("cosine_similarity", "bfloat16", [3, 33]) == (
        "distance_cosine_similarity_l2_forward_simd_bfloat16", (1, 1, 1), (96, 1, 1))
    assert geometry("contrastive", "float16", [11, 100], p=1.0, wrt=[1]) == (
        "distance_contrastive_l1_vjp_simd_float16", (2, 1, 1), (256, 1, 1))
    # Longer: a threadgroup per row, 4 elements per thread per step.
    assert geometry("contrastive", "float32", [5, 257], p=3.0) == (
        "distance_contrastive_lp_forward_looped_float32", (5, 1, 1), (96, 1, 1))
    assert geometry("cosine_embedding", "float16", [3, 100000]) == (
        "distance_cosine_embedding_l2_forward_looped_float16", (3, 1, 1), (1024, 1, 1))
    # The VJP: threadgroups of 256 threads, as many per row as 1024 elements fill.
    assert geometry("triplet", "float32", [2, 262144], wrt=[0, 2]) == (
        "distance_triplet_l2_vjp_looped_float32", (2, 256, 1), (256, 1, 1))


def test_plan_bindings():
    # The triplet's w and the targets bound where the kind has them, else
    # placeholders; each gradient in the output of its position in wrt.
    st = [[4, 1]] * 2
    fwd = _ext._row_distance_metal_plan("cosine_similarity", "float32", [3, 4], st, 1)
    kinds = [b[0] for b in fwd["dispatches"][0]["buffers"]]
    assert kinds == ["input", "input", "placeholder", "placeholder", "output", "output", "output",
                     "bytes", "bytes", "bytes"]
    vjp = _ext._row_distance_metal_plan("contrastive", "float32", [3, 4],
                                        st + [[1, 0], [3, 1], [1]], 1, [1.0, 0.0, 2.0, 0], [1])
    b = vjp["dispatches"][0]["buffers"]
    assert b[:8] == [("input", 0), ("input", 1), ("placeholder", 0), ("input", 3), ("input", 4),
                     ("placeholder", 0), ("output", 0), ("placeholder", 0)]
    vjp = _ext._row_distance_metal_plan("triplet", "float32", [3, 4], [[4, 1]] * 3 + [[3, 1], [1]],
                                        1, [1.0, 0.0, 2.0, 0], [2, 0])
    b = vjp["dispatches"][0]["buffers"]
    assert b[:8] == [("input", 0), ("input", 1), ("input", 2), ("input", 3), ("input", 4),
                     ("output", 1), ("placeholder", 0), ("output", 0)]


def test_empty_rows_dispatch_nothing():
    st = [[5, 1]] * 3
    p = _ext._row_distance_metal_plan("triplet", "float32", [0, 5], st, 1)
    assert p["dispatches"] == []
    p = _ext._row_distance_metal_plan("triplet", "float32", [0, 5], st + [[3, 1], [1]], 1,
                                      wrt=[0, 1, 2])
    assert p["dispatches"] == []
    p = _ext._row_distance_metal_plan("triplet", "float32", [4, 5], st + [[3, 1], [1]], 1, wrt=[])
    assert p["dispatches"] == []


def test_plan_rejects_bad_arguments():
    st = [[3, 1]] * 2
    with pytest.raises(ValueError, match="float64"):
        _ext._row_distance_metal_plan("cosine_similarity", "float64", [2, 3], st, 1)
    with pytest.raises(ValueError, match="strides of 2 inputs; expected 3"):
        _ext._row_distance_metal_plan("contrastive", "float32", [2, 3], st, 1)
    with pytest.raises(ValueError, match="input 1 has 1 strides; expected 2"):
        _ext._row_distance_metal_plan("cosine_similarity", "float32", [2, 3], [[3, 1], [1]], 1)
    with pytest.raises(ValueError, match="axis 2"):
        _ext._row_distance_metal_plan("cosine_similarity", "float32", [2, 3], st, 2)
    for wrt in ([2], [0, 0], [-1]):
        with pytest.raises(ValueError, match="gradient of input"):
            _ext._row_distance_metal_plan("cosine_similarity", "float32", [2, 3],
                                          st + [[3, 1], [1]], 1, wrt=wrt)
    with pytest.raises(ValueError, match="row-distance loss kind"):
        _ext._row_distance_metal_plan("cosine", "float32", [2, 3], st, 1)


def test_every_kind_has_every_kernel():
    # Every kind with each of its norms, dtype, pass and variant the host can
    # ask for exists, and nothing else.
    combos = [("cosine_similarity", "l2"), ("cosine_embedding", "l2")] + [
        (k, n) for k in ("triplet", "contrastive") for n in ("l2", "l1", "lp")]
    want = {f"distance_{k}_{n}_{p}_{v}_{d}" for k, n in combos for p in ("forward", "vjp")
            for v in ("simd", "looped") for d in DTYPES}
    assert set(lib().kernels) == want
    assert {f"distance_{c.kind}_{c.norm}_forward_simd_float32" for c in CASES} <= want
