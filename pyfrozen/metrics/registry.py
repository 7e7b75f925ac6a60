"""Keras 3's ``metrics.get`` / ``serialize`` / ``deserialize``, and the compile-time
choice of the accuracy that fits a loss and output (``compile_utils.get_metric``)."""

from __future__ import annotations

import inspect
from typing import Any

from pyfrozen import losses
from pyfrozen.metrics import accuracy_metrics as _acc
from pyfrozen.metrics import probabilistic_metrics as _prob
from pyfrozen.metrics import regression_metrics as _reg
from pyfrozen.metrics.auc import AUC
from pyfrozen.metrics.metric import Mean, MeanMetricWrapper, Metric, Sum, to_snake_case

CLASSES = (
    Metric, Mean, Sum, MeanMetricWrapper, AUC, _acc.Accuracy, _acc.BinaryAccuracy,
    _acc.CategoricalAccuracy, _acc.SparseCategoricalAccuracy, _acc.TopKCategoricalAccuracy,
    _acc.SparseTopKCategoricalAccuracy, _reg.MeanSquaredError, _reg.MeanAbsoluteError,
    _prob.BinaryCrossentropy, _prob.CategoricalCrossentropy, _prob.SparseCategoricalCrossentropy,
    _prob.KLDivergence,
)
FUNCTIONS = (
    _acc.accuracy, _acc.binary_accuracy, _acc.categorical_accuracy,
    _acc.sparse_categorical_accuracy, _acc.top_k_categorical_accuracy,
    _acc.sparse_top_k_categorical_accuracy, _reg.mean_squared_error, _reg.mean_absolute_error,
)
# As Keras 3: class names and their snake_case spellings name classes ("accuracy" is
# Accuracy, "auc" is AUC); the short aliases too. "acc" is ours (compile's spelling).
ALL_OBJECTS_DICT: dict[str, Any] = {cls.__name__: cls for cls in CLASSES}
ALL_OBJECTS_DICT.update({to_snake_case(cls.__name__): cls for cls in CLASSES})
ALL_OBJECTS_DICT.update({
    "mse": _reg.MeanSquaredError, "MSE": _reg.MeanSquaredError,
    "mae": _reg.MeanAbsoluteError, "MAE": _reg.MeanAbsoluteError, "acc": _acc.Accuracy,
    "bce": _prob.BinaryCrossentropy, "BCE": _prob.BinaryCrossentropy,
})
_FUNCTIONS = {fn.__name__: fn for fn in FUNCTIONS}
_MODULE = "pyfrozen.metrics"


def _unknown(identifier: Any) -> ValueError:
    names = ", ".join(sorted(ALL_OBJECTS_DICT, key=str.lower))
    return ValueError(f"Could not interpret metric identifier: {identifier!r}. Known names: "
                      f"{names}; or pass a Metric instance, a class, a function or a config")


def serialize_function(fn: Any) -> Any:
    return {"module": _MODULE, "class_name": "function", "config": fn.__name__,
            "registered_name": "function"}


