"""bias + activation, softmax and log-softmax through the binding: numpy float64
references, torch as an oracle, both ISA paths, 1 and 2 threads, odd sizes, errors."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen import _core

ACTS = ["none", "relu", "relu6", "sigmoid", "tanh"]
# (rows..., C): single elements, C not a multiple of 8, NHWC, and enough work for 2 threads.
SHAPES = [(1, 1), (3, 1), (5, 3), (7, 13), (2, 5, 5, 3), (600, 100)]


def act_ref(v, act):
    if act == "relu":
        return np.maximum(v, 0)
    if act == "relu6":
        return np.clip(v, 0, 6)
    if act == "sigmoid":
        return 1 / (1 + np.exp(-v))
    if act == "tanh":
        return np.tanh(v)
    return v


def dact_ref(y, act):
    """act'(x) written in terms of y = act(x)."""
    if act == "relu":
        return (y > 0).astype(np.float64)
    if act == "relu6":
        return ((y > 0) & (y < 6)).astype(np.float64)
    if act == "sigmoid":
        return y * (1 - y)
    if act == "tanh":
        return 1 - y * y
    return np.ones_like(y)


def tol(dtype):
    return dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)


def away_from_kinks(rng, shape, dtype):
    """Values in [-8, 8] at least 0.05 from relu's and relu6's kinks (0 and 6)."""
    x = rng.uniform(-8, 8, size=shape)
    x = np.where(np.abs(x) < 0.05, 0.5, x)
    x = np.where(np.abs(x - 6) < 0.05, 5.0, x)
    return x.astype(dtype)


# ---- bias + activation ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTS)
def test_bias_act_forward_matches_numpy(rng, isa, threads, dtype, act):
    for shape in SHAPES:
        x = rng.uniform(-8, 8, size=shape).astype(dtype)
        b = rng.uniform(-2, 2, size=shape[-1]).astype(dtype)
        y = _core.bias_act_forward(x, b, activation=act)
        assert y.dtype == dtype and y.shape == shape
        want = act_ref(x.astype(np.float64) + b.astype(dtype).astype(np.float64), act)
        if dtype == np.float32:  # x + b rounds in float32 first
            want = act_ref((x + b).astype(np.float64), act)
        np.testing.assert_allclose(y, want, **tol(dtype))
        np.testing.assert_allclose(_core.bias_act_forward(x, activation=act),
                                   act_ref(x.astype(np.float64), act), **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_act_forward_in_place(rng, isa, dtype):
    x = rng.standard_normal((33, 19)).astype(dtype)
    b = rng.standard_normal(19).astype(dtype)
    want = _core.bias_act_forward(x, b, activation="relu6")
    res = _core.bias_act_forward(x, b, x, activation="relu6")
    assert res is x
    np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_act_isas_agree_bitwise_and_keep_nan(rng, dtype):
    # The AVX2 file is built without FMA contraction: both paths give the same bits.
    x = rng.uniform(-8, 8, size=(37, 21)).astype(dtype)
    x[1, 3] = np.nan
    b = rng.uniform(-1, 1, size=21).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    outs = {}
    before = _core.get_isa()
    try:
        for isa_name in _core.supported_isas():
            _core.set_isa(isa_name)
            res = []
            for act in ACTS:
                y = _core.bias_act_forward(x, b, activation=act)
                res += [y, *_core.bias_act_backward(dy, y, activation=act)]
                res.append(_core.bias_act_backward(dy, y, activation=act, need_dx=False)[1])
            outs[isa_name] = res
    finally:
        _core.set_isa(before)
    for res in outs.values():
        assert all(np.isnan(res[4 * i][1, 3]) for i in range(len(ACTS)))  # NaN propagates
        for got, want in zip(res, outs["generic"], strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTS)
def test_bias_act_backward_matches_numpy(rng, isa, threads, dtype, act):
    for shape in SHAPES:
        y = act_ref(away_from_kinks(rng, shape, np.float64), act).astype(dtype)
        dy = rng.standard_normal(shape).astype(dtype)
        dx, db = _core.bias_act_backward(dy, y, activation=act)
        want = dy.astype(np.float64) * dact_ref(y.astype(np.float64), act)
        axes = tuple(range(len(shape) - 1))
        np.testing.assert_allclose(dx, want, **tol(dtype))
        red = max(1, int(np.prod(shape[:-1])))
        atol = (1e-5 if dtype == np.float32 else 1e-12) * np.sqrt(red)
        np.testing.assert_allclose(db, want.sum(axis=axes), rtol=0, atol=atol)


@pytest.mark.parametrize("act", ACTS)
def test_bias_act_backward_matches_torch_autograd(rng, isa, torch, act):
    x = away_from_kinks(rng, (4, 6, 6, 11), np.float64)
    b = rng.uniform(-0.02, 0.02, size=11)  # small: x + b stays away from the kinks
    dy = rng.standard_normal(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    fns = {"none": lambda v: v, "relu": torch.relu, "relu6": torch.nn.functional.relu6,
           "sigmoid": torch.sigmoid, "tanh": torch.tanh}
    yt = fns[act](xt + bt)
    (yt * torch.tensor(dy)).sum().backward()
    y = _core.bias_act_forward(x, b, activation=act)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-13, atol=1e-13)
    dx, db = _core.bias_act_backward(dy, y, activation=act)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-11, atol=1e-11)


