"""Shape ops: reshape, transpose, concat and indexing (getitem).

None of them saves an activation (getitem keeps only its index arrays). reshape,
transpose and basic indexing return views of their input, sharing its version
counter, so an in-place change through either is seen by every node that saved one
of them. They work on tensors of any dtype; only float tensors are differentiated.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import tensor_operand
from pyfrozen.tensor import Tensor

# ---------------------------------------------------------------------------------------
# Views: reshape, transpose
# ---------------------------------------------------------------------------------------


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, *, shape):
        try:
            y = x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                f"into shape {shape}"
            ) from None
        if np.may_share_memory(y, x):  # a non-contiguous input is copied, not viewed
            ctx.mark_view_of(0)
        ctx.shape = x.shape
        return y

    @staticmethod
    def backward(ctx, dy):
        return (dy.reshape(ctx.shape),)


class Transpose(Function):
    @staticmethod
    def forward(ctx, x, *, axes):
        ctx.mark_view_of(0)
        ctx.axes = axes
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, dy):
        # NOTE: a strided view, like the forward result; kernels that need C order copy.
        return (np.transpose(dy, np.argsort(ctx.axes)),)


def reshape(x: Tensor, shape: Any) -> Tensor:
    """``x`` with a new shape and the same elements in C order (a view when possible).

    Args:
        x: any tensor.
        shape: an int or a sequence of ints; one of them may be -1 (inferred).

    Returns:
        A Tensor sharing ``x``'s memory when ``x`` is contiguous.

    Raises:
        ValueError: the element counts differ (the message names both shapes).
        TypeError: ``shape`` holds something other than integers.
    """
    x = tensor_operand(x, "reshape")
    items = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    try:
        shape = tuple(operator.index(n) for n in items)
    except TypeError:
        raise TypeError(f"reshape: shape must hold integers, got {items!r}") from None
    return Reshape.apply(x, shape=shape)


def transpose(x: Tensor, axes: Any = None) -> Tensor:
    """``x`` with its axes permuted (a view); ``axes=None`` reverses them, as numpy.

    Raises:
        ValueError: ``axes`` is not a permutation of ``x``'s axes.
    """
    x = tensor_operand(x, "transpose")
    n = x.ndim
    if axes is None:
        axes = tuple(range(n - 1, -1, -1))
    else:
        try:
            axes = tuple(operator.index(a) for a in axes)
        except TypeError:
            raise TypeError(f"transpose: axes must be integers, got {axes!r}") from None
        if sorted(a % n if -n <= a < n else a for a in axes) != list(range(n)):
            raise ValueError(
                f"transpose: axes {axes} are not a permutation of the {n} axes of a tensor "
                f"of shape {x.shape}"
            )
        axes = tuple(a % n for a in axes)
    return Transpose.apply(x, axes=axes)


# ---------------------------------------------------------------------------------------
# concat
# ---------------------------------------------------------------------------------------


class Concat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        ctx.splits = np.cumsum([a.shape[axis] for a in arrays[:-1]])
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, dy):
        parts = np.split(dy, ctx.splits, axis=ctx.axis)
        return tuple(p if need else None for p, need in zip(parts, ctx.needs_input_grad,
                                                             strict=True))


def concat(tensors: Any, axis: int = 0) -> Tensor:
    """Joins tensors along an existing axis (numpy's ``concatenate``).

    Args:
        tensors: a sequence of one or more tensors of one dtype whose shapes agree
            except along ``axis``.
        axis: the axis to join along (negative counts from the end).

    Returns:
        A new Tensor; the gradient of each input is its slice of the output's.

    Raises:
        ValueError: no tensors, ``axis`` out of range, or shapes that disagree (all
            shapes are named).
        TypeError: the dtypes differ.
    """
    tensors = [tensor_operand(t, "concat") for t in tensors]
    if not tensors:
        raise ValueError("concat: needs at least one tensor")
    shapes = [t.shape for t in tensors]
    ndim = len(shapes[0])
    if ndim == 0 or not -ndim <= axis < ndim:
        raise ValueError(f"concat: axis {axis} is out of range for shapes {shapes}")
    axis %= ndim
    for s in shapes:
        if len(s) != ndim or s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:]:
            raise ValueError(
                f"concat: shapes {shapes} must agree on every axis except axis {axis}"
            )
    if any(t.dtype != tensors[0].dtype for t in tensors):
        described = ", ".join(f"{t.dtype} {t.shape}" for t in tensors)
        raise TypeError(
            f"concat: inputs have different dtypes ({described}); convert with .astype(...)"
        )
    return Concat.apply(*tensors, axis=axis)


# ---------------------------------------------------------------------------------------
# getitem
# ---------------------------------------------------------------------------------------


def _plain_index(index: Any) -> Any:
    """``index`` with Tensors replaced by their arrays and lists by arrays (numpy's meaning)."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _index_arrays(index: Any) -> list[np.ndarray]:
    items = index if isinstance(index, tuple) else (index,)
    return [i for i in items if isinstance(i, np.ndarray) and i.ndim > 0]


def _has_integer_array(index: Any) -> bool:
    return any(i.dtype.kind in "iu" for i in _index_arrays(index))


class GetItem(Function):
    name = "getitem"

    @staticmethod
    def forward(ctx, x, *, index):
        try:
            y = x[index]
        except IndexError as err:
            raise IndexError(f"getitem: {err} (tensor of shape {x.shape})") from None
        if not isinstance(y, np.ndarray):  # x[0] of a 1-D array is a numpy scalar
            y = np.asarray(y)
        elif np.may_share_memory(y, x):  # basic indexing: a view
            ctx.mark_view_of(0)
        ctx.shape = x.shape
        ctx.index = index
        # Index arrays are kept for backward: saved, so trace() counts their bytes.
        ctx.save_for_backward(*_index_arrays(index))
        return y

    @staticmethod
    def backward(ctx, dy):
        dx = np.zeros(ctx.shape, dtype=dy.dtype)
        if _has_integer_array(ctx.index):
            # A repeated index is used twice in forward: its gradients must add up.
            np.add.at(dx, ctx.index, dy)
        else:
            dx[ctx.index] = dy  # slices and masks pick each element at most once
        return (dx,)


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]`` with numpy's rules: basic slicing (a view), integer and boolean arrays.

    Integer and boolean Tensors may be used as indices. The gradient scatters into
    zeros; a repeated integer index accumulates its gradients.

    Raises:
        IndexError: the index is out of range or of an invalid kind.
    """
    return GetItem.apply(tensor_operand(x, "getitem"), index=_plain_index(index))
