"""Dense: ``activation(inputs @ kernel + bias)``."""

from __future__ import annotations

from typing import Any

from pyfrozen import initializers, ops
from pyfrozen.layers import activations
from pyfrozen.layers._args import positive_int
from pyfrozen.layers.layer import Layer
from pyfrozen.layers.lora import LoraMixin


class Dense(LoraMixin, Layer):
    """A densely connected layer: ``activation(inputs @ kernel + bias)``.

    The kernel has shape ``(input_dim, units)`` and the bias ``(units,)``, as in Keras,
    so weights move between the two unchanged. relu, relu6, sigmoid and tanh are fused
    into the matrix product's epilogue (one tape node).

    Args:
        units: output size.
        activation: name ("relu", "softmax", ...) or callable; None for linear.
        use_bias: whether to add a bias.
        kernel_initializer: default "glorot_uniform".
        bias_initializer: default "zeros".
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``; ``lora_rank``
            and ``lora_alpha`` (Keras's): ``enable_lora(lora_rank, lora_alpha)`` once
            built, how the config of an adapted layer comes back.

    Input shape:
        ``(batch, ..., input_dim)``.

    Output shape:
        ``(batch, ..., units)``.

    Freezing:
        ``trainable=False`` freezes kernel and bias: backward computes only the input
        gradient (needed by trainable layers below), keeps the kernel for it and not
        the input, and runs no weight-gradient GEMM. A freeze mask on whole columns
        (output units) or rows (input features) of the kernel limits the
        weight-gradient GEMM to the trainable part. ``enable_lora(rank)`` freezes the
        kernel and trains a low-rank adapter beside it (pyfrozen.layers.lora): no
        weight-gradient GEMM for the kernel, the adapter's work proportional to rank;
        inference uses the merged kernel, formed once and cached.

    Example:

    >>> import numpy as np, pyfrozen
    >>> layer = pyfrozen.layers.Dense(3, activation="relu")
    >>> layer(np.ones((2, 4))).shape, layer.kernel.shape
    ((2, 3), (4, 3))
    """

    _fixed_last_dim = True

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = positive_int(units, "units")
        self.activation = activations.get(activation)
        for init in (kernel_initializer, bias_initializer):
            if isinstance(init, (str, dict)):
                initializers.get(init)  # an unknown name fails here, as in Keras
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list):  # a list of arrays, not one nested list of numbers
            raise ValueError(f"Dense {self.name!r} takes one input, received a list of "
                             f"{len(input_shape)} with shapes {input_shape}")
        if not input_shape or input_shape[-1] is None:
            raise ValueError("The last dimension of the inputs to a Dense layer should be "
                             f"defined. Found None. Full input shape received: {input_shape}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer) if (
            self.use_bias) else None

    def _lora_shapes(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (self.kernel.shape[0], rank), (rank, self.units)

    def call(self, inputs: Any) -> Any:
        if self.lora_enabled and self._lora_trains():  # training the adapter: x W + s (x A) B
            return self.activation(self._with_lora(inputs, ops.dense(inputs, self.kernel,
                                                                     self.bias)))
        kernel = self._lora_kernel()  # W, or the cached merged kernel with an adapter
        name = activations.name_of(self.activation)
        if name in activations.FUSABLE:
            return ops.dense(inputs, kernel, self.bias, activation=name)
        return self.activation(ops.dense(inputs, kernel, self.bias))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units,
                "activation": activations.name_of(self.activation) or self.activation,
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}
