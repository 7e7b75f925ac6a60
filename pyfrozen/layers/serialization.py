"""One registry of layer classes by name: ``serialize`` / ``deserialize`` / ``get``.

Every built-in layer is registered under its class name; models (registered from
pyfrozen.saving, which sits above models/) and user layers
(``pyfrozen.saving.register_keras_serializable``) add themselves. ``serialize`` gives
Keras's envelope ``{"module", "class_name", "config", "registered_name"}`` around the
layer's own ``get_config()``; ``deserialize`` looks the class up (``registered_name``
first, then ``class_name``) and calls its ``from_config``. The Keras 3 file format's
extra translation (dtype policies, initializer objects, Keras-only options) lives in
pyfrozen.saving.keras_config.
"""

from __future__ import annotations

from typing import Any

from pyfrozen.layers.layer import Layer

__all__ = ["deserialize", "get", "register", "registered_name", "serialize"]

_CLASSES: dict[str, type] = {}


def register(cls: type, name: str | None = None) -> type:
    """Registers ``cls`` under ``name`` (default its class name); returns ``cls``.

    A user registration (``"package>Name"``) replaces an earlier one of the same name,
    as in Keras (a notebook cell or a module run again defines the class anew).

    Raises:
        ValueError: a built-in layer's name is taken by another class.
    """
    key = name or cls.__name__
    if ">" not in key and _CLASSES.get(key, cls) is not cls:
        raise ValueError(f"a layer class is already registered as {key!r}: "
                         f"{_CLASSES[key].__module__}.{_CLASSES[key].__qualname__}")
    _CLASSES[key] = cls
    return cls


def registered_name(cls: type) -> str | None:
    """The name ``cls`` was registered under with a package (``"my_pkg>Scale"``), if any."""
    for key, known in _CLASSES.items():
        if known is cls and ">" in key:
            return key
    return None


def lookup(name: str) -> type:
    """The class registered as ``name`` (ValueError listing the known ones)."""
    if name not in _CLASSES:
        raise ValueError(f"Unknown layer class {name!r}: pyfrozen knows "
                         f"{sorted(k for k in _CLASSES if '>' not in k)}; register user layers "
                         "with pyfrozen.saving.register_keras_serializable")
    return _CLASSES[name]


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"module", "class_name", "config", "registered_name"}`` of ``layer``."""
    cls = type(layer)
    return {"module": cls.__module__, "class_name": cls.__name__,
            "config": layer.get_config(), "registered_name": registered_name(cls)}


def deserialize(spec: dict[str, Any]) -> Layer:
    """A new layer from ``serialize``'s output."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"layers.deserialize expects {{'class_name': ..., 'config': ...}}, "
                         f"got {spec!r}")
    cls = lookup(spec.get("registered_name") or spec["class_name"])
    return cls.from_config(dict(spec.get("config") or {}))


def get(identifier: Any) -> Any:
    """A layer instance as is, a layer from a serialized dict, or a class by name."""
    if isinstance(identifier, Layer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return lookup(identifier)
    raise ValueError(f"layers.get: cannot interpret {identifier!r} as a layer")
