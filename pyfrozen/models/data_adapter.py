"""Batches for ``fit`` / ``evaluate`` / ``predict``: arrays, Sequences and iterables.

What Keras 3's data adapters and ``EpochIterator`` do, for the inputs a CPU library
meets: numpy arrays (or lists / dicts of them, for several inputs and outputs), a
``Sequence``-like object (``__len__`` + ``__getitem__`` returning batches, optional
``on_epoch_end``: ``keras.utils.PyDataset``), or any other iterable / generator of
batches (a ``torch.utils.data.DataLoader`` too). A batch is ``x``, ``(x,)``,
``(x, y)`` or ``(x, y, sample_weight)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------
# Nested structures (arrays in lists, tuples and dicts)
# ---------------------------------------------------------------------------------------


def flatten(structure: Any) -> list[Any]:
    """The leaves of nested lists / tuples / dicts (dicts in key order), None included."""
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def map_structure(fn: Any, structure: Any) -> Any:
    """``structure`` with ``fn`` applied to every leaf (None leaves stay None)."""
    if isinstance(structure, dict):
        return {key: map_structure(fn, value) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(fn, item) for item in structure)
    return None if structure is None else fn(structure)


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` as a triple (Keras's rule:
    a list counts as a tuple; anything else is ``x``)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) in (1, 2, 3):
        return (*data, *([None] * (3 - len(data))))
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, or "
                     f"`(x, y, sample_weight)`, found a tuple of {len(data)} elements")


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or (
        hasattr(value, "__array__") and hasattr(value, "shape") and hasattr(value, "dtype"))


def _as_arrays(structure: Any, what: str) -> Any:
    def convert(leaf: Any) -> np.ndarray:
        array = np.asarray(leaf)
        if array.ndim == 0:
            raise ValueError(f"{what}: every array needs a batch dimension; received a scalar "
                             f"{leaf!r}")
        return array

    return map_structure(convert, structure)


def is_array_data(x: Any) -> bool:
    """Whether ``x`` is an array or a (nested) list / tuple / dict of arrays."""
    if x is None:
        return False
    if isinstance(x, dict):
        return all(v is None or _is_array(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        leaves = flatten(x)
        return bool(leaves) and all(v is None or _is_array(v) or _is_number_list(v)
                                    for v in leaves) or _is_number_list(x)
    return _is_array(x)


def _is_number_list(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and bool(x) and all(
        isinstance(v, (int, float, np.number, list, tuple)) for v in x)


# ---------------------------------------------------------------------------------------
# validation_split and class_weight
# ---------------------------------------------------------------------------------------


def train_validation_split(arrays: Any, validation_split: float) -> tuple[Any, Any]:
    """The last ``validation_split`` fraction of every array is validation (Keras: taken
    before shuffling)."""
    if not 0.0 < validation_split < 1.0:
        raise ValueError("`validation_split` must be between 0 and 1 (exclusive). Received: "
                         f"validation_split={validation_split}")
    leaves = [leaf for leaf in flatten(arrays) if leaf is not None]
    bad = sorted({type(leaf).__name__ for leaf in leaves if not _is_array(leaf)})
    if bad:
        raise ValueError("`validation_split` is only supported for NumPy arrays (or lists / "
                         f"dicts of them), found the following types in the input: {bad}")
    sizes = {len(leaf) for leaf in leaves}
    if len(sizes) != 1:
        raise ValueError(f"validation_split: inputs, targets and sample weights have different "
                         f"numbers of samples {sorted(sizes)}")
    n = sizes.pop()
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"Training data contains {n} samples, which is not sufficient to split "
                         "it into a validation and training set as specified by "
                         f"`validation_split={validation_split}`. Either provide more data, "
                         "or a different value for the `validation_split` argument.")
    train = map_structure(lambda a: np.asarray(a)[:split_at], arrays)
    val = map_structure(lambda a: np.asarray(a)[split_at:], arrays)
    return train, val


def class_weight_to_sample_weights(y: Any, class_weight: dict[int, float]) -> np.ndarray:
    """One weight per sample from its class (one-hot rows: their argmax)."""
    if isinstance(y, (list, tuple, dict)) and len(flatten(y)) > 1:
        raise ValueError("`class_weight` is only supported for Models with a single output.")
    y = np.asarray(flatten(y)[0] if isinstance(y, (list, tuple, dict)) else y)
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
    labels = np.round(y).astype(np.int64)
    weights = np.ones(len(labels), np.float32)
    for i, label in enumerate(labels):
        weights[i] = class_weight.get(int(label), 1.0)
    return weights


# ---------------------------------------------------------------------------------------
# Adapters: one per kind of input
# ---------------------------------------------------------------------------------------


class ArrayAdapter:
    """Batches of arrays, in order or shuffled each epoch (``shuffle="batch"``: the order
    of batch-sized chunks and the samples within each chunk)."""

    def __init__(self, x: Any, y: Any = None, sample_weight: Any = None,
                 batch_size: int | None = None, shuffle: bool | str = False,
                 class_weight: dict[int, float] | None = None) -> None:
        batch_size = 32 if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or (
                batch_size < 1):
            raise ValueError(f"batch_size must be an integer >= 1. Received: "
                             f"batch_size={batch_size}")
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("Arguments `sample_weight` and `class_weight` cannot be "
                                 "specified at the same time.")
            if y is None:
                raise ValueError("`class_weight` needs targets `y`")
            sample_weight = class_weight_to_sample_weights(y, class_weight)
        self.data = _as_arrays((x, y, sample_weight), "fit")
        sizes = {len(leaf) for leaf in flatten(self.data) if leaf is not None}
        if len(sizes) > 1:
            raise ValueError(self._size_message())
        self.size = sizes.pop() if sizes else 0
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        # Under a data-parallel strategy: this rank's rows of a global batch (None: none).
        self.shard: Any = None

    @property
    def num_batches(self) -> int:
        """Batches per epoch; under a strategy (``shard``) those every rank gets rows of
        (a final batch with fewer rows than ranks is skipped)."""
        if self.shard is None:
            return max(1, math.ceil(self.size / self.batch_size))
        rows = [min(self.batch_size, self.size - s)
                for s in range(0, max(self.size, 1), self.batch_size)]
        return sum(self.shard(np.arange(n)) is not None for n in rows)

    def _size_message(self) -> str:
        x, y, sw = self.data
        parts = [f"{name} sizes {[len(a) for a in flatten(v) if a is not None]}"
                 for name, v in (("x", x), ("y", y), ("sample_weight", sw)) if v is not None]
        return "Data cardinality is ambiguous: make sure all arrays contain the same number " \
               "of samples. " + ", ".join(parts)

    def _batch_indices(self) -> list[np.ndarray]:
        starts = range(0, max(self.size, 1), self.batch_size)
        if self.shuffle == "batch":  # the chunks in a random order, each one shuffled
            chunks = [np.random.permutation(np.arange(s, min(s + self.batch_size, self.size)))
                      for s in starts]
            return [chunks[i] for i in np.random.permutation(len(chunks))]
        order = np.random.permutation(self.size)
        return [order[s:s + self.batch_size] for s in starts]

    def __iter__(self) -> Iterator[Any]:
        if not self.shuffle and self.shard is None:
            for start in range(0, max(self.size, 1), self.batch_size):
                stop = start + self.batch_size
                yield map_structure(lambda a, s=start, e=stop: a[s:e], self.data)
            return
        indices = self._batch_indices() if self.shuffle else [
            np.arange(s, min(s + self.batch_size, self.size))
            for s in range(0, max(self.size, 1), self.batch_size)]
        for index in indices:
            if self.shard is not None:
                index = self.shard(index)
                if index is None:
                    continue
            yield map_structure(lambda a, i=index: a[i], self.data)

    def on_epoch_end(self) -> None:
        """Nothing to do for arrays."""


class SequenceAdapter:
    """A ``Sequence`` / ``PyDataset``: ``len()`` batches, fetched by index."""

    def __init__(self, sequence: Any, shuffle: bool | str = False) -> None:
        self.sequence = sequence
        self.shuffle = bool(shuffle)
        self.num_batches = len(sequence)

    def __iter__(self) -> Iterator[Any]:
        order = np.random.permutation(self.num_batches) if self.shuffle else range(
            self.num_batches)
        for i in order:
            yield self.sequence[int(i)]

    def on_epoch_end(self) -> None:
        if hasattr(self.sequence, "on_epoch_end"):
            self.sequence.on_epoch_end()


class IterableAdapter:
    """Any iterable or generator of batches; the number of batches is unknown (None)."""

    def __init__(self, iterable: Any) -> None:
        self.iterable = iterable
        self.num_batches: int | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable)

    def on_epoch_end(self) -> None:
        """Nothing to do: a generator simply continues."""


def _is_sequence_like(x: Any) -> bool:
    return hasattr(x, "__len__") and hasattr(x, "__getitem__") and not isinstance(
        x, (list, tuple, dict, str, np.ndarray))


def get_adapter(x: Any, y: Any = None, sample_weight: Any = None,
                batch_size: int | None = None, shuffle: bool | str = False,
                class_weight: dict[int, float] | None = None) -> Any:
    """The adapter for ``x``; a Sequence or iterable brings its own targets and batches.

    Raises:
        ValueError: ``y``, ``sample_weight`` or ``batch_size`` given with a Sequence or
            iterable (Keras's rule), or no data.
    """
    if x is None:
        raise ValueError("Unexpected value for `x`: None. Pass input data (arrays, a "
                         "Sequence or an iterable of batches)")
    if is_array_data(x):
        return ArrayAdapter(x, y, sample_weight, batch_size, shuffle, class_weight)
    for name, value in (("y", y), ("sample_weight", sample_weight),
                        ("class_weight", class_weight)):
        if value is not None:
            raise ValueError(f"When providing `x` as a {type(x).__name__} (batches), `{name}` "
                             "should not be passed: the batches carry their own targets and "
                             "weights (x, y, sample_weight).")
    if batch_size is not None:
        raise ValueError(f"When providing `x` as a {type(x).__name__} (batches), "
                         f"`batch_size` should not be passed. Received: batch_size={batch_size}")
    if _is_sequence_like(x):
        return SequenceAdapter(x, shuffle)
    if hasattr(x, "__iter__"):
        return IterableAdapter(x)
    raise ValueError(f"Unrecognized data type: x={x!r} (of type {type(x).__name__}): pass "
                     "arrays, a Sequence or an iterable of batches")


# ---------------------------------------------------------------------------------------
# EpochIterator: steps per epoch over an adapter
# ---------------------------------------------------------------------------------------


class EpochIterator:
    """Yields ``(step, batch)`` for one epoch at a time (Keras's ``EpochIterator``).

    With ``steps_per_epoch`` set, an iterable continues across epochs where the last one
    stopped; without it, each epoch starts a fresh pass over the data. Running out of
    data before ``steps_per_epoch`` warns (Keras's message) and ends the epoch.
    """

    def __init__(self, x: Any, y: Any = None, sample_weight: Any = None,
                 batch_size: int | None = None, steps_per_epoch: int | None = None,
                 shuffle: bool | str = False, class_weight: dict[int, float] | None = None
                 ) -> None:
        if steps_per_epoch is not None and (
                isinstance(steps_per_epoch, bool) or int(steps_per_epoch) < 1):
            raise ValueError(f"steps_per_epoch must be None or an integer >= 1. Received: "
                             f"steps_per_epoch={steps_per_epoch}")
        self.steps_per_epoch = steps_per_epoch
        self.adapter = get_adapter(x, y, sample_weight, batch_size, shuffle, class_weight)
        self._learnt: int | None = None  # an iterable's length, once it ran out
        self._current: Iterator[Any] | None = None
        self._seen = 0

    @property
    def num_batches(self) -> int | None:
        """Steps per epoch: ``steps_per_epoch``, the data's batches, or None (unknown yet)."""
        return self.steps_per_epoch or self._num_batches

    @property
    def _num_batches(self) -> int | None:
        # Asked of the adapter each time: a strategy shards it after this was made.
        return self.adapter.num_batches if self._learnt is None else self._learnt

    def _interrupted(self) -> None:
        warnings.warn("Your input ran out of data; interrupting training. Make sure that your "
                      "dataset or generator can generate at least `steps_per_epoch * epochs` "
                      "batches.", stacklevel=3)

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        steps = self.steps_per_epoch or self._num_batches
        if self._current is None or self.steps_per_epoch is None:
            self._current, self._seen = iter(self.adapter), 0
        step = 0
        while steps is None or step < steps:
            if self._num_batches and self._seen >= self._num_batches:
                if self.steps_per_epoch:
                    self._interrupted()
                break
            try:
                batch = next(self._current)
            except StopIteration:
                if self._num_batches is None:
                    self._learnt = self._seen  # an unknown size is learnt by running out
                if self.steps_per_epoch:
                    self._interrupted()
                self._current = None
                break
            self._seen += 1
            yield step, batch
            step += 1
        if self._current is not None and self._num_batches and self._seen >= self._num_batches:
            self._current = None  # the data is exhausted: the next epoch starts over
        self.adapter.on_epoch_end()
