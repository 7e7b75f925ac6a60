"""Activation functions by Keras name, for layers' ``activation=`` arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyfrozen import ops
from pyfrozen.tensor import Tensor


def linear(x: Tensor) -> Tensor:
    """The identity (Keras's ``"linear"``, also what ``activation=None`` means)."""
    return x


_BY_NAME: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": linear,
    "relu": ops.relu,
    "relu6": ops.relu6,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "softmax": ops.softmax,
    "log_softmax": ops.log_softmax,
}

FUSABLE = ("relu", "relu6", "sigmoid", "tanh")
"""Activations the dense and convolution kernels apply in their epilogue."""


def get(identifier: Any) -> Callable[[Tensor], Tensor]:
    """The activation for a name, a callable, or None (linear).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"Unknown activation: {identifier!r}. Known: {sorted(_BY_NAME)}")


def name_of(activation: Callable[[Tensor], Tensor]) -> str | None:
    """The Keras name of a built-in activation (None for user callables)."""
    for name, fn in _BY_NAME.items():
        if fn is activation:
            return name
    return None
