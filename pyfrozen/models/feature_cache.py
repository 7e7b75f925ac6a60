"""``fit(cache_frozen_features=True)``: the frozen prefix's outputs, computed once per
sample and reused every epoch (what the tfjs webcam transfer-learning example does by
hand, here kept right when freezing changes).

The epoch loop batches sample indices instead of the input arrays; each batch reaches
``train_step`` / ``test_step`` as :class:`CachedRows`, whose forward pass gathers the
cached rows and runs only the layers above the cut. Before every batch the cache
checks what the prefix depends on: the layers' ``trainable`` flags, each weight's
trainability (masks included), the version counter of every prefix weight and
BatchNormalization statistic (bumped by ``set_weights``, ``load_weights`` and in-place
tensor ops), and whether any layer gained a weight or a sub-layer (``enable_lora`` from
a callback, say). If any changed, the cut is found again and the features recomputed; if
nothing frozen is left at the bottom, batches run on the raw inputs. Writing into a
weight's ``.data`` array directly is not seen.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from pyfrozen.layers.layer_weights import structure_version
from pyfrozen.models.graph import flat
from pyfrozen.models.prefix import (
    FlatGraph,
    Split,
    prefix_weights,
    random_blocker,
    run_prefix,
    trains,
)
from pyfrozen.tensor import Tensor

# Above this many bytes of cached features fit warns (the cache lives in memory).
WARN_BYTES = 1 << 30


class CachedRows:
    """The ``x`` of a batch when fit caches: sample indices into a :class:`FeatureCache`."""

    __slots__ = ("cache", "index")

    def __init__(self, cache: FeatureCache, index: np.ndarray) -> None:
        self.cache = cache
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def forward(self, training: bool) -> Any:
        """The model's output(s) for these samples."""
        return self.cache.forward(self.index, training)

    def raw_inputs(self) -> list[np.ndarray]:
        """These samples' input arrays (for error messages)."""
        return [a[self.index] for a in self.cache.inputs]


