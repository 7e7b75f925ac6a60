"""Elementwise math with numpy broadcasting: add, sub, mul, div, neg, pow, exp, log, sqrt, cast.

Each op saves only what the gradients it must produce use: ``mul`` with one operand
frozen keeps just the other operand, ``exp`` and ``sqrt`` keep their output, ``log``
its input. Python numbers take the tensor operand's dtype; two float dtypes never mix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.autograd import tape
from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import (
    broadcast_shape,
    float_operand,
    float_operands,
    tensor_operand,
    unbroadcast,
)
from pyfrozen.tensor import Tensor

# NOTE: numpy gives scalars for 0-d results; the tape turns them back into arrays, so the
# ops below return numpy's results as they are.


def _keep_shapes(ctx, a: np.ndarray, b: np.ndarray) -> None:
    """Checks that the operands broadcast (naming both shapes) and keeps their shapes,
    which backward sums the gradients back to. Operands of one shape (the common case)
    keep nothing: the op then sets no attribute on its node at all."""
    if a.shape != b.shape:
        broadcast_shape(a, b, ctx.name)
        ctx.shapes = (a.shape, b.shape)


def _kept_shapes(ctx) -> tuple:
    """The operands' shapes for ``unbroadcast``: (None, None) when they had one shape."""
    return getattr(ctx, "shapes", _SAME_SHAPES)


_SAME_SHAPES = (None, None)


# ---------------------------------------------------------------------------------------
# Sums
# ---------------------------------------------------------------------------------------


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        _keep_shapes(ctx, a, b)
        return np.add(a, b)

    @staticmethod
    def backward(ctx, dy):
        sa, sb = _kept_shapes(ctx)
        na, nb = ctx.needs_input_grad
        return (unbroadcast(dy, sa) if na else None, unbroadcast(dy, sb) if nb else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        _keep_shapes(ctx, a, b)
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, dy):
        da, db = Add.backward(ctx, dy)
        return da, (None if db is None else np.negative(db))


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, dy):
        return (np.negative(dy),)


# ---------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        _keep_shapes(ctx, a, b)
        na, nb = ctx.needs_input_grad
        # Each gradient needs only the other operand.
        ctx.save_for_backward(b if na else None, a if nb else None)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, dy):
        b, a = ctx.saved_tensors
        sa, sb = _kept_shapes(ctx)
        return (
            unbroadcast(dy * b, sa) if b is not None else None,
            unbroadcast(dy * a, sb) if a is not None else None,
        )


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        _keep_shapes(ctx, a, b)
        na, nb = ctx.needs_input_grad
        ctx.save_for_backward(b if (na or nb) else None)
        if nb:
            ctx.save_output()  # d(a/b)/db = -y / b
        return np.divide(a, b)

    @staticmethod
    def backward(ctx, dy):
        na, nb = ctx.needs_input_grad
        saved = ctx.saved_tensors
        b = saved[0]
        sa, sb = _kept_shapes(ctx)
        da = unbroadcast(dy / b, sa) if na else None
        db = unbroadcast(-dy * saved[1] / b, sb) if nb else None
        return da, db


class Pow(Function):
    """``a ** b``; the exponent's gradient ``y * log(a)`` is defined for ``a >= 0`` only."""

    @staticmethod
    def forward(ctx, a, b):
        _keep_shapes(ctx, a, b)
        na, nb = ctx.needs_input_grad
        if nb and np.any(a < 0):
            # log(a) is not real there: refuse instead of handing back NaN gradients.
            raise ValueError(
                f"pow: the gradient with respect to the exponent {b.shape} needs log(base), "
                f"but the base {a.shape} has negative elements; freeze the exponent or use "
                "a base >= 0"
            )
        # d/da = b * a**(b-1) uses a and b; d/db = y * log(a) uses a and y.
        ctx.save_for_backward(a if (na or nb) else None, b if na else None)
        if nb:
            ctx.save_output()
        return np.power(a, b)

    @staticmethod
    def backward(ctx, dy):
        na, nb = ctx.needs_input_grad
        saved = ctx.saved_tensors
        a, b = saved[0], saved[1]
        sa, sb = _kept_shapes(ctx)
        da = unbroadcast(dy * _pow_base_grad(a, b), sa) if na else None
        db = unbroadcast(dy * _pow_exponent_grad(a, saved[2]), sb) if nb else None
        return da, db


