"""Argument errors of the row-distance losses: each is a ValueError or
TypeError raised at the call, whose message starts with the function's name
and names the argument at fault."""

import mlx.core as mx
import numpy as np
import pytest

import mlx_fused_losses as mfl

X = mx.zeros((4, 5))
T = mx.ones((4,))
NAN, INF = float("nan"), float("inf")

# name -> (the function, its required arguments, its scalar parameters)
FUNCTIONS = {
    "cosine_similarity_loss": (mfl.cosine_similarity_loss, (X, X), ("eps",)),
    "triplet_loss": (mfl.triplet_loss, (X, X, X), ("eps", "p", "margin")),
    "contrastive_loss": (mfl.contrastive_loss, (X, X, T), ("eps", "p", "margin")),
    "cosine_embedding_loss": (mfl.cosine_embedding_loss, (X, X, T), ("eps", "margin")),
}
BAD_VALUES = {
    "eps": [-1.0, -1e-30, INF, NAN],
    "p": [0.5, 0.0, -2.0, 0.999999, INF, NAN],
    "margin": [INF, -INF, NAN],
}
CASES = [(name, param, value) for name, (_, _, params) in FUNCTIONS.items()
         for param in params for value in BAD_VALUES[param]]


def _raises(error, fn_name, arg, call):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{fn_name}: "), message
    assert f"`{arg}`" in message, message
    return message


@pytest.mark.parametrize("name,param,value", CASES)
def test_scalar_parameters_out_of_range(name, param, value):
    fn, args, _ = FUNCTIONS[name]
    _raises(ValueError, name, param, lambda: fn(*args, **{param: value}))


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("value", ["1", None, True, [1.0], mx.ones(2), 1 + 2j])
def test_scalar_parameters_of_the_wrong_type(name, value):
    fn, args, params = FUNCTIONS[name]
    for param in params:
        _raises(TypeError, name, param, lambda: fn(*args, **{param: value}))


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("reduction,error", [("avg", ValueError), ("batchmean", ValueError), ("Mean", ValueError),
                                             (None, TypeError), (3, TypeError)])
def test_bad_reduction(name, reduction, error):
    fn, args, _ = FUNCTIONS[name]
    _raises(error, name, "reduction", lambda: fn(*args, reduction=reduction))


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("axis,error", [(2, ValueError), (-3, ValueError), (2**40, ValueError),
                                        (1.0, TypeError), (True, TypeError), ("0", TypeError), (None, TypeError)])
def test_bad_axis(name, axis, error):
    fn, args, _ = FUNCTIONS[name]
    message = _raises(error, name, "axis", lambda: fn(*args, axis=axis))
    if error is ValueError and abs(axis) < 2**31:
        assert "(4, 5)" in message  # the inputs' shape


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_scalar_inputs(name):
    fn, args, _ = FUNCTIONS[name]
    first = {"triplet_loss": "anchors"}.get(name, "x1")
    scalars = [mx.array(1.0)] * (3 if name == "triplet_loss" else 2) + ([mx.array(1.0)] if len(args) == 3
                                                                       and name != "triplet_loss" else [])
    message = _raises(ValueError, name, first, lambda: fn(*scalars))
    assert "scalar" in message
    # python numbers are scalars too
    _raises(ValueError, name, first, lambda: fn(*[1.0] * len(args)))


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_shapes_that_do_not_broadcast(name):
    fn, args, _ = FUNCTIONS[name]
    names = {"triplet_loss": ("anchors", "positives", "negatives")}.get(name, ("x1", "x2"))
    for k in range(1, len(names)):
        bad = list(args)
        bad[k] = mx.zeros((3, 5))
        message = _raises(ValueError, name, names[k], lambda: fn(*bad))
        assert "(3, 5)" in message and "broadcast" in message
    bad = list(args)
    bad[1] = mx.zeros((4, 6))  # vector lengths differ
    _raises(ValueError, name, names[1], lambda: fn(*bad))


