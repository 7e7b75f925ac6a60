"""Dropout: zero a random fraction of the inputs while training (inverted dropout)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen import ops
from pyfrozen.layers._args import is_int, is_number
from pyfrozen.layers.layer import Layer


class Dropout(Layer):
    """Sets inputs to 0 with probability ``rate`` while training, scaling the rest up.

    Kept elements are multiplied by ``1 / (1 - rate)``, so the expected sum is
    unchanged and inference uses the inputs as they are. As in Keras, the layer drops
    only when called with ``training=True`` (given at the call, or inherited from the
    enclosing model's call); with ``training`` False or None it returns its input.

    Args:
        rate: fraction of the inputs to drop, in [0, 1).
        noise_shape: must be None (Keras's shared-mask dropout is not supported).
        seed: None (a process-wide generator) or an int: the layer then draws from its
            own generator seeded with it, so successive calls drop different elements
            but a new layer with the same seed repeats the same sequence, as Keras's
            seed generator does.
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Call arguments:
        inputs: a float tensor of any shape.
        training: True to drop; False or None (the default) to pass through.

    Input shape:
        Any.

    Output shape:
        Same as the input.

    Raises:
        ValueError: ``rate`` outside [0, 1), ``noise_shape`` not None, or ``seed``
            neither None nor an int.

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer (it still drops
        when training). The gradient passes through the kept elements (scaled by
        ``1 / (1 - rate)``) whenever a layer below trains; only the one-byte-per-element
        keep-mask is saved for it.

    Example:

    >>> import numpy as np, pyfrozen
    >>> layer = pyfrozen.layers.Dropout(0.5, seed=0)
    >>> x = np.ones((1, 1000))
    >>> bool((layer(x).numpy() == 1).all())
    True
    >>> sorted(set(layer(x, training=True).numpy().ravel().tolist()))
    [0.0, 2.0]
    """

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not is_number(rate) or not 0 <= rate < 1:
            raise ValueError(f"Invalid value received for argument `rate`. Expected a float "
                             f"value between 0 and 1 (1 excluded). Received: rate={rate!r}")
        if noise_shape is not None:
            raise ValueError(f"Dropout: noise_shape is not supported (only independent "
                             f"per-element dropout). Received: noise_shape={noise_shape!r}")
        if seed is not None and not is_int(seed):
            raise ValueError(f"The `seed` argument of Dropout must be None or an int. "
                             f"Received: seed={seed!r}")
        self.rate = float(rate)
        self.noise_shape = None
        self.seed = None if seed is None else int(seed)
        # One generator per layer, advanced by every training call (Keras's SeedGenerator).
        self._rng = None if seed is None else np.random.default_rng(self.seed)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training or self.rate == 0:
            return inputs
        return ops.dropout(inputs, self.rate, training=True, seed=self._rng)

    def _differs_in_training(self, training: bool | None) -> bool:
        return bool(training) and self.rate > 0

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape,
                "seed": self.seed}
