"""Keras 3's ``losses.get`` / ``serialize`` / ``deserialize``, and ``resolve`` (the
``compile(loss=...)`` rule of ``keras/src/trainers/compile_utils.py``'s ``get_loss``)."""

from __future__ import annotations

import contextvars
import inspect
from typing import Any

from pyfrozen.losses.crossentropy import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
from pyfrozen.losses.divergence import Distillation, KLDivergence, distillation, kl_divergence
from pyfrozen.losses.loss import Loss, LossFunctionWrapper
from pyfrozen.losses.regression import (
    Huber,
    MeanAbsoluteError,
    MeanSquaredError,
    huber,
    mean_absolute_error,
    mean_squared_error,
)

ALL_OBJECTS = (
    Loss, LossFunctionWrapper, KLDivergence, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, MeanSquaredError, MeanAbsoluteError, Huber, Distillation,
    kl_divergence, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, mean_squared_error, mean_absolute_error, huber,
    distillation,
)
ALL_OBJECTS_DICT: dict[str, Any] = {obj.__name__: obj for obj in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({  # Keras 3's aliases
    "bce": binary_crossentropy, "BCE": binary_crossentropy,
    "kld": kl_divergence, "KLD": kl_divergence,
    "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mse": mean_squared_error, "MSE": mean_squared_error,
})

_MODULE = "pyfrozen.losses"
# The custom_objects of the deserialize call in progress, for the nested configs that
# from_config methods deserialize in turn (LossFunctionWrapper's fn).
_CUSTOM: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "custom", default=None)


def _unknown(identifier: Any) -> ValueError:
    names = ", ".join(sorted(ALL_OBJECTS_DICT, key=str.lower))
    return ValueError(f"Could not interpret loss identifier: {identifier!r}. Known names: "
                      f"{names}; or pass a Loss instance, a class, a callable or a config dict")


def serialize(loss: Any) -> Any:
    """A loss function or Loss instance as a JSON-able config (Keras 3's layout:
    ``{"module", "class_name", "config", "registered_name"}``)."""
    if loss is None:
        return None
    if isinstance(loss, Loss):
        return {"module": _MODULE, "class_name": type(loss).__name__,
                "config": loss.get_config(), "registered_name": None}
    if inspect.isfunction(loss):
        return {"module": _MODULE, "class_name": "function", "config": loss.__name__,
                "registered_name": "function"}
    raise ValueError(f"Cannot serialize loss {loss!r}: expected a Loss instance or a function")


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The loss function or Loss instance of a name or a ``serialize`` config.

    Args:
        config: a string name (class or function, or an alias such as ``"mse"``) or a dict.
        custom_objects: extra names for user classes and functions.

    Raises:
        ValueError: an unknown name (the known names are listed) or a malformed config.
    """
    custom = {**(_CUSTOM.get() or {}), **(custom_objects or {})}
    table = {**ALL_OBJECTS_DICT, **custom}
    if isinstance(config, str):
        if config not in table:
            raise _unknown(config)
        return table[config]
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not deserialize loss config {config!r}: expected a name or a "
                         "dict with 'class_name' and 'config'")
    name, inner = config["class_name"], config.get("config", {})
    if name == "function":
        return deserialize(inner, custom_objects)
    if name not in table or not inspect.isclass(table[name]):
        raise _unknown(name)
    token = _CUSTOM.set(custom)
    try:
        return table[name].from_config(dict(inner or {}))
    finally:
        _CUSTOM.reset(token)


def get(identifier: Any) -> Any:
    """Keras 3's ``losses.get``: None, a name, a config dict, a class, an instance or a
    callable, as a loss function or Loss instance.

    As in Keras, a lowercase name gives the *function* (``get("mse")`` is
    ``mean_squared_error``, which returns per-sample losses) and a class name an instance
    (``get("MeanSquaredError")``); :func:`resolve` always gives a reducing Loss.

    Raises:
        ValueError: the identifier is not understood (the known names are listed).
    """
    if identifier is None:
        return None
    if isinstance(identifier, (dict, str)):
        obj = deserialize(identifier)
    else:
        obj = identifier
    if not callable(obj):
        raise _unknown(identifier)
    return obj() if inspect.isclass(obj) else obj


def _shape(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    return tuple(value) if isinstance(value, (tuple, list)) else tuple(value.shape)


def resolve(identifier: Any, y_true: Any = None, y_pred: Any = None) -> Loss | None:
    """The Loss that ``compile(loss=identifier)`` uses (Keras 3's ``compile_utils.get_loss``).

    ``"crossentropy"`` / ``"ce"`` pick binary, sparse or categorical crossentropy from the
    shapes of ``y_true`` and ``y_pred`` (arrays, Tensors or shape tuples); a function is
    wrapped in a :class:`LossFunctionWrapper` named after the string (or the function).

    Returns:
        A Loss instance, or None for a None identifier (an output left untrained).
    """
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        true_shape, pred_shape = _shape(y_true), _shape(y_pred)
        if true_shape is None or pred_shape is None:
            raise ValueError(f"loss={identifier!r} needs the shapes of y_true and y_pred to "
                             "choose between binary, sparse and categorical crossentropy")
        obj = _pick_crossentropy(true_shape, pred_shape)
    else:
        obj = get(identifier)
    if isinstance(obj, Loss):
        return obj
    name = identifier if isinstance(identifier, str) else getattr(obj, "__name__", None)
    return LossFunctionWrapper(obj, name=name)


def is_binary_or_sparse_categorical(y_true_shape: tuple, y_pred_shape: tuple) -> tuple:
    """Keras 3's rule: (binary, sparse categorical) from the two shapes."""
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (
        y_true_shape[-1] == 1 and y_pred_shape[-1] > 1)
    return is_binary, is_sparse


def _pick_crossentropy(true_shape: tuple, pred_shape: tuple) -> Any:
    is_binary, is_sparse = is_binary_or_sparse_categorical(true_shape, pred_shape)
    if is_binary:
        return binary_crossentropy
    return sparse_categorical_crossentropy if is_sparse else categorical_crossentropy
