"""Hypothesis fuzz of conv2d calls, good and bad: each must return the right result or
raise TypeError/ValueError. Run in a subprocess by test_conv2d.py, so a crash of the
process is reported as a failure instead of killing the test runner."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pyfrozen import _core

DTYPES = [np.float32, np.float32, np.float64, np.float64, np.float16, np.int64,
          np.dtype(">f8"), object]


@st.composite
def arrays(draw, ndim_choices=(4, 4, 4, 4, 3, 1, 0)):
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.sampled_from(ndim_choices))
    shape = tuple(draw(st.integers(0, 6)) for _ in range(ndim))
    size = int(np.prod(shape, dtype=np.int64))
    base = (np.arange(size * 2 + 8) % 7 - 3).astype(dtype)
    arr = base[:size].reshape(shape)
    view = draw(st.sampled_from(["plain", "plain", "step", "reverse", "readonly", "bytes", "T"]))
    if view == "step" and ndim and size:
        arr = base[: 2 * size : 2].reshape(shape)
    elif view == "reverse" and ndim:
        arr = arr[::-1]
    elif view == "T":
        arr = arr.T
    elif view == "readonly":
        arr = arr.copy()
        arr.flags.writeable = False
    elif view == "bytes" and arr.dtype.kind == "f" and size:
        raw = np.zeros(arr.nbytes + 1, np.uint8)[1:]  # misaligned
        arr = raw.view(arr.dtype).reshape(shape)
    return arr


# Mostly valid values (so calls get through to the kernels), some invalid ones.
pairs = st.sampled_from([1, 1, 1, 1, 2, 2, 3, (1, 2), (2, 1), (2, 2), (1, 3), 4,
                         -1, 0, (0, 1), (1, 2, 3), 1.5, "2", 2**40, 2**70, True, None])
paddings = st.one_of(st.sampled_from(["same", "same", "valid", "valid", "full", None]),
                     st.tuples(*[st.integers(0, 1)] * 4), st.tuples(*[st.integers(-1, 4)] * 4),
                     st.just((1, 1)))
channel_lists = st.one_of(st.none(), st.lists(st.integers(-2, 8), max_size=5).map(
    lambda v: np.array(v, dtype=np.int64)), st.just(np.zeros(3, np.int32)), st.just([0]))
objects = st.one_of(arrays(), st.none(), st.just(3.0))


def reference_forward(x, w, stride, dilation, pad, groups):
    n, h, wd, c = x.shape
    kh, kw, kc, co = w.shape
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    pt, pb, pl, pr = pad
    xp = np.pad(x.astype(np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (wd + pl + pr - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((n, oh, ow, co))
    cog = co // groups
    for a in range(kh):
        for b in range(kw):
            patch = xp[:, a * dh: a * dh + (oh - 1) * sh + 1: sh,
                       b * dw: b * dw + (ow - 1) * sw + 1: sw]
            for g in range(groups):
                y[..., g * cog:(g + 1) * cog] += (patch[..., g * kc:(g + 1) * kc]
                                                  @ w[a, b, :, g * cog:(g + 1) * cog])
    return y


@st.composite
def mostly_valid(draw):
    """A consistent (x, w, bias, out, groups) with at most one thing broken, so that many
    calls get past the checks and their results are compared."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    n, h, wd = draw(st.integers(0, 3)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    c = groups * draw(st.integers(1, 3))
    co = groups * draw(st.integers(1, 3))
    if draw(st.booleans()):  # depthwise
        groups, co = c, c * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x = np.arange(n * h * wd * c).reshape(n, h, wd, c).astype(dtype) % 5 - 2
    kc = c // groups
    w = np.arange(kh * kw * kc * co).reshape(kh, kw, kc, co).astype(dtype) % 3 - 1
    bias = draw(st.one_of(st.none(), st.just(np.arange(co, dtype=dtype))))
    out = None
    broken = draw(st.sampled_from(["nothing"] * 6 + ["x", "w", "bias", "out", "groups"]))
    if broken == "x":
        x = draw(arrays())
    elif broken == "w":
        w = draw(arrays())
    elif broken == "bias":
        bias = draw(objects)
    elif broken == "out":
        out = draw(objects)
    elif broken == "groups":
        groups = draw(st.integers(-1, 5))
    return x, w, bias, out, groups


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(args=mostly_valid(), stride=pairs, dilation=pairs, padding=paddings,
       activation=st.sampled_from(["none", "relu", "relu", "bogus"]))
def test_fuzz_forward(args, stride, dilation, padding, activation):
    x, w, bias, out, groups = args
    kw = dict(stride=stride, dilation=dilation, groups=groups, activation=activation)
    if padding is not None:
        kw["padding"] = padding
    try:
        y = _core.conv2d_forward(x, w, bias, out, **kw)
    except (TypeError, ValueError):
        event("rejected")
        return
    event("computed")
    if isinstance(padding, str):
        pad = _core.conv2d_padding(x.shape[1], x.shape[2], w.shape[0], w.shape[1], stride,
                                   dilation, padding)
    else:
        pad = padding or (0, 0, 0, 0)
    want = reference_forward(x, w, stride, dilation, pad, groups)
    if bias is not None:
        want = want + bias
    if activation == "relu":
        want = np.maximum(want, 0)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-3)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(a=arrays(), b=arrays(), out=objects, stride=pairs, dilation=pairs, padding=paddings,
       groups=st.integers(-1, 4), channels=channel_lists,
       input_shape=st.one_of(st.tuples(*[st.integers(-1, 6)] * 4), st.just((2, 3)),
                             st.just("x")),
       kernel_size=st.one_of(st.integers(-1, 4), st.tuples(st.integers(0, 4), st.integers(0, 4)),
                             st.just([1, 2, 3])))
def test_fuzz_backward(a, b, out, stride, dilation, padding, groups, channels, input_shape,
                       kernel_size):
    kw = dict(stride=stride, dilation=dilation, groups=groups)
    if padding is not None:
        kw["padding"] = padding
    for call in (
        lambda: _core.conv2d_backward_input(a, b, out, input_shape=input_shape, **kw),
        lambda: _core.conv2d_backward_weight(a, b, out, kernel_size=kernel_size,
                                             channels=channels, **kw),
        lambda: _core.conv2d_backward_bias(a, out),
        lambda: _core.conv2d_padding(*(input_shape * 2)[:4], stride, dilation,
                                     padding if isinstance(padding, str) else "same"),
    ):
        try:
            res = call()
        except (TypeError, ValueError):
            continue
        event("backward computed")
        assert res is not None
        if isinstance(res, np.ndarray):
            assert np.isfinite(res).all()
