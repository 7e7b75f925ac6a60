"""Helpers shared by the ops: operand conversion, broadcasting, kernel counting."""

from __future__ import annotations

from numbers import Number
from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.autograd import tape
from pyfrozen.tensor import Tensor


def as_tensor(value: Any, like: Tensor, op: str) -> Tensor:
    """``value`` as a Tensor: Python numbers take ``like``'s dtype (never a new dtype)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (Number, np.number, np.bool_)):
        return Tensor._wrap(np.asarray(value, dtype=like.data.dtype))
    if isinstance(value, np.ndarray):
        return Tensor._wrap(value)
    raise TypeError(f"{op}: unsupported operand type {type(value).__name__}")


def float_operands(a: Any, b: Any, op: str) -> tuple[Tensor, Tensor]:
    """Both operands of a binary float op as Tensors of one float dtype."""
    if not isinstance(a, Tensor):
        a = as_tensor(a, b, op)
    elif not isinstance(b, Tensor):
        b = as_tensor(b, a, op)
    if a.data.dtype.kind != "f" or b.data.dtype.kind != "f":
        raise TypeError(
            f"{op}: needs float operands, got {a.data.dtype} {a.shape} and {b.data.dtype} "
            f"{b.shape}; convert with .astype(...)"
        )
    return a, b


def broadcast_shape(a: np.ndarray, b: np.ndarray, op: str) -> None:
    """Raises ValueError naming both shapes if they do not broadcast."""
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sums ``grad`` over the axes broadcasting added or stretched, back to ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes).reshape(shape)


def count(kernel: str, pass_: str, work: int) -> None:
    """Counts a kernel run outside the core (gemm for a layer), only while tracing."""
    if tape.is_tracing():
        _core.count_kernel(kernel, pass_, int(work))
