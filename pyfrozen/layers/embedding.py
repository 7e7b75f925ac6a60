"""Embedding: maps integer indices to rows of a trainable (input_dim, output_dim) table."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen import ops
from pyfrozen.layers._args import positive_int
from pyfrozen.layers.layer import Layer, to_tensor
from pyfrozen.layers.lora import LoraMixin
from pyfrozen.tensor import Tensor


class Embedding(LoraMixin, Layer):
    """Turns integer indices into dense vectors: ``out[..., :] = embeddings[inputs[...]]``.

    The weight ``embeddings`` has shape ``(input_dim, output_dim)``, as in Keras.
    Inputs stay integers (they are never cast to float, so large vocabularies keep
    exact indices); float inputs holding whole numbers are converted, as Keras casts
    them. Keras 3 dropped ``input_length``; it is not accepted here either.

    Args:
        input_dim: vocabulary size: indices are in ``[0, input_dim)``.
        output_dim: size of each vector.
        embeddings_initializer: default "uniform" (Keras's ``RandomUniform(-0.05,
            0.05)``).
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``; ``lora_rank``
            and ``lora_alpha`` (Keras's): ``enable_lora(lora_rank, lora_alpha)`` once
            built, how the config of an adapted layer comes back.

    Input shape:
        Integers of any shape ``(batch, ...)``.

    Output shape:
        ``(batch, ..., output_dim)``, in the layer's float dtype.

    Raises:
        ValueError: a dimension is not a positive int; at call time, an index outside
            ``[0, input_dim)`` (named with its position) or a float input that is not a
            whole number.
        TypeError: ``input_length`` or another unknown argument.

    Freezing:
        ``trainable=False`` freezes the table: the lookup records nothing and no
        scatter runs. Freezing whole rows (``layer.set_freeze_mask("embeddings", rows,
        axis=0)`` with a boolean vector of ``input_dim`` entries, e.g. to train only
        newly added tokens) makes the backward scatter skip those rows entirely; their
        gradient is exactly 0. Only the indices are saved, never the table.
        ``enable_lora(rank)`` freezes the table and trains ``A`` (input_dim x rank) and
        ``B`` (rank x output_dim) beside it (pyfrozen.layers.lora).

    Example:

    >>> import numpy as np, pyfrozen
    >>> layer = pyfrozen.layers.Embedding(10, 4)
    >>> layer(np.array([[1, 2, 3]])).shape, layer.embeddings.shape
    ((1, 3, 4), (10, 4))
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 **kwargs: Any) -> None:
        if "input_length" in kwargs:
            raise TypeError("Embedding: `input_length` was removed in Keras 3 and is not "
                            "accepted; the input's shape gives the sequence length")
        super().__init__(**kwargs)
        self.input_dim = positive_int(input_dim, "input_dim")
        self.output_dim = positive_int(output_dim, "output_dim")
        self.embeddings_initializer = embeddings_initializer

    def build(self, input_shape: Any) -> None:
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer)

    def _cast_input(self, x: Any) -> Any:
        # Layer._cast_input would turn float indices into the layer's float dtype; here
        # they become integers instead (and integer inputs are passed through as they are).
        array = x.data if isinstance(x, Tensor) else np.asarray(x)
        if array.dtype.kind in "iu":  # kept as they are (a caller's array copied while recording)
            return to_tensor(x, array.dtype.name)
        if array.dtype.kind == "b" or (array.dtype.kind == "f" and np.all(array == np.trunc(
                array))):
            return Tensor.from_numpy(array.astype(np.int64))
        raise ValueError(f"Embedding {self.name!r}: inputs must be integer indices; received "
                         f"{array.dtype} values that are not whole numbers")

    _lora_base = "embeddings"
    _lora_names = ("lora_embeddings_a", "lora_embeddings_b")

    def _lora_shapes(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (self.input_dim, rank), (rank, self.output_dim)

    def _lora_project(self, inputs: Any, a: Any) -> Any:
        return ops.embedding(inputs, a)

    def call(self, inputs: Any) -> Any:
        return self._with_lora(inputs, ops.embedding(inputs, self.embeddings))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape, self.output_dim)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": self.embeddings_initializer}
