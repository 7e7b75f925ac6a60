"""conv2d kernels through the binding: forward (with the fused epilogue), backward-input,
backward-weight (also limited to some output channels) and backward-bias, against a naive
numpy float64 reference and torch.nn.functional in float64, on both ISA paths, float32 and
float64, 1 and 2 threads; counters and every argument check."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

import pyfrozen
from pyfrozen import _core

# ---- naive references (float64) -------------------------------------------------------


class Case(NamedTuple):
    name: str
    n: int
    h: int
    w: int
    c: int
    kh: int
    kw: int
    co: int
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: str | tuple[int, int, int, int] = "valid"
    groups: int = 1

    def pads(self) -> tuple[int, int, int, int]:
        if isinstance(self.padding, str):
            return _core.conv2d_padding(self.h, self.w, self.kh, self.kw, self.stride,
                                        self.dilation, self.padding)
        return self.padding

    def kwargs(self) -> dict:
        return dict(stride=self.stride, dilation=self.dilation, padding=self.pads(),
                    groups=self.groups)

    def out_hw(self) -> tuple[int, int]:
        pt, pb, pl, pr = self.pads()
        eh = (self.kh - 1) * self.dilation[0] + 1
        ew = (self.kw - 1) * self.dilation[1] + 1
        return ((self.h + pt + pb - eh) // self.stride[0] + 1,
                (self.w + pl + pr - ew) // self.stride[1] + 1)

    def arrays(self, rng, dtype):
        oh, ow = self.out_hw()
        x = rng.standard_normal((self.n, self.h, self.w, self.c)).astype(dtype)
        w = rng.standard_normal((self.kh, self.kw, self.c // self.groups, self.co)).astype(dtype)
        dy = rng.standard_normal((self.n, oh, ow, self.co)).astype(dtype)
        return x, w, dy


def _taps(case: Case):
    """(a, b, slice_h, slice_w) of the padded input each kernel tap reads."""
    oh, ow = case.out_hw()
    (sh, sw), (dh, dw) = case.stride, case.dilation
    for a in range(case.kh):
        for b in range(case.kw):
            yield a, b, slice(a * dh, a * dh + (oh - 1) * sh + 1, sh), \
                slice(b * dw, b * dw + (ow - 1) * sw + 1, sw)


def _padded(case: Case, x):
    pt, pb, pl, pr = case.pads()
    return np.pad(x.astype(np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))


def ref_forward(case: Case, x, w):
    oh, ow = case.out_hw()
    xp, w = _padded(case, x), w.astype(np.float64)
    y = np.zeros((case.n, oh, ow, case.co))
    kc, cog = case.c // case.groups, case.co // case.groups
    for a, b, si, sj in _taps(case):
        patch = xp[:, si, sj, :]
        for g in range(case.groups):
            y[..., g * cog:(g + 1) * cog] += (patch[..., g * kc:(g + 1) * kc]
                                              @ w[a, b, :, g * cog:(g + 1) * cog])
    return y


def ref_backward_input(case: Case, dy, w):
    pt, pb, pl, pr = case.pads()
    dxp = np.zeros((case.n, case.h + pt + pb, case.w + pl + pr, case.c))
    dy, w = dy.astype(np.float64), w.astype(np.float64)
    kc, cog = case.c // case.groups, case.co // case.groups
    for a, b, si, sj in _taps(case):
        for g in range(case.groups):
            dxp[:, si, sj, g * kc:(g + 1) * kc] += (dy[..., g * cog:(g + 1) * cog]
                                                    @ w[a, b, :, g * cog:(g + 1) * cog].T)
    return dxp[:, pt:pt + case.h, pl:pl + case.w, :]


def ref_backward_weight(case: Case, x, dy):
    xp, dy = _padded(case, x), dy.astype(np.float64)
    kc, cog = case.c // case.groups, case.co // case.groups
    dw = np.zeros((case.kh, case.kw, kc, case.co))
    for a, b, si, sj in _taps(case):
        patch = xp[:, si, sj, :]
        for g in range(case.groups):
            dw[a, b, :, g * cog:(g + 1) * cog] = np.einsum(
                "nhwc,nhwo->co", patch[..., g * kc:(g + 1) * kc], dy[..., g * cog:(g + 1) * cog])
    return dw


def assert_close(got, want, bound_scale, k, dtype):
    """|got - want| <= 8 eps sqrt(k) * (the same sum over |terms|): rounding of a length-k
    sum with random signs, far below one wrong or missing term."""
    assert got.shape == want.shape and got.dtype == dtype
    eps = np.finfo(dtype).eps
    bound = 8 * eps * np.sqrt(max(k, 1)) * bound_scale + 1e-300
    err = np.abs(got.astype(np.float64) - want)
    worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.size else None
    assert (err <= bound).all(), f"at {worst}: got {got[worst]}, want {want[worst]}"


# ---- the cases -------------------------------------------------------------------------

CASES = [
    Case("3x3_same", 2, 7, 9, 3, 3, 3, 5, padding="same"),
    Case("3x3_s2_same_asym", 2, 8, 9, 5, 3, 3, 13, stride=(2, 2), padding="same"),
    Case("2x2_s3_stride_gt_kernel", 2, 10, 11, 3, 2, 2, 4, stride=(3, 3)),
    Case("dilation2", 1, 9, 10, 5, 3, 3, 6, dilation=(2, 2), padding="same"),
    Case("dilation_stride_mixed", 2, 11, 9, 4, 3, 2, 5, stride=(2, 1), dilation=(1, 2),
         padding=(1, 2, 0, 1)),
    Case("groups2", 2, 6, 7, 6, 3, 3, 10, padding=(1, 1, 1, 1), groups=2),
    Case("groups3_s2", 1, 9, 8, 9, 3, 3, 6, stride=(2, 2), padding="same", groups=3),
    Case("depthwise_m1", 2, 9, 10, 13, 3, 3, 13, padding="same", groups=13),
    Case("depthwise_m2", 2, 8, 9, 5, 3, 3, 10, padding="same", groups=5),
    Case("depthwise_s2_same", 2, 9, 12, 16, 3, 3, 16, stride=(2, 2), padding="same", groups=16),
    Case("depthwise_m3_s2_valid", 1, 9, 9, 3, 3, 3, 9, stride=(2, 2), groups=3),
    Case("depthwise_5x5_dil2", 2, 13, 14, 9, 5, 5, 9, dilation=(2, 2), padding="same", groups=9),
    Case("depthwise_2x1_s3", 1, 10, 9, 11, 2, 1, 22, stride=(3, 3), groups=11),
    Case("depthwise_wide", 1, 5, 20, 40, 3, 3, 40, padding=(1, 1, 1, 1), groups=40),
    Case("pointwise", 2, 5, 7, 13, 1, 1, 6),
    Case("pointwise_groups", 1, 4, 5, 8, 1, 1, 12, groups=4),
    Case("1x1_s2", 2, 7, 6, 5, 1, 1, 3, stride=(2, 2)),
    Case("1x1_image", 3, 1, 1, 5, 3, 3, 4, padding="same"),
    Case("1x1_image_depthwise", 1, 1, 1, 8, 3, 3, 16, padding="same", groups=8),
    Case("batch1_valid_5x5", 1, 12, 11, 3, 5, 5, 8),
    Case("kernel_is_image", 2, 4, 3, 3, 4, 3, 7),
    Case("explicit_asym", 2, 6, 6, 4, 3, 3, 5, padding=(2, 0, 0, 2)),
    # 3x3 stride-1 depthwise (the sliding-window kernels): interior blocks, tails of every
    # length, padding 0 and 2 on either side, channel tails, a row narrower than a block.
    Case("depthwise_valid_w17", 2, 6, 17, 24, 3, 3, 24, groups=24),
    Case("depthwise_pad2_left", 1, 5, 13, 16, 3, 3, 16, padding=(2, 0, 2, 0), groups=16),
    Case("depthwise_pad2_right", 1, 4, 8, 9, 3, 3, 9, padding=(0, 2, 0, 2), groups=9),
    Case("depthwise_w2_same", 2, 3, 2, 8, 3, 3, 8, padding="same", groups=8),
]
IDS = [c.name for c in CASES]
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_all_passes_match_numpy(rng, isa, case, dtype):
    x, w, dy = case.arrays(rng, dtype)
    k_fwd = case.kh * case.kw * (case.c // case.groups)
    y = _core.conv2d_forward(x, w, **case.kwargs())
    assert_close(y, ref_forward(case, x, w), ref_forward(case, np.abs(x), np.abs(w)), k_fwd,
                 dtype)

    dx = _core.conv2d_backward_input(dy, w, input_shape=x.shape, **case.kwargs())
    assert_close(dx, ref_backward_input(case, dy, w),
                 ref_backward_input(case, np.abs(dy), np.abs(w)), case.kh * case.kw * case.co,
                 dtype)

    dw = _core.conv2d_backward_weight(x, dy, kernel_size=(case.kh, case.kw), **case.kwargs())
    oh, ow = case.out_hw()
    assert_close(dw, ref_backward_weight(case, x, dy),
                 ref_backward_weight(case, np.abs(x), np.abs(dy)), case.n * oh * ow, dtype)

    db = _core.conv2d_backward_bias(dy)
    assert_close(db, dy.astype(np.float64).sum(axis=(0, 1, 2)),
                 np.abs(dy.astype(np.float64)).sum(axis=(0, 1, 2)), case.n * oh * ow, dtype)


def torch_passes(torch, case: Case, x, w, dy):
    """torch float64 NCHW / OIHW with TF-style asymmetric padding done by F.pad."""
    F = torch.nn.functional
    pt, pb, pl, pr = case.pads()
    xt = torch.from_numpy(x.astype(np.float64)).permute(0, 3, 1, 2).requires_grad_()
    wt = torch.from_numpy(w.astype(np.float64)).permute(3, 2, 0, 1).requires_grad_()
    y = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), wt, stride=case.stride, dilation=case.dilation,
                 groups=case.groups)
    y.backward(torch.from_numpy(dy.astype(np.float64)).permute(0, 3, 1, 2))
    return (y.detach().permute(0, 2, 3, 1).numpy(), xt.grad.permute(0, 2, 3, 1).numpy(),
            wt.grad.permute(2, 3, 1, 0).numpy())


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float64_matches_torch(rng, torch, isa, case):
    x, w, dy = case.arrays(rng, np.float64)
    y_t, dx_t, dw_t = torch_passes(torch, case, x, w, dy)
    kw = case.kwargs()
    np.testing.assert_allclose(_core.conv2d_forward(x, w, **kw), y_t, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        _core.conv2d_backward_input(dy, w, input_shape=x.shape, **kw), dx_t, rtol=1e-10,
        atol=1e-10)
    np.testing.assert_allclose(
        _core.conv2d_backward_weight(x, dy, kernel_size=(case.kh, case.kw), **kw), dw_t,
        rtol=1e-10, atol=1e-9)


def test_same_padding_follows_tensorflow():
    pad = _core.conv2d_padding
    assert pad(96, 96, 3, 3, stride=2, padding="same") == (0, 1, 0, 1)  # MobileNet's first conv
    assert pad(5, 5, 3, 3, padding="same") == (1, 1, 1, 1)
    assert pad(6, 7, 4, 4, padding="same") == (1, 2, 1, 2)
    assert pad(7, 7, 3, 3, stride=1, dilation=2, padding="same") == (2, 2, 2, 2)
    assert pad(10, 9, 1, 1, stride=3, padding="same") == (0, 0, 0, 0)
    assert pad(9, 8, 3, 3, stride=(2, 2), padding="same") == (1, 1, 0, 1)
    assert pad(9, 8, 3, 3, stride=2, padding="valid") == (0, 0, 0, 0)
    for h in range(1, 12):
        for s in (1, 2, 3):
            case = Case("c", 1, h, h, 1, 3, 3, 1, stride=(s, s), padding="same")
            assert case.out_hw() == (-(-h // s),) * 2  # ceil(h / s)
            y = _core.conv2d_forward(np.ones((1, h, h, 1)), np.ones((3, 3, 1, 1)),
                                     padding="same", stride=s)
            assert y.shape == (1, -(-h // s), -(-h // s), 1)


def test_padding_names_are_accepted_by_the_kernels(rng):
    case = Case("s2", 2, 9, 8, 3, 3, 3, 4, stride=(2, 2), padding="same")
    x, w, _ = case.arrays(rng, np.float64)
    by_name = _core.conv2d_forward(x, w, stride=2, padding="same")
    np.testing.assert_array_equal(by_name, _core.conv2d_forward(x, w, **case.kwargs()))


# ---- threads: sizes above the serial threshold -----------------------------------------

THREAD_CASES = [
    Case("general", 4, 14, 13, 16, 3, 3, 24, padding="same"),
    Case("pointwise", 4, 16, 16, 32, 1, 1, 48),
    Case("depthwise", 8, 20, 19, 24, 3, 3, 24, padding="same", groups=24),
    Case("depthwise_m2_s2", 16, 31, 30, 12, 3, 3, 24, stride=(2, 2), padding="same", groups=12),
    Case("batch1_general", 1, 24, 24, 16, 3, 3, 32, stride=(2, 2), padding="same"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", THREAD_CASES, ids=[c.name for c in THREAD_CASES])
def test_threads(rng, isa, threads, case, dtype):
    x, w, dy = case.arrays(rng, dtype)
    oh, ow = case.out_hw()
    # above the 1 MFLOP below which a convolution stays on one thread
    assert 2 * case.n * oh * ow * case.co * case.kh * case.kw * case.c // case.groups > 1.2e6
    y = _core.conv2d_forward(x, w, **case.kwargs())
    k = case.kh * case.kw * case.c // case.groups
    assert_close(y, ref_forward(case, x, w), ref_forward(case, np.abs(x), np.abs(w)), k, dtype)
    dx = _core.conv2d_backward_input(dy, w, input_shape=x.shape, **case.kwargs())
    assert_close(dx, ref_backward_input(case, dy, w),
                 ref_backward_input(case, np.abs(dy), np.abs(w)), case.kh * case.kw * case.co,
                 dtype)
    dw = _core.conv2d_backward_weight(x, dy, kernel_size=(case.kh, case.kw), **case.kwargs())
    assert_close(dw, ref_backward_weight(case, x, dy),
                 ref_backward_weight(case, np.abs(x), np.abs(dy)), case.n * oh * ow, dtype)
    db = _core.conv2d_backward_bias(dy)
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=(0, 1, 2)), rtol=1e-4,
                               atol=1e-3 if dtype == np.float32 else 1e-10)


def test_two_threads_give_the_same_forward_as_one(rng, isa):
    case = THREAD_CASES[0]
    x, w, _ = case.arrays(rng, np.float64)
    before = pyfrozen.get_num_threads()
    try:
        pyfrozen.set_num_threads(1)
        one = _core.conv2d_forward(x, w, **case.kwargs())
        pyfrozen.set_num_threads(2)
        two = _core.conv2d_forward(x, w, **case.kwargs())
    finally:
        pyfrozen.set_num_threads(before)
    np.testing.assert_array_equal(one, two)  # tiles do not change the sums' order


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kh, c, h", [(1, 64, 33), (3, 16, 20)])
def test_tiles_with_weights_packed_once_give_one_gemms_bits(rng, isa, threads, dtype, kh, c, h):
    # The forward runs one GEMM per tile of output pixels against weights packed once
    # per call; the tiles (several here on any L2 up to 2 MiB, the last one short) use
    # the same kernels and K blocks as one GEMM over every pixel, so the same bits.
    x = rng.standard_normal((2, h, h, c)).astype(dtype)
    w = rng.standard_normal((kh, kh, c, 40)).astype(dtype)
    y = _core.conv2d_forward(x, w)
    cols = np.lib.stride_tricks.sliding_window_view(x, (kh, kh), axis=(1, 2))  # n,oh,ow,c,kh,kw
    cols = np.ascontiguousarray(cols.transpose(0, 1, 2, 4, 5, 3)).reshape(-1, kh * kh * c)
    whole = pyfrozen.gemm(cols, np.ascontiguousarray(w.reshape(-1, 40)))
    np.testing.assert_array_equal(y.reshape(-1, 40), whole)


def test_a_forward_uses_one_path_while_another_thread_switches_paths(rng):
    # The weights are packed once per call with the kernel table active then, and every
    # tile runs that table: a path switched meanwhile by another thread gives one path's
    # bits, never a mix of tiles (or panels of one width read as the other's).
    paths = pyfrozen.supported_isas()
    if len(paths) < 2:
        pytest.skip("one ISA path on this CPU: nothing to switch")
    x = rng.standard_normal((2, 33, 33, 64)).astype(np.float32)
    w = rng.standard_normal((1, 1, 64, 40)).astype(np.float32)
    before = pyfrozen.get_isa()
    want = {}
    for name in paths:
        pyfrozen.set_isa(name)
        want[name] = _core.conv2d_forward(x, w)
    # The portable path does not contract into FMAs: its bits differ, so a mix would show.
    assert not np.array_equal(want["generic"], want[paths[1]])
    stop = threading.Event()

    def switch():
        i = 0
        while not stop.is_set():
            pyfrozen.set_isa(paths[i % len(paths)])
            i += 1

    switcher = threading.Thread(target=switch)
    switcher.start()
    try:
        for _ in range(100):
            y = _core.conv2d_forward(x, w)
            assert any(np.array_equal(y, v) for v in want.values())
    finally:
        stop.set()
        switcher.join()
        pyfrozen.set_isa(before)


# ---- fused epilogue --------------------------------------------------------------------

ACTIVATIONS = {
    "none": lambda v: v,
    "relu": lambda v: np.maximum(v, 0),
    "relu6": lambda v: np.clip(v, 0, 6),
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    "tanh": np.tanh,
}
EPILOGUE_CASES = [CASES[1], CASES[8], CASES[14]]  # general, depthwise m2, pointwise


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("case", EPILOGUE_CASES, ids=[c.name for c in EPILOGUE_CASES])
def test_fused_epilogue(rng, isa, case, activation, dtype):
    x, w, _ = case.arrays(rng, dtype)
    scale = rng.uniform(0.5, 2.0, case.co).astype(dtype)
    shift = rng.standard_normal(case.co).astype(dtype)
    bias = (3 * rng.standard_normal(case.co)).astype(dtype)  # reaches relu6's upper kink
    acc, acc_abs = ref_forward(case, x, w), ref_forward(case, np.abs(x), np.abs(w))
    k = case.kh * case.kw * case.c // case.groups
    eps = np.finfo(dtype).eps
    combos = [dict(bias=bias), dict(scale=scale, shift=shift),
              dict(scale=scale, shift=shift, bias=bias)]
    for terms in combos:
        pre = (acc * terms.get("scale", 1) + terms.get("shift", 0) + terms.get("bias", 0))
        want = ACTIVATIONS[activation](pre)
        got = _core.conv2d_forward(x, w, activation=activation, **terms, **case.kwargs())
        # The activations are 1-Lipschitz: the bound on the sum carries over.
        bound = (8 * eps * np.sqrt(k) * acc_abs * terms.get("scale", 1)
                 + 4 * eps * (np.abs(pre) + 1))
        assert got.dtype == dtype
        assert (np.abs(got - want) <= bound).all(), (terms.keys(), activation)
    if activation != "none":
        assert (got != _core.conv2d_forward(x, w, **case.kwargs())).any()


def test_relu_keeps_nan_like_torch():
    x = np.array([np.nan, -1.0, 2.0]).reshape(1, 1, 3, 1)
    y = _core.conv2d_forward(x, np.ones((1, 1, 1, 1)), activation="relu")
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 1, 0] == 0 and y[0, 0, 2, 0] == 2


# ---- outputs: written, never read ------------------------------------------------------


@pytest.mark.parametrize("case", [CASES[2], CASES[12], CASES[14]], ids=lambda c: c.name)
def test_outputs_are_overwritten_never_read(rng, isa, case):
    x, w, dy = case.arrays(rng, np.float64)
    kw = case.kwargs()
    y = np.full((case.n, *case.out_hw(), case.co), np.nan)
    assert _core.conv2d_forward(x, w, out=y, **kw) is y
    np.testing.assert_allclose(y, ref_forward(case, x, w), atol=1e-12)
    dx = np.full(x.shape, np.nan)
    assert _core.conv2d_backward_input(dy, w, dx, input_shape=x.shape, **kw) is dx
    np.testing.assert_allclose(dx, ref_backward_input(case, dy, w), atol=1e-12)
    dw = np.full(w.shape, np.nan)
    assert _core.conv2d_backward_weight(x, dy, dw, kernel_size=w.shape[:2], **kw) is dw
    np.testing.assert_allclose(dw, ref_backward_weight(case, x, dy), atol=1e-12)
    db = np.full(case.co, np.nan)
    assert _core.conv2d_backward_bias(dy, db) is db
    np.testing.assert_allclose(db, dy.sum(axis=(0, 1, 2)), atol=1e-12)


def test_stride_larger_than_kernel_leaves_zero_gradient_on_skipped_pixels(rng):
    case = CASES[2]  # 2x2 kernel, stride 3: every third row and column is never read
    x, w, dy = case.arrays(rng, np.float64)
    dx = _core.conv2d_backward_input(dy, w, input_shape=x.shape, **case.kwargs())
    assert (dx[:, 2::3] == 0).all() and (dx[:, :, 2::3] == 0).all()
    assert (dx[:, 9] == 0).all()  # 10 rows: the last output (rows 6, 7) stops short of row 9
    assert (dx[:, 0:9:3, 0::3] != 0).all()


def test_empty_batch(isa):
    x = np.zeros((0, 5, 5, 3), np.float32)
    w = np.ones((3, 3, 3, 4), np.float32)
    assert _core.conv2d_forward(x, w).shape == (0, 3, 3, 4)
    dw = _core.conv2d_backward_weight(x, np.zeros((0, 3, 3, 4), np.float32), kernel_size=3)
    assert dw.shape == (3, 3, 3, 4) and (dw == 0).all()


# ---- channel-limited backward-weight and counters --------------------------------------

LIMITED_CASES = [CASES[0], CASES[5], CASES[7], CASES[8], CASES[14], CASES[15],
                 THREAD_CASES[0]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LIMITED_CASES, ids=[c.name for c in LIMITED_CASES])
def test_limited_backward_weight_equals_full_on_those_channels(rng, isa, threads, case, dtype):
    x, w, dy = case.arrays(rng, dtype)
    kw = dict(kernel_size=(case.kh, case.kw), **case.kwargs())
    kernel = "depthwise_conv2d" if case.groups == case.c and case.c > 1 else "conv2d"
    _core.reset_kernel_counts()
    full = _core.conv2d_backward_weight(x, dy, **kw)
    channels = np.array(sorted(rng.choice(case.co, size=max(1, case.co // 3), replace=False)),
                        dtype=np.int64)[::-1].copy()  # any order
    sentinel = np.full(w.shape, -7.25, dtype)
    got = _core.conv2d_backward_weight(x, dy, sentinel, channels=channels, **kw)
    assert got is sentinel
    # Same kernels on the same data: the listed channels match to the last bit or to
    # rounding (GEMM blocks can differ with the number of columns).
    np.testing.assert_allclose(got[..., channels], full[..., channels], rtol=1e-5 if
                               dtype == np.float32 else 1e-12, atol=1e-5 if
                               dtype == np.float32 else 1e-12)
    others = np.setdiff1d(np.arange(case.co), channels)
    assert (got[..., others] == -7.25).all()  # not touched
    counts = {(k, p): (calls, work) for k, p, calls, work in _core.kernel_counts()}
    calls, work = counts[(kernel, "backward_weight")]
    oh, ow = case.out_hw()
    per_channel = case.n * oh * ow * case.kh * case.kw * (case.c // case.groups)
    assert calls == 2 and work == per_channel * (case.co + len(channels))
    # A limited result allocated by the binding is zero on the other channels.
    fresh = _core.conv2d_backward_weight(x, dy, channels=channels, **kw)
    assert (fresh[..., others] == 0).all()


def test_no_channels_does_no_work(rng):
    case = CASES[0]
    x, w, dy = case.arrays(rng, np.float64)
    out = np.full(w.shape, 3.0)
    _core.reset_kernel_counts()
    _core.conv2d_backward_weight(x, dy, out, kernel_size=3, padding="same",
                                 channels=np.zeros(0, np.int64))
    assert (out == 3.0).all()
    assert _core.kernel_counts() == [("conv2d", "backward_weight", 1, 0)]


def test_counters_name_kernel_and_pass(rng):
    general, depthwise = CASES[0], CASES[7]
    _core.reset_kernel_counts()
    for case in (general, depthwise):
        x, w, dy = case.arrays(rng, np.float32)
        _core.conv2d_forward(x, w, **case.kwargs())
        _core.conv2d_backward_input(dy, w, input_shape=x.shape, **case.kwargs())
    _core.conv2d_backward_bias(dy)
    counts = {(k, p): (calls, work) for k, p, calls, work in _core.kernel_counts()}

    def macs(c):
        oh, ow = c.out_hw()
        return c.n * oh * ow * c.co * c.kh * c.kw * (c.c // c.groups)

    assert counts[("conv2d", "forward")] == (1, macs(general))
    assert counts[("conv2d", "backward_input")] == (1, macs(general))
    assert counts[("depthwise_conv2d", "forward")] == (1, macs(depthwise))
    assert counts[("depthwise_conv2d", "backward_input")] == (1, macs(depthwise))
    assert counts[("conv2d", "backward_bias")] == (1, dy.size)
    assert ("conv2d", "backward_weight") not in counts


# ---- fuzz of bad calls in a child process ----------------------------------------------

FUZZ = Path(__file__).with_name("fuzz_conv2d_calls.py")


def test_fuzzed_conv2d_calls_never_crash(tmp_path):
    cmd = [sys.executable, "-m", "pytest", str(FUZZ), "-q", "-p", "no:cacheprovider",
           "--import-mode=importlib", "-o", "addopts=", "-W", "error"]
    # cwd outside the checkout, so the installed pyfrozen is imported, not the sources.
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, f"fuzz exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "passed" in proc.stdout and "failed" not in proc.stdout