class FeatureCache:
    """Per-sample outputs of the frozen prefix of ``model`` for the arrays ``x``.

    Args:
        model: a functional or Sequential model.
        x: its input arrays (an array, a list or a dict keyed by input name).
        batch_size: samples per prefix pass while filling the cache.
        training: the mode of the steps it serves (fit's batches: True; validation:
            False, where Dropout passes its input through and may sit in the prefix).

    Raises:
        ValueError: the model has no frozen prefix (the message names the layer that
            stops it), or a random layer sits below frozen layers.
    """

    def __init__(self, model: Any, x: Any, batch_size: int, training: bool) -> None:
        self.model = model
        self.graph = FlatGraph(model)
        self.inputs = [np.asarray(a) for a in flat(model._data_structure(
            model._model_inputs(x)))]
        sizes = {len(a) for a in self.inputs}
        if len(sizes) != 1:
            raise ValueError(f"model {model.name!r}: inputs have different numbers of samples "
                             f"{[len(a) for a in self.inputs]}")
        self.size = sizes.pop()
        self.batch_size = batch_size
        self.training = training
        self.fills = 0  # how many times the features were computed
        self.split: Split | None = None
        self.features: dict[Any, np.ndarray] = {}
        self._prefix_weights: list[Any] = []
        self._state: tuple = ()
        self._versions: tuple = ()
        first = self.graph.split(training)  # checked before anything is computed
        self._check_random_below_frozen(first)
        if not first.prefix:
            raise ValueError(self._no_prefix_message())
        self._refresh()

    # --- validity ------------------------------------------------------------------------

    def _prefix_versions(self) -> tuple:
        return tuple(w._version.value for w in self._prefix_weights)

    def _refresh(self) -> None:
        """Finds the cut as the flags are now; recomputes the features if it moved or a
        prefix weight changed."""
        split = self.graph.split(self.training)
        self._state = self.graph.freeze_state()
        if not split.prefix:
            self.split, self.features, self._prefix_weights = None, {}, []
            return
        same = self.split is not None and [s.layer for s in split.prefix] == [
            s.layer for s in self.split.prefix] and split.cut == self.split.cut
        self.split = split
        self._prefix_weights = prefix_weights(split)
        versions = self._prefix_versions()
        if not (same and versions == self._versions):
            self._fill()
        self._versions = versions

    def _check_current(self) -> None:
        if self.graph.structure != structure_version():  # a weight or layer was added
            self.graph = FlatGraph(self.model)
            self.split = None
            self._refresh()
        elif self.graph.freeze_state() != self._state or (
                self._prefix_versions() != self._versions):
            self._refresh()

    # --- filling -------------------------------------------------------------------------

    def _batch_inputs(self, index: Any) -> Any:
        batch = [a[index] for a in self.inputs]
        return batch if self.model._graph.input_is_list or len(batch) > 1 else batch[0]

    def _fill(self) -> None:
        self.features = {}
        arrays: dict[Any, np.ndarray] = {}
        for start in range(0, self.size, self.batch_size):
            stop = min(start + self.batch_size, self.size)
            tensors = flat(self.model._cast_input(self._batch_inputs(slice(start, stop))))
            values = run_prefix(self.graph, self.split, tensors, self.training)
            if not arrays:
                arrays = self._allocate(values)
            for key, value in values.items():
                arrays[key][start:stop] = value.data
        self.features = arrays
        self.fills += 1

    def _allocate(self, first: dict[Any, Any]) -> dict[Any, np.ndarray]:
        rows = len(next(iter(first.values())).data)
        per_sample = sum(v.data.nbytes for v in first.values()) / max(rows, 1)
        total = int(per_sample * self.size)
        if total > WARN_BYTES:
            warnings.warn(
                f"model {self.model.name!r}: the frozen-prefix cache holds {total / 2**20:,.0f} "
                f"MiB ({self.size:,} samples x {per_sample / 1024:,.1f} KiB at the cut "
                f"{self._cut_names()}); fit without cache_frozen_features to save the memory",
                ResourceWarning, stacklevel=6)
        return {k: np.empty((self.size, *v.data.shape[1:]), v.data.dtype)
                for k, v in first.items()}

    # --- use -----------------------------------------------------------------------------

    def forward(self, index: np.ndarray, training: bool) -> Any:
        """The model's output(s) for the samples ``index``: the cached rows through the
        layers above the cut (recorded on the tape as usual)."""
        self._check_current()
        if self.split is None:  # nothing frozen at the bottom any more
            return self.model(self._batch_inputs(index), training=training)
        values = {k: Tensor._wrap(f[index]) for k, f in self.features.items()}
        values = self.graph.run(self.split.rest, values, training, self.graph.output_keys)
        return self.graph.outputs(values)

    def batches(self, iterator: Any) -> CachedBatches:
        """``iterator`` (over sample indices) with each batch's ``x`` as CachedRows."""
        return CachedBatches(iterator, self)

    # --- messages ------------------------------------------------------------------------

    def _cut_names(self) -> list[str]:
        names = {k: s.layer.name for s in self.split.prefix for k in s.outputs}
        return [names.get(k, "input") for k in self.split.cut]

    def _no_prefix_message(self) -> str:
        first = self.graph.steps[0] if self.graph.steps else None
        why = "it has no layers"
        if first is not None:
            why = (f"its first layer {first.layer.name!r} ({type(first.layer).__name__}) "
                   + ("has trainable weights" if trains(first.layer) else "changes in "
                      "training mode "
                      "(random, or BatchNormalization using batch statistics)"))
        return (f"fit(cache_frozen_features=True): model {self.model.name!r} has no frozen "
                f"layers at the bottom to cache: {why}. Freeze the base first "
                "(base.trainable = False, or model.freeze_to(name)).")

    def _check_random_below_frozen(self, split: Split) -> None:
        pair = random_blocker(self.graph, split, self.training)
        if pair is not None:
            random, frozen = pair
            where = "" if random is frozen else (
                f" and sits below the frozen layer {frozen.layer.name!r}")
            raise ValueError(
                f"fit(cache_frozen_features=True): layer {random.layer.name!r} "
                f"({type(random.layer).__name__}) changes in training mode (random, or "
                f"holding a random layer){where}: caching would fix its output once for "
                "all epochs. Move it above the frozen layers, or fit without "
                "cache_frozen_features.")


class CachedBatches:
    """An epoch iterator over index batches that hands out CachedRows."""

    def __init__(self, iterator: Any, cache: FeatureCache) -> None:
        self.iterator = iterator
        self.cache = cache

    @property
    def num_batches(self) -> int | None:
        return self.iterator.num_batches

    def __iter__(self) -> Any:
        for step, (index, *rest) in self.iterator:
            yield step, (CachedRows(self.cache, index), *rest)
