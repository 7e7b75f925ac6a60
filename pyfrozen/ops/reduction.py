"""Reductions: sum and mean over all axes, one axis or a tuple of axes.

Neither saves an array: the gradient spreads ``dy`` (divided by the count, for mean)
back over the reduced axes, so only the input's shape is kept.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import float_operand
from pyfrozen.tensor import Tensor


def _spread(dy: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
    """``dy`` (reduced over ``axes``, with or without kept dims) copied out to ``shape``.

    A real array, not a broadcast view: the ops below may hand it to kernels that need
    C-contiguous, writeable arrays.
    """
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
    out = np.empty(shape, dtype=dy.dtype)
    out[...] = dy.reshape(kept)
    return out


class Sum(Function):
    @staticmethod
    def forward(ctx, x, *, axes, keepdims):
        ctx.shape = x.shape
        ctx.axes = axes
        return np.asarray(np.sum(x, axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, dy):
        return (_spread(dy, ctx.shape, ctx.axes),)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, *, axes, keepdims):
        ctx.shape = x.shape
        ctx.axes = axes
        return np.asarray(np.mean(x, axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, dy):
        shape, axes = ctx.shape, ctx.axes
        count = 1
        for a in axes:
            count *= shape[a]
        # max(count, 1): an empty mean is NaN already; its (empty) gradient needs no 0 / 0.
        return (_spread(dy / dy.dtype.type(max(count, 1)), shape, axes),)


def normalize_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence of ints) as sorted non-negative axes.

    Raises:
        ValueError: an axis is out of range or repeated.
        TypeError: an axis is not an integer.
    """
    if axis is None:
        return tuple(range(ndim))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    axes = []
    for a in items:
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(f"{op}: axis must be an integer, got {a!r}") from None
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} axes")
        axes.append(a % ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(axes))


def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Sum of the elements over ``axis``.

    Args:
        x: float tensor.
        axis: None (every axis), an int, or a tuple of ints.
        keepdims: keep the reduced axes with length 1.

    Returns:
        A Tensor (0-d when every axis is reduced without ``keepdims``).

    Raises:
        ValueError: an axis is out of range or repeated.
        TypeError: ``x`` is not a float32 / float64 tensor.

    Example:

    >>> import pyfrozen
    >>> pyfrozen.tensor([[1.0, 2.0], [3.0, 4.0]]).sum(axis=0)
    tensor([4., 6.])
    """
    x = float_operand(x, "sum")
    return Sum.apply(x, axes=normalize_axes(axis, x.ndim, "sum"), keepdims=bool(keepdims))


def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean of the elements over ``axis``; arguments and errors as :func:`sum`.

    Example:

    >>> import pyfrozen
    >>> pyfrozen.tensor([[1.0, 2.0], [3.0, 4.0]]).mean(axis=(0, 1))
    tensor(2.5)
    """
    x = float_operand(x, "mean")
    return Mean.apply(x, axes=normalize_axes(axis, x.ndim, "mean"), keepdims=bool(keepdims))
