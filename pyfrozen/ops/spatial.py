"""Spatial resizing of NHWC tensors: zero padding (pad2d) and nearest upsampling.

Neither has a weight nor saves an array: each backward is a fixed linear map of
``dy`` alone (a slice for pad2d, a block sum for upsampling2d), so only shapes and the
padding or size are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import int_pair, is_int, nhwc_operand
from pyfrozen.tensor import Tensor

# ---------------------------------------------------------------------------------------
# pad2d
# ---------------------------------------------------------------------------------------


class Pad2D(Function):
    """Zeros around height and width; the gradient is the centre slice of ``dy``."""

    name = "pad2d"

    @staticmethod
    def forward(ctx, x, *, padding):
        (top, bottom), (left, right) = padding
        n, h, w, c = x.shape
        y = np.zeros((n, top + h + bottom, left + w + right, c), dtype=x.dtype)
        y[:, top:top + h, left:left + w, :] = x
        ctx.window = (top, h, left, w)
        return y

    @staticmethod
    def backward(ctx, dy):
        top, h, left, w = ctx.window
        # A strided view of dy: the tape copies it before a leaf keeps it.
        return (dy[:, top:top + h, left:left + w, :],)


def _padding_pairs(padding: Any) -> tuple[tuple[Any, Any], tuple[Any, Any]] | None:
    """Keras ZeroPadding2D's three spellings as ((top, bottom), (left, right)), values
    unchecked; None for any other structure."""
    if is_int(padding):
        return (padding, padding), (padding, padding)
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        if all(map(is_int, padding)):
            return (padding[0], padding[0]), (padding[1], padding[1])
        if all(isinstance(p, (tuple, list)) and len(p) == 2 for p in padding):
            return tuple(padding[0]), tuple(padding[1])
    return None


def pad2d(x: Any, padding: int | tuple) -> Tensor:
    """Pads an NHWC tensor with zeros along height and width (the ZeroPadding2D layer's op).

    ``padding`` is read as Keras reads it: an int pads all four sides by that much; a
    pair ``(h, w)`` pads top and bottom by ``h``, left and right by ``w``; a pair of
    pairs is ``((top, bottom), (left, right))``.

    Freezing: nothing is saved; the input's gradient is the centre slice of the
    output's, computed only when the input needs one.

    Args:
        x: input (N, H, W, C), float32 or float64.
        padding: int, (h, w) or ((top, bottom), (left, right)); non-negative ints.

    Returns:
        The padded tensor (N, top + H + bottom, left + W + right, C).

    Raises:
        ValueError: ``x`` is not 4-D, or ``padding`` is not one of the three forms of
            non-negative ints.
        TypeError: ``x`` is not a float32 / float64 tensor.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = pyfrozen.tensor(np.ones((1, 2, 2, 1)))
    >>> y = pyfrozen.ops.pad2d(x, ((1, 0), (0, 2)))
    >>> y.shape
    (1, 3, 4, 1)
    >>> y.numpy()[0, :, :, 0]
    array([[0., 0., 0., 0.],
           [1., 1., 0., 0.],
           [1., 1., 0., 0.]])
    """
    x = nhwc_operand(x, "pad2d")
    pairs = _padding_pairs(padding)
    if pairs is None or not all(is_int(p) and p >= 0 for pair in pairs for p in pair):
        raise ValueError(
            "pad2d: padding must be an int, a pair (height, width) or ((top, bottom), "
            f"(left, right)) of non-negative ints, got {padding!r}"
        )
    pairs = tuple((int(a), int(b)) for a, b in pairs)
    return Pad2D.apply(x, padding=pairs)


# ---------------------------------------------------------------------------------------
# upsampling2d
# ---------------------------------------------------------------------------------------


class UpSampling2D(Function):
    """Each pixel repeated as a (sh, sw) block; the gradient sums each block of ``dy``."""

    name = "upsampling2d"

    @staticmethod
    def forward(ctx, x, *, size):
        sh, sw = size
        n, h, w, c = x.shape
        ctx.size = size
        # One copy: a broadcast view of every pixel as its block, then the reshape.
        blocks = np.broadcast_to(x[:, :, None, :, None, :], (n, h, sh, w, sw, c))
        return blocks.reshape(n, h * sh, w * sw, c)

    @staticmethod
    def backward(ctx, dy):
        sh, sw = ctx.size
        n, hh, ww, c = dy.shape
        return (dy.reshape(n, hh // sh, sh, ww // sw, sw, c).sum(axis=(2, 4)),)


def upsampling2d(
    x: Any, size: int | tuple[int, int] = (2, 2), interpolation: str = "nearest"
) -> Tensor:
    """Repeats the rows and columns of an NHWC tensor (the UpSampling2D layer's op).

    Output pixel ``(i, j)`` is input pixel ``(i // sh, j // sw)``: Keras's and torch's
    ``"nearest"`` for integer factors. Only ``"nearest"`` is implemented.

    Freezing: nothing is saved; the input's gradient sums ``dy`` over each
    ``sh x sw`` block, computed only when the input needs one.

    Args:
        x: input (N, H, W, C), float32 or float64.
        size: int or (sh, sw), the factors for height and width, each >= 1.
        interpolation: ``"nearest"``.

    Returns:
        The upsampled tensor (N, H * sh, W * sw, C).

    Raises:
        ValueError: ``x`` is not 4-D, a factor is < 1, or ``interpolation`` is not
            ``"nearest"`` (``"bilinear"`` is not supported).
        TypeError: ``x`` is not a float32 / float64 tensor, or ``size`` is not an int
            or a pair of ints.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = pyfrozen.tensor(np.array([1.0, 2.0]).reshape(1, 1, 2, 1))
    >>> pyfrozen.ops.upsampling2d(x, size=(2, 1)).numpy()[0, :, :, 0]
    array([[1., 2.],
           [1., 2.]])
    """
    op = "upsampling2d"
    x = nhwc_operand(x, op)
    if interpolation != "nearest":
        raise ValueError(
            f"{op}: interpolation {interpolation!r} is not supported; only 'nearest' is"
        )
    return UpSampling2D.apply(x, size=int_pair(size, op, "size"))
