"""Accuracy metrics (Keras 3's ``accuracy_metrics.py``), in numpy.

Each function returns per-sample (or per-element) matches as floats; its class is the
running weighted mean of them. Top-k accuracy counts ties at the k-th value as hits,
as Keras's ``in_top_k`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.metrics.metric import BuiltinMeanMetric, squeeze_or_expand_to_same_rank, to_array


def accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample mean over the last axis of ``y_true == y_pred`` (Keras's ``accuracy``)."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(to_array(y_true), to_array(y_pred))
    _check_shapes(y_true, y_pred, "accuracy")
    return (y_true == y_pred).astype(np.float64).mean(axis=-1)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """Per-sample mean over the last axis of ``y_true == (y_pred > threshold)``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(to_array(y_true), to_array(y_pred))
    _check_shapes(y_true, y_pred, "binary_accuracy")
    hits = y_true.astype(np.float64) == (y_pred > threshold)
    return hits.astype(np.float64).mean(axis=-1)


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Whether the argmax of one-hot ``y_true`` equals the argmax of ``y_pred``."""
    y_true, y_pred = to_array(y_true), to_array(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"categorical_accuracy: y_true shape {y_true.shape} does not match y_pred shape "
            f"{y_pred.shape}; for integer labels use sparse_categorical_accuracy"
        )
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def _sparse_labels(y_true: Any, y_pred: np.ndarray, where: str) -> np.ndarray:
    labels = to_array(y_true)
    if labels.ndim == y_pred.ndim and labels.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"{where}: y_true shape {to_array(y_true).shape} does not match y_pred shape "
            f"{y_pred.shape}: expected class indices of shape {y_pred.shape[:-1]}"
        )
    return labels


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Whether the integer label equals the argmax of ``y_pred``."""
    y_pred = to_array(y_pred)
    labels = _sparse_labels(y_true, y_pred, "sparse_categorical_accuracy")
    return (labels == np.argmax(y_pred, axis=-1)).astype(np.float64)


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int, where: str) -> np.ndarray:
    classes = y_pred.shape[-1]
    labels = labels.astype(np.int64)
    if np.any((labels < 0) | (labels >= classes)):
        bad = int(labels[(labels < 0) | (labels >= classes)][0])
        raise ValueError(f"{where}: label {bad} is outside the valid range [0, {classes}) "
                         f"for y_pred shape {y_pred.shape}")
    k = min(int(k), classes)
    kth = np.partition(y_pred, classes - k, axis=-1)[..., classes - k]
    target = np.take_along_axis(y_pred, labels[..., None], axis=-1)[..., 0]
    return (target >= kth).astype(np.float64)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """Whether the one-hot label's class is among the ``k`` highest scores."""
    y_true, y_pred = to_array(y_true), to_array(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"top_k_categorical_accuracy: y_true shape {y_true.shape} does not "
                         f"match y_pred shape {y_pred.shape}")
    return _in_top_k(np.argmax(y_true, axis=-1), y_pred, k, "top_k_categorical_accuracy")


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """Whether the integer label is among the ``k`` highest scores."""
    where = "sparse_top_k_categorical_accuracy"
    y_pred = to_array(y_pred)
    return _in_top_k(_sparse_labels(y_true, y_pred, where), y_pred, k, where)


def _check_shapes(y_true: np.ndarray, y_pred: np.ndarray, where: str) -> None:
    try:
        np.broadcast_shapes(y_true.shape, y_pred.shape)
    except ValueError:
        raise ValueError(f"{where}: y_true shape {y_true.shape} does not match y_pred shape "
                         f"{y_pred.shape}") from None


class Accuracy(BuiltinMeanMetric):
    """How often predictions equal labels (Keras's ``Accuracy``).

    Example:

    >>> from pyfrozen import metrics
    >>> metrics.Accuracy()([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    0.75
    """

    def __init__(self, name: str = "accuracy", dtype: Any = None) -> None:
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(BuiltinMeanMetric):
    """How often ``y_pred > threshold`` equals the binary label (Keras's ``BinaryAccuracy``).

    Example:

    >>> from pyfrozen import metrics
    >>> metrics.BinaryAccuracy()([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    0.75
    """

    def __init__(self, name: str = "binary_accuracy", dtype: Any = None,
                 threshold: float = 0.5) -> None:
        if threshold is not None and not 0 < threshold < 1:
            raise ValueError("Invalid value for argument `threshold`. Expected a value in "
                             f"interval (0, 1). Received: threshold={threshold}")
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(BuiltinMeanMetric):
    """How often the argmax of the one-hot label equals that of ``y_pred``.

    Example:

    >>> from pyfrozen import metrics
    >>> metrics.CategoricalAccuracy()([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    0.5
    """

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(BuiltinMeanMetric):
    """How often the integer label equals the argmax of ``y_pred``.

    Example:

    >>> from pyfrozen import metrics
    >>> metrics.SparseCategoricalAccuracy()([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    0.5
    """

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(BuiltinMeanMetric):
    """How often the one-hot label's class is among the top ``k`` predictions.

    Example:

    >>> from pyfrozen import metrics
    >>> metrics.TopKCategoricalAccuracy(k=1)([[0, 0, 1], [0, 1, 0]],
    ...                                      [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    0.5
    """

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy",
                 dtype: Any = None) -> None:
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(BuiltinMeanMetric):
    """How often the integer label is among the top ``k`` predictions.

    Example:

    >>> from pyfrozen import metrics
    >>> metrics.SparseTopKCategoricalAccuracy(k=1)([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    0.5
    """

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy",
                 dtype: Any = None) -> None:
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k
