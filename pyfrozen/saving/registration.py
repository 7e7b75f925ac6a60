"""``register_keras_serializable``: user layers join the one layer registry (Keras's role)."""

from __future__ import annotations

from collections.abc import Callable

from pyfrozen.layers import serialization


def register_keras_serializable(package: str = "Custom",
                                name: str | None = None) -> Callable[[type], type]:
    """Class decorator: files then name the class ``"<package>><name>"`` (Keras's form),
    and ``load_model`` / ``layers.deserialize`` find it by that name.

    Example:

    >>> import pyfrozen
    >>> @pyfrozen.saving.register_keras_serializable(package="demo")
    ... class Scale(pyfrozen.layers.Layer):
    ...     def call(self, x):
    ...         return x * 2.0
    >>> pyfrozen.layers.get("demo>Scale") is Scale
    True
    """
    if ">" in package:
        raise ValueError(f"register_keras_serializable: package {package!r} may not hold '>'")

    def decorate(cls: type) -> type:
        serialization.register(cls, f"{package}>{name or cls.__name__}")
        return cls

    return decorate