@pytest.mark.parametrize("name", ["contrastive_loss", "cosine_embedding_loss"])
@pytest.mark.parametrize("shape", [(4, 5), (1, 4), (3,), (5,), (2, 4), (4, 1)])
def test_targets_that_do_not_broadcast_to_the_loss(name, shape):
    fn, args, _ = FUNCTIONS[name]
    message = _raises(ValueError, name, "targets", lambda: fn(X, X, mx.ones(shape)))
    assert str(shape) in message and "(4,)" in message
    # (a loss of shape (2, 4) takes targets (4,), (2, 1), (1, 4), (), but not (4, 1))
    ok = fn(mx.zeros((2, 4, 3)), mx.zeros((2, 4, 3)), mx.ones((2, 1)), reduction="none")
    assert ok.shape == (2, 4)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_complex_inputs(name):
    fn, args, _ = FUNCTIONS[name]
    names = {"triplet_loss": ("anchors", "positives", "negatives")}.get(name, ("x1", "x2", "targets"))
    for k in range(len(args)):
        bad = list(args)
        bad[k] = args[k].astype(mx.complex64)
        _raises(TypeError, name, names[k], lambda: fn(*bad))


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_non_array_inputs(name):
    fn, args, _ = FUNCTIONS[name]
    first = {"triplet_loss": "anchors"}.get(name, "x1")
    _raises(TypeError, name, first, lambda: fn("x", *args[1:]))
    _raises(TypeError, name, first, lambda: fn(object(), *args[1:]))
    second = {"triplet_loss": "positives"}.get(name, "x2")
    _raises(TypeError, name, second, lambda: fn(args[0], "x", *args[2:]))
    if name in ("contrastive_loss", "cosine_embedding_loss"):
        _raises(TypeError, name, "targets", lambda: fn(X, X, "ones"))


@pytest.mark.parametrize("swap", [2, -1, "True", None, 1.0, 0.5, mx.array(True), [True]])
def test_swap_must_be_a_bool(swap):
    _raises(TypeError, "triplet_loss", "swap", lambda: mfl.triplet_loss(X, X, X, swap=swap))


def test_swap_is_keyword_only():
    with pytest.raises(TypeError):
        mfl.triplet_loss(X, X, X, -1, 2, 1.0, 1e-6, "none", True)


def test_accepted_edge_values():
    # the bounds themselves, numpy scalars, one-element arrays and 0/1 flags
    for swap in (True, False, 0, 1, np.bool_(True)):
        mx.eval(mfl.triplet_loss(X, X, X, swap=swap))
    mx.eval(mfl.triplet_loss(X, X, X, p=1, eps=0.0, margin=-3.0))
    mx.eval(mfl.triplet_loss(X, X, X, p=np.float32(1.5), eps=np.float64(1e-3), axis=np.int64(0)))
    mx.eval(mfl.contrastive_loss(X, X, T, margin=mx.array(2.0), p=mx.array([3.0])))
    mx.eval(mfl.cosine_similarity_loss(X, X, eps=0))
    mx.eval(mfl.cosine_embedding_loss(X, X, T, margin=-1.0, eps=0.0))
    for axis in (0, 1, -1, -2):
        mx.eval(mfl.cosine_similarity_loss(X, X, axis=axis))


def test_errors_are_raised_at_the_call_not_at_evaluation():
    # (a lazy error would surface far from its cause, in mx.eval)
    with pytest.raises(ValueError, match="^triplet_loss: `p`"):
        mfl.triplet_loss(X, X, X, p=0.5)
    with pytest.raises(ValueError, match="^contrastive_loss: `targets`"):
        mfl.contrastive_loss(X, X, mx.ones((5,)))
    with pytest.raises(ValueError, match="^cosine_similarity_loss: shapes of `x1`, `x2`"):
        mfl.cosine_similarity_loss(X, mx.zeros((3, 5)))
