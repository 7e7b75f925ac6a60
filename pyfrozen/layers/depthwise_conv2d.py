"""DepthwiseConv2D: each input channel convolved with its own ``depth_multiplier`` filters."""

from __future__ import annotations

from typing import Any

from pyfrozen import ops
from pyfrozen.layers._args import strictly_positive
from pyfrozen.layers._base_conv import BaseConv


class DepthwiseConv2D(BaseConv):
    """Depthwise 2-D convolution: one set of filters per input channel.

    Each input channel ``c`` is convolved with ``depth_multiplier`` kernels of its own;
    output channel ``c * depth_multiplier + m`` is ``conv(inputs[..., c],
    depthwise_kernel[:, :, c, m]) + bias[c * depth_multiplier + m]``, then the
    activation. The kernel has the Keras shape ``(kh, kw, in_channels,
    depth_multiplier)`` and the bias ``(in_channels * depth_multiplier,)``. relu, relu6,
    sigmoid and tanh are fused into the convolution (one tape node).

    Args:
        kernel_size: int or pair of ints (kh, kw).
        strides: int or pair of ints; default (1, 1).
        padding: "valid" or "same" (TensorFlow's split), case-insensitive.
        depth_multiplier: output channels per input channel, a positive int.
        data_format: None or "channels_last" (the only layout pyfrozen has).
        dilation_rate: int or pair of ints; cannot exceed 1 together with strides > 1.
        activation: name or callable; None for linear.
        use_bias: whether to add a bias.
        depthwise_initializer: default "glorot_uniform".
        bias_initializer: default "zeros".
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, new_height, new_width, channels * depth_multiplier)``.

    Freezing:
        ``trainable=False`` freezes the depthwise kernel and the bias: backward runs only
        the input-gradient kernel (when a layer below trains), keeps the kernel and not
        the input, and runs no weight- or bias-gradient kernel. A freeze mask that
        freezes whole input channels (``set_freeze_mask("depthwise_kernel", mask)``
        with a mask of shape ``(1, 1, channels, 1)``) or whole output channels limits
        the weight-gradient kernel to the trainable channels.

    Raises:
        ValueError: a non-positive ``kernel_size``, ``strides``, ``dilation_rate`` or
            ``depth_multiplier``; strides and dilation both > 1; an unknown padding or
            data format; an input that is not 4-D.

    Example:

    >>> import numpy as np, pyfrozen
    >>> layer = pyfrozen.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")
    >>> layer(np.ones((1, 6, 6, 4))).shape, layer.depthwise_kernel.shape
    ((1, 6, 6, 8), (3, 3, 4, 2))
    """

    _config_keys = ("kernel_size", "strides", "padding", "depth_multiplier", "data_format",
                    "dilation_rate", "activation", "use_bias", "depthwise_initializer",
                    "bias_initializer")

    def __init__(self, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 depth_multiplier: int = 1, data_format: str | None = None,
                 dilation_rate: Any = (1, 1), activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any) -> None:
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, **kwargs)
        self.depth_multiplier = strictly_positive(depth_multiplier, "depth_multiplier")
        self.depthwise_initializer = depthwise_initializer

    def _create_weights(self, channels: int, input_shape: tuple) -> None:
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer)

    def _output_channels(self, channels: int | None) -> int | None:
        return None if channels is None else channels * self.depth_multiplier

    def _convolve(self, inputs: Any, activation: str | None) -> Any:
        return ops.depthwise_conv2d(inputs, self.depthwise_kernel, self.bias,
                                    strides=self.strides, padding=self.padding,
                                    dilation_rate=self.dilation_rate, activation=activation)
