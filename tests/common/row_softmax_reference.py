"""Independent float64 numpy references for the row-softmax losses.

Written from the published definitions (PyTorch's ``F.cross_entropy`` /
``F.nll_loss`` / ``F.kl_div`` documentation, MLX's ``mlx.nn.losses`` formulas,
the papers cited in the docstrings), not from the package's kernels, and shared
by the CPU tests and the Metal emulator tests. Every function takes numpy
arrays and returns float64.
"""

from __future__ import annotations

import numpy as np


def _rows(x, axis):
    """x with the class axis last, as float64."""
    return np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)


def log_softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        xs = x - m
        return xs - np.log(np.sum(np.exp(xs), axis=-1, keepdims=True))


def _reduce(loss, reduction, denominator=None):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.sum(loss)
    if reduction == "mean":
        return np.sum(loss) / (loss.size if denominator is None else denominator)
    raise ValueError(reduction)


def _take(values, index):
    """values[..., index] per row, NaN where the index is out of range."""
    C = values.shape[-1]
    safe = np.clip(index, 0, C - 1)
    out = np.take_along_axis(values, safe[..., None], axis=-1)[..., 0]
    return np.where((index >= 0) & (index < C), out, np.nan)


def cross_entropy(logits, targets, weights=None, axis=-1, label_smoothing=0.0,
                  reduction="none", class_weights=None, ignore_index=None):
    x = _rows(logits, axis)
    C = x.shape[-1]
    eps = label_smoothing
    w = np.ones(C) if class_weights is None else np.asarray(class_weights, np.float64)
    logp = log_softmax(x)
    targets = np.asarray(targets)
    denominator = None
    if targets.ndim == np.ndim(logits):
        t = _rows(targets, axis)
        ts = (1 - eps) * t + eps / C
        with np.errstate(invalid="ignore"):
            if class_weights is None:
                # MLX: lse - <t', x>, both taken relative to the row max.
                m = np.max(x, axis=-1, keepdims=True)
                xs = x - m
                loss = np.log(np.sum(np.exp(xs), -1)) - np.sum(ts * xs, -1)
            else:
                # PyTorch: -sum_c w_c t'_c log_softmax(x)_c.
                loss = -np.sum(w * ts * logp, -1)
    else:
        y = targets.astype(np.int64)
        ignored = np.zeros(y.shape, bool) if ignore_index is None else y == ignore_index
        with np.errstate(invalid="ignore"):
            nll = -_take(logp, y) * _take(np.broadcast_to(w, x.shape), y)
            loss = nll
            if eps > 0:  # (0 * the smoothing term would be NaN over -inf logits)
                loss = (1 - eps) * nll + eps / C * -np.sum(w * logp, -1)
        loss = np.where(ignored, 0.0, loss)
        if class_weights is not None or ignore_index is not None:
            denominator = np.sum(np.where(ignored, 0.0, _take(np.broadcast_to(w, x.shape), y)))
    if weights is not None:
        loss = loss * np.asarray(weights, np.float64)
    return _reduce(loss, reduction, denominator)


def nll_loss(inputs, targets, axis=-1, reduction="none", class_weights=None, ignore_index=None):
    x = _rows(inputs, axis)
    C = x.shape[-1]
    w = np.ones(C) if class_weights is None else np.asarray(class_weights, np.float64)
    y = np.asarray(targets).astype(np.int64)
    ignored = np.zeros(y.shape, bool) if ignore_index is None else y == ignore_index
    wy = _take(np.broadcast_to(w, x.shape), y)
    loss = np.where(ignored, 0.0, -_take(x, y) * wy)
    denominator = None
    if class_weights is not None or ignore_index is not None:
        denominator = np.sum(np.where(ignored, 0.0, wy))
    return _reduce(loss, reduction, denominator)


def kl_div(inputs, targets, axis=-1, reduction="none", log_target=True):
    x, t = np.broadcast_arrays(np.asarray(inputs, np.float64), np.asarray(targets, np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        if log_target:
            elem = np.exp(t) * (t - x)
        else:
            elem = np.where(t == 0, 0.0, t * np.log(np.where(t == 0, 1.0, t))) - t * x
    loss = np.sum(elem, axis=axis)
    if reduction == "batchmean":
        return np.sum(loss) / x.shape[0]
    return _reduce(loss, reduction)


def softmax_focal(logits, targets, alpha=None, gamma=2.0, axis=-1, reduction="none"):
    x = _rows(logits, axis)
    C = x.shape[-1]
    logp = _take(log_softmax(x), np.asarray(targets).astype(np.int64))
    p = np.exp(logp)
    a = 1.0 if alpha is None else np.asarray(alpha, np.float64)
    if np.ndim(a) == 1:
        a = _take(np.broadcast_to(a, x.shape), np.asarray(targets).astype(np.int64))
    loss = -a * (1 - p) ** gamma * logp
    return _reduce(loss, reduction)


def _normalize(x):
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def info_nce(query, keys, temperature=0.1, reduction="mean", negative_keys=None, normalize=True):
    q, k = (_normalize(query), _normalize(keys)) if normalize else (query, keys)
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    if negative_keys is None:
        logits = q @ k.T / temperature
        labels = np.arange(len(q))
    else:
        nk = _normalize(negative_keys) if normalize else np.asarray(negative_keys, np.float64)
        logits = np.concatenate([np.sum(q * k, -1, keepdims=True), q @ nk.T], 1) / temperature
        labels = np.zeros(len(q), np.int64)
    return cross_entropy(logits, labels, reduction=reduction)


def nt_xent(z1, z2, temperature=0.5, reduction="mean"):
    z = _normalize(np.concatenate([z1, z2], 0))
    n = len(z1)
    sim = z @ z.T / temperature
    loss = []
    for i in range(2 * n):
        others = [j for j in range(2 * n) if j != i]
        pos = (i + n) % (2 * n)
        row = sim[i, others]
        loss.append(np.log(np.sum(np.exp(row - row.max()))) + row.max() - sim[i, pos])
    return _reduce(np.array(loss), reduction)


def clip(image_embeds, text_embeds, temperature=0.07, reduction="mean", normalize=True):
    i = _normalize(image_embeds) if normalize else np.asarray(image_embeds, np.float64)
    t = _normalize(text_embeds) if normalize else np.asarray(text_embeds, np.float64)
    logits = i @ t.T / temperature
    labels = np.arange(len(i))
    loss = 0.5 * (cross_entropy(logits, labels) + cross_entropy(logits.T, labels))
    return _reduce(loss, reduction)
