"""Rescaling: ``inputs * scale + offset`` (e.g. pixels from [0, 255] to [-1, 1])."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen import ops
from pyfrozen.layers._args import is_number
from pyfrozen.layers.layer import Layer, shape_of


def _constant(value: Any, name: str) -> float | list:
    """A number as a float, an array-like as a nested list (so configs compare with ==)."""
    if is_number(value):
        return float(value)
    try:
        if value is None:
            raise TypeError
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"The `{name}` argument of Rescaling must be a number or an array of "
                         f"numbers. Received: {name}={value!r}") from None
    return array.tolist()


class Rescaling(Layer):
    """Multiplies inputs by ``scale`` and adds ``offset``: ``inputs * scale + offset``.

    Inputs are cast to the layer's float dtype first (``uint8`` images, nested lists),
    as in Keras and every other layer. ``scale`` and ``offset`` are numbers, or arrays
    that broadcast against the input (per-channel values).

    Args:
        scale: the factor, e.g. ``1 / 255`` or ``1 / 127.5``.
        offset: added after scaling; default 0.0 (``-1`` maps [0, 255] to [-1, 1]
            with ``scale=1 / 127.5``).
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        Any.

    Output shape:
        Same as the input (broadcast with ``scale`` / ``offset`` arrays).

    Raises:
        ValueError: ``scale`` or ``offset`` is not a number or array of numbers.

    Freezing:
        No weights (``scale`` and ``offset`` are constants that never train):
        ``trainable=False`` changes nothing for this layer. The gradient passes
        through, multiplied by ``scale``, whenever a layer below trains.

    Example:

    >>> import numpy as np, pyfrozen
    >>> layer = pyfrozen.layers.Rescaling(1 / 127.5, offset=-1)
    >>> layer(np.array([[0, 255]], dtype=np.uint8)).numpy()
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = _constant(scale, "scale")
        self.offset = _constant(offset, "offset")

    def call(self, inputs: Any) -> Any:
        if isinstance(inputs, (list, tuple)):  # a list of arrays: Layer keeps it a list
            raise TypeError(f"Rescaling {self.name!r} takes one tensor, received a list of "
                            f"{len(inputs)} inputs {shape_of(inputs)}")
        dtype = inputs.data.dtype
        out = ops.mul(inputs, np.asarray(self.scale, dtype=dtype))
        if self.offset == 0.0:  # the default: no second pass over the data
            return out
        return ops.add(out, np.asarray(self.offset, dtype=dtype))

    def compute_output_shape(self, input_shape: Any) -> Any:
        out = tuple(input_shape)
        for name in ("scale", "offset"):
            out = _broadcast(out, np.shape(getattr(self, name)), name)
        return out

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def _broadcast(shape: tuple, other: tuple, name: str) -> tuple:
    """numpy broadcasting of a (possibly symbolic: None) input shape with a constant's."""
    n = max(len(shape), len(other))
    a = (1,) * (n - len(shape)) + tuple(shape)
    b = (1,) * (n - len(other)) + tuple(other)
    out = []
    for x, y in zip(a, b, strict=True):
        if y != 1 and x not in (1, None, y):
            raise ValueError(f"Rescaling: `{name}` of shape {other} does not broadcast against "
                             f"inputs of shape {shape}")
        out.append(x if y == 1 else y)
    return tuple(out)
