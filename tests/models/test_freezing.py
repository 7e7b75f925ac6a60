"""Model.freeze / unfreeze / freeze_to: glob patterns over layer names (nested models
included), BatchNormalization kept frozen unless asked, errors naming the layers, and
changes that apply at the next fit step without recompiling."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers


def _nested():
    """input -> base [c1, bn1, c2, bn2] -> pool -> head, base frozen as a whole."""
    base_in = pyfrozen.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", name="c1")(base_in)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.Conv2D(4, 3, padding="same", name="c2")(x)
    x = layers.BatchNormalization(name="bn2")(x)
    base = pyfrozen.Model(base_in, x, name="base")
    base.trainable = False
    inputs = pyfrozen.Input((8, 8, 3))
    y = base(inputs)
    y = layers.GlobalAveragePooling2D(name="pool")(y)
    out = layers.Dense(3, name="head")(y)
    return base, pyfrozen.Model(inputs, out, name="outer")


def _trainable_names(model):
    return sorted(w.path if hasattr(w, "path") else _path(model, w)
                  for w in model.trainable_weights)


def _path(model, weight):
    for layer in _all_layers(model):
        if any(weight is p for p in layer._own_weights(None)):
            return f"{layer.name}/{weight.name}"
    raise AssertionError(weight)


def _all_layers(model):
    out = []
    for layer in model._tracked:
        out.append(layer)
        out += _all_layers(layer)
    return out


def test_unfreeze_inside_a_frozen_nested_model_keeps_bn_frozen():
    base, model = _nested()
    assert _trainable_names(model) == ["head/bias", "head/kernel"]
    assert model.unfreeze("c2") == ["c2"]
    assert _trainable_names(model) == ["c2/bias", "c2/kernel", "head/bias", "head/kernel"]
    assert base.trainable  # the container reports what it holds
    assert not base.get_layer("c1").trainable and not base.get_layer("bn2").trainable
    assert model.unfreeze("base") == ["base"]  # a container: all inside, BN excluded
    assert _trainable_names(model) == ["c1/bias", "c1/kernel", "c2/bias", "c2/kernel",
                                       "head/bias", "head/kernel"]
    assert not base.get_layer("bn1").trainable and not base.get_layer("bn2").trainable


def test_unfreeze_include_bn_and_freeze_by_pattern():
    base, model = _nested()
    model.unfreeze(["bn*"], include_bn=True)
    assert _trainable_names(model) == ["bn1/beta", "bn1/gamma", "bn2/beta", "bn2/gamma",
                                       "head/bias", "head/kernel"]
    assert model.freeze("*") == ["base", "c1", "bn1", "c2", "bn2", "pool", "head"]
    assert model.trainable_weights == []


def test_a_pattern_matching_nothing_names_the_layers():
    _, model = _nested()
    with pytest.raises(ValueError, match=r"\['conv\*'\] match no layer of model 'outer'.*"
                                         r"'base', 'c1', 'bn1', 'c2', 'bn2', 'pool', 'head'"):
        model.unfreeze(["c1", "conv*"])
    assert not model.get_layer("base").get_layer("c1").trainable  # nothing half-done
    with pytest.raises(TypeError, match="patterns"):
        model.freeze(3)


def test_freeze_to_cuts_in_graph_order_through_nested_models():
    base, model = _nested()
    model.freeze_to("c1")
    assert _trainable_names(model) == ["c2/bias", "c2/kernel", "head/bias", "head/kernel"]
    model.freeze_to("bn2")
    assert _trainable_names(model) == ["head/bias", "head/kernel"]
    model.freeze_to("base")  # a container: everything inside it frozen
    assert _trainable_names(model) == ["head/bias", "head/kernel"]
    with pytest.raises(ValueError, match="has no layer 'nope'.*'pool', 'head'"):
        model.freeze_to("nope")


def test_unfreeze_after_compile_trains_at_the_next_step(sparse_ce):
    base, model = _nested()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    model.compile(pyfrozen.optimizers.SGD(0.1), loss=sparse_ce)
    c2 = base.get_layer("c2").kernel
    before = c2.data.copy()
    stats = [w.data.copy() for w in base.get_layer("bn2").weights]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert before.tobytes() == c2.data.tobytes()
    model.unfreeze("c2")  # on purpose: no "changed since compile()" notice
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert not np.array_equal(before, c2.data)
    for a, w in zip(stats, base.get_layer("bn2").weights, strict=True):  # BN still frozen
        assert a.tobytes() == w.data.tobytes(), w.name
