"""Regression losses: mean squared error (the fused core op), mean absolute error and
Huber (composed from ops), with Keras 3's classes, functions and defaults. Each
per-sample loss is the mean over the last axis."""

from __future__ import annotations

from typing import Any

from pyfrozen import ops
from pyfrozen.losses._util import absolute, check_same_shape, reduce
from pyfrozen.losses.loss import (
    BuiltinLoss,
    as_prediction,
    as_target,
    squeeze_or_expand_to_same_rank,
)
from pyfrozen.tensor import Tensor


def _operands(y_true: Any, y_pred: Any, where: str) -> tuple[Tensor, Tensor]:
    """y_pred and y_true of its dtype and shape (Keras's squeeze-or-expand rule first)."""
    y_pred = as_prediction(y_pred, None, where)
    target = as_target(y_true, y_pred, where)
    target, y_pred = squeeze_or_expand_to_same_rank(target, y_pred)
    check_same_shape(target, y_pred, where)
    if y_pred.ndim == 0:
        raise ValueError(f"{where}: y_pred must have at least one axis, got shape ()")
    return target, y_pred


def _mse(y_true, y_pred, reduction):
    target, y_pred = _operands(y_true, y_pred, "mean_squared_error")
    return ops.mean_squared_error(y_pred, target, reduction=reduction)


def _mae(y_true, y_pred, reduction):
    target, y_pred = _operands(y_true, y_pred, "mean_absolute_error")
    return reduce(ops.mean(absolute(ops.sub(y_pred, target)), axis=-1), reduction)


def _huber(y_true, y_pred, reduction, delta=1.0):
    target, y_pred = _operands(y_true, y_pred, "huber")
    delta = float(delta)
    error = absolute(ops.sub(y_pred, target))
    # q = min(|e|, delta); 0.5 q^2 + delta (|e| - q) is Keras's two branches in one formula
    q = ops.sub(delta, ops.relu(ops.sub(delta, error)))
    loss = ops.add(ops.mul(ops.mul(q, q), 0.5), ops.mul(ops.sub(error, q), delta))
    return reduce(ops.mean(loss, axis=-1), reduction)


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """Per-sample ``mean(square(y_true - y_pred), axis=-1)`` (Keras's ``mean_squared_error``)."""
    return _mse(y_true, y_pred, "none")


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """Per-sample ``mean(abs(y_true - y_pred), axis=-1)`` (Keras's ``mean_absolute_error``)."""
    return _mae(y_true, y_pred, "none")


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Tensor:
    """Per-sample Huber loss (Keras's ``huber``): for each error ``x``,
    ``0.5 x^2`` where ``|x| <= delta`` and ``delta |x| - 0.5 delta^2`` elsewhere, then the
    mean over the last axis."""
    return _huber(y_true, y_pred, "none", delta)


mean_squared_error._reduced = _mse
mean_absolute_error._reduced = _mae
huber._reduced = _huber


class MeanSquaredError(BuiltinLoss):
    """Mean of squared errors (Keras's class); fused loss and gradient in one core call.

    Example:

    >>> from pyfrozen import losses
    >>> losses.MeanSquaredError()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]).item()
    0.5
    """

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(BuiltinLoss):
    """Mean of absolute errors (Keras's class).

    Example:

    >>> from pyfrozen import losses
    >>> losses.MeanAbsoluteError()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]).item()
    0.5
    """

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


class Huber(BuiltinLoss):
    """Huber loss (Keras's class): quadratic for errors up to ``delta``, linear beyond.

    Args:
        delta: where the loss turns from quadratic to linear.
        reduction, name, dtype: as :class:`pyfrozen.losses.Loss`.

    Example:

    >>> from pyfrozen import losses
    >>> round(losses.Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).item(), 3)
    0.155
    """

    def __init__(self, delta: float = 1.0, reduction: str | None = "sum_over_batch_size",
                 name: str = "huber_loss", dtype: Any = None) -> None:
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)
        self.delta = delta