def test_bias_act_backward_masks_select(isa):
    # relu / relu6 pick dy or 0: a NaN or inf dy where the unit is off gives 0, not NaN.
    y = np.array([[0.0, 6.0, 3.0, 0.0]], np.float32)
    dy = np.array([[np.nan, np.inf, 2.0, -1.0]], np.float32)
    dx, db = _core.bias_act_backward(dy, y, activation="relu6")
    np.testing.assert_array_equal(dx, [[0, 0, 2, 0]])
    np.testing.assert_array_equal(db, [0, 0, 2, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dbias_is_the_same_for_any_thread_count(rng, isa, dtype):
    dy = rng.standard_normal((5000, 7)).astype(dtype)
    y = rng.uniform(0.1, 0.9, size=dy.shape).astype(dtype)
    before = _core.get_num_threads()
    try:
        got = []
        for n in (1, 2):
            _core.set_num_threads(n)
            got.append(_core.bias_act_backward(dy, y, activation="sigmoid")[1])
    finally:
        _core.set_num_threads(before)
    np.testing.assert_array_equal(got[0], got[1])


def test_bias_act_backward_outputs_by_need_and_counters(rng):
    dy = rng.standard_normal((10, 4))
    y = rng.uniform(0.1, 0.9, size=(10, 4))
    _core.reset_kernel_counts()
    dx, db = _core.bias_act_backward(dy, y, activation="tanh", need_dx=False)
    assert dx is None and db.shape == (4,)
    np.testing.assert_allclose(db, (dy * (1 - y * y)).sum(0), rtol=1e-13)
    dx, db = _core.bias_act_backward(dy, y, activation="tanh", need_dbias=False)
    assert db is None and dx.shape == (10, 4)
    assert _core.bias_act_backward(dy, y, activation="tanh", need_dx=False,
                                   need_dbias=False) == (None, None)
    _core.bias_act_forward(dy, activation="tanh")
    assert _core.kernel_counts() == [("bias_act", "forward", 1, 40),
                                     ("bias_act", "backward_input", 1, 40),
                                     ("bias_act", "backward_bias", 1, 40)]


# ---- softmax / log-softmax -------------------------------------------------------------

SOFTMAX_SHAPES = [(1, 1), (4, 1), (3, 5), (2, 3, 17), (300, 40)]


def softmax_ref(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax_ref(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_forward_and_backward_match_numpy(rng, isa, threads, dtype):
    for shape in SOFTMAX_SHAPES:
        x = (3 * rng.standard_normal(shape)).astype(dtype)
        dy = rng.standard_normal(shape).astype(dtype)
        x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
        y = _core.softmax(x)
        ly = _core.log_softmax(x)
        np.testing.assert_allclose(y, softmax_ref(x64), **tol(dtype))
        np.testing.assert_allclose(ly, log_softmax_ref(x64), rtol=0, atol=1e-5 if
                                   dtype == np.float32 else 1e-13)
        y64, ly64 = softmax_ref(x64), log_softmax_ref(x64)
        want = y64 * (dy64 - (dy64 * y64).sum(-1, keepdims=True))
        np.testing.assert_allclose(_core.softmax_backward(dy, y), want, rtol=0,
                                   atol=1e-5 if dtype == np.float32 else 1e-13)
        want = dy64 - np.exp(ly64) * dy64.sum(-1, keepdims=True)
        np.testing.assert_allclose(_core.log_softmax_backward(dy, ly), want, rtol=0,
                                   atol=1e-5 if dtype == np.float32 else 1e-13)


def test_softmax_matches_torch(rng, torch):
    x = 4 * rng.standard_normal((6, 9))
    dy = rng.standard_normal((6, 9))
    F = torch.nn.functional
    for ours, back, theirs in ((_core.softmax, _core.softmax_backward, F.softmax),
                               (_core.log_softmax, _core.log_softmax_backward, F.log_softmax)):
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt, dim=-1)
        (yt * torch.tensor(dy)).sum().backward()
        y = ours(x)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(back(dy, y), xt.grad.numpy(), rtol=1e-12, atol=1e-13)


def central_difference(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_matches_central_differences(rng, isa, log):
    x = rng.standard_normal((3, 7))
    dy = rng.standard_normal((3, 7))
    fwd, back = ((_core.log_softmax, _core.log_softmax_backward) if log
                 else (_core.softmax, _core.softmax_backward))
    num = central_difference(lambda v: float((fwd(v) * dy).sum()), x)
    np.testing.assert_allclose(back(dy, fwd(x)), num, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_extreme_logits_stay_finite(isa, dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, 3.0]], dtype)
    y, ly = _core.softmax(x), _core.log_softmax(x)
    assert np.isfinite(y).all() and np.isfinite(ly).all()
    np.testing.assert_allclose(y, [[1, 0, 0], [1 / 3] * 3, [0.5, 0.5, 0]], atol=1e-7)
    np.testing.assert_allclose(ly[0], [0, -2e4, -1e4], rtol=1e-6)
    np.testing.assert_array_equal(_core.softmax(np.zeros((2, 1), dtype)), np.ones((2, 1)))


def test_softmax_counters(rng):
    x = rng.standard_normal((4, 3))
    _core.reset_kernel_counts()
    y = _core.softmax(x)
    _core.softmax_backward(x, y)
    ly = _core.log_softmax(x)
    _core.log_softmax_backward(x, ly)
    assert _core.kernel_counts() == [("log_softmax", "forward", 1, 12),
                                     ("log_softmax", "backward_input", 1, 12),
                                     ("softmax", "forward", 1, 12),
                                     ("softmax", "backward_input", 1, 12)]


# ---- errors ---------------------------------------------------------------------------

X = np.ones((3, 4), np.float32)


def test_bias_act_errors():
    with pytest.raises(ValueError, match="unknown activation 'gelu'; expected 'none', 'relu'"):
        _core.bias_act_forward(X, activation="gelu")
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\) \(the last axis of x "
                                         r"\(3, 4\)\), got \(3,\)"):
        _core.bias_act_forward(X, np.ones(3, np.float32))
    with pytest.raises(TypeError, match="bias must be float32 like the other arguments"):
        _core.bias_act_forward(X, np.ones(4))
    with pytest.raises(ValueError, match=r"x must have at least 1 dimension"):
        _core.bias_act_forward(np.ones((), np.float32))
    with pytest.raises(ValueError, match=r"out .* overlaps x"):
        big = np.ones((4, 4), np.float32)
        _core.bias_act_forward(big[:3], None, big[1:])
    with pytest.raises(ValueError, match=r"out .* overlaps bias"):
        buf = np.ones(16, np.float32)
        _core.bias_act_forward(X, buf[8:12], buf[4:].reshape(3, 4))
    with pytest.raises(ValueError, match=r"out must have shape \(3, 4\) \(like x"):
        _core.bias_act_forward(X, None, np.ones((4, 3), np.float32))
    ro = X.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        _core.bias_act_forward(ro, None, ro)
    with pytest.raises(ValueError, match="must be C-contiguous"):
        _core.bias_act_forward(np.ones((4, 3), np.float32).T)
    with pytest.raises(ValueError, match=r"y must have shape \(3, 4\) \(like dy"):
        _core.bias_act_backward(X, X[:2], activation="relu")
    with pytest.raises(TypeError, match="y must be float32 like the other arguments"):
        _core.bias_act_backward(X, X.astype(np.float64), activation="relu")
    with pytest.raises(ValueError, match="unknown activation 'Relu'"):
        _core.bias_act_backward(X, X, activation="Relu")


def test_softmax_errors():
    with pytest.raises(TypeError, match="softmax: x must be float32 or float64"):
        _core.softmax(np.ones((2, 2), np.int32))
    with pytest.raises(ValueError, match=r"softmax: out .* overlaps x"):
        _core.softmax(X, X)
    with pytest.raises(ValueError, match=r"log_softmax_backward: y must have shape \(3, 4\)"):
        _core.log_softmax_backward(X, X[:, :3].copy())
    with pytest.raises(ValueError, match=r"softmax_backward: out .* overlaps y"):
        y = X.copy()
        _core.softmax_backward(X, y, y)
    with pytest.raises(TypeError, match="log_softmax: out must be float32 like"):
        _core.log_softmax(X, np.ones((3, 4)))
