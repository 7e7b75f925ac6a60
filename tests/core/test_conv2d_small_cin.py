"""The small-patch conv2d path (groups 1, no dilation, kh * kw * c <= 64, not 1x1 stride 1):
forward and backward_weight read patches straight from x, border pixels through an
im2col row. Checked against a naive numpy float64 reference on both ISA paths, float32
and float64, 1 and 2 threads, and against the general GEMM path (a channel subset of
backward_weight still takes it)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

from pyfrozen import _core


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
    padding: str | tuple[int, int, int, int] = "valid"

    def pads(self):
        if isinstance(self.padding, str):
            return _core.conv2d_padding(self.h, self.w, self.kh, self.kw, self.stride, (1, 1),
                                        self.padding)
        return self.padding

    def kwargs(self):
        return dict(stride=self.stride, padding=self.pads())

    def out_hw(self):
        pt, pb, pl, pr = self.pads()
        return ((self.h + pt + pb - self.kh) // self.stride[0] + 1,
                (self.w + pl + pr - self.kw) // self.stride[1] + 1)

    def arrays(self, rng, dtype):
        x = rng.standard_normal((self.n, self.h, self.w, self.c)).astype(dtype)
        w = rng.standard_normal((self.kh, self.kw, self.c, self.co)).astype(dtype)
        dy = rng.standard_normal((self.n, *self.out_hw(), self.co)).astype(dtype)
        return x, w, dy


def patches(case: Case, x):
    """n x oh x ow x (kh, kw, c) patches of the zero-padded input, float64."""
    pt, pb, pl, pr = case.pads()
    xp = np.pad(x.astype(np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    (oh, ow), (sh, sw) = case.out_hw(), case.stride
    cols = [xp[:, a:a + (oh - 1) * sh + 1:sh, b:b + (ow - 1) * sw + 1:sw, :]
            for a in range(case.kh) for b in range(case.kw)]
    return np.concatenate(cols, axis=-1)


def ref_forward(case, x, w):
    return patches(case, x) @ w.astype(np.float64).reshape(-1, case.co)


def ref_backward_weight(case, x, dy):
    k = case.kh * case.kw * case.c
    p = patches(case, x).reshape(-1, k)
    return (p.T @ dy.astype(np.float64).reshape(-1, case.co)).reshape(
        case.kh, case.kw, case.c, case.co)


def assert_close(got, want, scale, k, dtype):
    """Within 8 eps sqrt(k) of the sum of |terms|: rounding, far below one wrong term."""
    assert got.shape == want.shape and got.dtype == dtype
    err = np.abs(got.astype(np.float64) - want)
    bound = 8 * np.finfo(dtype).eps * np.sqrt(k) * scale + 1e-300
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert (err <= bound).all(), f"at {worst}: got {got[worst]}, want {want[worst]}"


CASES = [
    Case("mobilenet_first_s2_same", 2, 16, 16, 3, 3, 3, 32, (2, 2), "same"),
    Case("c1_s1_same", 2, 7, 9, 1, 3, 3, 8, padding="same"),
    Case("c2_s2_valid_odd", 1, 11, 13, 2, 3, 3, 13, (2, 2)),
    Case("c3_s2_same_odd", 2, 9, 11, 3, 3, 3, 40, (2, 2), "same"),
    Case("c4_s1_valid", 1, 6, 7, 4, 3, 3, 5),
    Case("c4_s2_same_k64", 1, 9, 10, 4, 4, 4, 20, (2, 2), "same"),
    Case("c1_7x7_s2_same", 1, 15, 14, 1, 7, 7, 3, (2, 2), "same"),
    Case("c2_5x5_s1_same", 1, 8, 9, 2, 5, 5, 17, padding="same"),
    Case("c3_2x3_s1x2_asym", 2, 6, 9, 3, 2, 3, 9, (1, 2), (1, 0, 2, 1)),
    Case("c3_explicit_pads", 1, 5, 6, 3, 3, 3, 33, padding=(2, 0, 0, 2)),
    Case("c3_stride_gt_kernel", 1, 10, 11, 3, 2, 2, 4, (3, 3)),
    Case("c3_1x1_s2", 2, 7, 6, 3, 1, 1, 7, (2, 2)),
    Case("c3_1x1_image_same", 3, 1, 1, 3, 3, 3, 6, padding="same"),
    Case("c3_narrow_all_border", 1, 2, 2, 3, 3, 3, 64, (1, 1), "same"),
    Case("c3_kernel_is_image", 1, 3, 3, 3, 3, 3, 12),
    Case("c5_k65_general_path", 1, 7, 7, 5, 3, 4, 8, padding="same"),
]
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_forward_and_weight_gradient_match_numpy(rng, isa, case, dtype):
    x, w, dy = case.arrays(rng, dtype)
    k = case.kh * case.kw * case.c
    y = np.full((case.n, *case.out_hw(), case.co), np.nan, dtype)  # written, never read
    assert _core.conv2d_forward(x, w, out=y, **case.kwargs()) is y
    assert_close(y, ref_forward(case, x, w), ref_forward(case, np.abs(x), np.abs(w)), k, dtype)
    dw = np.full(w.shape, np.nan, dtype)
    _core.conv2d_backward_weight(x, dy, dw, kernel_size=(case.kh, case.kw), **case.kwargs())
    assert_close(dw, ref_backward_weight(case, x, dy),
                 ref_backward_weight(case, np.abs(x), np.abs(dy)), dy.size // case.co, dtype)


THREAD_CASES = [
    Case("mobilenet_first_threads", 6, 24, 24, 3, 3, 3, 32, (2, 2), "same"),
    Case("c2_s1_threads", 6, 17, 15, 2, 3, 3, 24, padding="same"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", THREAD_CASES, ids=[c.name for c in THREAD_CASES])
def test_threads(rng, isa, threads, case, dtype):
    x, w, dy = case.arrays(rng, dtype)
    k = case.kh * case.kw * case.c
    assert 2 * dy.size * k > 1.2e6  # above the serial threshold
    y = _core.conv2d_forward(x, w, **case.kwargs())
    assert_close(y, ref_forward(case, x, w), ref_forward(case, np.abs(x), np.abs(w)), k, dtype)
    dw = _core.conv2d_backward_weight(x, dy, kernel_size=(case.kh, case.kw), **case.kwargs())
    assert_close(dw, ref_backward_weight(case, x, dy),
                 ref_backward_weight(case, np.abs(x), np.abs(dy)), dy.size // case.co, dtype)


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[9]], ids=lambda c: c.name)
def test_weight_gradient_agrees_with_the_general_path(rng, isa, case):
    """A channel subset goes through im2col + GEMM: the same values up to rounding."""
    x, w, dy = case.arrays(rng, np.float64)
    full = _core.conv2d_backward_weight(x, dy, kernel_size=(case.kh, case.kw), **case.kwargs())
    some = np.arange(case.co - 1, dtype=np.int64)
    part = np.full(w.shape, 7.0)
    _core.conv2d_backward_weight(x, dy, part, kernel_size=(case.kh, case.kw), channels=some,
                                 **case.kwargs())
    np.testing.assert_allclose(part[..., :-1], full[..., :-1], rtol=1e-12, atol=1e-12)
    assert (part[..., -1] == 7.0).all()


def test_fused_epilogue_on_the_small_patch_path(rng, isa):
    case = CASES[3]
    x, w, _ = case.arrays(rng, np.float32)
    bias = (3 * rng.standard_normal(case.co)).astype(np.float32)
    scale = rng.uniform(0.5, 2.0, case.co).astype(np.float32)
    acc = ref_forward(case, x, w)
    got = _core.conv2d_forward(x, w, bias=bias, scale=scale, activation="relu6",
                               **case.kwargs())
    want = np.clip(acc * scale + bias, 0, 6)
    bound = 8 * np.finfo(np.float32).eps * (np.sqrt(27) * ref_forward(
        case, np.abs(x), np.abs(w)) * scale + np.abs(acc * scale + bias) + 1)
    assert (np.abs(got - want) <= bound).all()
    assert (got == 6).any() and (got == 0).any()


def test_counters_are_those_of_conv2d(rng):
    case = CASES[0]
    x, w, dy = case.arrays(rng, np.float32)
    _core.reset_kernel_counts()
    _core.conv2d_forward(x, w, **case.kwargs())
    _core.conv2d_backward_weight(x, dy, kernel_size=3, **case.kwargs())
    macs = dy.size * 27
    assert sorted(_core.kernel_counts()) == [("conv2d", "backward_weight", 1, macs),
                                             ("conv2d", "forward", 1, macs)]


def test_padding_never_reads_past_the_input(rng, isa):
    """NaN around x in memory must not leak in: padding taps are zeros, not neighbours."""
    case = CASES[0]
    x, w, dy = case.arrays(rng, np.float32)
    big = np.full((case.n + 2, case.h, case.w, case.c), np.nan, np.float32)
    big[1:-1] = x
    inner = big[1:-1]
    assert inner.flags.c_contiguous
    y = _core.conv2d_forward(inner, w, **case.kwargs())
    dw = _core.conv2d_backward_weight(inner, dy, kernel_size=3, **case.kwargs())
    assert np.isfinite(y).all() and np.isfinite(dw).all()
