"""Embedding lookup: rows of a table gathered by integer indices.

Forward gathers rows (the core's ``gather_rows``); backward scatter-adds the output
gradient into a zero table (``scatter_add_rows``). Only the indices are saved, and
only when the table needs a gradient: the table itself is never kept. A freeze mask
that freezes whole rows of the table (``set_freeze_mask(rows, axis=0)``) is passed to
the scatter as ``frozen_rows``, so gradients of frozen rows cost nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.autograd import tape
from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import float_operand
from pyfrozen.tensor import Parameter, Tensor


class Embedding(Function):
    """``table[indices]`` for a (V, D) table; indices are a keyword (never differentiated)."""

    @staticmethod
    def forward(ctx, table, *, indices, frozen_rows=None):
        out = _core.gather_rows(np.ascontiguousarray(table), indices)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(indices)
            ctx.table_shape = table.shape
            ctx.frozen_rows = frozen_rows
        return out

    @staticmethod
    def backward(ctx, dy):
        (indices,) = ctx.saved_tensors
        dtable = np.zeros(ctx.table_shape, dtype=dy.dtype)  # frozen rows stay exactly 0
        _core.scatter_add_rows(
            np.ascontiguousarray(dy), indices, dtable, frozen_rows=ctx.frozen_rows
        )
        return (dtable,)


def _indices(indices: Any) -> np.ndarray:
    """Indices as a C-contiguous int64 array (a copy only when the dtype or layout differs)."""
    array = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"embedding: indices must be integers, got {array.dtype} {array.shape}"
        )
    return np.ascontiguousarray(array, dtype=np.int64)


def _frozen_rows(table: Tensor) -> np.ndarray | None:
    """Per-row frozen flags when the table's mask freezes whole rows, else None."""
    if not isinstance(table, Parameter) or table._frozen is None:
        return None
    if not (table.requires_grad and tape.is_grad_enabled()):  # no backward will run
        return None
    rows = table.trainable_index(0)
    if rows is None:  # an element mask: the tape zeroes the frozen elements
        return None
    frozen = np.ones(table.shape[0], dtype=np.bool_)
    frozen[rows] = False
    return frozen


def embedding(indices: Any, table: Tensor) -> Tensor:
    """Looks up rows of ``table``: ``out[..., :] = table[indices[...], :]``.

    The op of Keras's ``Embedding`` layer (torch's ``F.embedding``). Repeated indices
    add up their gradients. Only the indices are kept for backward.

    Freezing:
        A frozen table (``trainable=False``) records nothing. A freeze mask that
        freezes whole rows (``table.set_freeze_mask(rows, axis=0)`` or a (V, 1) mask)
        makes the backward scatter skip those rows entirely; their gradient is exactly 0.

    Args:
        indices: integer Tensor or array-like of any shape, values in [0, V). Do not
            change it in place before backward: it is saved without a copy when it is
            already C-contiguous int64.
        table: float Tensor or Parameter of shape (V, D).

    Returns:
        A Tensor of shape ``indices.shape + (D,)``.

    Raises:
        ValueError: ``table`` is not 2-D, or an index is outside [0, V) (named with
            its position).
        TypeError: ``indices`` are not integers, or ``table`` is not float.

    Example:

    >>> import numpy as np, pyfrozen
    >>> table = pyfrozen.Parameter(np.arange(6.0).reshape(3, 2))
    >>> pyfrozen.ops.embedding([[2, 0]], table).shape
    (1, 2, 2)
    """
    table = float_operand(table, "embedding", "table")
    if table.ndim != 2:
        raise ValueError(f"embedding: table must be 2-D (rows, dim), got shape {table.shape}")
    idx = _indices(indices)
    return Embedding.apply(table, indices=idx, frozen_rows=_frozen_rows(table))
