"""Hypothesis fuzz of optimizer update calls, good and bad: each must update in place
correctly or raise TypeError/ValueError. Run in a subprocess by test_optimizer.py, so a
crash of the process is reported as a failure instead of killing the test runner."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyfrozen import _core

DTYPES = [np.float32, np.float32, np.float64, np.float16, np.int64, np.dtype(">f8"), bool]
SHAPES = [(0,), (1,), (7,), (3, 5), (2, 1, 9), (), (5, 3)]


@st.composite
def arrays(draw, shape=None):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.sampled_from(SHAPES)) if shape is None or draw(st.booleans()) else shape
    size = int(np.prod(shape, dtype=np.int64))
    base = (np.arange(size * 2 + 4) % 7 - 3).astype(dtype)
    arr = base[:size].reshape(shape)
    view = draw(st.sampled_from(["plain", "plain", "plain", "step", "readonly", "T", "bytes"]))
    if view == "step" and size:
        arr = base[: 2 * size : 2].reshape(shape)
    elif view == "readonly":
        arr = arr.copy()
        arr.flags.writeable = False
    elif view == "T":
        arr = arr.T
    elif view == "bytes" and size and arr.dtype.kind == "f":
        arr = np.zeros(arr.nbytes + 1, np.uint8)[1:].view(arr.dtype).reshape(shape)
    return arr


@st.composite
def good(draw, dtype=np.float32):
    """A valid operand: float32 (7,), values with -0.0, NaN and Inf among them."""
    vals = draw(st.lists(st.sampled_from([0.5, -0.0, 2.0, -1.5, float("nan"), float("inf")]),
                         min_size=7, max_size=7))
    return np.array(vals, dtype)


def operand(bad):
    return st.one_of(good(), good(), good(), good(), bad)


masks = st.one_of(st.none(), st.builds(lambda b: np.array(b, bool),
                                       st.lists(st.booleans(), min_size=7, max_size=7)),
                  arrays((7,)))
maybe = st.one_of(st.none(), st.none(), good(), good(), arrays((7,)), st.just([1.0]))
numbers = st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.1, 0.5, 1.0, -0.1, float("nan"), float("inf")])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["sgd", "adam", "adamw", "rmsprop"]), param=operand(arrays((7,))),
       grad=operand(arrays((7,))), s1=maybe, s2=maybe, s3=maybe, mask=masks, lr=numbers, mu=numbers,
       wd=numbers, step=st.integers(-1, 3), centered=st.booleans(), alias=st.integers(0, 3))
def test_fuzz_optimizer(kind, param, grad, s1, s2, s3, mask, lr, mu, wd, step, centered, alias):
    if alias == 1:
        grad = param
    elif alias == 2:
        s1 = param
    elif alias == 3 and isinstance(s2, np.ndarray):
        s1 = s2
    before = param.copy() if isinstance(param, np.ndarray) else None
    try:
        if kind == "sgd":
            _core.sgd_update(param, grad, s1, learning_rate=lr, momentum=mu, weight_decay=wd,
                             mask=mask)
        elif kind == "rmsprop":
            _core.rmsprop_update(param, grad, s1, learning_rate=lr, momentum=mu,
                                 momentum_buffer=s2, centered=centered, mean_grad=s3,
                                 weight_decay=wd, mask=mask)
        else:
            fn = _core.adam_update if kind == "adam" else _core.adamw_update
            fn(param, grad, s1, s2, step=step, learning_rate=lr, beta_1=mu, weight_decay=wd,
               mask=mask)
    except (TypeError, ValueError):
        assert np.array_equal(param, before, equal_nan=True)  # nothing written on an error
        return
    frozen = np.zeros(param.shape, bool) if mask is None else mask.astype(bool)
    assert param[frozen].tobytes() == before[frozen].tobytes()
    if kind == "sgd" and mu == 0 and wd == 0:
        with np.errstate(all="ignore"):
            want = before - grad * param.dtype.type(lr)
        np.testing.assert_array_equal(param[~frozen], want[~frozen])


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["sgd", "adam", "adamw", "rmsprop"]),
       dtype=st.sampled_from([np.float32, np.float64]), data=st.data(),
       lr=st.sampled_from([0.0, 1e-3, 0.1]), mu=st.sampled_from([0.0, 0.5, 0.9]),
       wd=st.sampled_from([0.0, 0.01]), nesterov=st.booleans(), centered=st.booleans(),
       step=st.integers(1, 5))
def test_fuzz_valid_calls(kind, dtype, data, lr, mu, wd, nesterov, centered, step):
    """Valid calls with special values: frozen bits never change, trainable elements get
    bit-identically what the unmasked call gives them."""
    param, grad = data.draw(good(dtype)), data.draw(good(dtype))
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=7, max_size=7)), bool)
    need = {"sgd": ["v"] if mu else [], "adam": ["m", "v"], "adamw": ["m", "v"],
            "rmsprop": ["v"] + (["mom"] if mu else []) + (["mg"] if centered else [])}[kind]
    states = {k: data.draw(good(dtype)) for k in need}
    runs = []
    for m in (mask, None):
        w, s = param.copy(), {k: v.copy() for k, v in states.items()}
        if kind == "sgd":
            _core.sgd_update(w, grad, s.get("v"), learning_rate=lr, momentum=mu,
                             nesterov=nesterov, weight_decay=wd, mask=m)
        elif kind == "rmsprop":
            _core.rmsprop_update(w, grad, s["v"], learning_rate=lr, momentum=mu,
                                 momentum_buffer=s.get("mom"), centered=centered,
                                 mean_grad=s.get("mg"), weight_decay=wd, mask=m)
        else:
            fn = _core.adam_update if kind == "adam" else _core.adamw_update
            fn(w, grad, s["m"], s["v"], step=step, learning_rate=lr, beta_1=mu or 0.9,
               weight_decay=wd, mask=m)
        runs.append([w] + [s[k] for k in need])
    starts = [param] + [states[k] for k in need]
    for masked, free, start in zip(runs[0], runs[1], starts, strict=True):
        assert masked[mask].tobytes() == start[mask].tobytes()  # frozen: every bit kept
        # Trainable: the unmasked call's bits, except that a NaN may carry another payload
        # (with two NaN operands, which payload survives depends on the operation order,
        # and the masked and unmasked paths may order a formula differently).
        a, b = masked[~mask], free[~mask]
        both_nan = np.isnan(a) & np.isnan(b)
        assert a[~both_nan].tobytes() == b[~both_nan].tobytes()