def deserialize_function(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    name = config["config"] if isinstance(config, dict) else config
    table = {**_FUNCTIONS, **losses.ALL_OBJECTS_DICT, **(custom_objects or {})}
    if name not in table:
        raise _unknown(name)
    return table[name]


def serialize(metric: Any) -> Any:
    """A Metric (or metric function) as a JSON-able config, Keras 3's layout."""
    if isinstance(metric, Metric):
        return {"module": _MODULE, "class_name": type(metric).__name__,
                "config": metric.get_config(), "registered_name": None}
    if inspect.isfunction(metric):
        return serialize_function(metric)
    raise ValueError(f"Cannot serialize metric {metric!r}")


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The Metric class or instance, or metric function, of a name or config."""
    table = {**ALL_OBJECTS_DICT, **(custom_objects or {})}
    if isinstance(config, str):
        if config not in table:
            raise _unknown(config)
        return table[config]
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not deserialize metric config {config!r}")
    name, inner = config["class_name"], config.get("config", {})
    if name == "function":
        return deserialize_function(inner, custom_objects)
    if name not in table:
        raise _unknown(name)
    return table[name].from_config(dict(inner or {}))


def get(identifier: Any) -> Any:
    """Keras 3's ``metrics.get``: None, a name, a config, a class, an instance or a
    function. Names give instances (``get("accuracy")`` is a generic ``Accuracy``;
    ``compile`` picks the accuracy that fits with :func:`resolve_accuracy`).

    Raises:
        ValueError: the identifier is not understood (the known names are listed).
    """
    if identifier is None:
        return None
    obj = deserialize(identifier) if isinstance(identifier, (dict, str)) else identifier
    if not callable(obj):
        raise _unknown(identifier)
    if inspect.isclass(obj):
        obj = obj(name=identifier) if identifier in ("acc", "accuracy") else obj()
    return obj


_SPARSE = (losses.SparseCategoricalCrossentropy, losses.sparse_categorical_crossentropy,
           "sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")
_BINARY = (losses.BinaryCrossentropy, losses.binary_crossentropy, "binary_crossentropy",
           "BinaryCrossentropy", "bce", "BCE")


def _loss_kind(loss: Any) -> str | None:
    fn = getattr(loss, "fn", None)  # a LossFunctionWrapper: judge by its function
    for candidate in (loss, fn, type(loss)):
        if any(candidate is k or (isinstance(k, str) and candidate == k) for k in _SPARSE):
            return "sparse"
        if any(candidate is k or (isinstance(k, str) and candidate == k) for k in _BINARY):
            return "binary"
    return None


def resolve_accuracy(loss: Any, output_shape: Any, y_true_shape: Any = None,
                     name: str = "accuracy") -> Metric:
    """The accuracy metric that ``metrics=["accuracy"]`` (or ``"acc"``) means in compile.

    With the label shape known, Keras 3's rule (``compile_utils.get_metric``): binary when
    the output's last axis is 1, sparse categorical when the labels have fewer axes than
    the output (or a last axis of 1 against several classes), else categorical. Without
    it (at compile time), the loss decides as in tf.keras: binary for a one-unit output or a
    binary crossentropy, sparse for a sparse categorical crossentropy, else categorical.

    Args:
        loss: the output's loss (instance, class, function or string), or None.
        output_shape: the model output's shape (the batch axis may be None).
        y_true_shape: the labels' shape, when known.
        name: the metric's name (Keras uses the string given: "accuracy" or "acc").
    """
    output_shape = tuple(output_shape)
    if y_true_shape is not None:
        is_binary, is_sparse = losses.is_binary_or_sparse_categorical(tuple(y_true_shape),
                                                                      output_shape)
    else:
        kind = _loss_kind(loss)
        is_binary = output_shape[-1] == 1 or kind == "binary"
        is_sparse = kind == "sparse"
    if is_binary:
        return _acc.BinaryAccuracy(name=name)
    if is_sparse:
        return _acc.SparseCategoricalAccuracy(name=name)
    return _acc.CategoricalAccuracy(name=name)


def resolve(identifier: Any, y_true: Any = None, y_pred: Any = None) -> Metric | None:
    """The Metric that ``compile(metrics=[identifier])`` uses (Keras 3's ``get_metric``):
    ``"accuracy"`` / ``"acc"`` chosen from the shapes of ``y_true`` and ``y_pred`` (arrays,
    Tensors or shape tuples), functions wrapped in a MeanMetricWrapper, the string given
    as the name."""
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        if y_true is None or y_pred is None:
            raise ValueError(f"metric {identifier!r} needs the shapes of y_true and y_pred")
        shape = lambda v: tuple(v) if isinstance(v, (tuple, list)) else tuple(v.shape)  # noqa: E731
        return resolve_accuracy(None, shape(y_pred), shape(y_true), name=identifier)
    obj = get(identifier)
    if not isinstance(obj, Metric):
        obj = MeanMetricWrapper(obj)
    obj.name = identifier if isinstance(identifier, str) else obj.name
    return obj
