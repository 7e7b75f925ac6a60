"""Optimizers with Keras 3's names and arguments, on the core's fused masked updates.

``get("adam")``, ``get({"class_name": "SGD", "config": {...}})`` or an instance;
``serialize`` / ``deserialize`` as Keras. Schedules: ``pyfrozen.optimizers.schedules``.
Per-layer rates: ``lr_multipliers`` (see ``pyfrozen.optimizers.lr_multipliers``).
"""

from __future__ import annotations

from typing import Any

from pyfrozen.optimizers import schedules
from pyfrozen.optimizers.adam import Adam
from pyfrozen.optimizers.adamw import AdamW
from pyfrozen.optimizers.optimizer import Optimizer
from pyfrozen.optimizers.rmsprop import RMSprop
from pyfrozen.optimizers.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "deserialize", "get", "schedules",
           "serialize"]

ALL_OBJECTS_DICT: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop)}


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` (Keras's layout)."""
    return {"module": "pyfrozen.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None
                ) -> Optimizer:
    """The optimizer a ``serialize`` dict (ours or Keras's) describes; class names are
    case-insensitive, ``custom_objects`` maps further names to classes."""
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or ALL_OBJECTS_DICT.get(str(name).lower())
    if cls is None:
        raise ValueError(f"Could not interpret optimizer identifier: {name!r}. Known "
                         f"optimizers: {sorted(ALL_OBJECTS_DICT)}")
    return cls.from_config(dict(config.get("config", {})))


def get(identifier: Any) -> Optimizer | None:
    """An optimizer from a name (``"adam"``), a config dict or an instance (returned as is).

    Raises:
        ValueError: the identifier names no optimizer.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = deserialize({"class_name": identifier, "config": {}})
    else:
        obj = identifier
    if isinstance(obj, Optimizer):
        return obj
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
