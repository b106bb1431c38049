"""Bad arguments raise ValueError/TypeError naming the argument, what it got
and what was expected; none crashes or computes garbage."""

import re

import mlx.core as mx
import pytest

import mlx_fused_losses as mfl

X = mx.zeros((4, 5))
V = mx.ones((4, 5))

# Functions whose operands must all have the first one's shape: (name, operand names).
SAME_SHAPE = [
    ("mse_loss", ("predictions", "targets")),
    ("l1_loss", ("predictions", "targets")),
    ("rmse_loss", ("predictions", "targets")),
    ("smooth_l1_loss", ("predictions", "targets")),
    ("charbonnier_loss", ("predictions", "targets")),
    ("quantile_loss", ("predictions", "targets")),
    ("mape_loss", ("predictions", "targets")),
    ("msle_loss", ("predictions", "targets")),
    ("margin_ranking_loss", ("inputs1", "inputs2", "targets")),
    ("gaussian_nll_loss", ("inputs", "targets", "vars")),
    ("poisson_nll_loss", ("inputs", "targets")),
    ("binary_cross_entropy", ("inputs", "targets")),
    ("sigmoid_focal_loss", ("inputs", "targets")),
]
# Functions that broadcast their operands, as in mlx.nn.losses.
BROADCASTING = [
    ("huber_loss", ("inputs", "targets")),
    ("log_cosh_loss", ("inputs", "targets")),
    ("hinge_loss", ("inputs", "targets")),
    ("squared_hinge_loss", ("inputs", "targets")),
]
ALL = SAME_SHAPE + BROADCASTING


def _call(name, operands, **kw):
    return getattr(mfl, name)(**operands, **kw)


def _valid(names):
    return {n: V for n in names}


@pytest.mark.parametrize("name,names", SAME_SHAPE, ids=[c[0] for c in SAME_SHAPE])
def test_mismatched_shapes(name, names):
    for k in range(1, len(names)):
        ops = _valid(names)
        ops[names[k]] = mx.ones((5, 4))
        msg = (f"{name}: `{names[k]}` has shape (5, 4); "
               f"expected the shape of `{names[0]}`, (4, 5)")
        with pytest.raises(ValueError, match=re.escape(msg)):
            _call(name, ops)
    # Broadcastable is not enough for these (as stock MLX).
    ops = _valid(names)
    ops[names[1]] = mx.ones((5,))
    with pytest.raises(ValueError, match=rf"`{names[1]}` has shape \(5,\)"):
        _call(name, ops)


@pytest.mark.parametrize("name,names", BROADCASTING, ids=[c[0] for c in BROADCASTING])
def test_non_broadcastable_shapes(name, names):
    msg = f"{name}: shapes of `inputs`, `targets` are (4, 5), (3,); expected broadcastable shapes"
    with pytest.raises(ValueError, match=re.escape(msg)):
        _call(name, {"inputs": X, "targets": mx.ones(3)})


@pytest.mark.parametrize("name,names", ALL, ids=[c[0] for c in ALL])
def test_complex_dtype(name, names):
    for n in names:
        ops = _valid(names)
        ops[n] = V.astype(mx.complex64)
        msg = f"`{n}` has dtype complex64; expected a real dtype (floating, integer or bool)"
        with pytest.raises(TypeError, match=re.escape(msg)):
            _call(name, ops)


@pytest.mark.parametrize("name,names", ALL, ids=[c[0] for c in ALL])
def test_reduction(name, names):
    with pytest.raises(ValueError, match=re.escape(
            "`reduction` is 'avg'; expected one of 'none', 'mean', 'sum'")):
        _call(name, _valid(names), reduction="avg")
    with pytest.raises(ValueError, match="`reduction` is 'Mean'"):
        _call(name, _valid(names), reduction="Mean")
    for bad, typename in ((None, "NoneType"), (1, "int"), (b"mean", "bytes")):
        with pytest.raises(TypeError, match=f"`reduction` is a {typename}; expected one of"):
            _call(name, _valid(names), reduction=bad)


@pytest.mark.parametrize("name,names", ALL, ids=[c[0] for c in ALL])
def test_operand_that_cannot_convert(name, names):
    for n in names:
        for bad, typename in (("abc", "str"), (None, "NoneType"), ({"a": 1}, "dict"),
                              ([1, [2, 3]], "list")):
            ops = _valid(names)
            ops[n] = bad
            with pytest.raises(TypeError, match=rf"`{n}` is a {typename}; expected an "
                                                r"mlx.core.array"):
                _call(name, ops)


def test_numbers_lists_and_numpy_convert():
    """What can convert does, as the loss of the converted arrays."""
    import numpy as np

    want = mfl.mse_loss(mx.array([1.0, 2.0]), mx.array([0.0, 0.0])).item()
    assert mfl.mse_loss([1.0, 2.0], np.zeros(2)).item() == want
    assert mfl.huber_loss(3.0, 1, reduction="none").item() == 1.5


