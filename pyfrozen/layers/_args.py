"""Argument checks and window arithmetic shared by layers, with Keras's wording.

One helper per check, so that one mistake reads the same in every layer
("Received: pool_size=..."); the convolution and pooling layers share the output-size
rule of a sliding window.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from pyfrozen.ops._util import is_int

__all__ = ["channels_last", "check_ndim", "int_tuple", "is_int", "is_number", "padding_mode",
           "positive_int", "product", "strictly_positive", "window_output_shape"]


def is_number(value: Any) -> bool:
    """A real number (int or float, Python or numpy), never a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1 (ValueError in Dense's wording otherwise)."""
    if not is_int(value) or value < 1:
        raise ValueError(f"Received an invalid value for `{name}`, expected a positive "
                         f"integer. Received: {name}={value!r}")
    return int(value)


def strictly_positive(value: Any, name: str) -> int:
    """``value`` as an int >= 1 (ValueError in Keras's convolution wording otherwise).

    The same check as :func:`positive_int`; Keras words it differently in its
    convolution layers (``Received filters=0``), and pyfrozen's follow each.
    """
    if not is_int(value) or value < 1:
        raise ValueError(f"Invalid value for argument `{name}`. Expected a strictly positive "
                         f"value. Received {name}={value}.")
    return int(value)


def int_tuple(value: Any, n: int, name: str, *, distinct: bool = False) -> tuple[int, ...]:
    """An int or ``n`` ints, each > 0, as a tuple (Keras's standardize_tuple: 2 == (2, 2)).

    Args:
        value: an int, or an iterable of ``n`` ints (tuple, list, numpy array).
        n: how many ints.
        name: the argument's name, for the message.
        distinct: name each offending value once, as a set (``{0}``, the convolution
            layers' Keras 3 wording), instead of each one in order (``[0, 0]``).

    Raises:
        ValueError: not an int or ``n`` ints, or a value <= 0.
    """
    message = (f"The `{name}` argument must be a tuple of {n} integers. "
               f"Received: {name}={value!r}")
    if is_int(value):
        values: tuple[Any, ...] = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n:
            raise ValueError(message)
    for v in values:
        if not is_int(v):
            raise ValueError(f"{message} including element {v!r} of type {type(v)}")
    bad = [int(v) for v in values if v <= 0]
    if bad:
        shown = set(bad) if distinct else bad
        raise ValueError(f"{message} including values {shown} that do not satisfy "
                         "`value > 0`")
    return tuple(int(v) for v in values)


def channels_last(data_format: Any, layer: str) -> str:
    """pyfrozen is NHWC only: None or "channels_last"; anything else is a ValueError."""
    if data_format is None or data_format == "channels_last":
        return "channels_last"
    if data_format == "channels_first":
        raise ValueError(f"{layer}: data_format='channels_first' is not supported; pyfrozen "
                         "layers are channels_last (NHWC) only: transpose the data instead")
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


def _window_output_length(size: int | None, window: int, stride: int, dilation: int,
                          padding: str) -> int | None:
    """Output size along one axis ("same": ceil(size / stride), TensorFlow's rule)."""
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    extent = (window - 1) * dilation + 1
    return (size - extent) // stride + 1 if size >= extent else 0


def window_output_shape(layer: Any, input_shape: Any, window_name: str, window: tuple,
                        strides: tuple, padding: str, channels: int | None,
                        dilation_rate: tuple | None = None) -> tuple[int | None, ...]:
    """(batch, out_h, out_w, channels) of a 2-D sliding window (convolution or pooling).

    Args:
        layer: the layer, named in messages.
        input_shape: (batch, height, width, channels), None where unknown; its rank
            checked already (:func:`check_ndim`).
        window_name: the window's argument ("kernel_size", "pool_size"), for messages.
        window, strides: pairs of ints.
        padding: "valid" or "same".
        channels: the output's channels (None: unknown).
        dilation_rate: a pair of ints, or None for no dilation (pooling).

    Raises:
        ValueError: the window does not fit the input ("valid").
    """
    dilation = (1, 1) if dilation_rate is None else dilation_rate
    spatial = tuple(_window_output_length(n, k, s, d, padding) for n, k, s, d in
                    zip(input_shape[1:3], window, strides, dilation, strict=True))
    if any(n is not None and n <= 0 for n in spatial):
        dilated = "" if dilation_rate is None else f", `dilation_rate={dilation_rate}`"
        raise ValueError(f"Computed output size would be negative. Received "
                         f"`inputs.shape={input_shape}`, `{window_name}={window}`, "
                         f"`strides={strides}`{dilated} and padding={padding!r} "
                         f"(layer {layer.name!r}).")
    return (input_shape[0], *spatial, channels)
