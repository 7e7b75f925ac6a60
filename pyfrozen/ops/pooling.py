"""2-D pooling over NHWC tensors: max, average, global average and global max.

None of them has a weight, so freezing changes nothing here except through the tape:
an input that needs no gradient records nothing. Max pooling keeps x (its backward
re-finds each window's argmax); average pooling keeps only shapes; global max keeps
the argmax indices, not x.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import int_pair, nhwc_operand, padding_name
from pyfrozen.tensor import Tensor

# ---------------------------------------------------------------------------------------
# Windowed pooling (core kernels)
# ---------------------------------------------------------------------------------------


class MaxPool2D(Function):
    """Max of each window; ties and NaNs route the gradient to the first in row-major order."""

    name = "max_pool2d"

    @staticmethod
    def forward(ctx, x, *, window):
        x = np.ascontiguousarray(x)
        ctx.save_for_backward(x)
        ctx.window = window
        return _core.max_pool2d_forward(x, **window)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return (_core.max_pool2d_backward(np.ascontiguousarray(dy), x, **ctx.window),)


class AvgPool2D(Function):
    """Mean of the real (non-padded) cells of each window."""

    name = "avg_pool2d"

    @staticmethod
    def forward(ctx, x, *, window):
        ctx.window = window
        ctx.x_shape = x.shape
        return _core.avg_pool2d_forward(np.ascontiguousarray(x), **window)

    @staticmethod
    def backward(ctx, dy):
        dx = _core.avg_pool2d_backward(np.ascontiguousarray(dy), ctx.x_shape, **ctx.window)
        return (dx,)


def _window(x: Any, pool_size: Any, strides: Any, padding: str, op: str):
    x = nhwc_operand(x, op)
    pool = int_pair(pool_size, op, "pool_size")
    stride = pool if strides is None else int_pair(strides, op, "strides")
    pad = padding_name(padding, op)
    if pad == "valid" and (pool[0] > x.shape[1] or pool[1] > x.shape[2]):
        raise ValueError(f"{op}: pool_size {pool} is larger than the input {x.shape} "
                         "with padding 'valid'")
    if min(x.shape[1:3]) < 1:
        raise ValueError(f"{op}: input {x.shape} has no pixels")
    return x, dict(pool_size=pool, strides=stride, padding=pad)


def max_pool2d(
    x: Any,
    pool_size: int | tuple[int, int],
    strides: int | tuple[int, int] | None = None,
    padding: str = "valid",
) -> Tensor:
    """Max pooling over windows of an NHWC input (the MaxPooling2D layer's op).

    Padded cells ("same") never win. The gradient of each output goes to its window's
    maximum; on ties, to the first in row-major (row, then column) window order.

    Args:
        x: input (N, H, W, C).
        pool_size: int or (ph, pw).
        strides: int, (sh, sw) or None (= pool_size).
        padding: "valid" or "same" (TensorFlow's rule: the odd pixel bottom / right).

    Returns:
        The pooled tensor (N, OH, OW, C).

    Raises:
        ValueError: not 4-D, a bad padding name, sizes < 1, a window larger than the
            input with "valid".
        TypeError: non-float input, sizes that are not ints.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = pyfrozen.tensor(np.arange(16.0).reshape(1, 4, 4, 1))
    >>> pyfrozen.ops.max_pool2d(x, 2).numpy()[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    x, window = _window(x, pool_size, strides, padding, "max_pool2d")
    return MaxPool2D.apply(x, window=window)


def avg_pool2d(
    x: Any,
    pool_size: int | tuple[int, int],
    strides: int | tuple[int, int] | None = None,
    padding: str = "valid",
) -> Tensor:
    """Average pooling over windows of an NHWC input (the AveragePooling2D layer's op).

    With "same" padding each window averages only its real cells, as Keras does
    (torch's ``count_include_pad=False``).

    Args:
        x: input (N, H, W, C).
        pool_size: int or (ph, pw).
        strides: int, (sh, sw) or None (= pool_size).
        padding: "valid" or "same".

    Returns:
        The pooled tensor (N, OH, OW, C).

    Raises:
        ValueError, TypeError: as :func:`max_pool2d`.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = pyfrozen.tensor(np.arange(16.0).reshape(1, 4, 4, 1))
    >>> pyfrozen.ops.avg_pool2d(x, 2).numpy()[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    x, window = _window(x, pool_size, strides, padding, "avg_pool2d")
    return AvgPool2D.apply(x, window=window)


# ---------------------------------------------------------------------------------------
# Global pooling
# ---------------------------------------------------------------------------------------


class GlobalAvgPool2D(Function):
    """Mean over height and width: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims."""

    name = "global_avg_pool2d"

    @staticmethod
    def forward(ctx, x, *, keepdims):
        ctx.x_shape = x.shape
        y = _core.global_avg_pool_forward(np.ascontiguousarray(x))
        return y.reshape(x.shape[0], 1, 1, x.shape[3]) if keepdims else y

    @staticmethod
    def backward(ctx, dy):
        n, _, _, c = ctx.x_shape
        dy = np.ascontiguousarray(dy).reshape(n, c)
        return (_core.global_avg_pool_backward(dy, ctx.x_shape),)


class GlobalMaxPool2D(Function):
    """Max over height and width; keeps the argmax (N, C) indices, not x."""

    name = "global_max_pool2d"

    @staticmethod
    def forward(ctx, x, *, keepdims):
        n, h, w, c = x.shape
        flat = x.reshape(n, h * w, c)
        # argmax gives the first maximum in row-major (row, column) order, and the first
        # NaN if there is one: the same rule as max_pool2d's backward.
        index = np.argmax(flat, axis=1)[:, None, :]
        y = np.take_along_axis(flat, index, axis=1)  # (n, 1, c)
        ctx.save_for_backward(index)
        ctx.x_shape = x.shape
        return y.reshape(n, 1, 1, c) if keepdims else y.reshape(n, c)

    @staticmethod
    def backward(ctx, dy):
        (index,) = ctx.saved_tensors
        n, h, w, c = ctx.x_shape
        dx = np.zeros((n, h * w, c), dy.dtype)
        np.put_along_axis(dx, index, dy.reshape(n, 1, c), axis=1)
        return (dx.reshape(ctx.x_shape),)


def _global_input(x: Any, op: str) -> Tensor:
    x = nhwc_operand(x, op)
    if x.shape[1] * x.shape[2] == 0:
        raise ValueError(f"{op}: input {x.shape} has no pixels to pool")
    return x


def global_avg_pool2d(x: Any, keepdims: bool = False) -> Tensor:
    """Mean over height and width (the GlobalAveragePooling2D layer's op).

    Args:
        x: input (N, H, W, C) with H * W > 0.
        keepdims: return (N, 1, 1, C) instead of (N, C).

    Returns:
        The per-channel means.

    Raises:
        ValueError: not 4-D or no pixels. TypeError: non-float input.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = pyfrozen.tensor(np.arange(8.0).reshape(1, 2, 2, 2))
    >>> pyfrozen.ops.global_avg_pool2d(x).numpy()
    array([[3., 4.]])
    """
    x = _global_input(x, "global_avg_pool2d")
    return GlobalAvgPool2D.apply(x, keepdims=bool(keepdims))


def global_max_pool2d(x: Any, keepdims: bool = False) -> Tensor:
    """Max over height and width (the GlobalMaxPooling2D layer's op).

    The gradient of each (sample, channel) goes to one position: its first maximum in
    row-major (row, then column) order when several pixels tie (the first NaN, if
    any). Backward keeps the argmax indices (N x C int64), not x.

    Args:
        x: input (N, H, W, C) with H * W > 0.
        keepdims: return (N, 1, 1, C) instead of (N, C).

    Returns:
        The per-channel maxima.

    Raises:
        ValueError: not 4-D or no pixels. TypeError: non-float input.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = pyfrozen.tensor(np.arange(8.0).reshape(1, 2, 2, 2))
    >>> pyfrozen.ops.global_max_pool2d(x, keepdims=True).shape
    (1, 1, 1, 2)
    """
    x = _global_input(x, "global_max_pool2d")
    return GlobalMaxPool2D.apply(x, keepdims=bool(keepdims))
