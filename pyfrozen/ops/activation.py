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
from pyfrozen.ops.elementwise import float_operand
from pyfrozen.tensor import Tensor

# ---------------------------------------------------------------------------------------
# Pointwise: the core's bias_act kernels with no bias
# ---------------------------------------------------------------------------------------


def _as_rows(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous matrix of its last axis (a view when already contiguous).

    The core splits rows across threads, so a long 1-D tensor is one row: fine for the
    small vectors that are 1-D in practice.
    """
    a = np.ascontiguousarray(a)
    if a.ndim < 2:
        return a.reshape(1, a.size)
    return a.reshape(a.size // max(a.shape[-1], 1), a.shape[-1])


def _act_forward(ctx, x: np.ndarray, activation: str) -> np.ndarray:
    ctx.save_output()
    return _core.bias_act_forward(_as_rows(x), None, activation=activation).reshape(x.shape)


def _act_backward(ctx, dy: np.ndarray, activation: str) -> tuple[np.ndarray]:
    (y,) = ctx.saved_tensors
    dx, _ = _core.bias_act_backward(_as_rows(dy), _as_rows(y), activation=activation,
                                    need_dbias=False)
    return (dx.reshape(y.shape),)


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        return _act_forward(ctx, x, "relu")

    @staticmethod
    def backward(ctx, dy):
        return _act_backward(ctx, dy, "relu")


class Relu6(Function):
    @staticmethod
    def forward(ctx, x):
        return _act_forward(ctx, x, "relu6")

    @staticmethod
    def backward(ctx, dy):
        return _act_backward(ctx, dy, "relu6")


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        return _act_forward(ctx, x, "sigmoid")

    @staticmethod
    def backward(ctx, dy):
        return _act_backward(ctx, dy, "sigmoid")


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        return _act_forward(ctx, x, "tanh")

    @staticmethod
    def backward(ctx, dy):
        return _act_backward(ctx, dy, "tanh")


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
