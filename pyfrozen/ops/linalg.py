"""Matrix products: matmul and the fused dense layer op (x @ W + b, activation).

Both call the core's GEMM. With W frozen they keep W (for the input gradient) and
drop x; with x needing no gradient they keep x and not W; a freeze mask that freezes
whole columns or rows of W limits the weight-gradient GEMM to the trainable part.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import (
    activation_name,
    as_rows,
    count,
    float_operand,
    float_operands,
    unbroadcast,
)
from pyfrozen.tensor import Parameter, Tensor

# ---------------------------------------------------------------------------------------
# matmul
# ---------------------------------------------------------------------------------------


class MatMul(Function):
    """``a @ b`` as numpy's matmul: batched when either operand has more than 2 axes."""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:  # as numpy and torch: a scalar is not a matrix
            raise ValueError(f"matmul: both operands need at least one axis, got shapes "
                             f"{a.shape} and {b.shape} (multiply by a scalar with mul or *)")
        ka = a.shape[-1]
        kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if ka != kb:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align")
        na, nb = ctx.needs_input_grad
        ctx.save_for_backward(b if na else None, a if nb else None)
        ctx.shapes = (a.shape, b.shape)
        if b.ndim == 2 and a.ndim >= 2:
            count("matmul", "forward", math.prod(a.shape[:-1]) * b.shape[1] * ka)
            return _core.gemm(as_rows(a), b).reshape(*a.shape[:-1], b.shape[1])
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, dy):
        b, a = ctx.saved_tensors
        sa, sb = ctx.shapes
        if len(sb) == 2 and len(sa) >= 2:
            dy2 = as_rows(dy)
            da = db = None
            if b is not None:
                count("matmul", "backward_input", dy2.shape[0] * sb[0] * sb[1])
                da = _core.gemm(dy2, b, trans_b=True).reshape(sa)
            if a is not None:
                count("matmul", "backward_weight", dy2.shape[0] * sb[0] * sb[1])
                db = _core.gemm(as_rows(a), dy2, trans_a=True)
            return da, db
        return _matmul_backward_general(dy, a, b, sa, sb)


def _matmul_backward_general(dy, a, b, sa, sb):
    # Promote vectors to matrices as numpy does, then undo the promotion.
    a2 = None if a is None else (a[None, :] if a.ndim == 1 else a)
    b2 = None if b is None else (b[:, None] if b.ndim == 1 else b)
    dy2 = dy
    if len(sb) == 1:  # first: with two vectors dy is 0-d and has no axis -2 yet
        dy2 = np.expand_dims(dy2, -1)
    if len(sa) == 1:
        dy2 = np.expand_dims(dy2, -2)
    da = db = None
    if b2 is not None:
        da = np.matmul(dy2, np.swapaxes(b2, -1, -2))
        da = unbroadcast(da, (1, *sa) if len(sa) == 1 else sa).reshape(sa)
    if a2 is not None:
        db = np.matmul(np.swapaxes(a2, -1, -2), dy2)
        db = unbroadcast(db, (*sb, 1) if len(sb) == 1 else sb).reshape(sb)
    return da, db


def matmul(a: Any, b: Any) -> Tensor:
    """``a @ b`` (numpy semantics); raises ValueError naming both shapes if they do not align."""
    a, b = float_operands(a, b, "matmul")
    return MatMul.apply(a, b)


# ---------------------------------------------------------------------------------------
# dense
# ---------------------------------------------------------------------------------------


class Dense(Function):
    """``activation(x @ kernel + bias)`` for x (..., in), kernel (in, out), bias (out,)."""

    @staticmethod
    def forward(ctx, x, kernel, bias=None, *, activation="none", columns=None, rows=None):
        nx, nk = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        x2 = as_rows(x)
        y = _core.gemm(x2, kernel)
        count("dense", "forward", x2.shape[0] * kernel.shape[0] * kernel.shape[1])
        if activation != "none" or bias is not None:
            _core.bias_act_forward(y, bias, out=y, activation=activation)
        ctx.save_for_backward(x2 if nk else None, kernel if nx else None)
        if activation != "none":
            ctx.save_output()
        ctx.x_shape = x.shape
        ctx.activation = activation
        ctx.limits = (columns, rows)
        return y.reshape(*x.shape[:-1], kernel.shape[1])

    @staticmethod
    def backward(ctx, dy):
        needs = ctx.needs_input_grad
        saved = ctx.saved_tensors
        x2, kernel = saved[0], saved[1]
        dy2 = as_rows(dy)
        db = None
        need_db = len(needs) > 2 and needs[2]
        if ctx.activation != "none":
            dy2, db = _core.bias_act_backward(
                dy2, as_rows(saved[2]), activation=ctx.activation, need_dbias=need_db
            )
        elif need_db:
            _, db = _core.bias_act_backward(dy2, dy2, activation="none", need_dx=False)
        dx = dw = None
        if needs[0]:
            count("dense", "backward_input", dy2.shape[0] * kernel.shape[0] * kernel.shape[1])
            dx = _core.gemm(dy2, kernel, trans_b=True).reshape(ctx.x_shape)
        if needs[1]:
            dw = _dense_weight_grad(x2, dy2, *ctx.limits)
        return (dx, dw) if len(needs) == 2 else (dx, dw, db)


def _dense_weight_grad(x2, dy2, columns, rows):
    shape = (x2.shape[1], dy2.shape[1])
    if columns is None and rows is None:
        return _core.dense_backward_weight(x2, dy2, np.empty(shape, x2.dtype))
    dw = np.zeros(shape, x2.dtype)  # frozen slices stay exactly 0
    if columns is not None:
        return _core.dense_backward_weight(x2, dy2, dw, columns=columns)
    return _core.dense_backward_weight(x2, dy2, dw, rows=rows)


def dense(
    x: Any, kernel: Tensor, bias: Tensor | None = None, activation: str | None = None
) -> Tensor:
    """``activation(x @ kernel + bias)``, the Dense layer's op, fused into one node.

    Args:
        x: input (..., in).
        kernel: (in, out); a Parameter whose freeze mask freezes whole columns (output
            units) or rows (input features) gets its gradient computed only there.
        bias: optional (out,).
        activation: None, "relu", "relu6", "sigmoid" or "tanh".
    """
    act = activation_name(activation, "dense")
    x, kernel = float_operands(x, kernel, "dense")
    if kernel.ndim != 2 or x.ndim < 1 or x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"dense: input {x.shape} does not match kernel {kernel.shape}")
    if bias is not None:
        bias = float_operand(bias, "dense", "bias")
    if bias is not None and bias.shape != (kernel.shape[1],):
        raise ValueError(f"dense: bias {bias.shape} does not match kernel {kernel.shape}")
    columns = rows = None
    if isinstance(kernel, Parameter) and kernel._frozen is not None:
        columns = kernel.trainable_index(1)
        if columns is None:
            rows = kernel.trainable_index(0)
    inputs = (x, kernel) if bias is None else (x, kernel, bias)
    return Dense.apply(*inputs, activation=act, columns=columns, rows=rows)