# (name, parameter, bad value, expected message tail)
BAD_PARAMS = [
    ("huber_loss", "delta", 0.0, "expected a number > 0"),
    ("huber_loss", "delta", -1.0, "expected a number > 0"),
    ("huber_loss", "delta", float("nan"), "expected a number > 0"),
    ("smooth_l1_loss", "beta", -0.5, "expected a number >= 0"),
    ("smooth_l1_loss", "beta", float("nan"), "expected a number >= 0"),
    ("charbonnier_loss", "eps", 0.0, "expected a number > 0"),
    ("charbonnier_loss", "eps", -1e-3, "expected a number > 0"),
    ("charbonnier_loss", "eps", float("nan"), "expected a number > 0"),
    ("quantile_loss", "tau", -0.1, "expected a number in [0, 1]"),
    ("quantile_loss", "tau", 1.5, "expected a number in [0, 1]"),
    ("quantile_loss", "tau", float("nan"), "expected a number in [0, 1]"),
    ("mape_loss", "eps", 0.0, "expected a number > 0"),
    ("mape_loss", "eps", float("nan"), "expected a number > 0"),
    ("gaussian_nll_loss", "eps", 0.0, "expected a number > 0"),
    ("gaussian_nll_loss", "eps", -1.0, "expected a number > 0"),
    ("gaussian_nll_loss", "eps", float("nan"), "expected a number > 0"),
    ("poisson_nll_loss", "eps", 0.0, "expected a number > 0"),
    ("poisson_nll_loss", "eps", float("nan"), "expected a number > 0"),
    ("margin_ranking_loss", "margin", float("nan"), "expected a finite number"),
    ("margin_ranking_loss", "margin", float("inf"), "expected a finite number"),
    ("sigmoid_focal_loss", "alpha", 1.5, "expected a number in [0, 1], or negative"),
    ("sigmoid_focal_loss", "alpha", float("nan"), "expected a number in [0, 1], or negative"),
    ("sigmoid_focal_loss", "gamma", -1.0, "expected a finite number >= 0"),
    ("sigmoid_focal_loss", "gamma", float("inf"), "expected a finite number >= 0"),
    ("sigmoid_focal_loss", "gamma", float("nan"), "expected a finite number >= 0"),
]


def _operands(name):
    return _valid(dict(ALL)[name])


@pytest.mark.parametrize("name,param,value,expected", BAD_PARAMS,
                         ids=[f"{c[0]}-{c[1]}={c[2]}" for c in BAD_PARAMS])
def test_bad_parameter_values(name, param, value, expected):
    shown = {0.0: "0", -1.0: "-1", 1.5: "1.5", -0.5: "-0.5", -0.1: "-0.1", -1e-3: "-0.001"}
    got = "nan" if value != value else ("inf" if value == float("inf") else shown[value])
    msg = f"{name}: `{param}` is {got}; {expected}"
    with pytest.raises(ValueError, match=re.escape(msg)):
        _call(name, _operands(name), **{param: value})


@pytest.mark.parametrize("name,param", sorted({(c[0], c[1]) for c in BAD_PARAMS}))
def test_non_numeric_parameter(name, param):
    for bad, typename in (("abc", "str"), (None, "NoneType"), ([1.0], "list"),
                          (mx.array([1.0, 2.0]), "array")):
        with pytest.raises(TypeError, match=rf"`{param}` is .*\({typename}\); expected a number"):
            _call(name, _operands(name), **{param: bad})


def test_boundary_parameters_are_accepted():
    """The edges of each allowed range are valid."""
    ops = _operands("quantile_loss")
    for tau in (0.0, 1.0):
        mfl.quantile_loss(**ops, tau=tau)
    mfl.smooth_l1_loss(**_operands("smooth_l1_loss"), beta=0.0)
    mfl.sigmoid_focal_loss(**_operands("sigmoid_focal_loss"), alpha=1.0, gamma=0.0)
    mfl.sigmoid_focal_loss(**_operands("sigmoid_focal_loss"), alpha=-1.0)
    mfl.margin_ranking_loss(**_operands("margin_ranking_loss"), margin=-2.0)
    mfl.huber_loss(X, V, delta=mx.array(0.5))  # a 0-d array is a number


def test_bce_weights_shape():
    msg = ("binary_cross_entropy: `weights` has shape (4, 1); "
           "expected the shape of `inputs`, (4, 5)")
    with pytest.raises(ValueError, match=re.escape(msg)):
        mfl.binary_cross_entropy(X, V, weights=mx.ones((4, 1)))
    with pytest.raises(ValueError, match=r"`weights` has shape \(5,\)"):
        mfl.binary_cross_entropy(X, V, weights=mx.ones(5), with_logits=False)
    with pytest.raises(TypeError, match="`weights` has dtype complex64"):
        mfl.binary_cross_entropy(X, V, weights=V.astype(mx.complex64))
    with pytest.raises(TypeError, match="`weights` is a str"):
        mfl.binary_cross_entropy(X, V, weights="w")


def test_bce_pos_weight_shape():
    with pytest.raises(ValueError, match=re.escape(
            "binary_cross_entropy: shapes of `targets`, `pos_weight` are (4, 5), (3,); "
            "expected broadcastable shapes")):
        mfl.binary_cross_entropy(X, V, pos_weight=mx.ones(3))
    # Broadcastable, but to a larger shape than the targets'.
    for shape in ((2, 4, 5), (1, 4, 5)):
        msg = (f"`pos_weight` has shape ({', '.join(map(str, shape))}); expected a shape "
               "that broadcasts to the shape of `targets`, (4, 5)")
        with pytest.raises(ValueError, match=re.escape(msg)):
            mfl.binary_cross_entropy(X, V, pos_weight=mx.ones(shape))
    with pytest.raises(TypeError, match="`pos_weight` has dtype complex64"):
        mfl.binary_cross_entropy(X, V, pos_weight=mx.ones(5, mx.complex64))
    with pytest.raises(TypeError, match="`pos_weight` is a str"):
        mfl.binary_cross_entropy(X, V, pos_weight="p")
    # Accepted: one per class, a scalar, a number, the full shape, (1, 5).
    for pw in (mx.ones(5), mx.array(2.0), 2.0, V, mx.ones((1, 5))):
        mfl.binary_cross_entropy(X, V, pos_weight=pw)


def test_errors_leave_no_state_behind():
    """A failed call does not poison later ones (no half-built graph)."""
    with pytest.raises(ValueError):
        mfl.mse_loss(X, mx.ones((5, 4)))
    assert mfl.mse_loss(X, V).item() == 1.0
