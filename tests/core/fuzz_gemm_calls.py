"""Hypothesis fuzz of gemm calls, good and bad: each must return the right result or
raise TypeError/ValueError. Run in a subprocess by test_fuzz.py, so a crash of the
process is reported as a failure instead of killing the test runner."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyfrozen import gemm

DTYPES = [np.float32, np.float64, np.float16, np.int64, np.complex128, np.dtype(">f8"), object]


@st.composite
def arrays(draw):
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.sampled_from([0, 1, 2, 2, 2, 2, 3]))
    shape = tuple(draw(st.integers(0, 9)) for _ in range(ndim))
    base = np.arange(int(np.prod(shape, dtype=np.int64)) * 4 + 8).astype(dtype)
    arr = base[: int(np.prod(shape, dtype=np.int64))].reshape(shape)
    views = ["plain", "T", "step", "reverse", "broadcast", "readonly", "bytes"]
    view = draw(st.sampled_from(views))
    if view == "T":
        arr = arr.T
    elif view == "step" and ndim:
        arr = base[: 2 * arr.size : 2].reshape(shape) if arr.size else arr
    elif view == "reverse" and ndim:
        arr = arr[::-1]
    elif view == "broadcast" and ndim == 2:
        arr = np.broadcast_to(arr[:1], shape) if shape[0] else arr
    elif view == "readonly":
        arr = arr.copy()
        arr.flags.writeable = False
    elif view == "bytes" and ndim == 2 and arr.dtype.kind == "f" and arr.size:
        raw = np.zeros(arr.nbytes + 1, np.uint8)[1:]  # misaligned
        arr = raw.view(arr.dtype).reshape(shape)
    return arr


objects = st.one_of(arrays(), st.none(), st.just([[1.0]]), st.just(3.0))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(a=arrays(), b=arrays(), out=objects, trans_a=st.booleans(), trans_b=st.booleans(),
       beta=st.sampled_from([0.0, 1.0]), alias=st.booleans())
def test_fuzz_gemm(a, b, out, trans_a, trans_b, beta, alias):
    if alias and isinstance(out, np.ndarray) and a.ndim == 2 and a.size:
        out = a  # out aliasing an input
    before = out.copy() if isinstance(out, np.ndarray) and out.dtype != object else None
    try:
        res = gemm(a, b, out, trans_a=trans_a, trans_b=trans_b, beta=beta)
    except (TypeError, ValueError):
        return
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    want = opa.astype(np.float64) @ opb.astype(np.float64)
    if before is not None and beta:
        want = want + before
    np.testing.assert_allclose(res, want, rtol=1e-4, atol=1e-3)
