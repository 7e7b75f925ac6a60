"""Metrics with Keras 3's names, arguments and defaults (``keras.metrics``).

Metrics are stateful and computed on numpy values outside the tape (Tensors are read
through ``.data``): ``update_state(y_true, y_pred, sample_weight=None)`` accumulates,
``result()`` returns a Python float, ``reset_state()`` starts over.

Example:

>>> from pyfrozen import metrics
>>> m = metrics.SparseCategoricalAccuracy()
>>> m.update_state([2, 1], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
>>> m.result()
0.5
"""

from pyfrozen.metrics.accuracy_metrics import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from pyfrozen.metrics.auc import AUC
from pyfrozen.metrics.metric import Mean, MeanMetricWrapper, Metric, Sum
from pyfrozen.metrics.probabilistic_metrics import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    KLDivergence,
    SparseCategoricalCrossentropy,
)
from pyfrozen.metrics.registry import (
    ALL_OBJECTS_DICT,
    deserialize,
    get,
    resolve,
    resolve_accuracy,
    serialize,
)
from pyfrozen.metrics.regression_metrics import (
    MeanAbsoluteError,
    MeanSquaredError,
    mean_absolute_error,
    mean_squared_error,
)

__all__ = [
    "ALL_OBJECTS_DICT",
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "KLDivergence",
    "Mean",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "Sum",
    "TopKCategoricalAccuracy",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "deserialize",
    "get",
    "mean_absolute_error",
    "mean_squared_error",
    "resolve",
    "resolve_accuracy",
    "serialize",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]
