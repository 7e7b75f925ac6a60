"""Hypothesis fuzz of the element-wise, loss and pooling bindings, good and bad calls:
each must return or raise TypeError/ValueError. Run in a subprocess by
test_fuzz_elementwise.py, so a crash is reported as a failure, not a dead runner."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyfrozen import _core

DTYPES = [np.float32, np.float64, np.float64, np.int64, np.int32, np.dtype(">f8"), object]


@st.composite
def arrays(draw):
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.sampled_from([0, 1, 2, 2, 4, 4]))
    shape = tuple(draw(st.integers(0, 6)) for _ in range(ndim))
    size = int(np.prod(shape, dtype=np.int64))
    base = (np.arange(size * 2 + 8) % 7 - 3).astype(dtype)
    arr = base[:size].reshape(shape)
    view = draw(st.sampled_from(["plain", "plain", "T", "step", "reverse", "readonly"]))
    if view == "T":
        arr = arr.T
    elif view == "step" and ndim and size:
        arr = base[: 2 * size : 2].reshape(shape)
    elif view == "reverse" and ndim:
        arr = arr[::-1]
    elif view == "readonly":
        arr = arr.copy()
        arr.flags.writeable = False
    return arr


objects = st.one_of(arrays(), st.none(), st.just([[1.0]]), st.just(2))
ints = st.one_of(st.integers(-1, 4), st.sampled_from([2**31, 2**40, -(2**63), 2**80]))
pairs = st.one_of(ints, st.tuples(ints, ints), st.just((1, 2, 3)), st.just(1.5), st.none())
paddings = st.one_of(st.sampled_from(["valid", "same", "full"]),
                     st.tuples(st.tuples(ints, ints), st.tuples(ints, ints)), st.just((1, 1)))
shapes = st.one_of(st.tuples(ints, ints, ints, ints), st.just((1, 2)), st.just([1, 2, 2, 1]))


def call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (TypeError, ValueError):
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(a=arrays(), b=objects, out=objects, alias=st.booleans(),
       act=st.sampled_from(["relu", "relu6", "sigmoid", "tanh", "none", "gelu"]))
def test_fuzz_elementwise(a, b, out, alias, act):
    if alias:
        out = a
    call(_core.bias_act_forward, a, b, out, activation=act)
    call(_core.bias_act_backward, a, b, activation=act, need_dx=alias, need_dbias=True)
    for fn in (_core.softmax, _core.log_softmax):
        call(fn, a, out)
    for fn in (_core.softmax_backward, _core.log_softmax_backward):
        call(fn, a, b, out)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(a=arrays(), b=objects, from_logits=st.booleans(), need_grad=st.booleans())
def test_fuzz_losses(a, b, from_logits, need_grad):
    res = call(_core.softmax_cross_entropy, a, b, need_grad=need_grad)
    if res is not None and a.size:
        assert isinstance(res[0], float)
    call(_core.binary_cross_entropy, a, b, from_logits=from_logits, need_grad=need_grad)
    call(_core.mse, a, b, need_grad=need_grad)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(a=arrays(), b=objects, out=objects, pool=pairs, strides=pairs, padding=paddings,
       shape=shapes)
def test_fuzz_pooling(a, b, out, pool, strides, padding, shape):
    kw = dict(pool_size=pool, strides=strides, padding=padding)
    y = call(_core.max_pool2d_forward, a, out, **kw)
    call(_core.avg_pool2d_forward, a, out, **kw)
    if y is not None:  # a valid forward: its backward must work too
        dx = _core.max_pool2d_backward(np.ones_like(y), a, **kw)
        assert dx.shape == a.shape
        dx = _core.avg_pool2d_backward(np.ones_like(y), a.shape, **kw)
        assert dx.shape == a.shape
    call(_core.max_pool2d_backward, a, b, out, **kw)
    call(_core.avg_pool2d_backward, a, shape, out, **kw)
    call(_core.global_avg_pool_forward, a, out)
    call(_core.global_avg_pool_backward, a, shape, out)
