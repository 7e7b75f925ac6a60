"""Hypothesis fuzz of batchnorm calls, good and bad: each must return the right result or
raise TypeError/ValueError. Run in a subprocess by test_batchnorm.py, so a crash of the
process is reported as a failure instead of killing the test runner."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyfrozen import _core

DTYPES = [np.float32, np.float64, np.float64, np.float16, np.int64, np.dtype(">f8"), object]
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def arrays(draw, ndims=(0, 1, 2, 2, 3, 4)):
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.sampled_from(ndims))
    shape = tuple(draw(st.integers(0, 5)) for _ in range(ndim))
    size = int(np.prod(shape, dtype=np.int64))
    base = (np.arange(size * 2 + 8) % 7).astype(dtype)
    arr = base[:size].reshape(shape)
    view = draw(st.sampled_from(["plain", "plain", "step", "reverse", "readonly", "misaligned"]))
    if view == "step" and size:
        arr = base[: 2 * size : 2].reshape(shape)
    elif view == "reverse" and ndim:
        arr = arr[::-1]
    elif view == "readonly":
        arr = arr.copy()
        arr.flags.writeable = False
    elif view == "misaligned" and arr.dtype.kind == "f" and size:
        raw = np.zeros(arr.nbytes + 1, np.uint8)[1:]
        arr = raw.view(arr.dtype).reshape(shape)
    return arr


def channels_like(draw, x):
    """Mostly a matching (C,) array of x's dtype; sometimes anything at all."""
    if draw(st.booleans()) and isinstance(x, np.ndarray) and x.ndim and x.dtype.kind == "f":
        return np.linspace(0.5, 1.5, x.shape[-1]).astype(x.dtype)
    return draw(st.one_of(arrays((1, 1, 2)), st.none(), st.just([1.0]), st.just(2.0)))


def rows(a):
    """a as a float64 (rows, C) matrix (reshape(-1, 0) is ambiguous for numpy)."""
    c = a.shape[-1]
    n = int(np.prod(a.shape[:-1], dtype=np.int64))
    return a.astype(np.float64).reshape(n, c)


def valid(*arrs):
    """Arguments the kernels accept (the checks under test decide; here we only need to
    know when a finite result must come back)."""
    return all(a is None or (isinstance(a, np.ndarray) and a.dtype.kind == "f") for a in arrs)


@SETTINGS
@given(data=st.data(), x=arrays())
def test_fuzz_forward_training(data, x):
    gamma, beta = channels_like(data.draw, x), channels_like(data.draw, x)
    rm, rv = channels_like(data.draw, x), channels_like(data.draw, x)
    out = data.draw(st.one_of(st.none(), arrays(), st.just(x)))
    momentum = data.draw(st.sampled_from([0.99, 0.0, 1.0, -0.5, 2.0, float("nan")]))
    epsilon = data.draw(st.sampled_from([1e-3, 0.0, -1.0, float("inf")]))
    try:
        y, mean, inv_std = _core.batchnorm_forward_training(
            x, gamma, beta, epsilon=epsilon, momentum=momentum, running_mean=rm,
            running_var=rv, out=out)
    except (TypeError, ValueError):
        return
    assert valid(x, gamma, beta) and y.shape == x.shape and mean.shape == (x.shape[-1],)
    np.testing.assert_allclose(mean, rows(x).mean(axis=0), rtol=1e-5, atol=1e-5)


@SETTINGS
@given(data=st.data(), x=arrays())
def test_fuzz_forward_inference(data, x):
    gamma, beta = channels_like(data.draw, x), channels_like(data.draw, x)
    rm, rv = channels_like(data.draw, x), channels_like(data.draw, x)
    out = data.draw(st.one_of(st.none(), arrays(), st.just(x)))
    try:
        y = _core.batchnorm_forward_inference(x, gamma, beta, rm, rv, out=out)
    except (TypeError, ValueError):
        return
    assert valid(x, gamma, beta, rm, rv) and y.shape == x.shape


@SETTINGS
@given(data=st.data(), dy=arrays(), need=st.tuples(st.booleans(), st.booleans(), st.booleans()),
       inference=st.booleans())
def test_fuzz_backward(data, dy, need, inference):
    x = data.draw(st.one_of(st.none(), arrays(), st.just(dy)))
    gamma, a, b = (channels_like(data.draw, dy) for _ in range(3))
    flags = dict(need_dx=need[0], need_dgamma=need[1], need_dbeta=need[2])
    try:
        if inference:
            got = _core.batchnorm_backward_inference(dy, x, gamma, a, b, **flags)
        else:
            got = _core.batchnorm_backward_training(dy, x, gamma, a, b, **flags)
    except (TypeError, ValueError):
        return
    assert valid(dy, x, gamma)
    for g, wanted in zip(got, need, strict=True):
        assert (g is None) != wanted
    if need[2]:
        np.testing.assert_allclose(got[2], rows(dy).sum(axis=0), rtol=1e-5, atol=1e-5)


@SETTINGS
@given(x=arrays(), obj=st.sampled_from([None, [1.0], 1.0, "x", object()]))
def test_fuzz_not_arrays(x, obj):
    for call in (
        lambda: _core.batchnorm_forward_training(obj, None, None),
        lambda: _core.batchnorm_forward_training(x, obj, None),
        lambda: _core.batchnorm_forward_inference(x, None, None, obj, obj),
        lambda: _core.batchnorm_backward_training(obj, x, None, None, None),
        lambda: _core.batchnorm_backward_inference(x, obj, None, x, obj),
    ):
        try:
            call()
        except (TypeError, ValueError):
            pass
