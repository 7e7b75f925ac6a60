"""Argument checks and shape arithmetic shared by the convolution layers (Keras's rules).

The messages follow Keras 3 (``The `strides` argument must be a tuple of 2 integers.
Received strides=...``) so that errors read the same as in the code users port.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def standardize_tuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    """An int or ``n`` ints, each > 0, as a tuple (Keras: ``strides=2`` == ``(2, 2)``).

    Raises:
        ValueError: not an int or a sequence of ``n`` ints, or a value <= 0.
    """
    message = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"

    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if is_int(value):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n:
            raise ValueError(message)
        for v in values:
            if not is_int(v):
                raise ValueError(f"{message}, including element {v!r} of type {type(v)}")
        values = tuple(int(v) for v in values)
    bad = sorted({v for v in values if v <= 0})
    if bad:
        raise ValueError(f"{message}, including values {set(bad)} that do not satisfy "
                         "`value > 0`")
    return values


def positive_int(value: Any) -> bool:
    """Whether ``value`` is an int > 0 (bools excluded)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def standardize_padding(padding: Any) -> str:
    """``"valid"`` or ``"same"``, case-insensitive as in Keras."""
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        return padding.lower()
    raise ValueError("The `padding` argument must be one of 'valid', 'same' (case-insensitive). "
                     f"Received: padding={padding!r}")


def standardize_data_format(data_format: Any) -> str:
    """Only ``"channels_last"`` (NHWC) exists in pyfrozen; None means it."""
    if data_format is None or data_format == "channels_last":
        return "channels_last"
    if data_format == "channels_first":
        raise ValueError("pyfrozen layers are channels_last (NHWC) only: transpose the data "
                         "instead. Received: data_format=channels_first")
    raise ValueError("The `data_format` argument must be one of 'channels_first', "
                     f"'channels_last'. Received: data_format={data_format!r}")


def check_strides_and_dilation(strides: tuple[int, ...], dilation_rate: tuple[int, ...]
                               ) -> None:
    """Keras refuses strides > 1 together with dilation_rate > 1."""
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                         f"Received: strides={strides} and dilation_rate={dilation_rate}")


def check_input_ndim(layer: Any, input_shape: Any, ndim: int) -> None:
    """Keras's InputSpec message for an input of the wrong rank."""
    if isinstance(input_shape, list) or len(input_shape) != ndim:
        found = "a list" if isinstance(input_shape, list) else f"ndim={len(input_shape)}"
        raise ValueError(f"Input 0 of layer '{layer.name}' is incompatible with the layer: "
                         f"expected ndim={ndim}, found {found}. Full shape received: "
                         f"{input_shape}")


def known_channels(layer: Any, input_shape: tuple[int | None, ...]) -> int:
    """The last (channel) dimension, which must be known to create the weights."""
    channels = input_shape[-1]
    if channels is None:
        raise ValueError(f"The channel dimension of the inputs to layer '{layer.name}' should "
                         f"be defined. Found None. Full input shape received: {input_shape}")
    return int(channels)


def conv_output_length(length: int | None, kernel: int, stride: int, dilation: int,
                       padding: str) -> int | None:
    """Output size along one axis ("same": ceil(length / stride), TensorFlow's rule)."""
    if length is None:
        return None
    if padding == "same":
        return math.ceil(length / stride)
    extent = (kernel - 1) * dilation + 1
    return (length - extent) // stride + 1 if length >= extent else 0


def conv_output_shape(layer: Any, input_shape: tuple[int | None, ...], kernel_size: tuple,
                      strides: tuple, dilation_rate: tuple, padding: str, channels: int
                      ) -> tuple[int | None, ...]:
    """(batch, out_h, out_w, channels) of a 2-D convolution; ValueError if empty."""
    check_input_ndim(layer, input_shape, 4)
    spatial = tuple(conv_output_length(n, k, s, d, padding) for n, k, s, d in
                    zip(input_shape[1:3], kernel_size, strides, dilation_rate, strict=True))
    if any(n is not None and n <= 0 for n in spatial):
        raise ValueError(f"Computed output size would be negative. Received `inputs shape="
                         f"{tuple(input_shape)}`, `kernel shape={kernel_size}`, "
                         f"`dilation_rate={dilation_rate}` (layer '{layer.name}').")
    return (input_shape[0], *spatial, channels)
