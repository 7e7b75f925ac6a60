"""Hypothesis fuzz of dense helper calls, good and bad: each must give the right result
or raise TypeError/ValueError. Run in a subprocess by test_dense.py, so a crash of the
process is reported as a failure instead of killing the test runner."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyfrozen import _core

FLOATS = [np.float32] * 8 + [np.float64, np.float16, np.int64, np.dtype(">f4")]


@st.composite
def floats(draw, shape, sane=False):
    # Mostly a valid operand, so that the success path is fuzzed as well.
    if sane and draw(st.integers(0, 9)) != 0:
        return (np.arange(int(np.prod(shape))) % 5 - 2).astype(np.float32).reshape(shape)
    dtype = draw(st.sampled_from(FLOATS))
    if draw(st.integers(0, 9)) == 0:
        shape = draw(st.sampled_from([(0,), (3,), (2, 3), (4, 1), (3, 4, 2), (0, 4)]))
    arr = (np.arange(int(np.prod(shape)) or 0) % 5 - 2).astype(dtype).reshape(shape)
    view = draw(st.sampled_from(["plain"] * 8 + ["T", "readonly"]))
    if view == "T":
        arr = arr.T
    elif view == "readonly":
        arr.flags.writeable = False
    return arr


@st.composite
def index_arrays(draw, limit):
    dtype = draw(st.sampled_from([np.int64] * 8 + [np.int32, np.float64]))
    in_range = st.integers(0, max(limit - 1, 0))
    vals = draw(st.lists(st.one_of(in_range, in_range, in_range, st.integers(-2, limit + 1)),
                         max_size=8))
    if draw(st.integers(0, 4)):
        vals = sorted(set(vals))
    arr = np.array(vals, dtype)
    if draw(st.integers(0, 5)) == 0:
        arr = arr.reshape(1, -1)
    return arr


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), which=st.sampled_from(["columns", "rows", None]),
       acc=st.booleans(), alias=st.booleans(), sane=st.booleans())
def test_fuzz_dense_backward_weight(data, which, acc, alias, sane):
    x, dy = data.draw(floats((4, 3), sane)), data.draw(floats((4, 5), sane))
    dw = data.draw(floats((3, 5), sane))
    if alias and dy.ndim == 2 and dy.size:
        dw = dy
    idx = data.draw(st.one_of(index_arrays(5 if which == "columns" else 3), st.none()))
    before = dw.copy() if isinstance(dw, np.ndarray) else None
    kw = {which: idx} if which else {}
    try:
        res = _core.dense_backward_weight(x, dy, dw, accumulate=acc, **kw)
    except (TypeError, ValueError):
        assert np.array_equal(dw, before)  # nothing written on an error
        return
    full = x.astype(np.float64).T @ dy.astype(np.float64)
    sel = ... if which is None or idx is None else ((slice(None), idx) if which == "columns"
                                                     else idx)
    want = full[sel] + (before[sel] if acc else 0)
    np.testing.assert_allclose(res[sel], want, rtol=1e-5, atol=1e-5)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), scatter=st.booleans(), with_out=st.booleans(), sane=st.booleans())
def test_fuzz_embedding(data, scatter, with_out, sane):
    table = data.draw(floats((6, 3), sane))
    idx = data.draw(index_arrays(6))
    rows = table.shape[0] if table.ndim == 2 else 6
    dim = table.shape[1] if table.ndim == 2 else 3
    other = data.draw(floats(idx.shape + (dim,), sane))
    before = table.copy()
    try:
        if scatter:
            frozen = data.draw(st.one_of(st.none(), st.just(np.zeros(rows, bool)),
                                         st.just(np.ones(3, np.uint8))))
            res = _core.scatter_add_rows(other, idx, table, frozen_rows=frozen)
        else:
            res = _core.gather_rows(table, idx, other if with_out else None)
    except (TypeError, ValueError):
        assert np.array_equal(table, before)
        return
    if scatter:
        want = before.astype(np.float64)
        np.add.at(want, idx, other.astype(np.float64))
        np.testing.assert_allclose(res, want, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(res, table[idx])
