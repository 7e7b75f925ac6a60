"""DepthwiseConv2D: each input channel convolved with its own ``depth_multiplier`` filters."""

from __future__ import annotations

from typing import Any

from pyfrozen import ops
from pyfrozen.layers._args import strictly_positive
from pyfrozen.layers._base_conv import BaseConv
from pyfrozen.layers.lora import LoraMixin


class DepthwiseConv2D(LoraMixin, BaseConv):
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
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``; ``lora_rank``
            and ``lora_alpha`` (Keras's): ``enable_lora(lora_rank, lora_alpha)`` once
            built, how the config of an adapted layer comes back.

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

    LoRA (beyond Keras):
        ``enable_lora(rank, lora_alpha=None, a_initializer="he_uniform",
        b_initializer="zeros")`` freezes the depthwise kernel and adds
        ``lora_depthwise_kernel_a`` of shape ``(kh, kw, rank)`` (``rank`` k x k filters
        shared by all channels) and ``lora_depthwise_kernel_b`` of shape ``(rank,
        in_channels, depth_multiplier)`` (each output channel's mix of them): the
        kernel's update is a rank-``rank`` factor of it seen as a ``(kh * kw) x
        (in_channels * depth_multiplier)`` matrix. Unlike Dense and Conv2D, training
        convolves with the merged kernel ``W + (lora_alpha / rank) A B``, formed each
        step: a depthwise kernel is tiny, its weight gradient costs one pass, while a
        factored adapter would cost ``rank`` depthwise passes forward and backward
        (measured 45x slower at rank 8 on a MobileNet-sized layer). The base kernel
        gets no gradient; the op saves the input and the merged kernel (a few KB), what
        a fully trained depthwise layer saves. Inference uses the merged kernel, formed
        once and cached.

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

    _lora_factored = False
    _keras_has_lora = False  # Keras files get the plain layer with the merged kernel
    _lora_base = "depthwise_kernel"
    _lora_names = ("lora_depthwise_kernel_a", "lora_depthwise_kernel_b")

    def _lora_shapes(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        kh, kw, channels, multiplier = self.depthwise_kernel.shape
        return (kh, kw, rank), (rank, channels, multiplier)

    def _convolve(self, inputs: Any, activation: str | None) -> Any:
        # With LoRA: the recorded W + s A B while the adapter trains, the cached merged
        # kernel otherwise (pyfrozen.layers.lora).
        return ops.depthwise_conv2d(inputs, self._lora_kernel(), self.bias,
                                    strides=self.strides, padding=self.padding,
                                    dilation_rate=self.dilation_rate, activation=activation)
