"""Independent float64 numpy references for the row-distance losses.

Written from the published definitions, not from the package's kernels:

- the cosine of ``mlx.nn.losses.cosine_similarity_loss``,
  ``sum(x1 x2) / max(|x1| |x2|, eps)`` with ``|x| = sqrt(sum x^2)``;
- the distance of ``mlx.nn.losses.triplet_loss``, ``(sum |x - y|^p + eps)^(1/p)``
  (PyTorch's ``pairwise_distance`` is ``|x - y + eps|_p`` instead);
- the triplet loss ``max(d(a, p) - d_neg + margin, 0)`` with PyTorch's distance
  swap ``d_neg = min(d(a, n), d(p, n))`` (Balntas et al. 2016);
- the contrastive loss of Hadsell, Chopra & LeCun (2006) without its 1/2,
  ``t d^2 + (1 - t) max(0, margin - d)^2``;
- PyTorch's ``cosine_embedding_loss``: ``1 - cos`` for ``t = 1``,
  ``max(0, cos - margin)`` for ``t = -1`` (NaN for any other target here).

Every loss has a value function and an analytic gradient function (derived by
hand from the same formulas; ``test_row_distance_reference.py`` holds them to
finite differences). They take numpy arrays (any real dtype), broadcast the
vectors against each other as numpy/MLX arithmetic does, broadcast the targets
to the loss's shape, and return float64. Shared by the CPU tests and the Metal
emulator tests.
"""

from __future__ import annotations

import numpy as np

REDUCTIONS = ("none", "mean", "sum")


# --------------------------------------------------------------------- helpers


def _vectors(arrays, axis):
    """The arrays as float64, broadcast against each other, the vector axis
    moved last; and that axis's non-negative index in the broadcast shape."""
    arrays = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in arrays))
    ndim = arrays[0].ndim
    if ndim == 0:
        raise ValueError("scalar inputs have no vector axis")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} out of range for {ndim} dimensions")
    axis = axis % ndim
    return [np.moveaxis(a, axis, -1) for a in arrays], axis


def _targets(targets, rows_shape):
    """Targets broadcast to the loss's shape (never extending it), as float64."""
    t = np.asarray(targets, np.float64)
    if t.ndim > len(rows_shape) or np.broadcast_shapes(t.shape, rows_shape) != tuple(rows_shape):
        raise ValueError(f"targets of shape {t.shape} do not broadcast to {tuple(rows_shape)}")
    return np.broadcast_to(t, rows_shape)


def reduce(loss, reduction):
    loss = np.asarray(loss, np.float64)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.sum(loss)
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sum(loss) / loss.size if loss.size else np.float64(np.nan)
    raise ValueError(reduction)


def row_cotangent(rows_shape, reduction, cotangent=None):
    """The cotangent of each row's loss: ``cotangent`` (broadcast) for 'none',
    1 for 'sum', 1 / rows for 'mean' (times a scalar ``cotangent``)."""
    c = 1.0 if cotangent is None else np.asarray(cotangent, np.float64)
    n = int(np.prod(rows_shape))
    if reduction == "mean":
        c = c / max(n, 1)
    return np.broadcast_to(c, rows_shape)


def unbroadcast(grad, shape):
    """Sum ``grad`` (of the broadcast shape) down to ``shape``: the gradient of
    an input that was broadcast."""
    grad = np.asarray(grad, np.float64)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and grad.shape[i] != 1:
            grad = grad.sum(axis=i, keepdims=True)
    return grad.reshape(shape)


def _back(grads_last, axis, shapes):
    """Gradients with the vector axis last -> each input's own shape."""
    return tuple(unbroadcast(np.moveaxis(g, -1, axis), np.shape(s)) for g, s in zip(grads_last, shapes))


# ------------------------------------------------------------------ the pieces


def cosine(u, v, eps):
    """cos along the last axis, and whether the denominator is clamped
    (``|u| |v| <= eps``: mx.maximum(norms, eps) picks eps at a tie)."""
    norms = np.sqrt(np.sum(u * u, -1)) * np.sqrt(np.sum(v * v, -1))
    clamped = ~(norms > eps) & ~np.isnan(norms)
    den = np.where(clamped, eps, norms)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(u * v, -1) / den, clamped


