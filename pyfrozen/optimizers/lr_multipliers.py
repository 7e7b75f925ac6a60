"""Per-layer learning-rate multipliers by glob patterns (discriminative fine-tuning).

``SGD(learning_rate=0.01, lr_multipliers={"conv_pw_1*": 0.1, "*_bn": 0.0})`` trains
the matching layers' weights with ``0.01 * multiplier``; every other weight gets the
plain rate. A Parameter does not know its layer, so the optimizer resolves the
patterns against a model: ``optimizer.resolve_lr_multipliers(model)`` (``compile``
calls it). A weight's path is the chain of layer names below the model down to the
weight (``conv_pw_1/kernel``, ``base/conv_pw_1/kernel``); these are the layers' own
``name`` attributes (what ``summary()`` shows), not the file keys of ``save_weights``,
which rename auto-named layers.

A pattern (``fnmatch`` syntax, case-sensitive) matches a weight when it matches one
of the layer names on its path, or the whole path (``"*/bias"``). The first pattern in
the dict's order that matches wins. Decoupled weight decay uses the multiplied rate
too (Keras decays by ``learning_rate * weight_decay``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from pyfrozen.layers.layer import Layer
from pyfrozen.tensor import Parameter


def check_multipliers(multipliers: Mapping[str, float] | None) -> dict[str, float] | None:
    """A validated copy: string patterns, finite multipliers >= 0."""
    if multipliers is None:
        return None
    if not isinstance(multipliers, Mapping):
        raise TypeError("`lr_multipliers` must be a dict {glob pattern: multiplier}. "
                        f"Received: lr_multipliers={multipliers!r}")
    out = {}
    for pattern, value in multipliers.items():
        if not isinstance(pattern, str):
            raise TypeError(f"lr_multipliers: pattern {pattern!r} is not a string")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value >= 0):
            raise ValueError(f"lr_multipliers: the multiplier of {pattern!r} must be a finite "
                             f"number >= 0. Received: {value!r}")
        out[pattern] = float(value)
    return out


def layer_weight_paths(model: Layer) -> list[tuple[str, tuple[str, ...], Parameter]]:
    """(path, layer names on the path, weight) for every weight under ``model``."""
    out: list[tuple[str, tuple[str, ...], Parameter]] = []
    seen: set[int] = set()

    def walk(layer: Layer, names: tuple[str, ...]) -> None:
        for p in layer._own_weights(None):
            if id(p) not in seen:  # a layer used twice holds its weights once
                seen.add(id(p))
                out.append(("/".join((*names, p.name or "weight")), names, p))
        for child in layer._tracked:
            walk(child, (*names, child.name))

    walk(model, ())
    return out


def _matches(pattern: str, path: str, names: tuple[str, ...]) -> bool:
    return fnmatchcase(path, pattern) or any(fnmatchcase(n, pattern) for n in names)


def resolve(multipliers: Mapping[str, float], model: Any) -> dict[int, tuple[str, float]]:
    """``id(weight) -> (path, multiplier)`` for every weight under ``model``.

    Raises:
        TypeError: ``model`` is not a layer or model.
        ValueError: a pattern matches no weight of the model (a typo would otherwise
            train everything at the full rate without a word).
    """
    if not isinstance(model, Layer):
        raise TypeError(f"resolve_lr_multipliers needs the model (a Layer) whose layer names "
                        f"the patterns refer to. Received: {type(model).__name__}")
    out: dict[int, tuple[str, float]] = {}
    used: set[str] = set()
    for path, names, weight in layer_weight_paths(model):
        value = 1.0
        for pattern, multiplier in multipliers.items():
            if _matches(pattern, path, names):
                value = multiplier
                used.add(pattern)
                break
        out[id(weight)] = (path, value)
    unused = [p for p in multipliers if p not in used]
    if unused:
        layers = sorted({n for _, names, _ in layer_weight_paths(model) for n in names})
        raise ValueError(f"lr_multipliers: pattern(s) {unused} match no weight of model "
                         f"{model.name!r} (or only weights an earlier pattern took; the "
                         f"first match wins); its layers are {layers}")
    return out
