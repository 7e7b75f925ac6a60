"""SeparableConv2D: a depthwise convolution, then a 1x1 (pointwise) convolution."""

from __future__ import annotations

from typing import Any

from pyfrozen import ops
from pyfrozen.layers._args import strictly_positive
from pyfrozen.layers._base_conv import BaseConv


class SeparableConv2D(BaseConv):
    """Depthwise separable 2-D convolution: depthwise, then pointwise, then bias.

    First each input channel is convolved with its own ``depth_multiplier`` kernels
    (no bias), then a 1x1 convolution mixes the ``channels * depth_multiplier``
    intermediate channels into ``filters`` outputs, adds the bias and applies the
    activation (relu, relu6, sigmoid and tanh fused into the pointwise convolution).
    Weights as Keras: ``depthwise_kernel`` ``(kh, kw, channels, depth_multiplier)``,
    ``pointwise_kernel`` ``(1, 1, channels * depth_multiplier, filters)``, ``bias``
    ``(filters,)``.

    Args:
        filters: number of output channels, a positive int.
        kernel_size: int or pair of ints of the depthwise kernel.
        strides: int or pair of ints of the depthwise step; default (1, 1).
        padding: "valid" or "same" (TensorFlow's split), case-insensitive.
        data_format: None or "channels_last" (the only layout pyfrozen has).
        dilation_rate: int or pair of ints; cannot exceed 1 together with strides > 1.
        depth_multiplier: depthwise output channels per input channel.
        activation: name or callable; None for linear.
        use_bias: whether to add a bias after the pointwise convolution.
        depthwise_initializer: default "glorot_uniform".
        pointwise_initializer: default "glorot_uniform".
        bias_initializer: default "zeros".
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, new_height, new_width, filters)``.

    Freezing:
        ``trainable=False`` freezes both kernels and the bias: no weight- or
        bias-gradient kernel runs; each convolution keeps its kernel (for the input
        gradient) and not its input, and when nothing below trains the depthwise step
        records nothing. Freezing only ``depthwise_kernel`` (a full freeze mask) keeps
        the pointwise kernel training, and the pointwise step then keeps the
        depthwise output it needs. Freeze masks on whole output channels of
        ``pointwise_kernel`` or whole input channels of ``depthwise_kernel`` limit the
        weight-gradient kernels to the trainable channels.

    Raises:
        ValueError: a non-positive ``filters``, ``kernel_size``, ``strides``,
            ``dilation_rate`` or ``depth_multiplier``; strides and dilation both > 1; an
            unknown padding or data format; an input that is not 4-D.

    Example:

    >>> import numpy as np, pyfrozen
    >>> layer = pyfrozen.layers.SeparableConv2D(5, 3, depth_multiplier=2)
    >>> layer(np.ones((1, 6, 6, 4))).shape, layer.pointwise_kernel.shape
    ((1, 4, 4, 5), (1, 1, 8, 5))
    """

    _config_keys = ("filters", "kernel_size", "strides", "padding", "data_format",
                    "dilation_rate", "depth_multiplier", "activation", "use_bias",
                    "depthwise_initializer", "pointwise_initializer", "bias_initializer")

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = (1, 1), depth_multiplier: int = 1,
                 activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform",
                 pointwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any) -> None:
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, **kwargs)
        self.filters = strictly_positive(filters, "filters")
        self.depth_multiplier = strictly_positive(depth_multiplier, "depth_multiplier")
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer

    def _create_weights(self, channels: int, input_shape: tuple) -> None:
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1, 1, channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer)

    def _convolve(self, inputs: Any, activation: str | None) -> Any:
        mid = ops.depthwise_conv2d(inputs, self.depthwise_kernel, None, strides=self.strides,
                                   padding=self.padding, dilation_rate=self.dilation_rate)
        return ops.conv2d(mid, self.pointwise_kernel, self.bias, activation=activation)
