"""Activations: relu, relu6, sigmoid, tanh, softmax and log_softmax.

All of them differentiate from their saved OUTPUT, never the input: relu keeps
``y`` (its mask is ``y > 0``), sigmoid ``y (1 - y)``, tanh ``1 - y**2``, softmax
``y (dy - sum(dy y))``, log_softmax ``dy - exp(y) sum(dy)``. The core's bias+activation
and softmax kernels do the work (counted: ``trace()`` shows ``bias_act`` and
``softmax`` / ``log_softmax`` records).
"""

from __future__ import annotations

import numpy as np

from pyfrozen import _core
from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import as_rows, float_operand
from pyfrozen.tensor import Tensor

# ---------------------------------------------------------------------------------------
# Pointwise: the core's bias_act kernels with no bias
# ---------------------------------------------------------------------------------------


class _Pointwise(Function):
    """An activation the core fuses as an epilogue; each subclass's ``name`` is the core's
    name for it, so ``ctx.name`` tells the kernels which one to run."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_output()
        return _core.bias_act_forward(as_rows(x), None, activation=ctx.name).reshape(x.shape)

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        dx, _ = _core.bias_act_backward(as_rows(dy), as_rows(y), activation=ctx.name,
                                        need_dbias=False)
        return (dx.reshape(y.shape),)


class Relu(_Pointwise):
    name = "relu"


class Relu6(_Pointwise):
    name = "relu6"


class Sigmoid(_Pointwise):
    name = "sigmoid"


class Tanh(_Pointwise):
    name = "tanh"


POINTWISE = {op.name: op for op in (Relu, Relu6, Sigmoid, Tanh)}
"""The pointwise activation ops by the core's name for them."""


# ---------------------------------------------------------------------------------------
# Along an axis: softmax and log_softmax (the core works on the last axis)
# ---------------------------------------------------------------------------------------


def _axis_last(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` with ``axis`` moved last, C-contiguous (no copy when axis is already last)."""
    return np.ascontiguousarray(np.moveaxis(a, axis, -1))


def _along_axis_forward(ctx, x, axis, kernel):
    # The output is returned with the axis moved back (a view, no copy); moving it last
    # again in backward gives the kernel its contiguous buffer without a copy.
    y = np.moveaxis(kernel(_axis_last(x, axis)), -1, axis)
    ctx.save_output()
    ctx.axis = axis
    return y


def _along_axis_backward(ctx, dy, kernel):
    (y,) = ctx.saved_tensors
    axis = ctx.axis
    dx = kernel(_axis_last(dy, axis), _axis_last(y, axis))
    return (np.moveaxis(dx, -1, axis),)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, *, axis):
        return _along_axis_forward(ctx, x, axis, _core.softmax)

    @staticmethod
    def backward(ctx, dy):
        return _along_axis_backward(ctx, dy, _core.softmax_backward)


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, *, axis):
        return _along_axis_forward(ctx, x, axis, _core.log_softmax)

    @staticmethod
    def backward(ctx, dy):
        return _along_axis_backward(ctx, dy, _core.log_softmax_backward)


def _check_axis(x: Tensor, axis: int, op: str) -> int:
    if x.ndim == 0:
        raise ValueError(f"{op}: needs at least 1 axis, got a tensor of shape ()")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for shape {x.shape}")
    return axis % x.ndim


# ---------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------


def relu(x: Tensor) -> Tensor:
    """``max(x, 0)``, elementwise; the gradient at 0 is 0.

    Saves only its output (``y > 0`` is the gradient's mask).

    Raises:
        TypeError: ``x`` is not a float32 / float64 tensor.
    """
    return Relu.apply(float_operand(x, "relu"))


def relu6(x: Tensor) -> Tensor:
    """``min(max(x, 0), 6)``, elementwise (MobileNet's activation); saves only its output."""
    return Relu6.apply(float_operand(x, "relu6"))


def sigmoid(x: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``, elementwise; saves only its output."""
    return Sigmoid.apply(float_operand(x, "sigmoid"))


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise; saves only its output."""
    return Tanh.apply(float_operand(x, "tanh"))


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis`` (the maximum is subtracted first).

    Args:
        x: float tensor with at least one axis.
        axis: the axis that sums to 1 (default: the last).

    Returns:
        A Tensor of ``x``'s shape; only it is saved for the gradient.

    Raises:
        ValueError: ``axis`` is out of range.
        TypeError: ``x`` is not a float32 / float64 tensor.

    Example:

    >>> import pyfrozen
    >>> from pyfrozen.ops import softmax
    >>> softmax(pyfrozen.tensor([[0.0, 0.0], [1000.0, 0.0]]))
    tensor([[0.5, 0.5],
            [1. , 0. ]])
    """
    x = float_operand(x, "softmax")
    return Softmax.apply(x, axis=_check_axis(x, axis, "softmax"))


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``x - max - log(sum(exp(x - max)))`` along ``axis``, computed directly.

    Never ``log(softmax(x))``, which underflows to ``-inf`` for very negative logits.
    Saves only its output. Arguments and errors as :func:`softmax`.
    """
    x = float_operand(x, "log_softmax")
    return LogSoftmax.apply(x, axis=_check_axis(x, axis, "log_softmax"))