def _pow_base_grad(a, b):
    # 0 ** -1 is inf: the forward already warned about it, backward stays quiet.
    with np.errstate(divide="ignore", invalid="ignore"):
        g = b * np.power(a, b - 1)
    zero = b == 0
    # NOTE: a ** 0 is constant 1, so its slope is 0 even at a == 0 (b * 0**-1 is NaN there).
    return np.where(zero, 0, g) if np.any(zero) else g


def _pow_exponent_grad(a, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        g = y * np.log(a)
    zero = a == 0
    if not np.any(zero):
        return g
    # NOTE: 0 ** b is constant 0 for b > 0; torch also takes the slope at b == 0 as 0.
    # The exponent was not saved (only a and y were): rebuild "b >= 0" from y, which is
    # 0 (b > 0) or 1 (b == 0) where a == 0, and inf where b < 0.
    return np.where(zero & (y <= 1), 0, g)


# ---------------------------------------------------------------------------------------
# Exponentials and roots
# ---------------------------------------------------------------------------------------


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_output()  # d exp(x) = exp(x): the output is all backward needs
        return np.exp(x)

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        return (dy * y,)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return (dy / x,)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_output()  # d sqrt(x) = 1 / (2 sqrt(x))
        return np.sqrt(x)

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        return (dy / (y + y),)


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.source = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, dy):
        return (dy.astype(ctx.source),)


# ---------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------


def add(a: Any, b: Any) -> Tensor:
    """``a + b`` with broadcasting; Python numbers take the tensor's dtype."""
    y = tape.apply_binary(Add, a, b)  # two Tensors of one float dtype: no checks here
    return Add.apply(*float_operands(a, b, "add")) if y is None else y


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` with broadcasting."""
    y = tape.apply_binary(Sub, a, b)  # two Tensors of one float dtype: no checks here
    return Sub.apply(*float_operands(a, b, "sub")) if y is None else y


def mul(a: Any, b: Any) -> Tensor:
    """``a * b`` with broadcasting."""
    y = tape.apply_binary(Mul, a, b)  # two Tensors of one float dtype: no checks here
    return Mul.apply(*float_operands(a, b, "mul")) if y is None else y


def div(a: Any, b: Any) -> Tensor:
    """``a / b`` with broadcasting."""
    y = tape.apply_binary(Div, a, b)  # two Tensors of one float dtype: no checks here
    return Div.apply(*float_operands(a, b, "div")) if y is None else y


def neg(a: Tensor) -> Tensor:
    """``-a``."""
    return Neg.apply(float_operand(a, "neg"))


def pow(a: Any, b: Any) -> Tensor:
    """``a ** b`` with broadcasting: tensor ** number, number ** tensor or tensor ** tensor.

    The base's gradient is ``b * a ** (b - 1)`` (0 where ``b == 0``). The exponent's
    gradient is ``y * log(a)``, which exists for ``a > 0``; where ``a == 0`` it is taken
    as 0 for ``b >= 0`` (as torch does).

    Args:
        a: the base (Tensor or Python number).
        b: the exponent (Tensor or Python number).

    Returns:
        A Tensor of the broadcast shape.

    Raises:
        ValueError: the shapes do not broadcast, or the exponent needs a gradient while
            the base has negative elements (``log`` of a negative number is not real).
        TypeError: an operand is not a float tensor, or the float dtypes differ.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = pyfrozen.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = x ** 2
    >>> y.backward(np.ones(3, np.float32))
    >>> x.grad
    tensor([2., 4., 6.])
    """
    a, b = float_operands(a, b, "pow")
    return Pow.apply(a, b)


def exp(x: Tensor) -> Tensor:
    """``e ** x``, elementwise; saves its output for the gradient."""
    return Exp.apply(float_operand(x, "exp"))


def log(x: Tensor) -> Tensor:
    """Natural logarithm, elementwise; saves its input for the gradient ``1 / x``.

    As numpy: ``log(0)`` is ``-inf`` and a negative input gives NaN (with numpy's warning).
    """
    return Log.apply(float_operand(x, "log"))


def sqrt(x: Tensor) -> Tensor:
    """Square root, elementwise; saves its output for the gradient ``1 / (2 sqrt(x))``."""
    return Sqrt.apply(float_operand(x, "sqrt"))


def cast(a: Tensor, dtype: Any) -> Tensor:
    """``a`` converted to float32 or float64; the gradient is converted back."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"cast: target dtype {dtype} is not float32 or float64")
    a = tensor_operand(a, "cast")
    if a.data.dtype.kind != "f":
        return Tensor._wrap(a.data.astype(dtype))
    return Cast.apply(a, dtype=dtype)
