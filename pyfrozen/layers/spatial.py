"""Spatial resizing layers over NHWC inputs: ZeroPadding2D and UpSampling2D."""

from __future__ import annotations

from typing import Any

from pyfrozen import ops
from pyfrozen.layers._args import channels_last, check_ndim, int_tuple, is_int
from pyfrozen.layers.layer import Layer

_INTERPOLATIONS = ("area", "bicubic", "bilinear", "lanczos3", "lanczos5", "nearest")


def _padding_pairs(padding: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras's three spellings as ((top, bottom), (left, right)) of non-negative ints."""
    pairs: Any = None
    if is_int(padding):
        pairs = ((padding, padding), (padding, padding))
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        if all(map(is_int, padding)):
            pairs = ((padding[0], padding[0]), (padding[1], padding[1]))
        elif all(isinstance(p, (tuple, list)) and len(p) == 2 for p in padding):
            pairs = padding
    if pairs is None or not all(is_int(v) and v >= 0 for pair in pairs for v in pair):
        raise ValueError(
            "`padding` should be either an int, a tuple of 2 ints (symmetric_height_pad, "
            "symmetric_width_pad), or a tuple of 2 tuples of 2 ints ((top_pad, bottom_pad), "
            f"(left_pad, right_pad)), all >= 0. Received: padding={padding!r}"
        )
    return tuple((int(a), int(b)) for a, b in pairs)


def _plus(size: int | None, extra: int) -> int | None:
    return None if size is None else size + extra


def _times(size: int | None, factor: int) -> int | None:
    return None if size is None else size * factor


class ZeroPadding2D(Layer):
    """Pads the height and width of an NHWC input with zeros.

    Keras's MobileNet pads with ``ZeroPadding2D(((0, 1), (0, 1)))`` before each
    stride-2 depthwise convolution ('valid'), which is how TensorFlow's asymmetric
    'same' padding is written out.

    Args:
        padding: an int (all four sides), a pair ``(h, w)`` (top and bottom by ``h``,
            left and right by ``w``), or ``((top, bottom), (left, right))``; default
            (1, 1).
        data_format: None or "channels_last" (the only layout pyfrozen has).
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, top + height + bottom, left + width + right, channels)``.

    Raises:
        ValueError: ``padding`` is none of the three forms of non-negative ints.

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through (the centre slice of the output's) whenever a layer below
        trains; nothing is saved.

    Example:

    >>> import numpy as np, pyfrozen
    >>> layer = pyfrozen.layers.ZeroPadding2D(((0, 1), (0, 1)))
    >>> layer(np.ones((1, 4, 4, 3))).shape, layer.padding
    ((1, 5, 5, 3), ((0, 1), (0, 1)))
    """

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = _padding_pairs(padding)
        self.data_format = channels_last(data_format, "ZeroPadding2D")

    def build(self, input_shape: Any) -> None:
        check_ndim(self, input_shape, 4)

    def call(self, inputs: Any) -> Any:
        return ops.pad2d(inputs, self.padding)

    def compute_output_shape(self, input_shape: Any) -> Any:
        check_ndim(self, input_shape, 4)
        (top, bottom), (left, right) = self.padding
        batch, h, w, c = input_shape
        return (batch, _plus(h, top + bottom), _plus(w, left + right), c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding,
                "data_format": self.data_format}


class UpSampling2D(Layer):
    """Repeats the rows and columns of an NHWC input ``size[0]`` and ``size[1]`` times.

    Output pixel ``(i, j)`` is input pixel ``(i // size[0], j // size[1])`` (Keras's
    "nearest" interpolation for integer factors), the only interpolation pyfrozen has.

    Args:
        size: int or (height factor, width factor), each >= 1; default (2, 2).
        data_format: None or "channels_last" (the only layout pyfrozen has).
        interpolation: "nearest" (default); Keras's other names ("bilinear", ...) are
            a ValueError saying they are not supported.
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, height * size[0], width * size[1], channels)``.

    Raises:
        ValueError: a factor is not a positive int, or ``interpolation`` is not
            "nearest".

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through (each input pixel gets the sum of its block of the output's
        gradient) whenever a layer below trains; nothing is saved.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = np.array([1.0, 2.0]).reshape(1, 1, 2, 1)
    >>> pyfrozen.layers.UpSampling2D(size=(2, 1))(x).numpy()[0, :, :, 0]
    array([[1., 2.],
           [1., 2.]], dtype=float32)
    """

    def __init__(self, size: Any = (2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = int_tuple(size, 2, "size")
        self.data_format = channels_last(data_format, "UpSampling2D")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"`interpolation` argument should be one of: "
                             f"{list(_INTERPOLATIONS)}. Received: "
                             f"interpolation={interpolation!r}")
        if interpolation != "nearest":
            raise ValueError(f"UpSampling2D: interpolation={interpolation!r} is not "
                             "supported; pyfrozen implements only 'nearest'")
        self.interpolation = interpolation

    def build(self, input_shape: Any) -> None:
        check_ndim(self, input_shape, 4)

    def call(self, inputs: Any) -> Any:
        return ops.upsampling2d(inputs, self.size, self.interpolation)

    def compute_output_shape(self, input_shape: Any) -> Any:
        check_ndim(self, input_shape, 4)
        batch, h, w, c = input_shape
        return (batch, _times(h, self.size[0]), _times(w, self.size[1]), c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}
