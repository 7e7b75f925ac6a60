"""Elementwise arithmetic with numpy broadcasting: add, sub, mul, div, neg, cast."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import broadcast_shape, float_operands, unbroadcast
from pyfrozen.tensor import Tensor

# ---------------------------------------------------------------------------------------
# Sums
# ---------------------------------------------------------------------------------------


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.shape != b.shape:
            broadcast_shape(a, b, "add")
        ctx.shapes = (a.shape, b.shape)
        return np.add(a, b)

    @staticmethod
    def backward(ctx, dy):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (unbroadcast(dy, sa) if na else None, unbroadcast(dy, sb) if nb else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.shape != b.shape:
            broadcast_shape(a, b, "sub")
        ctx.shapes = (a.shape, b.shape)
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, dy):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (unbroadcast(dy, sa) if na else None, unbroadcast(-dy, sb) if nb else None)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, dy):
        return (-dy,)


# ---------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.shape != b.shape:
            broadcast_shape(a, b, "mul")
        na, nb = ctx.needs_input_grad
        # Each gradient needs only the other operand.
        ctx.save_for_backward(b if na else None, a if nb else None)
        ctx.shapes = (a.shape, b.shape)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, dy):
        b, a = ctx.saved_tensors
        sa, sb = ctx.shapes
        return (
            unbroadcast(dy * b, sa) if b is not None else None,
            unbroadcast(dy * a, sb) if a is not None else None,
        )


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.shape != b.shape:
            broadcast_shape(a, b, "div")
        y = np.divide(a, b)
        na, nb = ctx.needs_input_grad
        ctx.save_for_backward(b if (na or nb) else None)
        if nb:
            ctx.save_output()  # d(a/b)/db = -y / b
        ctx.shapes = (a.shape, b.shape)
        return y

    @staticmethod
    def backward(ctx, dy):
        na, nb = ctx.needs_input_grad
        saved = ctx.saved_tensors
        b = saved[0]
        sa, sb = ctx.shapes
        da = unbroadcast(dy / b, sa) if na else None
        db = unbroadcast(-dy * saved[1] / b, sb) if nb else None
        return da, db


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
    a, b = float_operands(a, b, "add")
    return Add.apply(a, b)


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` with broadcasting."""
    a, b = float_operands(a, b, "sub")
    return Sub.apply(a, b)


def mul(a: Any, b: Any) -> Tensor:
    """``a * b`` with broadcasting."""
    a, b = float_operands(a, b, "mul")
    return Mul.apply(a, b)


def div(a: Any, b: Any) -> Tensor:
    """``a / b`` with broadcasting."""
    a, b = float_operands(a, b, "div")
    return Div.apply(a, b)


def neg(a: Tensor) -> Tensor:
    """``-a``."""
    return Neg.apply(a)


def cast(a: Tensor, dtype: Any) -> Tensor:
    """``a`` converted to float32 or float64; the gradient is converted back."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"cast: target dtype {dtype} is not float32 or float64")
    if a.data.dtype.kind != "f":
        return Tensor._wrap(a.data.astype(dtype))
    return Cast.apply(a, dtype=dtype)
