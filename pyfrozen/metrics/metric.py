"""The Metric base class and Keras 3's reduction metrics: Mean, Sum, MeanMetricWrapper.

Metrics are computed outside the tape, on numpy values: a Tensor argument is read
through its ``.data``. They are stateful as in Keras: ``update_state`` accumulates,
``result`` reads (a Python float), ``reset_state`` starts over. State is kept in float64
(Keras keeps float32 variables), so results equal Keras's to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pyfrozen.losses.loss import squeeze_or_expand_to_same_rank, to_snake_case
from pyfrozen.tensor import Tensor

__all__ = ["Mean", "MeanMetricWrapper", "Metric", "Sum", "reduce_to_samplewise_values",
           "squeeze_or_expand_to_same_rank", "to_array", "to_snake_case"]


def to_array(value: Any) -> np.ndarray:
    """A metric input as a numpy array: Tensors give their ``.data`` (no copy)."""
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def reduce_to_samplewise_values(values: Any, sample_weight: Any, reduce_fn: Callable,
                                where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Keras 3's ``reduce_to_samplewise_values``: values weighted and reduced to one per
    sample (axis 0), and the weights reduced alike."""
    values = to_array(values).astype(np.float64)
    if sample_weight is not None:
        weight = to_array(sample_weight).astype(np.float64)
        values, weight = squeeze_or_expand_to_same_rank(values, weight)
        if values.ndim > weight.ndim:
            values = reduce_fn(values, axis=tuple(range(weight.ndim, values.ndim)))
        try:
            weight = np.broadcast_to(weight, values.shape)
        except ValueError:
            raise ValueError(f"{where}: sample_weight of shape {weight.shape} does not "
                             f"broadcast to values of shape {values.shape}") from None
        values = values * weight
        if weight.ndim > 1:
            weight = reduce_fn(weight, axis=tuple(range(1, weight.ndim)))
        sample_weight = weight
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Metric:
    """Metric base class (Keras 3's ``keras.metrics.Metric``).

    Subclasses implement ``update_state(y_true, y_pred, sample_weight=None)``,
    ``result()`` and ``reset_state()``; calling a metric updates it and returns the result.

    Args:
        name: the metric's name (default: the class name in snake case).
        dtype: the result's dtype in ``get_config`` (Keras's floatx, float32, by default).

    ``state_names`` lists the attributes (floats or arrays) that add up over batches:
    a data-parallel strategy adds them over ranks for the global result. A metric
    without them is averaged over ranks by its result instead.
    """

    state_names: tuple[str, ...] = ()

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or to_snake_case(type(self).__name__)
        self._dtype = np.dtype(dtype or "float32").name

    @property
    def dtype(self) -> str:
        return self._dtype

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state")

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Sum(Metric):
    """The (weighted) sum of the values given (Keras's ``Sum``).

    Example:

    >>> from pyfrozen import metrics
    >>> m = metrics.Sum()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> m.result()
    4.0
    """

    state_names = ("total",)

    def __init__(self, name: str = "sum", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values, _ = reduce_to_samplewise_values(values, sample_weight, np.sum, self.name)
        self.total += float(np.sum(values))

    def reset_state(self) -> None:
        self.total = 0.0

    def result(self) -> float:
        return float(self.total)


class Mean(Metric):
    """The (weighted) mean of the values given (Keras's ``Mean``): the total over the
    count of samples, or over the sum of the sample weights.

    Example:

    >>> from pyfrozen import metrics
    >>> m = metrics.Mean()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> m.result()
    2.0
    """

    state_names = ("total", "count")

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values, weight = reduce_to_samplewise_values(values, sample_weight, np.mean, self.name)
        self.total += float(np.sum(values))
        if weight is not None:
            self.count += float(np.sum(weight))
        else:
            self.count += values.shape[0] if values.ndim else 1

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0  # Keras's divide_no_nan


class MeanMetricWrapper(Mean):
    """A Mean over the per-sample values of ``fn(y_true, y_pred, **kwargs)`` (Keras's
    ``MeanMetricWrapper``); ``fn`` may return a Tensor.

    Args:
        fn: the metric function.
        name, dtype: as :class:`Metric` (name defaults to ``fn.__name__``).
        **kwargs: passed to ``fn``.
    """

    def __init__(self, fn: Callable, name: str | None = None, dtype: Any = None,
                 **kwargs: Any) -> None:
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: fn must be callable, got {fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", "mean_metric_wrapper"),
                         dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        # arrays, not Tensors: a loss function used as a metric records nothing on the tape
        values = self._fn(to_array(y_true), to_array(y_pred), **self._fn_kwargs)
        super().update_state(to_array(values), sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        from pyfrozen.metrics.registry import serialize_function  # it imports this module

        return {**super().get_config(), "fn": serialize_function(self._fn), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        from pyfrozen.metrics.registry import deserialize_function

        config = dict(config)
        config["fn"] = deserialize_function(config["fn"])
        return cls(**config)


class BuiltinMeanMetric(MeanMetricWrapper):
    """A Keras metric class over a fixed function: its config is its own arguments."""

    def get_config(self) -> dict[str, Any]:
        return {**Metric.get_config(self), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)
