"""Regression metrics: Keras's MeanSquaredError and MeanAbsoluteError, in numpy."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.metrics.metric import BuiltinMeanMetric, squeeze_or_expand_to_same_rank, to_array


def _difference(y_true: Any, y_pred: Any, where: str) -> np.ndarray:
    y_pred = to_array(y_pred).astype(np.float64)
    y_true = to_array(y_true).astype(np.float64)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{where}: y_true shape {y_true.shape} does not match y_pred shape "
                         f"{y_pred.shape}")
    return y_true - y_pred


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample ``mean(square(y_true - y_pred), axis=-1)``."""
    return np.square(_difference(y_true, y_pred, "mean_squared_error")).mean(axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample ``mean(abs(y_true - y_pred), axis=-1)``."""
    return np.abs(_difference(y_true, y_pred, "mean_absolute_error")).mean(axis=-1)


class MeanSquaredError(BuiltinMeanMetric):
    """The running mean of the squared error (Keras's metric).

    Example:

    >>> from pyfrozen import metrics
    >>> metrics.MeanSquaredError()([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    0.25
    """

    def __init__(self, name: str = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(BuiltinMeanMetric):
    """The running mean of the absolute error (Keras's metric).

    Example:

    >>> from pyfrozen import metrics
    >>> metrics.MeanAbsoluteError()([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    0.25
    """

    def __init__(self, name: str = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(mean_absolute_error, name=name, dtype=dtype)
