"""Probabilistic metrics: Keras's crossentropy and KL-divergence metrics, the running
weighted mean of the loss functions' per-sample values (computed on numpy values, so
nothing is recorded on the tape)."""

from __future__ import annotations

from typing import Any

from pyfrozen import losses
from pyfrozen.metrics.metric import BuiltinMeanMetric


class BinaryCrossentropy(BuiltinMeanMetric):
    """The mean binary crossentropy (Keras's metric of the same name)."""

    def __init__(self, name: str = "binary_crossentropy", dtype: Any = None,
                 from_logits: bool = False, label_smoothing: float = 0.0) -> None:
        super().__init__(losses.binary_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(BuiltinMeanMetric):
    """The mean categorical crossentropy (Keras's metric of the same name)."""

    def __init__(self, name: str = "categorical_crossentropy", dtype: Any = None,
                 from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1) -> None:
        super().__init__(losses.categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(BuiltinMeanMetric):
    """The mean sparse categorical crossentropy (Keras's metric of the same name).

    Example:

    >>> from pyfrozen import metrics
    >>> m = metrics.SparseCategoricalCrossentropy()
    >>> round(m([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]), 4)
    1.1769
    """

    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype: Any = None,
                 from_logits: bool = False, axis: int = -1) -> None:
        super().__init__(losses.sparse_categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, axis=axis)


class KLDivergence(BuiltinMeanMetric):
    """The mean Kullback-Leibler divergence (Keras's metric of the same name)."""

    def __init__(self, name: str = "kl_divergence", dtype: Any = None) -> None:
        super().__init__(losses.kl_divergence, name=name, dtype=dtype)
