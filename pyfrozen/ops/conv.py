"""2-D convolutions, NHWC activations and Keras kernel layouts: conv2d and depthwise_conv2d.

Both are one op around the core's conv2d kernels (forward with a fused bias and
activation epilogue; backward input, weight and bias as separate kernels), saving
by need: with the kernel frozen the op keeps the kernel and drops x (only dX needs
it), with x needing no gradient (the stem, or a layer right above a frozen part) it
keeps x and not the kernel, and it never runs a backward kernel whose result nobody
uses. A kernel Parameter whose freeze mask freezes whole output channels gets its
weight gradient computed only for the trainable channels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import (
    activation_name,
    float_operand,
    int_pair,
    is_int,
    nhwc_operand,
    padding_name,
)
from pyfrozen.tensor import Parameter, Tensor

# ---------------------------------------------------------------------------------------
# Argument helpers
# ---------------------------------------------------------------------------------------


def _explicit_padding(padding, x_shape, k_hw, strides, dilation, op):
    """(top, bottom, left, right) for 'valid', 'same' (TF's split) or 4 ints as given."""
    if isinstance(padding, str):
        name = padding_name(padding, op)
        return _core.conv2d_padding(x_shape[1], x_shape[2], k_hw[0], k_hw[1],
                                    strides, dilation, name)
    ok = isinstance(padding, (tuple, list)) and len(padding) == 4 and all(
        is_int(p) and p >= 0 for p in padding
    )
    if not ok:
        raise ValueError(
            f"{op}: padding must be 'valid', 'same' or 4 non-negative ints "
            f"(top, bottom, left, right), got {padding!r}"
        )
    return tuple(int(p) for p in padding)


# ---------------------------------------------------------------------------------------
# The op
# ---------------------------------------------------------------------------------------


class Conv2D(Function):
    """``activation(conv(x, kernel) + bias)``: x (N, H, W, Cin), kernel HWIO, bias (Cout,).

    Keyword arguments (resolved by :func:`conv2d`): ``geometry`` (stride, dilation,
    explicit padding, groups), ``w_shape`` (the HWIO shape the core sees; differs from
    the kernel's own shape for depthwise), ``activation`` and ``channels`` (trainable
    output channels, or None for all).
    """

    name = "conv2d"

    @staticmethod
    def forward(ctx, x, kernel, bias=None, *, geometry, w_shape, activation, channels):
        nx, nk = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        stride, dilation, padding, groups = geometry
        x = np.ascontiguousarray(x)
        w = np.ascontiguousarray(kernel).reshape(w_shape)  # a view for depthwise: no copy
        # Bias and activation in the convolution's epilogue, on each tile while it is in
        # cache (the core's vectorized bias_act kernel).
        y = _core.conv2d_forward(x, w, bias, stride=stride, dilation=dilation, padding=padding,
                                 groups=groups, activation=activation)
        # dX needs only the kernel and dW only x: keep each only if its partner trains.
        ctx.save_for_backward(x if nk else None, kernel if nx else None)
        if activation != "none":
            ctx.save_output()  # the activation's derivative is read off its output
        ctx.geometry = geometry
        ctx.w_shape = w_shape
        ctx.k_shape = kernel.shape
        ctx.x_shape = x.shape
        ctx.activation = activation
        ctx.channels = channels
        ctx.bias = bias  # (C,), for output_recomputer
        return y

    @staticmethod
    def backward(ctx, dy):
        needs = ctx.needs_input_grad
        saved = ctx.saved_tensors
        x, kernel = saved[0], saved[1]
        stride, dilation, padding, groups = ctx.geometry
        geo = dict(stride=stride, dilation=dilation, padding=padding, groups=groups)
        need_db = len(needs) > 2 and needs[2]
        dy = np.ascontiguousarray(dy)
        db = None
        if ctx.activation != "none":
            dy, db = _core.bias_act_backward(dy, saved[2], activation=ctx.activation,
                                             need_dbias=need_db)
        elif need_db:
            db = _core.conv2d_backward_bias(dy)
        dx = dw = None
        if needs[0]:
            w = np.ascontiguousarray(kernel).reshape(ctx.w_shape)
            dx = _core.conv2d_backward_input(dy, w, input_shape=ctx.x_shape, **geo)
        if needs[1]:
            # Frozen channels are left at 0 (a fresh array) and cost no work.
            dw = _core.conv2d_backward_weight(x, dy, kernel_size=ctx.w_shape[:2],
                                              channels=ctx.channels, **geo)
            if dw.shape != ctx.k_shape:  # depthwise: Keras's (KH, KW, Cin, M) layout
                dw = dw.reshape(ctx.k_shape)
            # Otherwise the kernel's own array: the tape keeps it as the gradient (a view
            # would be copied there, 12.6 MB a MobileNet 1.0 step).
        return (dx, dw) if len(needs) == 2 else (dx, dw, db)


class DepthwiseConv2D(Conv2D):
    """Conv2D with groups == Cin over a Keras DepthwiseConv2D kernel (KH, KW, Cin, M)."""

    name = "depthwise_conv2d"


def output_recomputer(y: Tensor) -> Callable[[], np.ndarray] | None:
    """A function recomputing ``y`` in backward, if ``y`` is a recorded depthwise
    convolution's output (no activation) whose node keeps both its input and kernel
    (both need gradients) and which is at least half its input's size; None otherwise.

    A depthwise convolution costs K*K multiply-adds per output value, so an op reading
    ``y`` (a training-mode batch norm) may keep this function instead of ``y`` itself.
    Recomputing reads the whole input while keeping ``y`` costs ``y``'s size, hence the
    size rule: a stride-1 output qualifies, a stride-2 one (a quarter of its input)
    does not. The function checks first that the arrays it reads were not changed in
    place since the forward (RuntimeError, as backward would), then runs the same
    kernel on them: the same bits as ``y``."""
    node = y._node
    if node is None or node.fn is not DepthwiseConv2D or node.activation != "none":
        return None
    x, kernel = node.saved_tensors[0], node.saved_tensors[1]
    if x is None or kernel is None or 2 * y.data.size < x.size:
        return None
    bias, (stride, dilation, padding, groups), w_shape = node.bias, node.geometry, node.w_shape

    def recompute() -> np.ndarray:
        node.check_versions()
        return _core.conv2d_forward(x, np.ascontiguousarray(kernel).reshape(w_shape), bias,
                                    stride=stride, dilation=dilation, padding=padding,
                                    groups=groups, activation="none")

    return recompute


# ---------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------


def _check_output_size(x_shape, w_shape, geometry, op, kernel_shape):
    (sh, sw), (dh, dw), (pt, pb, pl, pr), _ = geometry
    eh = (w_shape[0] - 1) * dh + 1
    ew = (w_shape[1] - 1) * dw + 1
    if x_shape[1] + pt + pb < eh or x_shape[2] + pl + pr < ew:
        raise ValueError(
            f"{op}: kernel {kernel_shape} (dilated extent ({eh}, {ew})) does not fit input "
            f"{x_shape} with padding {(pt, pb, pl, pr)}"
        )
    if max(pt, pb) >= eh or max(pl, pr) >= ew:
        raise ValueError(
            f"{op}: padding {(pt, pb, pl, pr)} must be smaller than the dilated kernel "
            f"extent ({eh}, {ew}) (input {x_shape}, kernel {kernel_shape})"
        )


def _operands(x: Any, kernel: Any, op: str, last_axis: str) -> tuple[Tensor, Tensor]:
    """The NHWC input and the 4-D kernel (its last axis named ``last_axis`` in messages)."""
    x = nhwc_operand(x, op)
    kernel = float_operand(kernel, op, "kernel")
    if kernel.ndim != 4:
        raise ValueError(f"{op}: kernel must be 4-D (height, width, in_channels, "
                         f"{last_axis}), got shape {kernel.shape}")
    return x, kernel


def _trainable_channels(kernel: Tensor, c_out: int) -> np.ndarray | None:
    """Output channels holding trainable elements, when the mask freezes whole channels."""
    if not isinstance(kernel, Parameter) or kernel._frozen is None:
        return None
    if kernel.shape[-1] == c_out:  # conv2d: HWIO, output channels on the last axis
        return kernel.trainable_index(kernel.ndim - 1)
    # depthwise: output channel ci * M + m is element (ci, m) of the last two axes
    frozen = kernel._frozen.reshape(-1, c_out)
    all_frozen = frozen.all(axis=0)
    if not np.array_equal(all_frozen, frozen.any(axis=0)):
        return None
    return np.flatnonzero(~all_frozen).astype(np.int64)


def _conv(fn, op, x, kernel, bias, w_shape, strides, padding, dilation_rate, groups,
          activation):
    act = activation_name(activation, op)
    stride = int_pair(strides, op, "strides")
    dilation = int_pair(dilation_rate, op, "dilation_rate")
    pads = _explicit_padding(padding, x.shape, w_shape[:2], stride, dilation, op)
    geometry = (stride, dilation, pads, groups)
    _check_output_size(x.shape, w_shape, geometry, op, kernel.shape)
    inputs = (x, kernel)
    if bias is not None:
        bias = float_operand(bias, op, "bias")
        if bias.shape != (w_shape[3],):
            raise ValueError(f"{op}: bias {bias.shape} does not match kernel {kernel.shape} "
                             f"({w_shape[3]} output channels)")
        inputs = (x, kernel, bias)
    channels = _trainable_channels(kernel, w_shape[3])
    return fn.apply(*inputs, geometry=geometry, w_shape=w_shape, activation=act,
                    channels=channels)


def conv2d(
    x: Any,
    kernel: Tensor,
    bias: Tensor | None = None,
    *,
    strides: int | tuple[int, int] = 1,
    padding: str | tuple[int, int, int, int] = "valid",
    dilation_rate: int | tuple[int, int] = 1,
    groups: int = 1,
    activation: str | None = None,
) -> Tensor:
    """2-D convolution of an NHWC input with an HWIO kernel (the Conv2D layer's op).

    Computes ``activation(conv(x, kernel) + bias)`` in one node, the bias and
    activation fused into the convolution's output pass.

    Freezing: with ``kernel`` frozen the op keeps the kernel and not ``x``, and runs no
    weight-gradient kernel; with ``x`` needing no gradient (the network's input, or
    output of a frozen part) it keeps ``x`` and not the kernel and never computes the
    input gradient. A kernel Parameter whose freeze mask freezes whole output channels
    (``freeze_mask`` of shape ``(Cout,)`` or ``(1, 1, 1, Cout)``) gets its weight
    gradient computed only for the trainable channels (work in proportion).

    Args:
        x: input (N, H, W, Cin), float32 or float64.
        kernel: (KH, KW, Cin // groups, Cout), the Keras layout.
        bias: optional (Cout,).
        strides: int or (sh, sw).
        padding: "valid", "same" (TensorFlow's rule: output ceil(size / stride), an odd
            padding pixel at the bottom / right) or explicit (top, bottom, left, right).
        dilation_rate: int or (dh, dw).
        groups: number of channel groups; divides Cin and Cout.
        activation: None, "relu", "relu6", "sigmoid" or "tanh".

    Returns:
        The output (N, OH, OW, Cout).

    Raises:
        ValueError: wrong ranks, channels that do not match (naming both shapes), a bad
            padding, stride, dilation, groups or activation, a kernel larger than the
            padded input.
        TypeError: non-float or mixed float dtypes.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = pyfrozen.tensor(np.ones((1, 4, 4, 2)))
    >>> k = pyfrozen.Parameter(np.ones((3, 3, 2, 5)))
    >>> pyfrozen.ops.conv2d(x, k, padding="same").shape
    (1, 4, 4, 5)
    """
    op = "conv2d"
    x, kernel = _operands(x, kernel, op, "out_channels")
    if not is_int(groups) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    c_in, (kc, c_out) = x.shape[3], kernel.shape[2:]
    if kc * groups != c_in:
        raise ValueError(
            f"{op}: input has {c_in} channels but kernel expects {kc * groups} "
            f"({kc} per group x {groups} groups) (input {x.shape}, kernel {kernel.shape})"
        )
    if c_out % groups:
        raise ValueError(f"{op}: groups={groups} does not divide the kernel's {c_out} output "
                         f"channels (input {x.shape}, kernel {kernel.shape})")
    return _conv(Conv2D, op, x, kernel, bias, kernel.shape, strides, padding, dilation_rate,
                 int(groups), activation)


def depthwise_conv2d(
    x: Any,
    kernel: Tensor,
    bias: Tensor | None = None,
    *,
    strides: int | tuple[int, int] = 1,
    padding: str | tuple[int, int, int, int] = "valid",
    dilation_rate: int | tuple[int, int] = 1,
    activation: str | None = None,
) -> Tensor:
    """Depthwise 2-D convolution with a Keras DepthwiseConv2D kernel (KH, KW, Cin, M).

    Each input channel ``ci`` is convolved with its own ``M`` filters (the depth
    multiplier, read off the kernel's last axis); output channel ``ci * M + m`` is
    ``conv(x[..., ci], kernel[:, :, ci, m]) + bias[ci * M + m]``. The kernel is handed
    to the core as a (KH, KW, 1, Cin * M) view, groups = Cin, without a copy.

    Freezing: as :func:`conv2d`; a freeze mask that freezes whole output channels
    (e.g. whole input channels, ``freeze_mask`` of shape ``(1, 1, Cin, 1)``) limits the
    weight gradient to the trainable ones.

    Args:
        x: input (N, H, W, Cin).
        kernel: (KH, KW, Cin, M).
        bias: optional (Cin * M,).
        strides, padding, dilation_rate, activation: as :func:`conv2d`.

    Returns:
        The output (N, OH, OW, Cin * M).

    Raises:
        ValueError: wrong ranks, kernel channels that do not match the input's (naming
            both shapes), bad padding, strides, dilation or activation.
        TypeError: non-float or mixed float dtypes.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = pyfrozen.tensor(np.ones((1, 5, 5, 3)))
    >>> k = pyfrozen.Parameter(np.ones((3, 3, 3, 2)))
    >>> pyfrozen.ops.depthwise_conv2d(x, k, strides=2, padding="same").shape
    (1, 3, 3, 6)
    """
    op = "depthwise_conv2d"
    x, kernel = _operands(x, kernel, op, "depth_multiplier")
    kh, kw, c_in, mult = kernel.shape
    if c_in != x.shape[3]:
        raise ValueError(f"{op}: input has {x.shape[3]} channels but kernel expects {c_in} "
                         f"(input {x.shape}, kernel {kernel.shape})")
    w_shape = (kh, kw, 1, c_in * mult)
    return _conv(DepthwiseConv2D, op, x, kernel, bias, w_shape, strides, padding,
                 dilation_rate, c_in, activation)
