"""The weights half of Layer: ``add_weight``, the weight lists and their walk,
``get_weights`` / ``set_weights`` (a mixin: Layer inherits it)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyfrozen import initializers
from pyfrozen.autograd import no_grad
from pyfrozen.tensor import Parameter

# Counts changes of structure anywhere in the process: a layer gained a weight or a
# sub-layer. A model keeps its weight walk while the count stands (``_weights_and_states``:
# the walk is ~0.16 ms on MobileNet, 40 % of a training step on cached features).
# Process-wide on purpose: any layer of any model may gain a weight; a change elsewhere
# only costs one more walk. Bumped off the hot path (building), read once per step.
_structure = [0]


def _structure_changed() -> None:
    _structure[0] += 1


def structure_version() -> int:
    """Changes whenever some layer gains or loses a weight or a sub-layer."""
    return _structure[0]



class LayerWeights:
    """Weights of a layer and of its sub-layers (``self._params``, ``self._tracked``)."""

    def add_weight(
        self,
        name: str,
        shape: Sequence[int],
        initializer: Any = "glorot_uniform",
        trainable: bool = True,
        dtype: Any = None,
    ) -> Parameter:
        """Creates a weight of this layer (call it from ``build``).

        Args:
            name: unique within the layer; the weight's key in weight files.
            shape: its shape.
            initializer: name (``"zeros"``, ``"glorot_uniform"``, ...), an initializer
                from ``pyfrozen.initializers`` or a callable ``(shape, dtype) -> array``.
            trainable: False makes it a state that never trains (moving statistics).
            dtype: default the layer's dtype.

        Returns:
            The Parameter (also listed in ``weights``).
        """
        if any(p.name == name for p in self._params):
            raise ValueError(f"layer {self.name!r} already has a weight named {name!r}")
        shape = _weight_shape(self.name, name, shape)
        dtype = np.dtype(dtype or self.dtype)
        init = initializers.get(initializer) if isinstance(initializer, (str, dict)) else (
            initializer)
        value = np.asarray(init(shape, dtype=dtype), dtype=dtype)
        if value.shape != shape:
            raise ValueError(f"initializer of {self.name}/{name} returned shape {value.shape}, "
                             f"expected {shape}")
        param = Parameter(np.ascontiguousarray(value), trainable=trainable and self._trainable,
                          name=name)
        self._params.append(param)
        self._created_trainable.append(bool(trainable))
        _structure_changed()
        return param

    def _own_weights(self, trainable: bool | None) -> list[Parameter]:
        return [p for p, t in zip(self._params, self._created_trainable, strict=True)
                if trainable is None or t == trainable]

    @property
    def weights(self) -> list[Parameter]:
        """Every weight: own trainable-created, own non-trainable, then sub-layers'
        (depth first), each weight once at its first place."""
        out: list[Parameter] = []
        self._collect_weights(out, set())
        return out

    def _weights_and_states(self) -> tuple[list[Parameter], list[Parameter]]:
        """``weights`` and, apart, the weights created non-trainable (moving statistics),
        kept until some layer gains a weight or a sub-layer. Read-only lists."""
        cached = self.__dict__.get("_walk_cache")
        if cached is not None and cached[0] == _structure[0]:
            return cached[1], cached[2]
        generation = _structure[0]
        every: list[Parameter] = []
        states: list[Parameter] = []
        if self._collect_weights(every, set(), states):
            self._walk_cache = (generation, every, states)
        return every, states

    def _collect_weights(self, out: list[Parameter], seen: set[int],
                         states: list[Parameter] | None = None) -> bool:
        # One identity set for the whole walk: linear in the number of weights (a scan
        # of ``out`` per weight made MobileNet's 137 weights cost ~9,000 comparisons).
        # ``states`` also receives the weights created non-trainable (moving statistics).
        # Returns False if a sub-layer defines its own ``weights`` (which may change
        # without a structure change, so the walk must not be kept).
        fixed = True
        for created_trainable in (True, False):
            for p in self._own_weights(created_trainable):
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
                    if states is not None and not created_trainable:
                        states.append(p)
        for layer in self._tracked:
            if type(layer).weights is LayerWeights.weights:
                fixed = layer._collect_weights(out, seen, states) and fixed
            else:  # a subclass that defines its own ``weights``: take them as it says
                fixed = False
                for p in layer.weights:
                    if id(p) not in seen:
                        seen.add(id(p))
                        out.append(p)
        return fixed

    @property
    def trainable_weights(self) -> list[Parameter]:
        """Weights that train: none at all when the layer is not trainable."""
        if not self._trainable:
            return []
        return [w for w in self.weights if w.trainable and w.requires_grad]

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        """The other weights (all of them when the layer is not trainable)."""
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_weight(self, name: str) -> Parameter:
        """This layer's own weight called ``name`` (ValueError listing the names if none)."""
        for p in self._params:
            if p.name == name:
                return p
        names = [p.name for p in self._params]
        raise ValueError(f"layer {self.name!r} has no weight {name!r}; it has {names}")

    def count_params(self) -> int:
        """Number of scalars in all weights (the layer must be built)."""
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the layer "
                "isn't built. Call it on data first or call `build(input_shape)`."
            )
        return int(sum(w.size for w in self.weights))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight's value, in ``weights`` order."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, values: Sequence[Any]) -> None:
        """Sets every weight from ``values`` (``weights`` order); shapes must match exactly.

        Nothing is changed if any value does not fit.
        """
        weights = self.weights
        if len(values) != len(weights):
            raise ValueError(f"layer {self.name!r} has {len(weights)} weights, "
                             f"but set_weights received {len(values)} values")
        arrays = [np.asarray(v) for v in values]
        for w, a in zip(weights, arrays, strict=True):
            if a.shape != w.shape:
                raise ValueError(f"layer {self.name!r}, weight {w.name!r}: expected shape "
                                 f"{w.shape}, received {a.shape}")
        with no_grad():
            for w, a in zip(weights, arrays, strict=True):
                np.copyto(w.data, a, casting="same_kind")
                w._bump_version()


def _weight_shape(layer: str, name: str, shape: Any) -> tuple[int, ...]:
    try:
        dims = tuple(operator.index(d) for d in shape)  # ints and numpy ints, not 2.0 or None
    except TypeError:
        dims = None
    if dims is None or any(d < 0 for d in dims):
        raise ValueError(f"layer {layer!r}: weight {name!r} needs a shape of non-negative "
                         f"whole numbers, got {shape!r} (is an input dimension unknown?)")
    return dims
