"""Every argument check of the conv2d bindings and kernels: the error type and a message
that names the op, the argument and the shapes."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen import _core

X = np.zeros((2, 8, 8, 4), np.float32)
W = np.zeros((3, 3, 4, 6), np.float32)
DY = np.zeros((2, 6, 6, 6), np.float32)


def fwd(**kw):
    args = dict(x=X, w=W)
    args.update(kw)
    return _core.conv2d_forward(args.pop("x"), args.pop("w"), **args)


# ---- dtypes, ranks, layouts ------------------------------------------------------------


def test_dtype_errors():
    with pytest.raises(TypeError, match=r"conv2d_forward: x must be float32 or float64.*int64"):
        fwd(x=X.astype(np.int64))
    with pytest.raises(TypeError, match=r"conv2d_forward: w must be float32 like .*float64"):
        fwd(w=W.astype(np.float64))
    with pytest.raises(TypeError, match=r"conv2d_forward: bias must be float32.*float64"):
        fwd(bias=np.zeros(6))
    with pytest.raises(TypeError, match=r"conv2d_forward: x must be a numpy.ndarray, got list"):
        fwd(x=X.tolist())
    with pytest.raises(TypeError, match=r"conv2d_backward_input: w must be float32"):
        _core.conv2d_backward_input(DY, W.astype(np.float64), input_shape=X.shape)
    with pytest.raises(TypeError, match=r"conv2d_backward_weight: dy must be float32"):
        _core.conv2d_backward_weight(X, DY.astype(np.float64), kernel_size=3)
    with pytest.raises(TypeError, match=r"conv2d_backward_bias: out must be float32"):
        _core.conv2d_backward_bias(DY, np.zeros(6))
    with pytest.raises(TypeError, match=r"float32 or float64 \(native byte order\)"):
        fwd(x=X.astype(">f4"))


def test_rank_and_layout_errors():
    with pytest.raises(ValueError, match=r"conv2d_forward: x must have 4 dimensions, got shape "
                                         r"\(8, 8, 4\)"):
        fwd(x=X[0])
    with pytest.raises(ValueError, match=r"conv2d_forward: w \(3, 3, 2, 6\) must be C-contiguous"):
        fwd(w=W[:, :, ::2])
    with pytest.raises(ValueError, match=r"conv2d_forward: bias must have 1 dimensions"):
        fwd(bias=np.zeros((1, 6), np.float32))
    raw = np.zeros(X.nbytes + 1, np.uint8)[1:]
    with pytest.raises(ValueError, match=r"conv2d_forward: x \(2, 8, 8, 4\) is not aligned"):
        fwd(x=raw.view(np.float32).reshape(X.shape))
    with pytest.raises(ValueError, match=r"conv2d_backward_bias: dy must have 4 dimensions"):
        _core.conv2d_backward_bias(DY[0])


# ---- geometry (from the C++ core) ------------------------------------------------------


def test_channel_and_group_errors():
    with pytest.raises(ValueError, match=r"conv2d_forward: input has 4 channels but kernel "
                                         r"expects 3 \(input \(2, 8, 8, 4\), "
                                         r"kernel \(3, 3, 3, 6\)\)"):
        fwd(w=np.zeros((3, 3, 3, 6), np.float32))
    with pytest.raises(ValueError, match=r"groups=3 must divide the 4 input and 6 output"):
        fwd(w=np.zeros((3, 3, 1, 6), np.float32), groups=3)
    with pytest.raises(ValueError, match=r"groups=4 must divide the 4 input and 6 output"):
        fwd(w=np.zeros((3, 3, 1, 6), np.float32), groups=4)
    with pytest.raises(ValueError, match=r"input has 4 channels but kernel expects 8 \(4 per "
                                         r"group x groups=2\)"):
        fwd(groups=2)
    with pytest.raises(ValueError, match=r"groups must be >= 1, got 0"):
        fwd(groups=0)


def test_stride_dilation_errors():
    with pytest.raises(ValueError, match=r"conv2d_forward: stride must be >= 1, got \(0, 1\)"):
        fwd(stride=(0, 1))
    with pytest.raises(ValueError, match=r"dilation must be >= 1, got \(1, -1\)"):
        fwd(dilation=(1, -1))
    with pytest.raises(TypeError, match=r"stride must be an int or a sequence of 2 ints, got "
                                        r"\(1, 2, 3\)"):
        fwd(stride=(1, 2, 3))
    with pytest.raises(TypeError, match=r"stride must hold ints, got \(1.0, 2\)"):
        fwd(stride=(1.0, 2))
    with pytest.raises(TypeError, match=r"dilation must be an int or a sequence"):
        fwd(dilation="2")
    with pytest.raises(TypeError, match=r"stride must be an int or a sequence"):
        fwd(stride=True)
    with pytest.raises(ValueError, match=r"stride is out of range"):
        fwd(stride=2**70)
    with pytest.raises(ValueError, match=r"must be below 2\^31"):
        fwd(stride=2**40)


def test_padding_errors():
    with pytest.raises(ValueError, match=r"padding must be smaller than the dilated kernel "
                                         r"extent \(padding \(3, 0, 0, 0\), dilated kernel 3x3\) "
                                         r"\(input \(2, 8, 8, 4\), kernel \(3, 3, 4, 6\)\)"):
        fwd(padding=(3, 0, 0, 0))
    with pytest.raises(ValueError, match=r"padding must be smaller than the dilated kernel"):
        fwd(padding=(0, 0, 0, 9))
    with pytest.raises(ValueError, match=r"padding must be non-negative"):
        fwd(padding=(0, -1, 0, 0))
    # A dilated kernel allows more padding: 3x3 at dilation 2 spans 5 pixels.
    assert fwd(padding=(4, 4, 4, 4), dilation=2).shape == (2, 12, 12, 6)
    with pytest.raises(TypeError, match=r"padding must be a sequence of 4 ints, got \(1, 1\)"):
        fwd(padding=(1, 1))
    with pytest.raises(ValueError, match=r"padding must be 'valid', 'same' or 4 ints.*'full'"):
        fwd(padding="full")


def test_empty_output_is_rejected_with_the_sizes():
    with pytest.raises(ValueError, match=r"output would be empty: padded input 2x8 is smaller "
                                         r"than the dilated kernel 3x3 \(input \(2, 2, 8, 4\)"):
        fwd(x=np.zeros((2, 2, 8, 4), np.float32))
    with pytest.raises(ValueError, match=r"padded input 8x8 is smaller than the dilated kernel "
                                         r"9x9"):
        fwd(dilation=4)
    with pytest.raises(ValueError, match=r"input sizes must be positive"):
        fwd(x=np.zeros((2, 0, 8, 4), np.float32))
    with pytest.raises(ValueError, match=r"kernel sizes must be positive"):
        fwd(w=np.zeros((3, 3, 4, 0), np.float32))


# ---- epilogue and outputs --------------------------------------------------------------


def test_epilogue_errors():
    with pytest.raises(ValueError, match=r"conv2d_forward: bias must have shape \(6,\) \(one "
                                         r"value per output channel, \(input \(2, 8, 8, 4\), "
                                         r"kernel \(3, 3, 4, 6\)\)\), got \(4,\)"):
        fwd(bias=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"scale must have shape \(6,\)"):
        fwd(scale=np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"shift must have shape \(6,\)"):
        fwd(shift=np.zeros(7, np.float32))
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'; expected 'none', 'relu', "
                                         r"'relu6', 'sigmoid' or 'tanh'"):
        fwd(activation="gelu")


def test_output_errors():
    with pytest.raises(ValueError, match=r"conv2d_forward: out must have shape \(2, 6, 6, 6\) "
                                         r"\(input \(2, 8, 8, 4\), kernel \(3, 3, 4, 6\)\), got "
                                         r"\(2, 6, 6, 5\)"):
        fwd(out=np.zeros((2, 6, 6, 5), np.float32))
    ro = np.zeros((2, 6, 6, 6), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"conv2d_forward: out is read-only"):
        fwd(out=ro)
    with pytest.raises(TypeError, match=r"conv2d_forward: out must be float32"):
        fwd(out=np.zeros((2, 6, 6, 6)))
    same = np.zeros((1, 3, 3, 1), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_forward: out \(1, 3, 3, 1\) overlaps x "
                                         r"\(1, 3, 3, 1\)"):
        _core.conv2d_forward(same, np.ones((1, 1, 1, 1), np.float32), out=same)
    buf = np.zeros(2 * 6 * 6 * 6, np.float32)
    with pytest.raises(ValueError, match=r"out \(2, 6, 6, 6\) overlaps bias \(6,\)"):
        fwd(bias=buf[:6], out=buf.reshape(2, 6, 6, 6))
    with pytest.raises(ValueError, match=r"out \(2, 6, 6, 6\) overlaps scale \(6,\)"):
        fwd(scale=buf[-6:], out=buf.reshape(2, 6, 6, 6))
    dy = np.zeros((1, 1, 1, 6), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_backward_bias: out \(6,\) overlaps dy"):
        _core.conv2d_backward_bias(dy, dy.reshape(6))
    with pytest.raises(ValueError, match=r"out \(2, 8, 8, 4\) overlaps dy"):
        buf = np.zeros((2, 8, 8, 4), np.float32)
        _core.conv2d_backward_input(buf, np.zeros((1, 1, 4, 4), np.float32), buf,
                                    input_shape=(2, 8, 8, 4))
    with pytest.raises(ValueError, match=r"conv2d_backward_weight: out must have shape "
                                         r"\(3, 3, 4, 6\)"):
        _core.conv2d_backward_weight(X, DY, np.zeros((3, 3, 4, 5), np.float32), kernel_size=3)


# ---- backward-specific arguments -------------------------------------------------------


def test_backward_input_errors():
    with pytest.raises(ValueError, match=r"conv2d_backward_input: dy must have shape "
                                         r"\(2, 6, 6, 6\) \(the output of \(input \(2, 8, 8, 4\)"):
        _core.conv2d_backward_input(np.zeros((2, 5, 6, 6), np.float32), W, input_shape=X.shape)
    with pytest.raises(TypeError, match=r"input_shape must be a sequence of 4 ints"):
        _core.conv2d_backward_input(DY, W, input_shape=(8, 8, 4))
    with pytest.raises(TypeError, match=r"incompatible function arguments"):
        _core.conv2d_backward_input(DY, W)  # input_shape is required
    # Several input sizes give the same output size: both are accepted.
    assert _core.conv2d_backward_input(DY, W, input_shape=(2, 8, 8, 4), stride=1).shape[1] == 8
    dy2 = np.zeros((2, 3, 3, 6), np.float32)
    for h in (7, 8):
        dx = _core.conv2d_backward_input(dy2, W, input_shape=(2, h, 8, 4), stride=2)
        assert dx.shape == (2, h, 8, 4)


def test_backward_weight_errors():
    with pytest.raises(ValueError, match=r"conv2d_backward_weight: dy must have shape "
                                         r"\(2, 8, 8, 6\) \(the output of .*got \(2, 6, 6, 6\)"):
        _core.conv2d_backward_weight(X, DY, kernel_size=3, padding="same")
    with pytest.raises(TypeError, match=r"kernel_size must be an int or a sequence of 2 ints"):
        _core.conv2d_backward_weight(X, DY, kernel_size=(3, 3, 3))
    with pytest.raises(TypeError, match=r"channels must be an int64 array, got int32"):
        _core.conv2d_backward_weight(X, DY, kernel_size=3, channels=np.zeros(2, np.int32))
    with pytest.raises(TypeError, match=r"channels must be a numpy.ndarray"):
        _core.conv2d_backward_weight(X, DY, kernel_size=3, channels=[0, 1])
    with pytest.raises(ValueError, match=r"channels must be a contiguous 1-D array of output "
                                         r"channel indices in \[0, 6\), got shape \(1, 2\)"):
        _core.conv2d_backward_weight(X, DY, kernel_size=3, channels=np.zeros((1, 2), np.int64))
    with pytest.raises(ValueError, match=r"channel 6 is out of range for 6 output channels"):
        _core.conv2d_backward_weight(X, DY, kernel_size=3, channels=np.array([0, 6]))
    with pytest.raises(ValueError, match=r"channel -1 is out of range"):
        _core.conv2d_backward_weight(X, DY, kernel_size=3, channels=np.array([-1]))
    with pytest.raises(ValueError, match=r"channel 2 is listed twice"):
        _core.conv2d_backward_weight(X, DY, kernel_size=3, channels=np.array([2, 1, 2]))
    with pytest.raises(ValueError, match=r"groups=3 must divide the 4 input"):
        _core.conv2d_backward_weight(X, DY, kernel_size=3, groups=3)


def test_conv2d_padding_errors():
    with pytest.raises(ValueError, match=r"conv2d_padding: padding must be 'valid', 'same'"):
        _core.conv2d_padding(8, 8, 3, 3, padding="SAME")
    with pytest.raises(ValueError, match=r"conv2d_padding: sizes, strides and dilations must "
                                         r"be positive, got input 0x8, kernel 3x3, stride "
                                         r"\(1, 1\), dilation \(1, 1\)"):
        _core.conv2d_padding(0, 8, 3, 3, padding="same")
    with pytest.raises(ValueError, match=r"stride \(2, 0\)"):
        _core.conv2d_padding(8, 8, 3, 3, stride=(2, 0))
    with pytest.raises(ValueError, match=r"below 2\^31"):
        _core.conv2d_padding(8, 8, 2**40, 3, padding="same")
