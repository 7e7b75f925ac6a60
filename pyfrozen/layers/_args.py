"""Argument checks shared by layers, with Keras's wording ("Received: pool_size=...")."""

from __future__ import annotations

import math
import numbers
from typing import Any

from pyfrozen.ops._util import is_int

__all__ = ["channels_last", "check_ndim", "int_tuple", "is_int", "is_number", "padding_mode",
           "positive_int", "product"]


def is_number(value: Any) -> bool:
    """A real number (int or float, Python or numpy), never a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1 (ValueError in Dense's wording otherwise)."""
    if not is_int(value) or value < 1:
        raise ValueError(f"Received an invalid value for `{name}`, expected a positive "
                         f"integer. Received: {name}={value!r}")
    return int(value)


def int_tuple(value: Any, n: int, name: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or ``n`` ints, each >= ``minimum``, as a tuple (Keras's standardize_tuple)."""
    items = (value,) * n if is_int(value) else value
    if not isinstance(items, (tuple, list)) or len(items) != n or not all(
            is_int(v) for v in items):
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. "
                         f"Received: {name}={value!r}")
    low = [int(v) for v in items if v < minimum]
    if low:
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. "
                         f"Received: {name}={value!r} including values {low} that do not "
                         f"satisfy `value >= {minimum}`")
    return tuple(int(v) for v in items)


def channels_last(data_format: Any, layer: str) -> str:
    """pyfrozen is NHWC only: None or "channels_last"; anything else is a ValueError."""
    if data_format is None or data_format == "channels_last":
        return "channels_last"
    if data_format == "channels_first":
        raise ValueError(f"{layer}: data_format='channels_first' is not supported; pyfrozen "
                         "layers are channels_last (NHWC) only")
    raise ValueError(f"The `data_format` argument must be one of {{'channels_first', "
                     f"'channels_last'}}. Received: data_format={data_format!r}")


def padding_mode(padding: Any) -> str:
    """Keras's pooling/convolution padding names, case-insensitive."""
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        return padding.lower()
    raise ValueError("The `padding` argument must be one of 'valid', 'same'. "
                     f"Received: padding={padding!r}")


def check_ndim(layer: Any, shape: Any, ndim: int) -> None:
    """Keras's input-spec error when an input has the wrong number of axes."""
    if not isinstance(shape, tuple) or len(shape) != ndim:
        found = len(shape) if isinstance(shape, tuple) else "a list of inputs"
        raise ValueError(f"Input 0 of layer {layer.name!r} is incompatible with the layer: "
                         f"expected ndim={ndim}, found ndim={found}. Full shape received: "
                         f"{shape}")


def product(dims: Any) -> int | None:
    """Product of the dimensions, or None when one of them is unknown."""
    dims = tuple(dims)
    if any(d is None for d in dims):
        return None
    return math.prod(dims)
