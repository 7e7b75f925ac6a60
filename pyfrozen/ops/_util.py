"""Helpers shared by the ops: operand checks, argument parsing, broadcasting, kernel counting.

Every public op validates its arguments with these, so one kind of mistake gets one
message everywhere: ``"<op>: <argument> must be ..., got ..."``, naming shapes and
dtypes where they matter.
"""

from __future__ import annotations

import math
from numbers import Number
from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.autograd import tape
from pyfrozen.tensor import Tensor

ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh")  # the core's fused epilogues
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# ---------------------------------------------------------------------------------------
# Operands
# ---------------------------------------------------------------------------------------


def tensor_operand(value: Any, op: str, what: str = "input") -> Tensor:
    """``value`` as a Tensor of any dtype; a numpy array is wrapped, not copied.

    Raises:
        TypeError: ``value`` is neither a Tensor nor a numpy array.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor._wrap(value)
    raise TypeError(f"{op}: {what} must be a Tensor, got {type(value).__name__}")


def _check_float(t: Tensor, op: str, what: str) -> Tensor:
    if t.data.dtype not in _FLOATS:
        raise TypeError(
            f"{op}: {what} must be float32 or float64, got {t.data.dtype} {t.shape}; "
            "convert with .astype(...)"
        )
    return t


def float_operand(value: Any, op: str, what: str = "input") -> Tensor:
    """``value`` (Tensor or numpy array) as a float32 / float64 Tensor, never converted.

    Raises:
        TypeError: ``value`` is not a Tensor or array, or not float32 / float64.
    """
    return _check_float(tensor_operand(value, op, what), op, what)


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
    """Both operands of a binary float op as Tensors; a Python number takes the other's dtype.

    Arrays are wrapped, not copied. Two float dtypes are never mixed: the tape refuses
    them, naming both.

    Raises:
        TypeError: an operand is of an unsupported type or not float32 / float64.
    """
    a = Tensor._wrap(a) if isinstance(a, np.ndarray) else a
    b = Tensor._wrap(b) if isinstance(b, np.ndarray) else b
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise TypeError(f"{op}: needs a Tensor operand, got {type(a).__name__} and "
                            f"{type(b).__name__}")
        a = as_tensor(a, b, op)
    elif not isinstance(b, Tensor):
        b = as_tensor(b, a, op)
    if a.data.dtype not in _FLOATS or b.data.dtype not in _FLOATS:
        raise TypeError(
            f"{op}: needs float operands, got {a.data.dtype} {a.shape} and {b.data.dtype} "
            f"{b.shape}; convert with .astype(...)"
        )
    return a, b


def nhwc_operand(value: Any, op: str) -> Tensor:
    """An image batch: a float Tensor of shape (batch, height, width, channels).

    Raises:
        ValueError: the input is not 4-D.
        TypeError: as :func:`float_operand`.
    """
    x = float_operand(value, op)
    if x.ndim != 4:
        raise ValueError(
            f"{op}: input must be 4-D (batch, height, width, channels), got shape {x.shape}"
        )
    return x


# ---------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------


def is_int(value: Any) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def int_pair(value: Any, op: str, what: str) -> tuple[int, int]:
    """An int or a pair of ints, each >= 1, as a pair (Keras's ``strides=2`` == ``(2, 2)``).

    Raises:
        TypeError: ``value`` is not an int or a pair of ints.
        ValueError: a value is < 1.
    """
    pair = (value, value) if is_int(value) else value
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(map(is_int, pair))):
        raise TypeError(f"{op}: {what} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{op}: {what} must be >= 1, got {value!r}")
    return int(pair[0]), int(pair[1])


def padding_name(padding: Any, op: str, allowed: tuple[str, ...] = ("valid", "same")) -> str:
    """Keras's padding names, case-insensitive; ValueError naming the choices otherwise."""
    if isinstance(padding, str) and padding.lower() in allowed:
        return padding.lower()
    choices = ", ".join(repr(a) for a in allowed)
    raise ValueError(f"{op}: padding must be {choices}, got {padding!r}")


def activation_name(activation: str | None, op: str) -> str:
    """A fused activation for the core: one of ``ACTIVATIONS``, or ``"none"`` for None."""
    if activation is None:
        return "none"
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{op}: unknown activation {activation!r} (expected one of {ACTIVATIONS} or None)"
        )
    return activation


# ---------------------------------------------------------------------------------------
# Arrays
# ---------------------------------------------------------------------------------------


def as_rows(a: np.ndarray) -> np.ndarray:
    """``a`` (..., k) as a C-contiguous (rows, k) matrix, a view when already contiguous.

    A 1-D array is one row and a 0-d array a 1 x 1 matrix: the core splits rows across
    threads, which is fine for the small vectors that are 1-D in practice.
    """
    a = np.ascontiguousarray(a)
    if a.ndim == 0:
        return a.reshape(1, 1)
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def broadcast_shape(a: np.ndarray, b: np.ndarray, op: str) -> None:
    """Raises ValueError naming both shapes if they do not broadcast."""
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    """Sums ``grad`` over the axes broadcasting added or stretched, back to ``shape``
    (None: the operand had the gradient's shape)."""
    if shape is None or grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    # An array even when every axis is summed (numpy would give a scalar).
    return np.asarray(grad.sum(axis=axes)).reshape(shape)


def count(kernel: str, pass_: str, work: int) -> None:
    """Counts a kernel run outside the core (gemm for a layer), only while tracing."""
    if tape.is_tracing():
        _core.count_kernel(kernel, pass_, int(work))
