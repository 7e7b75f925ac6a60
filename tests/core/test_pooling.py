"""Pooling through the binding: naive numpy float64 references (TF 'same' semantics),
torch as an oracle for 'valid' and symmetric padding, both ISA paths, 1 and 2 threads."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen import _core


def same_pads(size, pool, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + pool - size, 0)
    return total // 2, total - total // 2


def pads_of(x_shape, pool, strides, padding):
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return (same_pads(x_shape[1], pool[0], strides[0]),
                same_pads(x_shape[2], pool[1], strides[1]))
    return padding


def windows(x_shape, pool, strides, padding):
    """Yields (oh, ow, rows slice, cols slice) of the real cells of every window."""
    (pt, pb), (pl, pr) = pads_of(x_shape, pool, strides, padding)
    h, w = x_shape[1], x_shape[2]
    oh = (h + pt + pb - pool[0]) // strides[0] + 1
    ow = (w + pl + pr - pool[1]) // strides[1] + 1
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * strides[0] - pt, j * strides[1] - pl
            yield i, j, slice(max(h0, 0), min(h0 + pool[0], h)), slice(max(w0, 0),
                                                                      min(w0 + pool[1], w))


def out_shape(x_shape, pool, strides, padding):
    last = list(windows(x_shape, pool, strides, padding))[-1]
    return (x_shape[0], last[0] + 1, last[1] + 1, x_shape[3])


def max_pool_ref(x, pool, strides, padding):
    y = np.zeros(out_shape(x.shape, pool, strides, padding))
    dx = np.zeros(x.shape)
    for i, j, rs, cs in windows(x.shape, pool, strides, padding):
        y[:, i, j] = x[:, rs, cs].max(axis=(1, 2))
    return y, dx


def max_pool_backward_ref(x, dy, pool, strides, padding):
    dx = np.zeros(x.shape)
    for i, j, rs, cs in windows(x.shape, pool, strides, padding):
        win = x[:, rs, cs]  # (n, wh, ww, c)
        n, wh, ww, c = win.shape
        flat = win.reshape(n, wh * ww, c).argmax(axis=1)  # the first max in row-major order
        for b in range(n):
            for ch in range(c):
                r, q = divmod(flat[b, ch], ww)
                dx[b, rs.start + r, cs.start + q, ch] += dy[b, i, j, ch]
    return dx


def avg_pool_ref(x, pool, strides, padding):
    y = np.zeros(out_shape(x.shape, pool, strides, padding))
    for i, j, rs, cs in windows(x.shape, pool, strides, padding):
        y[:, i, j] = x[:, rs, cs].mean(axis=(1, 2))
    return y


def avg_pool_backward_ref(x_shape, dy, pool, strides, padding):
    dx = np.zeros(x_shape)
    for i, j, rs, cs in windows(x_shape, pool, strides, padding):
        cells = (rs.stop - rs.start) * (cs.stop - cs.start)
        dx[:, rs, cs] += dy[:, i, j][:, None, None, :] / cells
    return dx


# (x shape, pool, strides, padding): odd sizes, 1x1 images, stride > pool, overlapping
# windows, asymmetric 'same' at stride 2, explicit padding, C=1/3/70 (two channel blocks).
CASES = [
    ((1, 1, 1, 1), (1, 1), (1, 1), "valid"),
    ((1, 1, 1, 3), (2, 2), (2, 2), "same"),
    ((2, 5, 5, 3), (2, 2), (2, 2), "valid"),
    ((2, 5, 5, 3), (2, 2), (2, 2), "same"),
    ((1, 7, 6, 1), (3, 3), (2, 2), "same"),
    ((2, 6, 7, 5), (3, 3), (1, 1), "same"),
    ((1, 7, 9, 4), (3, 2), (1, 2), "valid"),
    ((2, 8, 8, 3), (2, 2), (3, 3), "valid"),
    ((1, 5, 6, 2), (3, 3), (2, 1), ((1, 2), (0, 1))),
    ((4, 17, 15, 70), (3, 3), (2, 2), "same"),  # enough work for 2 threads
]


def case_id(case):
    return f"{case[0]}-p{case[1]}-s{case[2]}-{case[3]}"


def tol(dtype):
    return dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_max_pool_matches_numpy(rng, isa, threads, dtype, case):
    shape, pool, strides, padding = case
    x = rng.standard_normal(shape).astype(dtype)  # no ties
    kw = dict(pool_size=pool, strides=strides, padding=padding)
    y = _core.max_pool2d_forward(x, **kw)
    want, _ = max_pool_ref(x.astype(np.float64), pool, strides, padding)
    np.testing.assert_array_equal(y, want.astype(dtype))  # a max is exact
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = _core.max_pool2d_backward(dy, x, **kw)
    want = max_pool_backward_ref(x, dy.astype(np.float64), pool, strides, padding)
    np.testing.assert_allclose(dx, want, **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_avg_pool_matches_numpy(rng, isa, threads, dtype, case):
    shape, pool, strides, padding = case
    x = rng.standard_normal(shape).astype(dtype)
    kw = dict(pool_size=pool, strides=strides, padding=padding)
    y = _core.avg_pool2d_forward(x, **kw)
    np.testing.assert_allclose(y, avg_pool_ref(x.astype(np.float64), pool, strides, padding),
                               **tol(dtype))
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = _core.avg_pool2d_backward(dy, shape, **kw)
    want = avg_pool_backward_ref(shape, dy.astype(np.float64), pool, strides, padding)
    np.testing.assert_allclose(dx, want, **tol(dtype))


# torch pads symmetrically (at most half the window); max ignores its -inf padding and
# avg with count_include_pad=False divides by the real cells: both match ours there.
TORCH_CASES = [((2, 6, 6, 3), 2, 2, 0), ((2, 7, 5, 4), 3, 2, 1), ((1, 9, 8, 5), 3, 1, 1),
               ((3, 4, 4, 1), 2, 3, 0)]


@pytest.mark.parametrize("case", TORCH_CASES)
def test_pools_match_torch(rng, torch, case):
    shape, k, s, pad = case
    F = torch.nn.functional
    x = rng.standard_normal(shape)
    padding = ((pad, pad), (pad, pad))
    for ours_f, ours_b, theirs in (
        (_core.max_pool2d_forward, _core.max_pool2d_backward,
         lambda t: F.max_pool2d(t, k, s, pad)),
        (_core.avg_pool2d_forward, _core.avg_pool2d_backward,
         lambda t: F.avg_pool2d(t, k, s, pad, count_include_pad=False)),
    ):
        xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
        yt = theirs(xt)
        y = ours_f(x, pool_size=k, strides=s, padding=padding)
        np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-14)
        dy = rng.standard_normal(y.shape)
        (yt * torch.tensor(dy.transpose(0, 3, 1, 2))).sum().backward()
        second = x if ours_b is _core.max_pool2d_backward else shape
        dx = ours_b(dy, second, pool_size=k, strides=s, padding=padding)
        np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-13)


def test_max_pool_ties_go_to_the_first_max_and_overlaps_accumulate(isa):
    x = np.zeros((1, 3, 3, 1))
    dy = np.ones((1, 2, 2, 1))
    dx = _core.max_pool2d_backward(dy, x, pool_size=2, strides=1)
    # Each window's first cell (row-major) is its top-left one.
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    x[0, 1, 1, 0] = 5.0  # the max of all four overlapping windows
    dx = _core.max_pool2d_backward(dy, x, pool_size=2, strides=1)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0, 0], [0, 4, 0], [0, 0, 0]])


def test_max_pool_nan_propagates_and_padding_is_ignored(isa):
    x = -np.ones((1, 3, 3, 2), np.float32) * 5  # all negative: a zero pad would win
    x[0, 2, 2, 1] = np.nan
    y = _core.max_pool2d_forward(x, pool_size=2, strides=2, padding="same")
    assert y.shape == (1, 2, 2, 2)
    assert (y[..., 0] == -5).all()
    assert np.isnan(y[0, 1, 1, 1]) and (y[0, :, :, 1].ravel()[:3] == -5).all()
    dx = _core.max_pool2d_backward(np.ones_like(y), x, pool_size=2, strides=2, padding="same")
    assert dx[0, 2, 2, 1] == 1 and dx[..., 1].sum() == 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_avg_pool(rng, isa, threads, torch, dtype):
    for shape in [(1, 1, 1, 1), (2, 3, 5, 3), (3, 7, 7, 70), (8, 24, 24, 33)]:
        x = rng.standard_normal(shape).astype(dtype)
        y = _core.global_avg_pool_forward(x)
        np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=(1, 2)), **tol(dtype))
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx = _core.global_avg_pool_backward(dy, shape)
        want = np.broadcast_to(dy.astype(np.float64)[:, None, None, :] / (shape[1] * shape[2]),
                               shape)
        np.testing.assert_allclose(dx, want, **tol(dtype))
    x = rng.standard_normal((2, 4, 3, 5))
    xt = torch.tensor(x, requires_grad=True)
    yt = xt.mean(dim=(1, 2))
    dy = rng.standard_normal((2, 5))
    (yt * torch.tensor(dy)).sum().backward()
    np.testing.assert_allclose(_core.global_avg_pool_forward(x), yt.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(_core.global_avg_pool_backward(dy, x.shape), xt.grad.numpy(),
                               rtol=1e-14)


def test_out_arrays_and_counters(rng):
    x = rng.standard_normal((2, 4, 4, 3))
    out = np.full((2, 2, 2, 3), np.nan)
    _core.reset_kernel_counts()
    assert _core.max_pool2d_forward(x, out, pool_size=2) is out
    dx = np.full(x.shape, np.nan)  # backward overwrites, never accumulates into dx
    assert _core.max_pool2d_backward(np.ones_like(out), x, dx, pool_size=2) is dx
    assert dx.sum() == 24 and np.isfinite(dx).all()
    _core.avg_pool2d_forward(x, pool_size=(2, 1), strides=(2, 2))
    _core.avg_pool2d_backward(np.ones((2, 2, 2, 3)), x.shape, dx, pool_size=2)
    g = np.full((2, 3), np.nan)
    assert _core.global_avg_pool_forward(x, g) is g
    _core.global_avg_pool_backward(g, x.shape, dx)
    assert _core.kernel_counts() == [
        ("avg_pool2d", "forward", 1, 2 * 2 * 2 * 3 * 2),
        ("avg_pool2d", "backward_input", 1, 2 * 2 * 2 * 3 * 4),
        ("global_avg_pool", "forward", 1, 96),
        ("global_avg_pool", "backward_input", 1, 96),
        ("max_pool2d", "forward", 1, 96),
        ("max_pool2d", "backward_input", 1, 96),
    ]


# ---- errors ---------------------------------------------------------------------------

X = np.ones((1, 4, 4, 2), np.float32)


def test_option_errors():
    f = _core.max_pool2d_forward
    with pytest.raises(ValueError, match=r"each padding must be smaller than the pool size .*"
                                         r"\(input 4x4, pool 2x2, strides 2x2, padding top 2"):
        f(X, pool_size=2, padding=((2, 0), (0, 0)))
    with pytest.raises(ValueError, match="the pool window is larger than the padded input"):
        f(X, pool_size=5)
    with pytest.raises(ValueError, match="pool sizes must be positive"):
        f(X, pool_size=(0, 2))
    with pytest.raises(ValueError, match="strides must be positive"):
        _core.avg_pool2d_forward(X, pool_size=2, strides=(1, -1), padding="same")
    with pytest.raises(ValueError, match="padding must be non-negative"):
        f(X, pool_size=2, padding=((0, -1), (0, 0)))
    with pytest.raises(ValueError, match=r"padding must be 'valid', 'same' or \(\(top, bottom\)"):
        f(X, pool_size=2, padding="SAME")
    with pytest.raises(TypeError, match=r"padding must be 'valid', 'same' or"):
        f(X, pool_size=2, padding=(1, 1))
    with pytest.raises(TypeError, match=r"pool_size must be an int or a pair of ints "
                                        r"\(at most 2\*\*31\), got \(2, 2, 2\)"):
        f(X, pool_size=(2, 2, 2))
    with pytest.raises(TypeError, match=r"strides must be an int or a pair of ints .*, got 1.5"):
        f(X, pool_size=2, strides=1.5)
    with pytest.raises(TypeError, match=r"pool_size must be an int or a pair .*, got 1180591"):
        f(X, pool_size=2**70)
    with pytest.raises(ValueError, match="positive height and width"):
        f(np.ones((1, 0, 4, 2), np.float32), pool_size=1)


def test_array_errors():
    with pytest.raises(ValueError, match="max_pool2d_forward: x must have 4 dimensions"):
        _core.max_pool2d_forward(np.ones((4, 4, 2), np.float32), pool_size=2)
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        _core.avg_pool2d_forward(X.astype(np.int32), pool_size=2)
    with pytest.raises(ValueError, match=r"dy must have shape \(1, 2, 2, 2\) \(the pooled shape "
                                         r"of input \(1, 4, 4, 2\)\), got \(1, 4, 4, 2\)"):
        _core.max_pool2d_backward(X, X, pool_size=2)
    with pytest.raises(TypeError, match="x must be float32 like the other arguments"):
        _core.max_pool2d_backward(np.ones((1, 2, 2, 2), np.float32), X.astype(np.float64),
                                  pool_size=2)
    with pytest.raises(ValueError, match=r"input_shape must be 4 non-negative ints"):
        _core.avg_pool2d_backward(X, (1, 4, 4), pool_size=2)
    with pytest.raises(ValueError, match=r"input_shape must be 4 non-negative ints"):
        _core.global_avg_pool_backward(np.ones((1, 2), np.float32), (1, -4, 4, 2))
    with pytest.raises(ValueError, match=r"dy must have shape \(1, 2\) \(N, C of input_shape"):
        _core.global_avg_pool_backward(np.ones((2, 1), np.float32), (1, 4, 4, 2))
    with pytest.raises(ValueError, match=r"out must have shape \(1, 2\) \(the result's shape\)"):
        _core.global_avg_pool_forward(X, np.ones((2, 1), np.float32))
    with pytest.raises(ValueError, match=r"out .* overlaps x"):
        buf = np.ones(64, np.float32)
        _core.max_pool2d_forward(buf[:32].reshape(1, 4, 4, 2), buf[24:32].reshape(1, 2, 2, 2),
                                 pool_size=2)
    ro = np.ones((1, 2, 2, 2), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        _core.avg_pool2d_forward(X, ro, pool_size=2)
    with pytest.raises(ValueError, match="positive height and width"):
        _core.global_avg_pool_forward(np.ones((1, 0, 3, 2), np.float32))
