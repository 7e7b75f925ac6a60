"""Pooling layers over NHWC inputs: windowed max/average and global average/max.

None of them has a weight. Keras's aliases ``MaxPool2D``, ``AvgPool2D``,
``GlobalAvgPool2D`` and ``GlobalMaxPool2D`` name the same classes.
"""

from __future__ import annotations

from typing import Any

from pyfrozen import ops
from pyfrozen.layers._args import (
    channels_last,
    check_ndim,
    int_tuple,
    padding_mode,
    window_output_shape,
)
from pyfrozen.layers.layer import Layer

# ---------------------------------------------------------------------------------------
# Windowed pooling
# ---------------------------------------------------------------------------------------


class _Pooling2D(Layer):
    """Shared arguments, shapes and config of MaxPooling2D and AveragePooling2D."""

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_size = int_tuple(pool_size, 2, "pool_size")
        # As Keras: strides=None means non-overlapping windows (strides = pool_size).
        self.strides = self.pool_size if strides is None else int_tuple(strides, 2, "strides")
        self.padding = padding_mode(padding)
        self.data_format = channels_last(data_format, type(self).__name__)

    def build(self, input_shape: Any) -> None:
        check_ndim(self, input_shape, 4)

    def compute_output_shape(self, input_shape: Any) -> Any:
        check_ndim(self, input_shape, 4)
        return window_output_shape(self, input_shape, "pool_size", self.pool_size, self.strides,
                                   self.padding, input_shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """Max pooling for 2-D spatial data (NHWC): the maximum of each window.

    With ``padding="same"`` the padded cells never win, and the output size is
    ``ceil(size / strides)``; with ``"valid"`` it is ``floor((size - pool_size) /
    strides) + 1``.

    Args:
        pool_size: int or (height, width) of the window; default (2, 2).
        strides: int, (height, width) or None (= ``pool_size``).
        padding: "valid" (default) or "same" (case-insensitive).
        data_format: None or "channels_last" (the only layout pyfrozen has).
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, pooled_height, pooled_width, channels)``.

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through to the input (to each window's maximum; on ties, the first in
        row-major order) whenever a layer below trains, and nothing is recorded when
        none does.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> pyfrozen.layers.MaxPooling2D()(x).numpy()[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    """

    def call(self, inputs: Any) -> Any:
        return ops.max_pool2d(inputs, self.pool_size, self.strides, self.padding)


class AveragePooling2D(_Pooling2D):
    """Average pooling for 2-D spatial data (NHWC): the mean of each window.

    With ``padding="same"`` each window averages only its real cells, as Keras does.
    Output sizes as :class:`MaxPooling2D`.

    Args:
        pool_size: int or (height, width) of the window; default (2, 2).
        strides: int, (height, width) or None (= ``pool_size``).
        padding: "valid" (default) or "same" (case-insensitive).
        data_format: None or "channels_last" (the only layout pyfrozen has).
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, pooled_height, pooled_width, channels)``.

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through to the input (spread evenly over each window) whenever a layer
        below trains; nothing is saved but shapes.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> pyfrozen.layers.AveragePooling2D(pool_size=2)(x).numpy()[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]], dtype=float32)
    """

    def call(self, inputs: Any) -> Any:
        return ops.avg_pool2d(inputs, self.pool_size, self.strides, self.padding)


# ---------------------------------------------------------------------------------------
# Global pooling
# ---------------------------------------------------------------------------------------


class _GlobalPooling2D(Layer):
    """Shared arguments, shapes and config of the global pooling layers."""

    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(keepdims, bool):
            raise ValueError(f"The `keepdims` argument must be a bool. "
                             f"Received: keepdims={keepdims!r}")
        self.data_format = channels_last(data_format, type(self).__name__)
        self.keepdims = keepdims

    def build(self, input_shape: Any) -> None:
        check_ndim(self, input_shape, 4)

    def compute_output_shape(self, input_shape: Any) -> Any:
        check_ndim(self, input_shape, 4)
        batch, c = input_shape[0], input_shape[3]
        return (batch, 1, 1, c) if self.keepdims else (batch, c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Global average pooling for 2-D spatial data: the mean over height and width.

    Args:
        data_format: None or "channels_last" (the only layout pyfrozen has).
        keepdims: keep the spatial axes as size 1: ``(batch, 1, 1, channels)``
            (Keras's MobileNet top uses it); default False.
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, channels)``, or ``(batch, 1, 1, channels)`` with ``keepdims=True``.

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through to the input (spread evenly over the pixels) whenever a layer
        below trains; nothing is saved but the input's shape.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> pyfrozen.layers.GlobalAveragePooling2D()(x).numpy()
    array([[3., 4.]], dtype=float32)
    """

    def call(self, inputs: Any) -> Any:
        return ops.global_avg_pool2d(inputs, keepdims=self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Global max pooling for 2-D spatial data: the maximum over height and width.

    Args:
        data_format: None or "channels_last" (the only layout pyfrozen has).
        keepdims: keep the spatial axes as size 1: ``(batch, 1, 1, channels)``;
            default False.
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, channels)``, or ``(batch, 1, 1, channels)`` with ``keepdims=True``.

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through to each channel's maximum whenever a layer below trains; only
        the argmax indices are saved for it.

    Example:

    >>> import numpy as np, pyfrozen
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> pyfrozen.layers.GlobalMaxPooling2D(keepdims=True)(x).shape
    (1, 1, 1, 2)
    """

    def call(self, inputs: Any) -> Any:
        return ops.global_max_pool2d(inputs, keepdims=self.keepdims)


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