def cosine_grads(u, v, eps):
    """d cos / d u and d cos / d v along the last axis."""
    n1 = np.sqrt(np.sum(u * u, -1, keepdims=True))
    n2 = np.sqrt(np.sum(v * v, -1, keepdims=True))
    cos, clamped = cosine(u, v, eps)
    c, k = cos[..., None], clamped[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        du = np.where(k, v / eps, v / (n1 * n2) - c * u / (n1 * n1))
        dv = np.where(k, u / eps, u / (n1 * n2) - c * v / (n2 * n2))
    return du, dv


def distance(u, v, p, eps):
    """(sum |u - v|^p + eps)^(1/p) along the last axis."""
    with np.errstate(invalid="ignore"):
        return (np.sum(np.abs(u - v) ** p, -1) + eps) ** (1.0 / p)


def distance_grad(u, v, p, eps):
    """d distance / d u (= -d distance / d v): d^(1-p) |e|^(p-1) sign(e)."""
    e = u - v
    d = distance(u, v, p, eps)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        if p == 1:
            return np.sign(e) * np.ones_like(d)
        return d ** (1.0 - p) * np.abs(e) ** (p - 1.0) * np.sign(e)


def _hinge_grad(z):
    """d max(z, 0) / d z: 0 at exactly 0 (as mlx.core.maximum), NaN for NaN."""
    return np.where(np.isnan(z), np.nan, (z > 0).astype(np.float64))


# ---------------------------------------------------------------- the losses


def cosine_similarity(x1, x2, axis=1, eps=1e-8, reduction="none"):
    (u, v), _ = _vectors([x1, x2], axis)
    return reduce(cosine(u, v, eps)[0], reduction)


def cosine_similarity_grads(x1, x2, axis=1, eps=1e-8, reduction="none", cotangent=None):
    (u, v), ax = _vectors([x1, x2], axis)
    c = row_cotangent(u.shape[:-1], reduction, cotangent)[..., None]
    du, dv = cosine_grads(u, v, eps)
    return _back([c * du, c * dv], ax, [x1, x2])


def _triplet_parts(a, p, n, pn, margin, eps, swap):
    d_ap = distance(a, p, pn, eps)
    d_an = distance(a, n, pn, eps)
    if swap:
        d_pn = distance(p, n, pn, eps)
        d_neg = np.minimum(d_an, d_pn)
        # torch.min's rule at a tie: half the gradient to each
        w_an = np.where(d_an < d_pn, 1.0, np.where(d_an == d_pn, 0.5, 0.0))
    else:
        d_neg = d_an
        w_an = np.ones_like(d_an)
    return d_ap - d_neg + margin, w_an


def triplet(anchors, positives, negatives, axis=-1, p=2, margin=1.0, eps=1e-6,
            reduction="none", swap=False):
    (a, pos, neg), _ = _vectors([anchors, positives, negatives], axis)
    z, _ = _triplet_parts(a, pos, neg, p, margin, eps, swap)
    with np.errstate(invalid="ignore"):
        return reduce(np.maximum(z, 0.0), reduction)


def triplet_grads(anchors, positives, negatives, axis=-1, p=2, margin=1.0, eps=1e-6,
                  reduction="none", swap=False, cotangent=None):
    (a, pos, neg), ax = _vectors([anchors, positives, negatives], axis)
    z, w_an = _triplet_parts(a, pos, neg, p, margin, eps, swap)
    g = (row_cotangent(z.shape, reduction, cotangent) * _hinge_grad(z))[..., None]
    w_an = w_an[..., None]
    w_pn = 1.0 - w_an if swap else np.zeros_like(w_an)
    phi_ap = distance_grad(a, pos, p, eps)
    phi_an = distance_grad(a, neg, p, eps)
    # (w_pn is 0 without the swap: leave d(p, n)'s term out, it may be NaN at p = n)
    phi_pn = distance_grad(pos, neg, p, eps) if swap else np.zeros_like(a)
    with np.errstate(invalid="ignore"):
        ga = g * (phi_ap - w_an * phi_an)
        gp = g * (-phi_ap - w_pn * phi_pn)
        gn = g * (w_an * phi_an + w_pn * phi_pn)
    return _back([ga, gp, gn], ax, [anchors, positives, negatives])


def contrastive(x1, x2, targets, margin=1.0, axis=-1, p=2, eps=1e-6, reduction="mean"):
    (u, v), _ = _vectors([x1, x2], axis)
    t = _targets(targets, u.shape[:-1])
    d = distance(u, v, p, eps)
    h = np.maximum(margin - d, 0.0)
    return reduce(t * d**2 + (1.0 - t) * h**2, reduction)


def contrastive_grads(x1, x2, targets, margin=1.0, axis=-1, p=2, eps=1e-6, reduction="mean",
                      cotangent=None):
    """(d/d x1, d/d x2, d/d targets)."""
    (u, v), ax = _vectors([x1, x2], axis)
    t = _targets(targets, u.shape[:-1])
    c = row_cotangent(t.shape, reduction, cotangent)
    d = distance(u, v, p, eps)
    h = np.maximum(margin - d, 0.0)
    dd = (c * (2 * t * d - 2 * (1 - t) * h))[..., None] * distance_grad(u, v, p, eps)
    gx1, gx2 = _back([dd, -dd], ax, [x1, x2])
    gt = unbroadcast(c * (d**2 - h**2), np.shape(targets))
    return gx1, gx2, gt


def cosine_embedding(x1, x2, targets, margin=0.0, axis=-1, eps=1e-8, reduction="mean"):
    (u, v), _ = _vectors([x1, x2], axis)
    t = _targets(targets, u.shape[:-1])
    cos, _ = cosine(u, v, eps)
    with np.errstate(invalid="ignore"):
        loss = np.where(t == 1, 1.0 - cos, np.where(t == -1, np.maximum(cos - margin, 0.0), np.nan))
    return reduce(loss, reduction)


def cosine_embedding_grads(x1, x2, targets, margin=0.0, axis=-1, eps=1e-8, reduction="mean",
                           cotangent=None):
    """(d/d x1, d/d x2); the targets' gradient is 0."""
    (u, v), ax = _vectors([x1, x2], axis)
    t = _targets(targets, u.shape[:-1])
    cos, _ = cosine(u, v, eps)
    dl_dcos = np.where(t == 1, -1.0, np.where(t == -1, _hinge_grad(cos - margin), np.nan))
    c = (row_cotangent(t.shape, reduction, cotangent) * dl_dcos)[..., None]
    du, dv = cosine_grads(u, v, eps)
    return _back([c * du, c * dv], ax, [x1, x2])


# ------------------------------------------------------------------- samples


def _noise(rng, shape, axis, p, radius):
    """Random offsets along ``axis`` with p-norm ``radius`` (broadcast per row)."""
    e = rng.standard_normal(shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.sum(np.abs(e) ** p, axis=axis, keepdims=True) ** (1.0 / p)
        e = np.where(norm > 0, e / norm, 0.0)
    return e * np.expand_dims(radius, axis)


def sample(rng, name, shape, axis=-1, **params):
    """Operands of the loss ``name`` (vectors of ``shape``, then the targets of
    the loss's shape, for the kinds that take them) in float64, drawn so that
    both sides of every hinge occur: cosines spread over [-1, 1], distances
    around the margin. ``soft=True`` gives contrastive targets in [-0.5, 1.5]."""
    axis = axis % len(shape)
    rows = tuple(n for i, n in enumerate(shape) if i != axis)
    x1 = rng.standard_normal(shape)
    if name in ("cosine_similarity_loss", "cosine_embedding_loss"):
        x2 = x1 * np.expand_dims(rng.uniform(-2, 2, rows), axis) + rng.standard_normal(shape)
        if name == "cosine_similarity_loss":
            return [x1, x2]
        return [x1, x2, rng.choice([-1.0, 1.0], rows)]
    p = params.get("p", 2)
    margin = params.get("margin", 1.0)
    reach = 2.0 + 2.0 * max(margin, 0.0)
    if name == "triplet_loss":
        pos = x1 + _noise(rng, shape, axis, p, rng.uniform(0, 2, rows))
        neg = x1 + _noise(rng, shape, axis, p, rng.uniform(0, reach, rows))
        return [x1, pos, neg]
    if name == "contrastive_loss":
        x2 = x1 + _noise(rng, shape, axis, p, rng.uniform(0, reach, rows))
        if params.get("soft"):
            t = rng.uniform(-0.5, 1.5, rows)
        else:
            t = rng.integers(0, 2, rows).astype(np.float64)
        return [x1, x2, t]
    raise KeyError(name)


def kink_distance(name, operands, axis=-1, elements=True, **params):
    """How far the operands are from the loss's kinks (the hinges at 0, the
    swap's tie, the cosine's clamp, and with ``elements`` the kink of |e|^p at
    e = 0 for p < 2): finite differences need it > their step."""
    params = {k: v for k, v in params.items() if k not in ("reduction", "soft")}
    if name in ("cosine_similarity_loss", "cosine_embedding_loss"):
        (u, v), _ = _vectors(operands[:2], axis)
        eps = params.get("eps", 1e-8)
        norms = np.sqrt(np.sum(u * u, -1)) * np.sqrt(np.sum(v * v, -1))
        gaps = [np.abs(norms - eps)]
        if name == "cosine_embedding_loss":
            cos, _ = cosine(u, v, eps)
            t = _targets(operands[2], cos.shape)
            gaps.append(np.where(t == -1, np.abs(cos - params.get("margin", 0.0)), np.inf))
    else:
        p, eps = params.get("p", 2), params.get("eps", 1e-6)
        margin = params.get("margin", 1.0)
        if name == "triplet_loss":
            (a, pos, neg), _ = _vectors(operands, axis)
            z, _ = _triplet_parts(a, pos, neg, p, margin, eps, params.get("swap", False))
            gaps = [np.abs(z), np.abs(distance(a, neg, p, eps) - distance(pos, neg, p, eps))
                    if params.get("swap") else np.full(z.shape, np.inf)]
            diffs = [a - pos, a - neg] + ([pos - neg] if params.get("swap") else [])
        else:
            (u, v), _ = _vectors(operands[:2], axis)
            gaps = [np.abs(margin - distance(u, v, p, eps))]
            diffs = [u - v]
        if p < 2 and elements:  # |e|^p is not twice differentiable at e = 0
            gaps += [np.min(np.abs(e), axis=-1, initial=np.inf) for e in diffs]
    return float(min(np.min(g, initial=np.inf) for g in gaps))


def value_scale(name, operands, axis=-1, **params):
    """The size of each row's terms (float arithmetic's error is relative to
    it: distances of ~20 may cancel in a triplet loss of ~1), of the loss's
    shape: 1 + |margin| for the cosines, 1 + |margin| + the distances for the
    triplet, (1 + |t| + |1 - t|)(1 + |margin| + d)^2 for the contrastive loss."""
    params = {k: v for k, v in params.items() if k not in ("reduction", "soft")}
    margin = abs(params.get("margin", 0.0 if name.startswith("cosine") else 1.0))
    if name in ("cosine_similarity_loss", "cosine_embedding_loss"):
        (u, _), _ = _vectors(operands[:2], axis)
        return np.full(u.shape[:-1], 1.0 + margin)
    p, eps = params.get("p", 2), params.get("eps", 1e-6)
    with np.errstate(invalid="ignore", over="ignore"):
        if name == "triplet_loss":
            (a, pos, neg), _ = _vectors(operands, axis)
            return 1.0 + margin + distance(a, pos, p, eps) + distance(a, neg, p, eps) + distance(pos, neg, p, eps)
        (u, v), _ = _vectors(operands[:2], axis)
        t = _targets(operands[2], u.shape[:-1])
        return (1.0 + np.abs(t) + np.abs(1 - t)) * (1.0 + margin + distance(u, v, p, eps)) ** 2


# The public loss names -> (reference, analytic gradients, the names of the
# differentiable arguments, in call order).
LOSSES = {
    "cosine_similarity_loss": (cosine_similarity, cosine_similarity_grads, ("x1", "x2")),
    "triplet_loss": (triplet, triplet_grads, ("anchors", "positives", "negatives")),
    "contrastive_loss": (contrastive, contrastive_grads, ("x1", "x2", "targets")),
    "cosine_embedding_loss": (cosine_embedding, cosine_embedding_grads, ("x1", "x2")),
}
REFERENCES = {name: entry[0] for name, entry in LOSSES.items()}
GRADIENTS = {name: entry[1] for name, entry in LOSSES.items()}
