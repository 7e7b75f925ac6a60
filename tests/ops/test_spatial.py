"""pad2d and upsampling2d: gradients (float64 finite differences, float32 on every ISA
path), torch oracles (F.pad, F.interpolate), Keras's padding forms, nothing saved,
argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.autograd import trace
from pyfrozen.testing import check_op

# ---- pad2d -----------------------------------------------------------------------------

PADDINGS = [
    (1, ((1, 1), (1, 1))),
    ((2, 0), ((2, 2), (0, 0))),
    (((1, 0), (0, 2)), ((1, 0), (0, 2))),
    ([[0, 3], [2, 1]], ((0, 3), (2, 1))),
    (0, ((0, 0), (0, 0))),
]


@pytest.mark.parametrize(("padding", "pairs"), PADDINGS, ids=str)
def test_pad2d_against_torch(padding, pairs, rng, torch):
    x = rng.standard_normal((2, 3, 2, 2))
    (top, bottom), (left, right) = pairs

    def torch_fn(t):  # NHWC: torch pads the last axes first (C, then W, then H)
        return torch.nn.functional.pad(t, (0, 0, left, right, top, bottom))

    report = check_op(lambda t: ops.pad2d(t, padding), x, torch_fn=torch_fn)
    assert all(tr.saved_bytes == 0 for tr in report.traces.values())


def test_pad2d_keeps_the_input_in_the_middle_of_zeros():
    x = pyfrozen.tensor(np.arange(1.0, 5.0).reshape(1, 2, 2, 1), requires_grad=True)
    y = ops.pad2d(x, ((1, 2), (0, 1)))
    assert y.shape == (1, 5, 3, 1) and y.grad_fn == "pad2d"
    np.testing.assert_array_equal(y.numpy()[0, :, :, 0], [[0, 0, 0], [1, 2, 0], [3, 4, 0],
                                                          [0, 0, 0], [0, 0, 0]])
    dy = np.arange(15.0).reshape(1, 5, 3, 1)
    y.backward(dy)
    np.testing.assert_array_equal(x.grad.numpy(), dy[:, 1:3, 0:2])
    assert x.grad.numpy().flags.c_contiguous  # the tape copied the sliced view


@pytest.mark.parametrize("padding", [-1, (1, -2), ((1, 0), (0, -1)), (1, 2, 3), 1.0, True,
                                     (1, (1, 2)), ((1, 2, 3), (0, 0)), "same", None], ids=str)
def test_pad2d_bad_padding(padding):
    x = pyfrozen.tensor(np.zeros((1, 2, 2, 1)))
    with pytest.raises(ValueError, match=r"pad2d: padding must be an int, a pair \(height, "
                                         r"width\) or \(\(top, bottom\), \(left, right\)\) of "
                                         r"non-negative ints, got"):
        ops.pad2d(x, padding)


def test_pad2d_input_errors():
    with pytest.raises(ValueError, match=r"pad2d: input must be 4-D .* got shape \(2, 2\)"):
        ops.pad2d(pyfrozen.tensor(np.zeros((2, 2))), 1)
    with pytest.raises(TypeError, match=r"pad2d: input must be float32 or float64, got int64"):
        ops.pad2d(pyfrozen.tensor(np.zeros((1, 2, 2, 1), np.int64)), 1)


# ---- upsampling2d ------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "pair"), [((2, 2), (2, 2)), (3, (3, 3)), ((1, 2), (1, 2)),
                                            ([3, 1], (3, 1)), (1, (1, 1))], ids=str)
def test_upsampling2d_against_torch(size, pair, rng, torch):
    x = rng.standard_normal((2, 2, 3, 2))

    def torch_fn(t):
        y = torch.nn.functional.interpolate(t.permute(0, 3, 1, 2), scale_factor=pair,
                                            mode="nearest")
        return y.permute(0, 2, 3, 1)

    report = check_op(lambda t: ops.upsampling2d(t, size=size), x, torch_fn=torch_fn)
    assert all(tr.saved_bytes == 0 for tr in report.traces.values())


def test_upsampling2d_repeats_pixels_and_sums_their_gradients():
    x = pyfrozen.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1),
                        requires_grad=True)
    y = ops.upsampling2d(x)  # Keras's default size (2, 2)
    assert y.shape == (1, 4, 4, 1) and y.grad_fn == "upsampling2d"
    np.testing.assert_array_equal(y.numpy()[0, :, :, 0], [[1, 1, 2, 2], [1, 1, 2, 2],
                                                          [3, 3, 4, 4], [3, 3, 4, 4]])
    dy = np.arange(16.0).reshape(1, 4, 4, 1)
    y.backward(dy)
    blocks = dy[0, :, :, 0].reshape(2, 2, 2, 2).sum(axis=(1, 3))
    np.testing.assert_array_equal(x.grad.numpy()[0, :, :, 0], blocks)


def test_frozen_inputs_record_nothing():
    x = pyfrozen.tensor(np.ones((1, 2, 2, 3), np.float32))
    with trace() as tr:
        for y in (ops.pad2d(x, 1), ops.upsampling2d(x, 2)):
            assert not y.requires_grad and y.dtype == np.float32
    assert tr.nodes == 0 and tr.saved_bytes == 0


def test_upsampling2d_errors():
    x = pyfrozen.tensor(np.zeros((1, 2, 2, 1)))
    with pytest.raises(ValueError, match=r"upsampling2d: interpolation 'bilinear' is not "
                                         r"supported; only 'nearest' is"):
        ops.upsampling2d(x, interpolation="bilinear")
    with pytest.raises(ValueError, match=r"upsampling2d: size must be >= 1, got \(2, 0\)"):
        ops.upsampling2d(x, size=(2, 0))
    with pytest.raises(TypeError, match=r"upsampling2d: size must be an int or a pair of ints"):
        ops.upsampling2d(x, size=(2, 2, 2))
    with pytest.raises(ValueError, match=r"upsampling2d: input must be 4-D .* \(2, 2, 1\)"):
        ops.upsampling2d(pyfrozen.tensor(np.zeros((2, 2, 1))))
    with pytest.raises(TypeError, match=r"upsampling2d: input must be a Tensor, got list"):
        ops.upsampling2d([[[[1.0]]]])
